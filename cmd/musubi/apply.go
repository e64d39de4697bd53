package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/render"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/spf13/cobra"
)

func (a *app) applyCommand() *cobra.Command {
	var pf planFlags
	var autoApprove, asJSON bool
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the changes: push campaigns, segments and triggers to the systems",
		Long: `Apply plans (as "musubi plan" does), shows the plan, asks for "yes", and carries it out
through the providers, in dependency order and -parallelism at a time. Every step is recorded
as it happens, so a failure or a killed process loses nothing: run plan again to see what is
left. With PLANFILE it applies exactly that saved plan, and refuses it if the state or the
configuration has changed since.

-json prints one JSON document with what was done, the outputs and any problems
(docs/plan-json.md); it cannot ask, so it needs -auto-approve or a PLANFILE.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return a.withApplyResult(asJSON, plans.Normal, func(jr *render.ApplyResult) error {
					return a.applySaved(args[0], &pf, jr)
				})
			}
			if asJSON && !autoApprove {
				return errors.New("apply -json cannot ask for confirmation: add -auto-approve, or apply a saved plan")
			}
			return a.withApplyResult(asJSON, plans.Normal, func(jr *render.ApplyResult) error {
				return a.planAndApply(&pf, plans.Normal, autoApprove, jr)
			})
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (needs -auto-approve or a saved plan)")
	return cmd
}

func (a *app) destroyCommand() *cobra.Command {
	var pf planFlags
	var autoApprove, asJSON bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Remove everything Musubi manages from the systems",
		Long: `Destroy plans the deletion of every resource in the state, dependents first, shows it,
asks for "yes" and carries it out. -target limits it to some blocks or resources.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON && !autoApprove {
				return errors.New("destroy -json cannot ask for confirmation: add -auto-approve")
			}
			return a.withApplyResult(asJSON, plans.Destroy, func(jr *render.ApplyResult) error {
				return a.planAndApply(&pf, plans.Destroy, autoApprove, jr)
			})
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "destroy without asking for confirmation")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (needs -auto-approve)")
	return cmd
}

// withApplyResult runs an apply; with asJSON it collects what happened and prints it as one
// JSON document, problems included, instead of the text output.
func (a *app) withApplyResult(asJSON bool, mode plans.Mode, run func(jr *render.ApplyResult) error) error {
	if !asJSON {
		return run(nil)
	}
	jr := &render.ApplyResult{ToolVersion: Version(), Mode: mode}
	err := run(jr)
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		var diags hcl.Diagnostics
		if errors.As(err, &diags) {
			jr.Diagnostics = append(jr.Diagnostics, diags...)
		} else {
			jr.Diagnostics = append(jr.Diagnostics, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: lang.EscapeControls(err.Error())})
		}
		err = exitError{1}
	}
	if err == nil && jr.Diagnostics.HasErrors() {
		err = exitError{1}
	}
	if werr := render.ApplyJSON(a.out, jr); werr != nil && err == nil {
		err = werr
	}
	return err
}

func (a *app) planAndApply(pf *planFlags, mode plans.Mode, autoApprove bool, jr *render.ApplyResult) error {
	ctx, cancel := signalContext()
	defer cancel()
	opts, err := pf.options(mode)
	if err != nil {
		return err
	}
	op := "apply"
	if mode == plans.Destroy {
		op = "destroy"
	}
	s, err := a.openSession(ctx, &pf.configFlags, &pf.lockFlags, op, jr == nil)
	defer s.close()
	if err != nil {
		if jr != nil {
			jr.Diagnostics = s.diags
		}
		return err
	}
	pf.previews(&opts, s.cfg)
	p, diags := (&planner.Planner{Config: s.cfg, Host: s.host, State: s.state}).Plan(ctx, opts)
	if jr != nil {
		jr.Plan, jr.Mode, jr.Diagnostics, jr.State = p, p.Mode, append(s.diags, diags...), s.state
	} else if len(diags) > 0 {
		lang.WriteDiagnostics(a.err, s.cfg.Files, diags, a.color(a.err))
	}
	if diags.HasErrors() {
		return exitError{1}
	}
	if jr == nil {
		render.Text(a.out, p, a.color(a.out))
	}
	if blocking := p.BlockingPolicies(); len(blocking) > 0 {
		return fmt.Errorf("%d polic%s failed; fix the configuration or lower the policy's severity to warning", len(blocking), plural(len(blocking), "y", "ies"))
	}
	outs, err := applyOutputs(s, mode)
	if err != nil {
		return err
	}
	if !p.HasChanges() && len(p.Drift) == 0 && len(p.Recovered) == 0 {
		if !planner.OutputsChanged(s.state.Outputs, outs) {
			return nil
		}
		if jr == nil {
			fmt.Fprintln(a.out, "\nThe outputs change; apply records them in the state.")
		}
	}
	if !autoApprove {
		q := "Do you want to perform these actions?"
		if mode == plans.Destroy {
			q = "Do you really want to destroy everything listed above?"
		}
		if !a.confirm(q) {
			return errCancelled
		}
	}
	return a.execute(ctx, s, p, pf.parallelism, outs, jr)
}

// applyOutputs are the outputs an apply records: the configuration's, none after a destroy.
func applyOutputs(s *session, mode plans.Mode) (map[string]*states.Output, error) {
	if mode == plans.Destroy {
		return nil, nil
	}
	return planner.Outputs(s.cfg)
}

// applySaved applies a plan file after checking that nothing moved since it was made.
func (a *app) applySaved(path string, pf *planFlags, jr *render.ApplyResult) error {
	ctx, cancel := signalContext()
	defer cancel()
	p, err := plans.Load(path)
	if err != nil {
		return err
	}
	if jr != nil {
		jr.Plan, jr.Mode = p, p.Mode
	}
	cf := pf.configFlags
	cf.vars, cf.varFiles = p.Variables, p.VarFiles
	s, err := a.openSession(ctx, &cf, &pf.lockFlags, "apply", jr == nil)
	defer s.close()
	if err != nil {
		if jr != nil {
			jr.Diagnostics = s.diags
		}
		return err
	}
	if err := p.CheckCurrent(path, s.state, planner.ConfigHash(s.cfg)); err != nil {
		return err
	}
	outs, err := applyOutputs(s, p.Mode)
	if err != nil {
		return err
	}
	return a.execute(ctx, s, p, pf.parallelism, outs, jr)
}

// execute applies a plan and reports progress and the result: as text, or into jr.
func (a *app) execute(ctx context.Context, s *session, p *plans.Plan, parallelism int, outs map[string]*states.Output, jr *render.ApplyResult) error {
	var mu sync.Mutex
	progress := func(e planner.Event) {
		mu.Lock()
		defer mu.Unlock()
		c := e.Change
		if jr != nil {
			switch {
			case !e.Done:
			case e.Err != nil:
				if jr.Failed == nil {
					jr.Failed = map[addrs.Instance]error{}
				}
				jr.Failed[c.Address] = e.Err
			default:
				if jr.Done == nil {
					jr.Done = map[addrs.Instance]string{}
				}
				jr.Done[c.Address] = e.ID
			}
			return
		}
		switch {
		case !e.Done:
			fmt.Fprintf(a.out, "%s: %s...\n", c.Address, presentParticiple(c.Action))
		case e.Err != nil:
			fmt.Fprintf(a.out, "%s: %s failed after %s\n", c.Address, c.Action, e.Elapsed.Round(msRound))
		default:
			id := ""
			if e.ID != "" {
				id = " (id " + lang.EscapeControls(e.ID) + ")"
			}
			fmt.Fprintf(a.out, "%s: %s%s [%s]\n", c.Address, pastTense(c.Action), id, e.Elapsed.Round(msRound))
		}
	}
	if jr == nil {
		fmt.Fprintln(a.out)
	} else {
		jr.Applied = true
	}
	final, err := planner.Apply(ctx, p, s.host, s.backend, planner.ApplyOptions{
		Parallelism: parallelism, ToolVersion: Version(), Git: planner.GitInfo("."), Progress: progress, Outputs: outs,
	})
	if jr != nil {
		jr.State = final
	}
	sum := p.Summary()
	if err != nil {
		var ae *planner.ApplyError
		if errors.As(err, &ae) {
			if jr != nil {
				for _, f := range ae.Failed {
					jr.Diagnostics = append(jr.Diagnostics, &hcl.Diagnostic{Severity: hcl.DiagError,
						Summary: fmt.Sprintf("%s: %s failed", f.Address, f.Action), Detail: lang.EscapeControls(f.Err.Error())})
				}
				return exitError{1}
			}
			fmt.Fprintf(a.err, "\nApply stopped: %s\n", lang.EscapeControls(err.Error()))
			return exitError{1}
		}
		return err
	}
	if jr != nil {
		return nil
	}
	if p.Mode == plans.RefreshOnly {
		fmt.Fprintf(a.out, "\nRefresh complete: the state records the live values (%d resources).\n", final.Len())
		return nil
	}
	fmt.Fprintf(a.out, "\nApply complete! Resources: %d added, %d changed, %d replaced, %d destroyed.\n", sum.Add, sum.Change, sum.Replace, sum.Destroy)
	a.printOutputs(s.cfg)
	return nil
}

func (a *app) printOutputs(cfg *lang.Config) {
	if len(cfg.Outputs) == 0 {
		return
	}
	fmt.Fprintln(a.out, "\nOutputs:")
	for _, n := range slices.Sorted(maps.Keys(cfg.Outputs)) {
		o := cfg.Outputs[n]
		v := "(sensitive)"
		if !o.Sensitive {
			v = lang.FormatCty(o.Value)
		}
		fmt.Fprintf(a.out, "  %s = %s\n", n, v)
	}
}

const msRound = 1000000 // round elapsed times to milliseconds

func presentParticiple(a plans.Action) string {
	switch a {
	case plans.Create:
		return "Creating"
	case plans.Update:
		return "Updating"
	case plans.Replace:
		return "Replacing"
	case plans.Delete:
		return "Destroying"
	}
	return string(a)
}

func pastTense(a plans.Action) string {
	switch a {
	case plans.Create:
		return "Created"
	case plans.Update:
		return "Updated"
	case plans.Replace:
		return "Replaced"
	case plans.Delete:
		return "Destroyed"
	}
	return string(a)
}

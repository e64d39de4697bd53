package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/render"
	"github.com/spf13/cobra"
)

func (a *app) applyCommand() *cobra.Command {
	var pf planFlags
	var autoApprove bool
	cmd := &cobra.Command{
		Use:   "apply [PLANFILE]",
		Short: "Make the changes: push campaigns, segments and triggers to the systems",
		Long: `Apply plans (as "musubi plan" does), shows the plan, asks for "yes", and carries it out
through the providers, in dependency order and -parallelism at a time. Every step is recorded
as it happens, so a failure or a killed process loses nothing: run plan again to see what is
left. With PLANFILE it applies exactly that saved plan, and refuses it if the state or the
configuration has changed since.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return a.applySaved(args[0], &pf)
			}
			return a.planAndApply(&pf, plans.Normal, autoApprove)
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "apply without asking for confirmation")
	return cmd
}

func (a *app) destroyCommand() *cobra.Command {
	var pf planFlags
	var autoApprove bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Remove everything Musubi manages from the systems",
		Long: `Destroy plans the deletion of every resource in the state, dependents first, shows it,
asks for "yes" and carries it out. -target limits it to some blocks or resources.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.planAndApply(&pf, plans.Destroy, autoApprove)
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "destroy without asking for confirmation")
	return cmd
}

func (a *app) planAndApply(pf *planFlags, mode plans.Mode, autoApprove bool) error {
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
	s, err := a.openSession(ctx, &pf.configFlags, &pf.lockFlags, op, true)
	defer s.close()
	if err != nil {
		return err
	}
	p, diags := (&planner.Planner{Config: s.cfg, Host: s.host, State: s.state}).Plan(ctx, opts)
	if len(diags) > 0 {
		lang.WriteDiagnostics(a.err, s.cfg.Files, diags, a.color(a.err))
	}
	if diags.HasErrors() {
		return exitError{1}
	}
	render.Text(a.out, p, a.color(a.out))
	if blocking := p.BlockingPolicies(); len(blocking) > 0 {
		return fmt.Errorf("%d polic%s failed; fix the configuration or lower the policy's severity to warning", len(blocking), plural(len(blocking), "y", "ies"))
	}
	if !p.HasChanges() && len(p.Drift) == 0 && len(p.Recovered) == 0 {
		return nil
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
	return a.execute(ctx, s, p, pf.parallelism)
}

// applySaved applies a plan file after checking that nothing moved since it was made.
func (a *app) applySaved(path string, pf *planFlags) error {
	ctx, cancel := signalContext()
	defer cancel()
	p, err := plans.Load(path)
	if err != nil {
		return err
	}
	cf := pf.configFlags
	cf.vars, cf.varFiles = p.Variables, p.VarFiles
	s, err := a.openSession(ctx, &cf, &pf.lockFlags, "apply", true)
	defer s.close()
	if err != nil {
		return err
	}
	if err := p.CheckCurrent(path, s.state, planner.ConfigHash(s.cfg)); err != nil {
		return err
	}
	return a.execute(ctx, s, p, pf.parallelism)
}

// execute applies a plan and reports progress and the result.
func (a *app) execute(ctx context.Context, s *session, p *plans.Plan, parallelism int) error {
	var mu sync.Mutex
	progress := func(e planner.Event) {
		mu.Lock()
		defer mu.Unlock()
		c := e.Change
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
	fmt.Fprintln(a.out)
	final, err := planner.Apply(ctx, p, s.host, s.backend, planner.ApplyOptions{
		Parallelism: parallelism, ToolVersion: Version(), Git: planner.GitInfo("."), Progress: progress,
	})
	sum := p.Summary()
	if err != nil {
		var ae *planner.ApplyError
		if errors.As(err, &ae) {
			fmt.Fprintf(a.err, "\nApply stopped: %s\n", lang.EscapeControls(err.Error()))
			return exitError{1}
		}
		return err
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

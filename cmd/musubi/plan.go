package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/musubi-hq/musubi/engine/scenario"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/render"
	"github.com/musubi-hq/musubi/providers"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// planFlags are shared by plan, apply and destroy.
type planFlags struct {
	configFlags
	lockFlags
	targets     []string
	replace     []string
	refreshOnly bool
	refresh     bool
	parallelism int
	// previewFrom is whose data message previews show: "test" (the test files' customers)
	// or "engine" (some of the engine's own).
	previewFrom string
}

func (f *planFlags) register(fs *pflag.FlagSet) {
	f.configFlags.register(fs)
	f.lockFlags.register(fs)
	fs.StringArrayVar(&f.targets, "target", nil, "limit the plan to a block (campaign.spring) or resource (campaign.spring.coupon[shopify.jp]) and what it needs (repeatable)")
	fs.StringArrayVar(&f.replace, "replace", nil, "replace this resource even if unchanged (repeatable)")
	fs.BoolVar(&f.refreshOnly, "refresh-only", false, "only record what changed outside Musubi; change nothing in the systems")
	fs.BoolVar(&f.refresh, "refresh", true, "read the live systems before planning")
	fs.IntVar(&f.parallelism, "parallelism", planner.DefaultParallelism, "how many provider calls may run at once")
	fs.StringVar(&f.previewFrom, "preview-customers", "test", `whom message previews are rendered for: "test", the customers of the *.test.hcl files (made up, safe in a pull-request comment), or "engine", up to 3 of the engine's own customers, whose data then appears in the plan`)
}

// previews fills the options' preview customers: the programme's test customers.
func (f *planFlags) previews(o *planner.Options, cfg *lang.Config) {
	if !o.PreviewFromEngine {
		o.PreviewCustomers = scenario.SampleCustomers(".", cfg, providers.MaxPreviewSamples)
	}
}

func (f *planFlags) options(mode plans.Mode) (planner.Options, error) {
	o := planner.Options{Mode: mode, SkipRefresh: !f.refresh, SkipEstimates: !f.refresh, Parallelism: f.parallelism, ToolVersion: Version()}
	if f.refreshOnly {
		if mode == plans.Destroy {
			return o, fmt.Errorf("-refresh-only and -destroy cannot be combined")
		}
		o.Mode = plans.RefreshOnly
	}
	for _, t := range f.targets {
		tg, err := addrs.ParseTarget(t)
		if err != nil {
			return o, fmt.Errorf("-target: %w", err)
		}
		o.Targets = append(o.Targets, tg)
	}
	for _, t := range f.replace {
		tg, err := addrs.ParseTarget(t)
		if err != nil {
			return o, fmt.Errorf("-replace: %w", err)
		}
		o.Replace = append(o.Replace, tg)
	}
	if f.parallelism < 1 {
		return o, fmt.Errorf("-parallelism must be at least 1")
	}
	switch f.previewFrom {
	case "test":
	case "engine":
		o.PreviewFromEngine = true
	default:
		return o, fmt.Errorf(`-preview-customers: want "test" or "engine", not %q`, f.previewFrom)
	}
	return o, nil
}

// signalContext is cancelled by Ctrl-C, so running provider calls can finish and the state is
// written before exiting.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func (a *app) planCommand() *cobra.Command {
	var pf planFlags
	var out string
	var asJSON, markdown, detailed, destroy bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change in the EC, POS and messaging systems",
		Long: `Plan reads the live systems, compares them with the configuration and the state, and
shows what apply would do: create, update in place, replace or destroy, attribute by
attribute, plus anything that changed outside Musubi (drift) and policy results. It changes
nothing anywhere.

Output: text for people (default), -json for machines (docs/plan-json.md), -markdown for a
pull-request comment. -out FILE saves the plan for "musubi apply FILE".

Exit status: 0 success, 1 error or a failed policy; with -detailed-exitcode, 0 no changes,
1 error, 2 changes present.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			mode := plans.Normal
			if destroy {
				mode = plans.Destroy
			}
			opts, err := pf.options(mode)
			if err != nil {
				return err
			}
			s, err := a.openSession(ctx, &pf.configFlags, &pf.lockFlags, "plan", !asJSON)
			defer s.close()
			if err != nil {
				switch {
				case asJSON && s.cfg != nil:
					render.JSON(a.out, &plans.Plan{FormatVersion: plans.FormatVersion, ToolVersion: Version(), Mode: mode}, s.diags)
				case markdown:
					render.MarkdownFailure(a.out, a.problems(s, err))
				}
				return err
			}
			pf.previews(&opts, s.cfg)
			p, diags := (&planner.Planner{Config: s.cfg, Host: s.host, State: s.state}).Plan(ctx, opts)
			diags = append(s.diags, diags...)
			if asJSON {
				render.JSON(a.out, p, diags)
			} else if len(diags) > 0 {
				lang.WriteDiagnostics(a.err, s.cfg.Files, diags, a.color(a.err))
			}
			if diags.HasErrors() {
				if markdown {
					var b strings.Builder
					lang.WriteDiagnostics(&b, s.cfg.Files, diags, false)
					render.MarkdownFailure(a.out, b.String())
				}
				return exitError{1}
			}
			switch {
			case asJSON:
			case markdown:
				render.Markdown(a.out, p)
			default:
				render.Text(a.out, p, a.color(a.out))
			}
			if out != "" {
				p.Variables, p.VarFiles = pf.vars, pf.varFiles
				if err := plans.Save(out, p); err != nil {
					return fmt.Errorf("saving the plan: %w", err)
				}
				if !asJSON && !markdown {
					fmt.Fprintf(a.out, "\nSaved the plan to %s. Apply exactly this plan with: musubi apply %s\n", out, out)
				}
			}
			if blocking := p.BlockingPolicies(); len(blocking) > 0 {
				if !asJSON {
					fmt.Fprintf(a.err, "musubi: %d polic%s failed; apply is blocked until they pass\n", len(blocking), plural(len(blocking), "y", "ies"))
				}
				return exitError{1}
			}
			if detailed && p.HasChanges() {
				return exitError{2}
			}
			return nil
		},
	}
	pf.register(cmd.Flags())
	cmd.Flags().StringVar(&out, "out", "", "save the plan to this file for apply")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print a Markdown summary for a pull-request comment")
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 2 when there are changes, 0 when there are none")
	cmd.Flags().BoolVar(&destroy, "destroy", false, "plan to destroy everything Musubi manages")
	return cmd
}

// problems is what a session that failed to open printed: its diagnostics, else its error.
func (a *app) problems(s *session, err error) string {
	var b strings.Builder
	if s != nil && s.cfg != nil && len(s.diags) > 0 {
		lang.WriteDiagnostics(&b, s.cfg.Files, s.diags, false)
	}
	var ex exitError
	if b.Len() == 0 && !errors.As(err, &ex) {
		b.WriteString(err.Error())
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

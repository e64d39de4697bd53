package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/spf13/cobra"
)

func (a *app) validateCommand() *cobra.Command {
	var cf configFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration: syntax, references, CEL types",
		Long: `Validate loads every *.hcl and *.hcl.json file of the directory, checks every block,
reference and CEL expression, and reports every problem at once as file:line:col. It also
refuses what a built-in provider named in the configuration cannot hold (a coupon's stores on
a channel that cannot limit it to some stores), as plan would. It starts no provider, reads no
secret, calls no system and touches no state, so it is safe anywhere, e.g. as a pre-commit hook.

Exit status: 0 valid, 1 problems found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return a.validateJSON(&cf)
			}
			cfg, _, err := a.loadConfig(&cf)
			if err != nil {
				return err
			}
			if diags := planner.CheckHeld(context.Background(), cfg); len(diags) > 0 {
				lang.WriteDiagnostics(a.err, cfg.Files, diags, a.color(a.err))
				if diags.HasErrors() {
					return exitError{1}
				}
			}
			fmt.Fprintf(a.out, "The configuration is valid: %s.\n", summarize(cfg))
			return nil
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func (a *app) validateJSON(cf *configFlags) error {
	saved := a.err
	a.err = discard{}
	cfg, diags, err := a.loadConfig(cf)
	a.err = saved
	if _, isExit := err.(exitError); err != nil && !isExit {
		return err
	}
	if err == nil {
		diags = append(diags, planner.CheckHeld(context.Background(), cfg)...)
	}
	out := struct {
		Valid        bool                  `json:"valid"`
		ErrorCount   int                   `json:"error_count"`
		WarningCount int                   `json:"warning_count"`
		Summary      string                `json:"summary,omitempty"`
		Diagnostics  []lang.JSONDiagnostic `json:"diagnostics"`
	}{Valid: !diags.HasErrors(), Diagnostics: lang.ToJSONDiagnostics(diags)}
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out.ErrorCount++
		} else {
			out.WarningCount++
		}
	}
	if out.Valid {
		out.Summary = summarize(cfg)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(a.out, string(b))
	if !out.Valid {
		return exitError{1}
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// summarize counts what a configuration declares: "3 providers, 2 segments, 1 campaign".
func summarize(cfg *lang.Config) string {
	var parts []string
	add := func(n int, one, many string) {
		switch n {
		case 0:
		case 1:
			parts = append(parts, "1 "+one)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(len(cfg.Providers), "provider", "providers")
	add(len(cfg.IdentitySources), "identity source", "identity sources")
	add(len(cfg.Traits), "trait", "traits")
	add(len(cfg.Segments), "segment", "segments")
	add(len(cfg.Campaigns), "campaign", "campaigns")
	add(len(cfg.AudienceExports), "audience export", "audience exports")
	add(len(cfg.Triggers), "trigger", "triggers")
	add(len(cfg.Policies), "policy", "policies")
	if len(parts) == 0 {
		return "nothing declared yet"
	}
	return strings.Join(parts, ", ")
}

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
refuses what plan would refuse before calling any system, in plan's words: a backend other
than "local", a provider type there is none of, a provider attribute the provider does not
know, a credential written in a file, a kind a built-in provider does not manage (a message
through a POS), an attribute it cannot hold (a coupon's stores on a channel that cannot
limit it to some stores), an identity source whose provider cannot bring its events in.

It starts no provider, reads no secret, calls no system and touches no state, so it is safe
anywhere, e.g. as a pre-commit hook or on a pull request from a fork. An env() variable
that is not set is not needed: its value is checked by plan, and validate lists it.

Left to plan, which needs the secrets and the systems: the providers' own checks of their
configuration and of each resource (a title too long for Shopify), what depends on the
system a provider is configured for (a sandbox's), plugins, the state and the live systems.
See docs/language.md, "What validate checks".

Exit status: 0 valid, 1 problems found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			collectLessOften(true)
			cf.deferEnv = true
			if asJSON {
				return a.validateJSON(&cf)
			}
			cfg, _, err := a.loadConfig(&cf)
			if err != nil {
				return err
			}
			if diags := planner.Check(context.Background(), cfg); len(diags) > 0 {
				lang.WriteDiagnostics(a.err, cfg.Files, diags, a.color(a.err))
				if diags.HasErrors() {
					return exitError{1}
				}
			}
			fmt.Fprintf(a.out, "The configuration is valid: %s.\n", summarize(cfg))
			if len(cfg.UnsetEnv) > 0 {
				fmt.Fprintf(a.out, "Not set here, and left to plan: %s (read with env()).\n", strings.Join(cfg.UnsetEnv, ", "))
			}
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
		diags = append(diags, planner.Check(context.Background(), cfg)...)
	}
	out := struct {
		Valid        bool                  `json:"valid"`
		ErrorCount   int                   `json:"error_count"`
		WarningCount int                   `json:"warning_count"`
		Summary      string                `json:"summary,omitempty"`
		UnsetEnv     []string              `json:"unset_env,omitempty"`
		Diagnostics  []lang.JSONDiagnostic `json:"diagnostics"`
	}{Valid: !diags.HasErrors(), Diagnostics: lang.ToJSONDiagnostics(diags)}
	if cfg != nil {
		out.UnsetEnv = cfg.UnsetEnv
	}
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

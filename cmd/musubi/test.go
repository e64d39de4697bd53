package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/engine/scenario"
	"github.com/musubi-hq/musubi/lang"
	"github.com/spf13/cobra"
)

func (a *app) testCommand() *cobra.Command {
	var (
		cf      configFlags
		asJSON  bool
		junit   string
		match   string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "test [FILE...]",
		Short: "Prove the rules with scenarios: events in, segments, triggers, messages and codes out",
		Long: `Test runs the scenarios of the *.test.hcl files of the directory (or the FILEs given)
against the programme, on the rules engine itself (docs/testing.md). Each run starts a fresh
engine on a throw-away store with a fixed clock, makes its customers known, posts its events
and moves the clock as written, and checks what must follow: segments, triggers fired,
messages queued, codes issued, held steps, decisions. No system is called and no secret is
needed: messages stay in the outbox, which is what the tests check.

Each run prints PASS or FAIL; a failed expectation prints as file:line:col: expected …,
got …. -json prints the report as JSON, -junit writes it as JUnit XML for CI.

Exit status: 0 every run passed, 1 a run failed, 2 a test file or the configuration is wrong,
or a run could not go on.`,
		Example: `  musubi test
  musubi test -run 'cart nudge' -v
  musubi test -junit musubi-test.xml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.test(cmd.Context(), &cf, args, asJSON, junit, match, verbose)
		},
	}
	cmd.Flags().StringArrayVar(&cf.vars, "var", nil, "set a variable: -var NAME=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&cf.varFiles, "var-file", nil, "read variables from a "+lang.VarFileSuffix+" file (repeatable)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&junit, "junit", "", "also write the report as JUnit XML to this file")
	cmd.Flags().StringVar(&match, "run", "", "run only the runs whose names match this regular expression")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show what each step did and each expectation met")
	return cmd
}

func (a *app) test(ctx context.Context, cf *configFlags, args []string, asJSON bool, junit, match string, verbose bool) error {
	var re *regexp.Regexp
	if match != "" {
		var err error
		if re, err = regexp.Compile(match); err != nil {
			fmt.Fprintf(a.err, "musubi: -run %s: %s\n", lang.EscapeControls(match), err)
			return exitError{2}
		}
	}
	cfg, diags := scenario.LoadConfig(".", lang.LoadOptions{Vars: cf.vars, VarFiles: cf.varFiles})
	files := map[string]*hcl.File{}
	if cfg != nil {
		maps.Copy(files, cfg.Files)
	}
	paths := args
	if len(paths) == 0 && !diags.HasErrors() {
		found, err := scenario.Find(".")
		if err != nil {
			return err
		}
		paths = found
	}
	var tests []*scenario.File
	if !diags.HasErrors() {
		known := scenario.KnownFrom(cfg)
		for _, p := range paths {
			f, ds := scenario.ReadFile(filepath.Clean(p), known)
			diags = append(diags, ds...)
			if f != nil {
				files[f.Name] = f.HCL
				tests = append(tests, f)
			}
		}
	}
	if diags.HasErrors() {
		if asJSON {
			writeJSONOut(a.out, scenario.JSONReport{Files: []scenario.JSONFile{}, Errors: lang.ToJSONDiagnostics(diags)})
		} else {
			lang.WriteDiagnostics(a.err, files, diags, a.color(a.err))
		}
		return exitError{2}
	}
	if len(diags) > 0 && !asJSON {
		lang.WriteDiagnostics(a.err, files, diags, a.color(a.err))
	}
	if len(tests) == 0 {
		fmt.Fprintf(a.err, "No test files (*%s) here: docs/testing.md shows how to write one.\n", scenario.Suffix)
		return nil
	}
	rep, err := scenario.Test(ctx, tests, scenario.Options{Config: cfg, Match: re, Verbose: verbose})
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSONOut(a.out, rep.ToJSON()); err != nil {
			return err
		}
	} else {
		scenario.WriteText(a.out, rep, files, verbose)
	}
	if junit != "" {
		f, err := os.Create(junit)
		if err != nil {
			return fmt.Errorf("-junit: %w", err)
		}
		werr := scenario.WriteJUnit(f, rep)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("-junit: %w", werr)
		}
	}
	switch {
	case rep.Errored > 0:
		return exitError{2}
	case rep.Failed > 0:
		return exitError{1}
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/musubi-hq/musubi/lang"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// exitError ends a command with a specific exit code, after the command printed what it had
// to say (validate's diagnostics, plan's -detailed-exitcode 2).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// streams are the command's standard streams; tests replace them.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// app holds the global flags every command shares.
type app struct {
	streams
	chdir   string
	noColor bool
}

// isTerminal reports whether r is an interactive terminal.
func (a *app) isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// color reports whether output to w may use ANSI colours.
func (a *app) color(w io.Writer) bool {
	if a.noColor || os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Main runs the command line and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	a := &app{streams: streams{in: in, out: out, err: errOut}}
	root := a.rootCommand()
	root.SetArgs(terraformArgs(root, args))
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	if err := setupLogging(errOut); err != nil {
		fmt.Fprintf(errOut, "musubi: %s\n", lang.EscapeControls(err.Error()))
		return 1
	}
	err := root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(errOut, "musubi: %s\n", lang.EscapeControls(err.Error()))
		return 1
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "musubi",
		Short: "Marketing-as-code for retailers: plan and apply customer programmes across EC, POS and messaging",
		Long: `Musubi keeps a retailer's customer programme in git as HCL files with CEL conditions:
identity sources, segments, triggers and coupon campaigns. It plans the change against the
live EC, POS and messaging systems, applies it, and serves the same rules on live events.

Flags may also be written with one dash, as in Terraform: -chdir=DIR, -auto-approve.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.chdir != "" {
				if err := os.Chdir(a.chdir); err != nil {
					return fmt.Errorf("-chdir: %w", err)
				}
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&a.chdir, "chdir", "", "switch to this directory before doing anything")
	root.PersistentFlags().BoolVar(&a.noColor, "no-color", false, "do not colour the output (also when NO_COLOR is set)")
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(
		a.validateCommand(),
		a.planCommand(),
		a.applyCommand(),
		a.destroyCommand(),
		a.showCommand(),
		a.outputCommand(),
		a.stateCommand(),
		a.importCommand(),
		a.graphCommand(),
		a.forceUnlockCommand(),
		a.sandboxCommand(),
		a.fmtCommand(),
		a.consoleCommand(),
		a.testCommand(),
		a.serveCommand(),
		a.customerCommand(),
		a.outboxCommand(),
		a.segmentsCommand(),
		a.versionCommand(),
		a.initCommand(),
	)
	return root
}

// setupLogging configures log/slog from MUSUBI_LOG (debug, info, warn, error; off when unset)
// and MUSUBI_LOG_FILE (append to a file instead of standard error).
func setupLogging(errOut io.Writer) error {
	level := strings.ToLower(os.Getenv("MUSUBI_LOG"))
	var lv slog.Level
	switch level {
	case "", "off":
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
		return nil
	case "debug", "trace":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return fmt.Errorf("MUSUBI_LOG=%s: use debug, info, warn, error or off", level)
	}
	w := errOut
	if path := os.Getenv("MUSUBI_LOG_FILE"); path != "" {
		// Owner-only: a provider's error can name a customer's address.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("MUSUBI_LOG_FILE: %w", err)
		}
		w = f
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})))
	return nil
}

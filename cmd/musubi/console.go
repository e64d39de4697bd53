package main

import (
	"bufio"
	"fmt"

	"github.com/musubi-hq/musubi/lang"
	"github.com/spf13/cobra"
)

func (a *app) consoleCommand() *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Try CEL conditions and HCL expressions against the configuration and sample data",
		Long: `Console loads the configuration and reads expressions line by line: CEL conditions are
evaluated in a context (segment, a trigger's event type, campaign messages, a policy) against a
sample customer and event you can replace; :hcl evaluates HCL expressions such as var.x.
Type :help for the commands. Lines can be piped in: echo 'customer.consent.line' | musubi console`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := a.loadConfig(&cf)
			if err != nil {
				return err
			}
			c := lang.NewConsole(cfg)
			interactive := a.isTerminal(a.in)
			if interactive {
				fmt.Fprintln(a.out, "Musubi console. :help for commands, :quit or Ctrl-D to leave.")
			}
			sc := bufio.NewScanner(a.in)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			failed := false
			for {
				if interactive {
					fmt.Fprint(a.out, c.Prompt())
				}
				if !sc.Scan() {
					break
				}
				line := sc.Text()
				if line == ":quit" || line == ":q" || line == "exit" {
					break
				}
				out, err := c.Exec(line)
				if err != nil {
					fmt.Fprintf(a.out, "error: %s\n", lang.EscapeControls(err.Error()))
					failed = true
					continue
				}
				if out != "" {
					fmt.Fprintln(a.out, lang.EscapeControls(out))
				}
			}
			if failed && !interactive {
				return exitError{1}
			}
			return sc.Err()
		},
	}
	cf.register(cmd.Flags())
	return cmd
}

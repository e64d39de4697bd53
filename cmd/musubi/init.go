package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/musubi-hq/musubi/planner/plugins"
	"github.com/musubi-hq/musubi/providers/plugin"
	"github.com/spf13/cobra"
)

func (a *app) initCommand() *cobra.Command {
	var cf configFlags
	var upgrade bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Resolve every provider's source and pin plugin binaries in " + plugins.LockFile,
		Long: `Init resolves the source of every provider block: builtin/TYPE runs inside musubi; a path
("./bin/musubi-provider-loyalty") or a plugin name ("loyalty", found as
` + plugins.PluginDir + `/` + plugin.BinaryPrefix + `loyalty) is a plugin binary. Init starts each plugin once to
read its name, version and protocol, and writes ` + plugins.LockFile + ` with the SHA-256 of each binary.
Commit the lock file: plan, apply and every other command refuse a plugin binary that differs
from it.

Init refuses a binary that differs from the one the lock file already pins; after replacing a
plugin on purpose, run musubi init -upgrade.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := a.loadConfig(&cf)
			if err != nil {
				return err
			}
			lock, inits, err := plugins.Init(cmd.Context(), cfg, ".", Version(), upgrade)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, "Providers:")
			for _, in := range inits {
				what := fmt.Sprintf("built in, musubi %s", in.Version)
				if !in.Builtin {
					what = fmt.Sprintf("plugin %s %s, protocol %d, sha256 %s…", in.Name, in.Version, in.Protocol, in.SHA256[:12])
				}
				fmt.Fprintf(a.out, "  - %s: %s (provider.%s)\n", in.Source, what, strings.Join(in.Blocks, ", provider."))
			}
			if old, err := os.ReadFile(plugins.LockFile); err == nil && bytes.Equal(old, lock.Bytes()) {
				fmt.Fprintf(a.out, "\n%s is up to date.\n", plugins.LockFile)
				return nil
			}
			if err := lock.Write("."); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "\nMusubi wrote %s. Commit it: later commands refuse a plugin binary that differs from it.\n", plugins.LockFile)
			return nil
		},
	}
	cf.register(cmd.Flags())
	cmd.Flags().BoolVar(&upgrade, "upgrade", false, "pin plugin binaries that changed since the last init")
	return cmd
}

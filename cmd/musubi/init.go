package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/plugins"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers/plugin"
	"github.com/spf13/cobra"
)

func (a *app) initCommand() *cobra.Command {
	var cf configFlags
	var upgrade, migrate bool
	var from string
	var lf lockFlags
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
plugin on purpose, run musubi init -upgrade.

Init -migrate-state copies a local state file (-from-state, musubi.state.json unless set) into
the backend the musubi block now names, after changing it from local to pg: the state keeps
its lineage and serial. It refuses when the backend already holds another state, and leaves
the local file as it was; remove it once the team uses the new backend.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := a.loadConfig(&cf)
			if err != nil {
				return err
			}
			if migrate {
				if err := a.migrateState(cmd.Context(), cfg, from, &lf); err != nil {
					return err
				}
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
	cmd.Flags().BoolVar(&migrate, "migrate-state", false, "copy a local state file into the configured backend (after changing it from local to pg)")
	cmd.Flags().StringVar(&from, "from-state", planner.DefaultStatePath, "the local state file -migrate-state copies")
	cmd.Flags().DurationVar(&lf.timeout, "lock-timeout", 0, "how long -migrate-state waits for another musubi holding a state lock, e.g. 30s")
	return cmd
}

// migrateState copies the local state file from into the configured backend.
func (a *app) migrateState(ctx context.Context, cfg *lang.Config, from string, lf *lockFlags) error {
	to, diags := planner.Backend(cfg, ".")
	if diags.HasErrors() {
		lang.WriteDiagnostics(a.err, cfg.Files, diags, a.color(a.err))
		return exitError{1}
	}
	if c, ok := to.(io.Closer); ok {
		defer c.Close()
	}
	if l, ok := to.(*states.Local); ok && filepath.Clean(l.Path) == filepath.Clean(from) {
		return fmt.Errorf("the configuration's backend is %s already; change the musubi block's backend first", from)
	}
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("no local state to migrate: %w", err)
	}
	src := states.NewLocal(from)
	m, err := states.Migrate(ctx, src, to, states.NewLockInfo("init -migrate-state", Version()), lf.timeout, Version())
	if err != nil {
		return err
	}
	if m.Already {
		fmt.Fprintf(a.out, "The %s holds the state of %s already (serial %d, %d resources).\n\n", to.Describe(), from, m.Serial, m.Resources)
		return nil
	}
	fmt.Fprintf(a.out, "Copied the state of %s (serial %d, %d resources) to the %s.\n%s is left as it was: musubi no longer reads it; remove it once everyone uses the new backend.\n\n",
		from, m.Serial, m.Resources, to.Describe(), from)
	return nil
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/render"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
	"github.com/spf13/cobra"
)

func (a *app) stateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Inspect and edit the state: list, show, rm, mv, rebind, pull, push",
		Long: `The state records every resource Musubi manages: its address, its ID in the system and
its attributes. These commands inspect it and make careful edits; every edit is a new state
serial (a local state file keeps the previous one as a backup). Pull prints the state and push
replaces it, with whichever backend keeps it.`,
	}
	var lf lockFlags
	list := &cobra.Command{
		Use:   "list [PATTERN...]",
		Short: "List the resources in the state (patterns use * as in campaign.spring.*)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openState(cmd.Context(), &configFlags{}, &lockFlags{}, "state list", true)
			defer s.close()
			if err != nil {
				return err
			}
			for _, r := range s.state.Select(args) {
				if r.Pending != nil {
					fmt.Fprintf(a.out, "%s (%s pending)\n", r.Address, pendingAction(r.Pending))
				} else {
					fmt.Fprintln(a.out, r.Address)
				}
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show ADDRESS",
		Short: "Show one resource: its ID and attributes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openState(cmd.Context(), &configFlags{}, &lockFlags{}, "state show", true)
			defer s.close()
			if err != nil {
				return err
			}
			r, err := s.state.Get(args[0])
			if err != nil {
				return err
			}
			writeResource(a.out, r)
			return nil
		},
	}
	rm := &cobra.Command{
		Use:   "rm ADDRESS...",
		Short: "Forget resources without deleting them from their systems",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openState(ctx, &configFlags{}, &lf, "state rm", true)
			defer s.close()
			if err != nil {
				return err
			}
			removed, err := states.Forget(ctx, s.backend, s.state, args, Version())
			if err != nil {
				return err
			}
			for _, r := range removed {
				fmt.Fprintf(a.out, "Removed %s\n", r.Address)
			}
			n := len(removed)
			fmt.Fprintf(a.out, "Forgot %d resource%s; they still exist in their systems.\n", n, plural(n, "", "s"))
			return nil
		},
	}
	mv := &cobra.Command{
		Use:   "mv SOURCE DESTINATION",
		Short: "Move a resource to a new address (after renaming a block)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openState(ctx, &configFlags{}, &lf, "state mv", true)
			defer s.close()
			if err != nil {
				return err
			}
			if err := states.Move(ctx, s.backend, s.state, args[0], args[1], Version()); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Moved %s to %s\n", args[0], args[1])
			return nil
		},
	}
	var cf configFlags
	rebind := &cobra.Command{
		Use:   "rebind PROVIDER...",
		Short: "Record that a provider now points at another account, after a deliberate move",
		Long: `The state records the account each provider's resources were applied against (its
non-secret settings: a shop domain, a contract ID, a sandbox file), and plan refuses a state
whose provider now points elsewhere, as another project's state would. After moving a
provider on purpose (the objects moved with it, or are meant to be made again there), rebind
records the account the configuration points at now: musubi state rebind provider.shopify.jp`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := a.openSession(ctx, &cf, &lf, "state rebind", true)
			defer s.close()
			if err != nil {
				return err
			}
			moved, err := planner.Rebind(ctx, s.backend, s.state, s.host, args, Version())
			if err != nil {
				return err
			}
			for _, p := range moved {
				fmt.Fprintf(a.out, "provider.%s: the state now records the account the configuration points at.\n", p)
			}
			return nil
		},
	}
	cf.register(rebind.Flags())
	pull := &cobra.Command{
		Use:   "pull",
		Short: "Print the state as JSON, wherever its backend keeps it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.openState(cmd.Context(), &configFlags{}, &lockFlags{}, "state pull", true)
			defer s.close()
			if err != nil {
				return err
			}
			b, err := states.Encode(s.state)
			if err != nil {
				return err
			}
			_, err = a.out.Write(b)
			return err
		},
	}
	var force bool
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Replace the state with a state file, refusing an older serial or another lineage",
		Long: `Push replaces the state, wherever its backend keeps it, with FILE (from musubi state pull,
or a local state file), as the next serial. It refuses a state of another lineage (another
project's or environment's), one older than the state it would replace, and a state holding
the steps of an interrupted apply, unless -force is given. Use - to read from standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := readFileOrStdin(a, args[0])
			if err != nil {
				return err
			}
			st, err := states.Decode(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ctx := cmd.Context()
			s, err := a.openState(ctx, &configFlags{}, &lf, "state push", true)
			defer s.close()
			if err != nil {
				return err
			}
			if err := states.Push(ctx, s.backend, s.state, st, Version(), force); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Pushed %d resource%s to the %s as serial %d.\n", st.Len(), plural(st.Len(), "", "s"), s.backend.Describe(), st.Serial)
			return nil
		},
	}
	push.Flags().BoolVar(&force, "force", false, "replace the state even with another lineage or an older serial")
	for _, c := range []*cobra.Command{list, show, rm, mv, rebind, pull, push} {
		lf.register(c.Flags())
		cmd.AddCommand(c)
	}
	return cmd
}

func writeResource(w io.Writer, r *states.Resource) {
	fmt.Fprint(w, lang.EscapeControls(fmt.Sprintf("%s\n  kind      %s\n  provider  %s\n  id        %s\n", r.Address, r.Kind, r.Provider, r.ID)))
	if p := r.Pending; p != nil {
		fmt.Fprintf(w, "  pending   %s started %s", pendingAction(p), p.Since.Format(time.RFC3339))
		if p.IdempotencyKey != "" {
			fmt.Fprintf(w, " (idempotency key %s)", p.IdempotencyKey)
		}
		fmt.Fprintln(w)
	}
	if len(r.Dependencies) > 0 {
		fmt.Fprintf(w, "  needs     %s\n", addrs.Join(r.Dependencies, ", "))
	}
	b, _ := json.MarshalIndent(visibleState(r), "  ", "  ")
	fmt.Fprintf(w, "  attributes %s\n", lang.EscapeControls(string(b)))
}

// pendingAction names a change an apply started and did not see finish.
func pendingAction(p *states.Pending) string {
	if p.Action == "" {
		return "create"
	}
	return p.Action
}

func visibleState(r *states.Resource) providers.Attrs {
	ks, err := providers.SchemaOf(r.Kind)
	if err != nil {
		return r.Attributes
	}
	out := providers.Attrs{}
	for k, v := range r.Attributes {
		if a, ok := ks.Attribute(k); ok && a.Private {
			out[k] = "(private)"
			continue
		}
		out[k] = v
	}
	return out
}

func (a *app) showCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show [PLANFILE]",
		Short: "Show the state, or a saved plan",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				p, err := plans.Load(args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return render.JSON(a.out, p, nil)
				}
				render.Text(a.out, p, a.color(a.out))
				return nil
			}
			s, err := a.openState(cmd.Context(), &configFlags{}, &lockFlags{}, "show", true)
			defer s.close()
			if err != nil {
				return err
			}
			st := s.state
			if asJSON {
				b, err := states.Encode(st)
				if err != nil {
					return err
				}
				_, err = a.out.Write(b)
				return err
			}
			if st.Len() == 0 {
				fmt.Fprintf(a.out, "The state is empty (%s). Run musubi apply to create what the configuration declares.\n", s.backend.Describe())
				return nil
			}
			fmt.Fprintf(a.out, "State serial %d, lineage %s, written by musubi %s", st.Serial, st.Lineage, st.ToolVersion)
			if g := st.Git; g != nil {
				dirty := ""
				if g.Dirty {
					dirty = ", with uncommitted changes"
				}
				fmt.Fprint(a.out, lang.EscapeControls(fmt.Sprintf("\nfrom commit %s on %s by %s%s", shortHash(g.Commit), g.Branch, g.Author, dirty)))
			}
			fmt.Fprintln(a.out)
			for _, r := range st.Resources() {
				fmt.Fprintln(a.out)
				writeResource(a.out, r)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (a *app) importCommand() *cobra.Command {
	var lf lockFlags
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "import ADDRESS ID",
		Short: "Bring an existing object of a system under management",
		Long: `Import reads an object that already exists in a system (a coupon made by hand in the
Shopify admin, say) and records it in the state at ADDRESS, which the configuration must
declare. The next plan shows any difference between the object and the configuration.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := signalContext()
			defer cancel()
			addr, id := args[0], args[1]
			ia, err := addrs.ParseInstance(addr)
			if err != nil {
				return err
			}
			s, err := a.openSession(ctx, &cf, &lf, "import", true)
			defer s.close()
			if err != nil {
				return err
			}
			pl := &planner.Planner{Config: s.cfg, Host: s.host, State: s.state}
			if err := pl.Import(ctx, s.backend, ia, id, Version()); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Imported %s as %s. Run musubi plan to compare it with the configuration.\n", id, addr)
			return nil
		},
	}
	lf.register(cmd.Flags())
	cf.register(cmd.Flags())
	return cmd
}

func (a *app) forceUnlockCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "force-unlock LOCK_ID",
		Short: "Remove a state lock whose holder hangs",
		Long: `Force-unlock removes the state lock with the given ID (printed in the message of the
command that found it locked). A holder that exited, even killed, releases its lock by itself;
use this only for a holder that hangs and cannot be stopped, and only when it is surely not
going to write the state again. A holder still running on this machine is refused unless
-force is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openState(cmd.Context(), &configFlags{}, &lockFlags{}, "force-unlock", true)
			defer s.close()
			if err != nil {
				return err
			}
			opts := states.UnlockOptions{Force: force}
			if !force {
				opts.Confirm = func(i states.LockInfo) bool {
					return a.confirm(fmt.Sprintf("Musubi will remove the lock %s of %s by %s@%s (pid %d) since %s. Another apply may then run beside its holder.",
						i.ID, i.Operation, i.Who, i.Host, i.PID, i.Created.Format(time.RFC3339)))
				}
			}
			running, err := s.backend.ForceUnlock(cmd.Context(), args[0], opts)
			if errors.Is(err, states.ErrNotConfirmed) {
				return errCancelled
			}
			if err != nil {
				return err
			}
			if running != nil {
				fmt.Fprintf(a.err, "Warning: removed the lock of %s, which is still running on this machine; if it writes the state again, it overwrites what others apply.\n", running)
			}
			fmt.Fprintln(a.out, "The state is unlocked.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the lock even when its holder is still running on this machine, and do not ask")
	return cmd
}

// readFileOrStdin reads a file, or standard input for "-".
func readFileOrStdin(a *app, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(a.in)
	}
	return os.ReadFile(name)
}

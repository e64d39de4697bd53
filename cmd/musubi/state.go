package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
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

// openState loads the configuration for its backend and reads the state, under the lock when
// the command will write it.
func (a *app) openState(ctx context.Context, lf *lockFlags, operation string, lock bool) (*lang.Config, states.Backend, *states.State, func(), error) {
	cfg, _, err := a.loadConfig(&configFlags{})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	backend, diags := planner.Backend(cfg, ".")
	if diags.HasErrors() {
		lang.WriteDiagnostics(a.err, cfg.Files, diags, a.color(a.err))
		return nil, nil, nil, nil, exitError{1}
	}
	release := func() {}
	if lock && lf.lock {
		u, err := backend.Lock(ctx, states.NewLockInfo(operation, Version()), lf.timeout)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		release = func() { u.Unlock() }
	}
	st, err := backend.Read(ctx)
	if err != nil {
		release()
		return nil, nil, nil, nil, err
	}
	return cfg, backend, st, release, nil
}

// writeState saves a state changed by a state command, as the next serial.
func writeState(ctx context.Context, backend states.Backend, st *states.State) error {
	st.Serial++
	st.ToolVersion = Version()
	st.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	return backend.Write(ctx, st)
}

func (a *app) stateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Inspect and edit the state: list, show, rm, mv",
		Long: `The state records every resource Musubi manages: its address, its ID in the system and
its attributes. These commands inspect it and make careful edits; every edit is a new state
serial and the previous file is kept as a backup.`,
	}
	var lf lockFlags
	list := &cobra.Command{
		Use:   "list [PATTERN...]",
		Short: "List the resources in the state (patterns use * as in campaign.spring.*)",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, st, release, err := a.openState(cmd.Context(), &lf, "state list", false)
			if err != nil {
				return err
			}
			defer release()
			for _, r := range st.Resources() {
				if !matchesAny(r.Address, args) {
					continue
				}
				if r.ID == "" && r.Pending != nil {
					fmt.Fprintf(a.out, "%s (create pending)\n", r.Address)
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
			_, _, st, release, err := a.openState(cmd.Context(), &lf, "state show", false)
			if err != nil {
				return err
			}
			defer release()
			r := st.Find(args[0])
			if r == nil {
				return notInState(st, args[0])
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
			_, backend, st, release, err := a.openState(ctx, &lf, "state rm", true)
			if err != nil {
				return err
			}
			defer release()
			removed := 0
			for _, r := range st.Resources() {
				if matchesAny(r.Address, args) {
					st.Remove(r.Address)
					fmt.Fprintf(a.out, "Removed %s\n", r.Address)
					removed++
				}
			}
			if removed == 0 {
				return notInState(st, args[0])
			}
			if err := writeState(ctx, backend, st); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Forgot %d resource%s; they still exist in their systems.\n", removed, plural(removed, "", "s"))
			return nil
		},
	}
	mv := &cobra.Command{
		Use:   "mv SOURCE DESTINATION",
		Short: "Move a resource to a new address (after renaming a block)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, backend, st, release, err := a.openState(ctx, &lf, "state mv", true)
			if err != nil {
				return err
			}
			defer release()
			src, dst := args[0], args[1]
			r := st.Find(src)
			if r == nil {
				return notInState(st, src)
			}
			da, err := addrs.ParseInstance(dst)
			if err != nil {
				return err
			}
			if da.Kind != r.Kind || da.Provider.String() != r.Provider {
				return fmt.Errorf("%s is a %s on %s; the destination must keep the kind and provider (%s)", src, r.Kind, r.Provider, dst)
			}
			if st.Find(dst) != nil {
				return fmt.Errorf("%s already exists in the state", dst)
			}
			st.Remove(src)
			moved := r.Clone()
			moved.Address = dst
			st.Put(moved)
			for _, other := range st.Resources() {
				for i, d := range other.Dependencies {
					if d == src {
						other.Dependencies[i] = dst
					}
				}
				for k, v := range other.Attributes {
					if v == src {
						other.Attributes[k] = dst
					}
				}
			}
			if err := writeState(ctx, backend, st); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Moved %s to %s\n", src, dst)
			return nil
		},
	}
	for _, c := range []*cobra.Command{list, show, rm, mv} {
		lf.register(c.Flags())
		cmd.AddCommand(c)
	}
	return cmd
}

func matchesAny(addr string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == addr || strings.HasPrefix(addr, p+".") {
			return true
		}
		if ok, _ := path.Match(p, addr); ok {
			return true
		}
	}
	return false
}

func notInState(st *states.State, addr string) error {
	var names []string
	for _, r := range st.Resources() {
		names = append(names, r.Address)
	}
	msg := fmt.Sprintf("%s is not in the state", addr)
	if len(names) == 0 {
		return fmt.Errorf("%s (the state is empty)", msg)
	}
	return fmt.Errorf("%s; musubi state list shows what is", msg)
}

func writeResource(w io.Writer, r *states.Resource) {
	fmt.Fprint(w, lang.EscapeControls(fmt.Sprintf("%s\n  kind      %s\n  provider  %s\n  id        %s\n", r.Address, r.Kind, r.Provider, r.ID)))
	if r.Pending != nil {
		fmt.Fprintf(w, "  pending   create started %s (idempotency key %s)\n", r.Pending.Since.Format(time.RFC3339), r.Pending.IdempotencyKey)
	}
	if len(r.Dependencies) > 0 {
		fmt.Fprintf(w, "  needs     %s\n", strings.Join(r.Dependencies, ", "))
	}
	b, _ := json.MarshalIndent(visibleState(r), "  ", "  ")
	fmt.Fprintf(w, "  attributes %s\n", lang.EscapeControls(string(b)))
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
			_, backend, st, release, err := a.openState(cmd.Context(), &lockFlags{}, "show", false)
			if err != nil {
				return err
			}
			defer release()
			if asJSON {
				b, err := states.Encode(st)
				if err != nil {
					return err
				}
				_, err = a.out.Write(b)
				return err
			}
			if st.Len() == 0 {
				fmt.Fprintf(a.out, "The state is empty (%s). Run musubi apply to create what the configuration declares.\n", backend.Describe())
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
			var want *planner.Desired
			for _, d := range planner.Expand(s.cfg, s.state, s.host) {
				if d.Addr == ia {
					want = d
				}
			}
			if want == nil {
				return fmt.Errorf("the configuration declares no %s; write its block first, then import", addr)
			}
			if s.state.Find(addr) != nil {
				return fmt.Errorf("%s is already managed; remove it with musubi state rm first to import another object", addr)
			}
			p, _ := s.host.Provider(ia.Provider.String())
			resp := p.Import(ctx, providers.ImportRequest{Kind: ia.Kind, ID: id})
			if err := resp.Diagnostics.Err(); err != nil {
				return fmt.Errorf("importing %s from provider.%s: %w", id, ia.Provider, err)
			}
			attrs := resp.Attributes.Clone()
			for name, v := range want.Attrs {
				if a, ok := schemaAttr(ia.Kind, name); ok && (a.Private || a.Type == providers.Ref) {
					attrs[name] = v
				}
			}
			r := &states.Resource{Address: addr, Kind: ia.Kind, Provider: ia.Provider.String(), ID: id, Attributes: attrs}
			for _, d := range want.Deps() {
				r.Dependencies = append(r.Dependencies, d.String())
			}
			s.state.Put(r)
			if err := writeState(ctx, s.backend, s.state); err != nil {
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

func schemaAttr(k providers.Kind, name string) (providers.AttributeSchema, bool) {
	ks, err := providers.SchemaOf(k)
	if err != nil {
		return providers.AttributeSchema{}, false
	}
	return ks.Attribute(name)
}

func (a *app) forceUnlockCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "force-unlock LOCK_ID",
		Short: "Remove a state lock whose holder died or hangs",
		Long: `Force-unlock removes the state lock with the given ID (printed in the message of the
command that found it locked). A holder that exited, even killed, releases its lock by itself;
use this only for a holder that hangs and cannot be stopped, and only when it is surely not
going to write the state again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, backend, _, release, err := a.openState(cmd.Context(), &lockFlags{}, "force-unlock", false)
			if err != nil {
				return err
			}
			release()
			if !force && !a.confirm("Musubi will remove the lock "+args[0]+". Another apply may then run beside its holder.") {
				return errCancelled
			}
			if err := backend.ForceUnlock(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintln(a.out, "The state is unlocked.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	return cmd
}

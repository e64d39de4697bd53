package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/sandbox"
	"github.com/spf13/cobra"
)

// sandboxPath finds the sandbox file: --db, else the path attribute of the configuration's
// sandbox providers, else the default.
func (a *app) sandboxPath(flag string) string {
	if flag != "" {
		return flag
	}
	if cfg, diags := lang.LoadDir(".", lang.LoadOptions{}); !diags.HasErrors() {
		for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
			p := cfg.Providers[name]
			if p.Ref.Type != "sandbox" {
				continue
			}
			if v, ok := p.Config["path"]; ok && v.Type().FriendlyName() == "string" {
				return v.AsString()
			}
		}
	}
	return filepath.FromSlash(sandbox.DefaultPath)
}

func (a *app) sandboxCommand() *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Look into the sandbox's simulated systems, edit objects out of band, inject faults",
		Long: `The sandbox provider simulates EC, POS and messaging systems in one local SQLite file, so
a programme can be planned and applied with no credentials. These commands act on that file
directly, as someone working in a system's own admin screen would: list and show objects,
edit or delete one behind Musubi's back (the next plan shows the drift), inject a failure
into the next calls, and read the messages the sandbox's messaging systems delivered.`,
	}
	cmd.PersistentFlags().StringVar(&db, "db", "", "sandbox file (default: the configuration's sandbox path, else "+sandbox.DefaultPath+")")
	// use runs fn on the sandbox file, open for the one command.
	use := func(fn func(s *sandbox.Store) error) error {
		path := a.sandboxPath(db)
		s, err := sandbox.OpenStore(path)
		if err != nil {
			return fmt.Errorf("opening the sandbox %s: %w", path, err)
		}
		defer s.Close()
		return fn(s)
	}
	// useObject also finds the object an ID or address argument names.
	useObject := func(cmd *cobra.Command, arg string, fn func(s *sandbox.Store, id string) error) error {
		return use(func(s *sandbox.Store) error {
			id, err := a.objectID(cmd, arg)
			if err != nil {
				return err
			}
			return fn(s, id)
		})
	}
	var provider, kind string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the objects the simulated systems hold",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return use(func(s *sandbox.Store) error {
				objs, err := s.List(cmd.Context(), provider, providers.Kind(kind))
				if err != nil {
					return err
				}
				if len(objs) == 0 {
					fmt.Fprintln(a.out, "The sandbox holds no objects.")
					return nil
				}
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPROVIDER\tKIND\tSUMMARY")
				for _, o := range objs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.ID, o.Provider, o.Kind, lang.EscapeControls(summaryOf(o.Attributes)))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&provider, "provider", "", "only this provider, e.g. sandbox.ec")
	list.Flags().StringVar(&kind, "kind", "", "only this kind, e.g. coupon")
	show := &cobra.Command{
		Use:   "show ID|ADDRESS",
		Short: "Show one object",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return useObject(cmd, args[0], func(s *sandbox.Store, id string) error {
				o, err := s.Get(cmd.Context(), id)
				if err != nil {
					return err
				}
				b, _ := json.MarshalIndent(o, "", "  ")
				fmt.Fprintln(a.out, string(b))
				return nil
			})
		},
	}
	set := &cobra.Command{
		Use:   "set ID|ADDRESS ATTRIBUTE VALUE",
		Short: "Change an attribute out of band, as someone editing in the system's admin would",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return useObject(cmd, args[0], func(s *sandbox.Store, id string) error {
				if err := s.SetAttribute(cmd.Context(), id, args[1], args[2]); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Set %s of %s to %s. The next plan shows this as drift.\n", args[1], args[0], args[2])
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete ID|ADDRESS",
		Short: "Delete an object out of band",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return useObject(cmd, args[0], func(s *sandbox.Store, id string) error {
				if err := s.Delete(cmd.Context(), id); err != nil {
					return err
				}
				fmt.Fprintf(a.out, "Deleted %s. The next plan shows it as deleted outside Musubi and creates it again.\n", args[0])
				return nil
			})
		},
	}
	var fop string
	var nth, status int
	var lose, hang bool
	fail := &cobra.Command{
		Use:   "fail",
		Short: "Make one upcoming call fail, to see how Musubi handles a failing system",
		Long: `Fail arranges for the Nth call of an operation (counting from now) to a sandbox provider to
fail once: --status 500 as a server error, 429 as a rate limit, 409 as a conflict, 401 as a
rejected credential, 422 as invalid values. --lose-response makes the call succeed in the
system but report a timeout, as if the response were lost on the way back. --hang makes it
succeed, then block until the process is stopped, to rehearse a crash in the middle of an
apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return use(func(s *sandbox.Store) error {
				f := sandbox.Fault{Provider: provider, Op: fop, Nth: nth, Status: status, LoseResponse: lose, Hang: hang}
				if err := s.AddFault(cmd.Context(), f); err != nil {
					return err
				}
				who := "any sandbox provider"
				if provider != "" {
					who = provider
				}
				fmt.Fprintf(a.out, "Call %d of %s to %s will fail", nth, fop, who)
				switch {
				case hang:
					fmt.Fprintln(a.out, " after doing its work, and hang.")
				case lose:
					fmt.Fprintln(a.out, " after doing its work (lost response).")
				default:
					fmt.Fprintf(a.out, " with status %d.\n", status)
				}
				return nil
			})
		},
	}
	fail.Flags().StringVar(&provider, "provider", "", "only calls to this provider, e.g. sandbox.ec")
	fail.Flags().StringVar(&fop, "op", "create", "operation: create, read, update, delete or send (a message delivery)")
	fail.Flags().IntVar(&nth, "nth", 1, "which call from now fails (1 = the next)")
	fail.Flags().IntVar(&status, "status", 500, "status the call fails with")
	fail.Flags().BoolVar(&lose, "lose-response", false, "do the work, then report a timeout")
	fail.Flags().BoolVar(&hang, "hang", false, "do the work, then block until the process is stopped")
	outbox := &cobra.Command{
		Use:   "outbox",
		Short: "List the messages the sandbox's messaging systems delivered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return use(func(s *sandbox.Store) error {
				msgs, err := s.Outbox(cmd.Context(), provider)
				if err != nil {
					return err
				}
				if len(msgs) == 0 {
					fmt.Fprintln(a.out, "No messages delivered.")
					return nil
				}
				for _, m := range msgs {
					b, _ := json.Marshal(m)
					fmt.Fprintln(a.out, string(b))
				}
				return nil
			})
		},
	}
	outbox.Flags().StringVar(&provider, "provider", "", "only this provider")
	codes := &cobra.Command{
		Use:   "codes POOL_ID",
		Short: "List the codes of a code pool",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return use(func(s *sandbox.Store) error {
				codes, err := s.Codes(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				for _, c := range codes {
					fmt.Fprintln(a.out, lang.EscapeControls(c))
				}
				return nil
			})
		},
	}
	members := &cobra.Command{
		Use:   "members ID|ADDRESS",
		Short: "List the members an audience holds, as musubi serve keeps them in step with its segment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return useObject(cmd, args[0], func(s *sandbox.Store, id string) error {
				ms, err := s.Members(cmd.Context(), id)
				if err != nil {
					return err
				}
				if len(ms) == 0 {
					fmt.Fprintln(a.out, "The audience has no members.")
				}
				for _, m := range ms {
					fmt.Fprintln(a.out, lang.EscapeControls(m))
				}
				return nil
			})
		},
	}
	cmd.AddCommand(list, show, set, del, fail, outbox, codes, members)
	return cmd
}

// objectID accepts a sandbox ID or a resource address from the state
// (campaign.spring.coupon[sandbox.ec]), which is easier to know.
func (a *app) objectID(cmd *cobra.Command, arg string) (string, error) {
	if !strings.Contains(arg, "[") {
		return arg, nil
	}
	s, err := a.openState(cmd.Context(), &configFlags{}, &lockFlags{}, "sandbox", true)
	defer s.close()
	if err != nil {
		return "", err
	}
	r, err := s.state.Get(arg)
	if err != nil {
		return "", err
	}
	if r.ID == "" {
		return "", s.state.NotInState(arg) // its create is pending
	}
	return r.ID, nil
}

// summaryOf shows an object's most telling attributes on one line.
func summaryOf(attrs map[string]any) string {
	var parts []string
	for _, k := range []string{"title", "percent", "amount", "code", "pattern", "count", "segment", "name", "source"} {
		if v, ok := attrs[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if len(parts) == 0 {
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, attrs[k]))
		}
	}
	s := strings.Join(parts, " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return s
}

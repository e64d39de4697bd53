package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/engine/identity"
	engineprovider "github.com/musubi-hq/musubi/engine/provider"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// adminFlags say which engine the customer and outbox commands talk to.
type adminFlags struct {
	url    string
	store  string
	asJSON bool
}

func (f *adminFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "base URL of a running musubi serve (default: the configuration's engine; see the help)")
	fs.StringVar(&f.store, "store", "", "engine store file, when no server runs on it (default: the configuration's engine provider's, else "+engine.DefaultStorePath+")")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON for machines")
}

// whichEngine is the part of the help of the customer and outbox commands that says where
// they find the engine.
const whichEngine = `Where the engine is: --url talks to that musubi serve. Otherwise a configuration whose
engine provider has a url talks to that server. A local engine (the default) is found by
its store file (.musubi/engine.db, or the provider's path, or --store): when a musubi serve
runs on it, the command talks to that server at the address the server recorded beside the
store; when none runs, the command opens the store itself and claims it while it works (a
serve started meanwhile refuses to start and names the command). With neither a
configuration nor a store, it tries http://` + defaultListen + `.

Talking to a server needs its admin token in MUSUBI_ADMIN_TOKEN.`

// engineConn is an engine the command talks to: a running server, or the local store
// opened by this process.
type engineConn struct {
	client *engine.Client
	where  string // for messages: "musubi serve at http://…", "the engine store .musubi/engine.db"

	lock  *engine.StoreLock
	store *engine.SQLiteStore
	eng   *engine.Engine
}

func (c *engineConn) close() {
	if c.eng != nil {
		c.eng.Close()
	}
	if c.store != nil {
		c.store.Close()
	}
	if c.lock != nil {
		c.lock.Unlock()
	}
}

// connectEngine finds the engine (see whichEngine). command names this process in the
// store's lock; openEngine false opens the store without loading the engine (the outbox
// list needs only the store).
func (a *app) connectEngine(ctx context.Context, f *adminFlags, command string, openEngine bool) (*engineConn, error) {
	token := os.Getenv("MUSUBI_ADMIN_TOKEN")
	remote := func(url, token, where string) *engineConn {
		return &engineConn{client: &engine.Client{URL: strings.TrimSuffix(url, "/"), Token: token}, where: where}
	}
	if f.url != "" {
		return remote(f.url, token, "musubi serve at "+f.url), nil
	}
	cfg, _ := lang.LoadDir(".", lang.LoadOptions{})
	loc := &engineprovider.Location{Path: f.store, Explicit: f.store != "", NoProvider: true}
	if cfg != nil && len(cfg.Files) > 0 {
		l, err := engineprovider.Locate(cfg, f.store)
		if err != nil {
			return nil, err
		}
		loc = l
	}
	if !loc.Explicit && loc.Local == "" && len(loc.Remote) > 0 {
		if len(loc.Remote) > 1 {
			var names []string
			for _, r := range loc.Remote {
				names = append(names, r.Name+" ("+r.URL+")")
			}
			return nil, fmt.Errorf("the configuration has several remote engines: %s; choose one with --url", strings.Join(names, ", "))
		}
		r := loc.Remote[0]
		if token == "" {
			token = r.Token
		}
		return remote(r.URL, token, "musubi serve at "+r.URL+" (provider "+r.Name+")"), nil
	}
	if loc.Path == "" {
		loc.Path = filepath.FromSlash(engine.DefaultStorePath)
	}
	if engine.IsPostgres(loc.Path) {
		u, err := engine.PostgresLeader(ctx, loc.Path)
		if err != nil {
			return nil, err
		}
		return remote(u, token, "musubi serve at "+u+" (the leader of the store)"), nil
	}
	holder, held, err := engine.Holder(loc.Path)
	if err != nil {
		return nil, fmt.Errorf("checking whether a server runs on %s: %w", loc.Path, err)
	}
	if held {
		if holder.URL == "" {
			return nil, fmt.Errorf("%w; try again in a moment", &engine.LockedError{Path: loc.Path, Holder: holder})
		}
		return remote(holder.URL, token, fmt.Sprintf("musubi serve at %s (pid %d)", holder.URL, holder.PID)), nil
	}
	if _, err := os.Stat(loc.Path); errors.Is(err, fs.ErrNotExist) {
		if !loc.Explicit && loc.NoProvider {
			u := "http://" + defaultListen
			return remote(u, token, "musubi serve at "+u), nil
		}
		return nil, fmt.Errorf("there is no engine store at %s yet: musubi apply creates it when it pushes the rules, musubi serve when it starts", loc.Path)
	}
	c := &engineConn{where: "the engine store " + loc.Path}
	if c.lock, err = engine.LockStore(loc.Path, engine.LockInfo{Command: command, Version: Version()}); err != nil {
		return nil, err
	}
	if c.store, err = engine.OpenSQLite(loc.Path); err != nil {
		c.close()
		return nil, fmt.Errorf("cannot open the engine store: %w", err)
	}
	if openEngine {
		if c.eng, err = engine.Open(ctx, engine.Options{Store: c.store, DisableDelivery: true, BundlePoll: -1}); err != nil {
			c.close()
			return nil, fmt.Errorf("opening the engine on %s: %w", loc.Path, err)
		}
	}
	return c, nil
}

// explain turns an engine error into advice.
func (c *engineConn) explain(err error) error {
	if err == nil {
		return nil
	}
	var ae *providers.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Status == 401:
		return fmt.Errorf("%s refused the admin token: set MUSUBI_ADMIN_TOKEN to the token the server was started with", c.where)
	case ae.Status == 403:
		return fmt.Errorf("%s: %s", c.where, ae.Message)
	case ae.Status == 0:
		return fmt.Errorf("%s\nStart it with musubi serve, or point at another with --url", ae.Message)
	}
	return errors.New(ae.Message)
}

// engineAdmin is what the customer and outbox commands ask of an engine: a running server's
// admin API and an engine opened on its store answer alike.
type engineAdmin interface {
	Customer(ctx context.Context, ref string) (*engine.CustomerView, error)
	Unmerge(ctx context.Context, ref, merge string) (*engine.UnmergeResult, error)
	Forget(ctx context.Context, ref string) (*engine.ForgetResult, error)
	Unsuppress(ctx context.Context, ref string) (bool, error)
	RetryOutbox(ctx context.Context, ref string) (*engine.OutboxItem, error)
	Segments(ctx context.Context) ([]engine.SegmentStatus, error)
}

var (
	_ engineAdmin = (*engine.Client)(nil)
	_ engineAdmin = (*engine.Engine)(nil)
)

// admin is the engine the command talks to. Errors of a server come back explained.
func (c *engineConn) admin() engineAdmin {
	if c.client != nil {
		return c.client
	}
	return c.eng
}

func (c *engineConn) customer(ctx context.Context, ref string) (*engine.CustomerView, error) {
	v, err := c.admin().Customer(ctx, ref)
	return v, c.explain(err)
}

func (a *app) customerCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "customer",
		Short: "Explain, unmerge or forget one customer of the rules engine",
		Long: `The rules engine ties every identifier it sees (email, phone, POS member, LINE user...) to
one customer, the Uni-ID, merging customers when an event shows two are one person. These
commands look at one customer and repair the engine's view of them.

A customer is named by its Uni-ID (c_…) or by an identifier as TYPE:VALUE, normalised as the
engine does: phone:090-1234-5678, email:Hanako@Example.jp, line_user:U4af4980629...

` + whichEngine,
	}
	f.register(cmd.PersistentFlags())

	show := &cobra.Command{
		Use:   "show ID|TYPE:VALUE",
		Short: "Show a customer: identifiers, the merges that made it, consent, traits, segments",
		Example: `  musubi customer show phone:090-1234-5678
  musubi customer show c_5kq3j2x8r7m1d4v9b6t0 -json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connectEngine(cmd.Context(), &f, "musubi customer show", true)
			if err != nil {
				return err
			}
			defer c.close()
			v, err := c.customer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONOut(a.out, v)
			}
			writeCustomer(a.out, v)
			return nil
		},
	}

	unmerge := &cobra.Command{
		Use:   "unmerge CUSTOMER MERGE",
		Short: "Undo one merge: the merged-away customer exists again, both profiles rebuilt",
		Long: `Unmerge undoes one merge of a customer (musubi customer show lists them, m_…): the customer
it absorbed exists again with the identifiers it brought, and both profiles, traits and
segments are rebuilt from the event log as if the merge had never happened. Messages
already sent and trigger cooldowns stay where they are; nothing fires again.`,
		Example: `  musubi customer show email:hanako@example.jp
  musubi customer unmerge email:hanako@example.jp m_3b9c1d7e2a4f6g8h`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connectEngine(cmd.Context(), &f, "musubi customer unmerge", true)
			if err != nil {
				return err
			}
			defer c.close()
			res, err := c.admin().Unmerge(cmd.Context(), args[0], args[1])
			if err = c.explain(err); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONOut(a.out, res)
			}
			fmt.Fprintf(a.out, "Unmerged %s: %s exists again with %s; %s keeps the rest.\n", res.Merge, res.Restored, idList(res.Moved), res.Kept)
			fmt.Fprintf(a.out, "Both profiles were rebuilt from the event log; %d event%s went back to %s.\n", res.Events, plural(res.Events, "", "s"), res.Restored)
			return nil
		},
	}

	var force bool
	forget := &cobra.Command{
		Use:   "forget CUSTOMER",
		Short: "Erase a person: identifiers, profile, events, queued messages, code assignments",
		Long: `Forget erases everything the engine keeps about a person, for a deletion request: the
identifiers (of the customer and of every customer merged into it), the profile, the events,
queued messages and coupon code assignments. Messages already sent stay in the ledger
without address or text, so nothing is sent twice. It cannot be undone, so it asks first
unless -force (or -auto-approve) is given.

Later events carrying any of the person's identifiers or event IDs are acknowledged and
dropped, so a system that still knows them cannot bring the person back; "musubi customer
unsuppress TYPE:VALUE" lifts that for one identifier, for a person who comes back.

The systems the person is known to (EC, POS, LINE) keep their own records: erase them there.`,
		Example: `  musubi customer forget email:hanako@example.jp
  musubi customer forget c_5kq3j2x8r7m1d4v9b6t0 -force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.asJSON && !force {
				return errors.New("-json needs -force: the question cannot be answered in JSON")
			}
			c, err := a.connectEngine(cmd.Context(), &f, "musubi customer forget", true)
			if err != nil {
				return err
			}
			defer c.close()
			v, err := c.customer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if !force {
				if !f.asJSON {
					writeCustomer(a.out, v)
				}
				q := fmt.Sprintf("Erase customer %s (%s) and everything the engine keeps about them? This cannot be undone.", v.ID, idList(v.Identifiers))
				if !a.confirm(q) {
					return errCancelled
				}
			}
			res, err := c.admin().Forget(cmd.Context(), v.ID)
			if err = c.explain(err); err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONOut(a.out, res)
			}
			fmt.Fprintf(a.out, "Forgot %s: %d identifier%s", res.Customer, len(res.Identifiers), plural(len(res.Identifiers), "", "s"))
			if n := len(res.Customers) - 1; n > 0 {
				fmt.Fprintf(a.out, " and %d customer%s merged into it", n, plural(n, "", "s"))
			}
			fmt.Fprintln(a.out, "; its profile, events, queued messages and code assignments are erased.")
			for _, au := range res.Audiences {
				fmt.Fprintf(a.out, "Taken out of the audience %s.\n", au)
			}
			for _, au := range res.AudienceErrors {
				fmt.Fprintf(a.out, "Could not take them out of the audience %s: remove them there.\n", lang.EscapeControls(au))
			}
			fmt.Fprintln(a.out, "Sent messages stay in the ledger without address or text. Erase the person in the EC, POS and messaging systems too.")
			return nil
		},
	}
	forget.Flags().BoolVar(&force, "force", false, "erase without asking")
	forget.Flags().BoolVar(&force, "auto-approve", false, "the same as -force")

	unsuppress := &cobra.Command{
		Use:   "unsuppress TYPE:VALUE",
		Short: "Take events carrying a forgotten identifier again",
		Long: `Unsuppress lifts, for one identifier, what forget set up: events carrying it are
taken again, and tie it to a new customer. Use it when a forgotten person signs up anew.`,
		Example: `  musubi customer unsuppress email:hanako@example.jp`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connectEngine(cmd.Context(), &f, "musubi customer unsuppress", true)
			if err != nil {
				return err
			}
			defer c.close()
			found, err := c.admin().Unsuppress(cmd.Context(), args[0])
			switch err = c.explain(err); {
			case err != nil:
				return err
			case !found:
				return fmt.Errorf("%s is not suppressed: no forgotten person had it", args[0])
			}
			fmt.Fprintf(a.out, "Events carrying %s are taken again.\n", args[0])
			return nil
		},
	}

	cmd.AddCommand(show, unmerge, forget, unsuppress)
	return cmd
}

// writeCustomer prints a customer for people.
func writeCustomer(w io.Writer, v *engine.CustomerView) {
	esc := lang.EscapeControls // everything shown came in with events
	fmt.Fprintf(w, "Customer %s\n", esc(v.ID))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if !v.FirstSeen.IsZero() {
		fmt.Fprintf(tw, "  first seen\t%s\n", v.FirstSeen.Local().Format(time.RFC3339))
		fmt.Fprintf(tw, "  last seen\t%s\n", v.LastSeen.Local().Format(time.RFC3339))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nIdentifiers")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, id := range v.Identifiers {
		fmt.Fprintf(tw, "  %s\t%s\n", esc(id.Type), esc(id.Value))
	}
	tw.Flush()
	if len(v.Consent) > 0 {
		var parts []string
		for _, ch := range slices.Sorted(maps.Keys(v.Consent)) {
			yes := "no"
			if v.Consent[ch] {
				yes = "yes"
			}
			parts = append(parts, esc(ch)+" "+yes)
		}
		fmt.Fprintf(w, "\nConsent: %s\n", strings.Join(parts, ", "))
	}
	if len(v.Attributes) > 0 {
		fmt.Fprintln(w, "\nAttributes")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range slices.Sorted(maps.Keys(v.Attributes)) {
			fmt.Fprintf(tw, "  %s\t%s\n", esc(k), esc(formatValue(v.Attributes[k])))
		}
		tw.Flush()
	}
	if len(v.Traits) > 0 {
		fmt.Fprintln(w, "\nTraits")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range slices.Sorted(maps.Keys(v.Traits)) {
			fmt.Fprintf(tw, "  %s\t%s\n", esc(k), esc(formatValue(v.Traits[k])))
		}
		tw.Flush()
	}
	segs := "none"
	if len(v.Segments) > 0 {
		s := append([]string(nil), v.Segments...)
		sort.Strings(s)
		segs = esc(strings.Join(s, ", "))
	}
	fmt.Fprintf(w, "\nSegments: %s\n", segs)
	if len(v.Pending) == 0 {
		fmt.Fprintln(w, "\nPending: none")
	} else {
		fmt.Fprintln(w, "\nPending (actions held back to run later)")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range v.Pending {
			cancel := ""
			if s.Waits {
				cancel = "unless cancelled"
			}
			fmt.Fprintf(tw, "  %s\ttrigger.%s\taction %d (%s)\tafter %s %s\t%s\n", s.Due.Local().Format("2006-01-02 15:04:05"),
				esc(s.Trigger), s.Action+1, esc(s.Type), esc(s.EventType), esc(s.EventKey), cancel)
		}
		tw.Flush()
	}
	if len(v.Merges) == 0 {
		fmt.Fprintln(w, "\nMerges: none")
		return
	}
	fmt.Fprintln(w, "\nMerges (undo one with musubi customer unmerge "+esc(v.ID)+" MERGE)")
	for _, m := range v.Merges {
		fmt.Fprintf(w, "  %s  %s  %s merged in, brought %s; the event carried %s\n", esc(m.ID),
			m.At.Local().Format("2006-01-02 15:04:05"), esc(m.From), idList(m.Moved), idList(m.Cause))
	}
}

func idList(ids []identity.ID) string {
	if len(ids) == 0 {
		return "no identifiers"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.Type + " " + id.Value
	}
	return lang.EscapeControls(strings.Join(parts, ", "))
}

// formatValue prints a trait or attribute: whole numbers without a fraction (JSON gives
// them as floats), lists as lists.
func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "none"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/musubi-hq/musubi/engine"
	engineprovider "github.com/musubi-hq/musubi/engine/provider"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/providers"
	"github.com/spf13/cobra"
)

// defaultListen is where musubi serve listens unless told otherwise, and where the customer
// and outbox commands look for it when nothing else says where it is.
const defaultListen = "127.0.0.1:8787"

type serveFlags struct {
	configFlags
	listen    string
	store     string
	publicURL string
	// lease and standbyRefresh tune failover on a PostgreSQL store.
	lease          time.Duration
	standbyRefresh time.Duration
	gcPercent      int

	requestTimeout    time.Duration
	maxConnsPerClient int
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the rules engine on live events: identity, traits, segments, triggers, delivery",
		Long: `Serve runs the programme's rules on live events (docs/engine.md). Events arrive on
POST /v1/events and, signed by their systems, on POST /v1/webhooks/PROVIDER; each is tied to one
customer, updates the customer's traits and segments, and fires triggers whose messages go out
through an outbox, exactly once, under consent, frequency caps and quiet hours.
POST /v1/decide answers what an event would do without doing it.

The rules are the bundle "musubi apply" pushed to the configuration's engine provider: a
local engine (provider "engine" "main" {}) writes it into the store file, .musubi/engine.db
unless the provider's path says otherwise, and a running serve switches to a new one within a
second. Serve reads the configuration for the providers only: the messaging providers
deliver the messages, providers that receive their system's webhooks (LINE, Shopify,
Square) verify and translate them, and providers whose systems are read on a schedule
(Smaregi's sales) are polled. It does not take the state lock, so plan and apply run
beside it; it claims the store file (STORE.lock), so one serve runs per store file. On a
PostgreSQL store (--store postgres://…) several serve may run, on as many machines: one
leads, the others stand by (GET /readyz answers 503 with the leader's address) and one takes
over within seconds when the leader stops.

Environment:
  MUSUBI_ADMIN_TOKEN   bearer token of /v1/admin/* (musubi customer, musubi outbox, remote
                       bundle pushes); the admin API is off without it
  MUSUBI_INGEST_TOKEN  when set, required as a bearer token on /v1/events and /v1/decide
  MUSUBI_LOG           log level (default info for serve); MUSUBI_LOG_FILE to log to a file
  GOGC, GOMEMLIMIT     the garbage collector's target (see --gc-percent) and a soft cap on
                       the process's memory

It stops on SIGINT or SIGTERM: it stops accepting, lets requests in progress finish, commits
what they submitted and exits 0. Killed outright, it loses nothing that was acknowledged:
a message whose send was under way goes again with the same idempotency key.`,
		Example: `  # The quickstart: push the rules, then run them.
  musubi apply -auto-approve
  MUSUBI_ADMIN_TOKEN=$(openssl rand -hex 16) musubi serve

  # On a server, behind a TLS proxy that Square signs its webhooks for.
  musubi serve --listen :8787 --store /var/lib/musubi/engine.db \
    --public-url https://rules.example.jp

  # Send an event.
  curl -H 'Content-Type: application/json' http://127.0.0.1:8787/v1/events -d '{"id": "pos-1",
    "type": "purchase", "source": "pos", "record": {"phone_number": "090-1234-5678"},
    "data": {"total": 3200}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(&f) },
	}
	f.configFlags.register(cmd.Flags())
	cmd.Flags().StringVar(&f.listen, "listen", defaultListen, "address to listen on, HOST:PORT (port 0 picks a free one)")
	cmd.Flags().StringVar(&f.store, "store", "", "engine store: a file, or a PostgreSQL URL (postgres://…) that several servers share, one leading (default: the path of the configuration's engine provider, else "+engine.DefaultStorePath+")")
	cmd.Flags().StringVar(&f.publicURL, "public-url", "", "the server's external base URL, for webhooks signed over the URL (Square) behind a proxy")
	cmd.Flags().DurationVar(&f.requestTimeout, "request-timeout", engine.DefaultRequestTimeout, "longest time to read one request, headers and body; a client sending slower is cut off")
	cmd.Flags().IntVar(&f.maxConnsPerClient, "max-conns-per-client", engine.DefaultMaxConnsPerClient, "most open connections from one IP address (-1: no limit, e.g. behind a proxy that limits its clients)")
	cmd.Flags().DurationVar(&f.lease, "lease", engine.DefaultLease, "on a PostgreSQL store: how long a leader that stopped renewing its lead (paused, cut off) keeps it before a standby takes over")
	cmd.Flags().DurationVar(&f.standbyRefresh, "standby-refresh", engine.DefaultStandbyRefresh, "on a PostgreSQL store: how often a standby reloads the copy of the engine it answers /v1/decide from (how stale its decisions may be; -1s: no copy)")
	cmd.Flags().IntVar(&f.gcPercent, "gc-percent", 0, fmt.Sprintf("how far the heap may grow over the live profiles before the garbage collector runs, in percent (Go's GOGC); higher trades memory for CPU (default: GOGC from the environment, else %d)", engine.DefaultGCPercent))
	return cmd
}

func (a *app) serve(f *serveFlags) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := a.serveLogger()
	if f.requestTimeout <= 0 {
		return fmt.Errorf("--request-timeout %s: give a positive duration, e.g. 30s", f.requestTimeout)
	}
	if f.lease < time.Second {
		return fmt.Errorf("--lease %s: give at least 1s; a leader renews its lead every second", f.lease)
	}
	if f.standbyRefresh == 0 {
		return fmt.Errorf("--standby-refresh 0s: give a duration, e.g. 5s, or -1s for no copy")
	}
	if f.maxConnsPerClient == 0 || f.maxConnsPerClient < -1 {
		return fmt.Errorf("--max-conns-per-client %d: give a number of connections above 0, or -1 for no limit", f.maxConnsPerClient)
	}
	if f.gcPercent < 0 {
		return fmt.Errorf("--gc-percent %d: give a percentage above 0 (GOGC=off in the environment turns collection off)", f.gcPercent)
	}
	if f.publicURL != "" && !strings.HasPrefix(f.publicURL, "http://") && !strings.HasPrefix(f.publicURL, "https://") {
		return fmt.Errorf("--public-url %s: give the base URL with its scheme, e.g. https://rules.example.jp", f.publicURL)
	}

	cfg, _, err := a.loadConfig(&f.configFlags)
	if err != nil {
		return err
	}
	loc, err := engineprovider.Locate(cfg, f.store)
	if err != nil {
		return err
	}
	if loc.NoProvider {
		return errors.New(`the configuration has no engine provider, so nothing would push rules to this server.
Add one to a .hcl file:

    provider "engine" "main" {}

then run "musubi apply" to push the rule bundle, and "musubi serve" again`)
	}
	for _, r := range loc.Remote {
		log.Info("the configuration pushes its rules to a remote engine; this server takes bundles on PUT /v1/admin/bundle",
			"provider", r.Name, "url", r.URL)
	}

	// A PostgreSQL store is shared: servers on it elect a leader (see engine.ServeFailover).
	pg := engine.IsPostgres(loc.Path)
	where := loc.Path
	var lock *engine.StoreLock
	if pg {
		where = engine.RedactDSN(loc.Path)
	} else {
		lock, err = engine.LockStore(loc.Path, engine.LockInfo{Command: "musubi serve", Version: Version()})
		if err != nil {
			var le *engine.LockedError
			if errors.As(err, &le) {
				return fmt.Errorf("%w\nStop that process first, or give this server a store of its own with --store", err)
			}
			return err
		}
		defer lock.Unlock()
	}

	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return listenError(f.listen, err)
	}
	defer ln.Close()

	// Before the profiles are loaded, which is most of what the collector will mark.
	gcPercent := engine.ServeGC(f.gcPercent)
	store, err := engine.OpenStore(ctx, loc.Path)
	if err != nil {
		if pg {
			return fmt.Errorf("cannot open the engine store: %w", err)
		}
		return fmt.Errorf("cannot open the engine store: %w\n(is %s a musubi engine store? --store picks another file)", err, loc.Path)
	}
	defer store.Close()

	host, diags := planner.NewHost(ctx, cfg, ".", nil, loc.Others)
	defer host.Close()
	if len(diags) > 0 {
		lang.WriteDiagnostics(a.err, cfg.Files, diags, a.color(a.err))
	}
	if diags.HasErrors() {
		return exitError{1}
	}
	senders, receivers, pollers := map[string]providers.Sender{}, map[string]providers.WebhookReceiver{}, map[string]providers.EventPoller{}
	syncers := map[string]providers.MemberSyncer{}
	for _, name := range host.Names() {
		p, _ := host.Provider(name)
		if s, ok := p.(providers.Sender); ok {
			senders[name] = s
		}
		if r, ok := p.(providers.WebhookReceiver); ok {
			receivers[name] = r
		}
		if pl, ok := p.(providers.EventPoller); ok {
			pollers[name] = pl
		}
		if ms, ok := p.(providers.MemberSyncer); ok {
			syncers[name] = ms
		}
	}

	// MUSUBI_TEST_CLOCK runs the engine on a manual clock that POST /v1/admin/clock moves:
	// for scripts that test journeys of days in seconds, never for production.
	var clock *engine.ManualClock
	if v := os.Getenv("MUSUBI_TEST_CLOCK"); v != "" {
		start, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("MUSUBI_TEST_CLOCK: want an RFC 3339 time such as 2027-02-16T12:00:00+09:00, got %q", v)
		}
		clock = engine.NewManualClock(start)
		log.Warn("the engine runs on a test clock, moved only by POST /v1/admin/clock: unset MUSUBI_TEST_CLOCK outside tests", "now", start)
	}
	eopts := engine.Options{Store: store, Senders: senders, Receivers: receivers, Pollers: pollers, Syncers: syncers, Logger: log}
	if clock != nil {
		eopts.Now = clock.Now
	}
	noBundle := func(e *engine.Engine) {
		if hash, _ := e.ActiveBundle(); hash == "" {
			log.Warn("no rule bundle is active yet: events are stored and tied to customers, nothing fires; run musubi apply to push the rules")
		}
	}
	var e *engine.Engine
	if !pg {
		if e, err = engine.Open(ctx, eopts); err != nil {
			return fmt.Errorf("starting the engine on %s: %w", loc.Path, err)
		}
		defer e.Close()
		noBundle(e)
	}

	opts := engine.ServerOptions{AdminToken: os.Getenv("MUSUBI_ADMIN_TOKEN"), IngestToken: os.Getenv("MUSUBI_INGEST_TOKEN"), PublicURL: f.publicURL,
		RequestTimeout: f.requestTimeout, MaxConnsPerClient: f.maxConnsPerClient, Clock: clock}
	if opts.AdminToken == "" {
		log.Warn("the admin API is off: set MUSUBI_ADMIN_TOKEN to use musubi customer, musubi outbox and remote bundle pushes")
	}
	if opts.IngestToken == "" && !isLoopback(ln.Addr()) {
		log.Warn("anyone who reaches this address can post events: set MUSUBI_INGEST_TOKEN to require a token on /v1/events and /v1/decide")
	}
	url := "http://" + localAddr(ln.Addr())
	if lock != nil {
		if err := lock.SetURL(url); err != nil {
			return fmt.Errorf("recording the server's address in %s: %w", engine.LockPath(loc.Path), err)
		}
	}
	log.Info("musubi serve is listening", "url", url, "store", where,
		"senders", strings.Join(slices.Sorted(maps.Keys(senders)), ","), "webhooks", strings.Join(slices.Sorted(maps.Keys(receivers)), ","),
		"polls", strings.Join(slices.Sorted(maps.Keys(pollers)), ","), "gc_percent", gcPercent)

	if pg {
		err = engine.ServeFailover(ctx, ln, engine.FailoverOptions{Store: store.(*engine.PGStore), Engine: eopts, Server: opts,
			Address: cmp.Or(f.publicURL, url), Opened: noBundle, Lease: f.lease, StandbyRefresh: f.standbyRefresh})
		stop()
		if err != nil {
			return err
		}
		log.Info("musubi serve stopped")
		return nil
	}
	err = e.ServeListener(ctx, ln, opts)
	stop()
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	log.Info("musubi serve stopped")
	return nil
}

// serveLogger is the server's logger: serve logs at info level to standard error unless
// MUSUBI_LOG says otherwise, since a server that says nothing cannot be operated.
func (a *app) serveLogger() *slog.Logger {
	if _, set := os.LookupEnv("MUSUBI_LOG"); set {
		return slog.Default()
	}
	var w io.Writer = a.err
	l := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(l)
	return l
}

func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("cannot listen on %s: the address is already in use (another musubi serve?); pick another with --listen", addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("cannot listen on %s: permission denied (ports below 1024 need privileges); pick another with --listen", addr)
	}
	return fmt.Errorf("cannot listen on %s: %w", addr, err)
}

// localAddr is how a command on this machine reaches a listener: an unspecified host
// (":8787", "0.0.0.0") is reached on the loopback address.
func localAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP != nil && tcp.IP.IsLoopback()
}

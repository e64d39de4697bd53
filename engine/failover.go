package engine

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FailoverOptions configure a musubi serve on a PostgreSQL store shared with other servers.
type FailoverOptions struct {
	Store *PGStore
	// Engine are the options the engine opens with once this server leads (Store aside).
	Engine Options
	Server ServerOptions
	// Address is what standbys tell clients of this server once it leads: its URL.
	Address string
	// Lease is the leader's heartbeat lease (DefaultLease when 0).
	Lease time.Duration
	// Opened, when set, is called with each engine this server opens on taking the lead.
	Opened func(*Engine)
	// StandbyRefresh is how often a standby reloads its read-only copy of the engine from the
	// store, to answer /v1/decide (DefaultStandbyRefresh when 0; negative: no copy).
	StandbyRefresh time.Duration
}

// DefaultStandbyRefresh is how often a standby reloads its copy: its decisions are this stale
// at most, plus the time a reload takes.
const DefaultStandbyRefresh = 5 * time.Second

// ServeFailover serves the HTTP API on ln until ctx ends, as one of several servers on a
// store: while another leads, it stands by, answering 503 with the leader's address; once
// it leads, it opens the engine from the store (what the old leader committed) and serves
// it; when it loses the lead, or its engine breaks (a write failed or was fenced), it steps
// down to stand by again, and so restarts the engine from the store if it leads again.
func ServeFailover(ctx context.Context, ln net.Listener, o FailoverOptions) error {
	log := o.Engine.Logger
	if log == nil {
		log = slog.Default()
	}
	var leader atomic.Value // the leader's address, as last seen
	leader.Store("")
	var current atomic.Pointer[http.Handler]
	var warm atomic.Pointer[standbyCopy]
	standby := standbyHandler(func() string { return leader.Load().(string) }, &warm)
	current.Store(&standby)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) })
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "musubi_connections_refused_total"})
	errc := make(chan error, 1)
	go func() { errc <- serveHTTP(ctx, ln, h, o.Server, refused) }()

	seen := func(li LeaderInfo) { leader.Store(li.Address) }
	for ctx.Err() == nil {
		wctx, stopWarm := context.WithCancel(ctx)
		warmed := make(chan struct{})
		go func() { defer close(warmed); keepWarm(wctx, o, &warm, log) }()
		lead, err := o.Store.Lead(ctx, o.Address, o.Lease, log, seen)
		stopWarm()
		<-warmed
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Error("waiting to lead the store failed; trying again", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		eopts := o.Engine
		eopts.Store = o.Store
		e, err := Open(ctx, eopts)
		if err != nil {
			lead.Release()
			if ctx.Err() != nil {
				break
			}
			log.Error("opening the engine failed; standing by", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		leader.Store(o.Address)
		if o.Opened != nil {
			o.Opened(e)
		}
		eh := e.Handler(o.Server)
		current.Store(&eh)
		log.Info("this musubi serve leads the store", "epoch", lead.Epoch, "address", o.Address)
		why := waitLead(ctx, lead, e)
		if why == nil { // shutting down: the requests in progress finish on the engine first
			herr := <-errc
			e.Close()
			lead.Release()
			return herr
		}
		leader.Store("")
		if li, err := o.Store.LeaderInfo(ctx); err == nil && li.Epoch != lead.Epoch {
			leader.Store(li.Address)
		}
		current.Store(&standby)
		e.Close()
		lead.Release()
		log.Warn("stepped down: standing by", "reason", why)
		sleep(ctx, standbyPoll)
	}
	return <-errc
}

// waitLead waits until ctx ends (nil), the lead is lost or the engine breaks (why).
func waitLead(ctx context.Context, lead *Leader, e *Engine) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lead.Lost():
			return lead.Err()
		case <-t.C:
			if err := e.Broken(); err != nil {
				return err
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// standbyCopy is a standby's read-only engine, as loaded at asOf, with its handler.
type standbyCopy struct {
	e       *Engine
	handler http.Handler
	asOf    time.Time
}

// keepWarm reloads a read-only copy of the engine from the store every StandbyRefresh while
// this server stands by, and closes it when it stops (it leads, or shuts down).
func keepWarm(ctx context.Context, o FailoverOptions, warm *atomic.Pointer[standbyCopy], log *slog.Logger) {
	every := cmp.Or(o.StandbyRefresh, DefaultStandbyRefresh)
	defer func() {
		if c := warm.Swap(nil); c != nil {
			c.e.Close()
		}
	}()
	if every < 0 {
		return
	}
	quiet := slog.New(slog.DiscardHandler)
	for ctx.Err() == nil {
		asOf := time.Now()
		eopts := o.Engine
		eopts.Store, eopts.ReadOnly, eopts.Logger = o.Store, true, quiet
		e, err := Open(ctx, eopts)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reloading the standby's copy of the engine failed; its decisions stay as they were", "err", err)
			}
		} else if old := warm.Swap(&standbyCopy{e: e, handler: e.Handler(o.Server), asOf: asOf}); old != nil {
			old.e.Close()
		}
		sleep(ctx, every)
	}
}

// standbyHandler answers for a server that does not lead: ready it is not (503 with the
// leader's address, for load balancers), healthy it is, /v1/decide it answers from its copy
// of the engine (as of the time in Musubi-Standby-As-Of), and every other request of the API
// is a 503 naming the leader, for the client to send it there.
func standbyHandler(leader func() string, warm *atomic.Pointer[standbyCopy]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/decide", func(w http.ResponseWriter, r *http.Request) {
		c := warm.Load()
		if c == nil {
			l := leader()
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"role": "standby", "leader": l,
				"error": fmt.Sprintf("this musubi serve stands by and has no copy of the engine yet; the leader is %s", cmp.Or(l, "not known yet"))})
			return
		}
		w.Header().Set("Musubi-Standby-As-Of", c.asOf.UTC().Format(time.RFC3339Nano))
		c.handler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "role": "standby", "leader": leader()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"role": "standby", "leader": leader()})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		l := leader()
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"role": "standby", "leader": l,
			"error": fmt.Sprintf("this musubi serve stands by; the leader is %s", cmp.Or(l, "not known yet"))})
	})
	return mux
}

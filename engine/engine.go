// Package engine is Musubi's rules runtime, served by `musubi serve`: events from stores, EC,
// apps and messaging are tied to one customer (the identity graph), update the customer's
// profile and traits, move the customer in and out of segments, and fire triggers whose
// actions issue codes and send messages through an outbox, under consent, frequency caps,
// quiet hours and cooldowns.
//
// The engine receives compiled rule bundles (package lang/rules), never HCL. Its working set
// (identity graph, profiles) lives in memory; every change is written through the Store in
// group-committed transactions before an event is acknowledged, so a crash loses nothing that
// was acknowledged and a restart rebuilds the same memory. Sends carry idempotency keys
// derived from (trigger, action, event, customer), so a retry or a crash never sends twice.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

// Options configure an engine.
type Options struct {
	Store Store
	// Senders are the messaging providers sends go through, by "TYPE.NAME".
	Senders map[string]providers.Sender
	// Receivers are the providers whose webhooks the engine accepts, by "TYPE.NAME".
	Receivers map[string]providers.WebhookReceiver
	// Pollers are the providers whose systems the engine polls for events, by "TYPE.NAME";
	// each feeds the identity_source that names it (see pollLoop).
	Pollers map[string]providers.EventPoller
	// Syncers are the providers that keep a segment's members in an audience, by "TYPE.NAME"
	// (see audiences.go).
	Syncers map[string]providers.MemberSyncer
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
	// MaxBatch bounds the events committed in one transaction (default 1,000).
	MaxBatch int
	// DeliveryWorkers is how many sends run at once (default 4).
	DeliveryWorkers int
	// BundlePoll is how often the store is checked for a bundle a local apply pushed (default 1 s; negative: never).
	BundlePoll time.Duration
	// DisableDelivery leaves the outbox alone (decisions and ingest only).
	DisableDelivery bool
	// ReadOnly opens a copy that only answers (decisions, customers): nothing runs that
	// writes — no sweeps, polls, audience syncs, held actions or deliveries — and work that
	// would write is refused with ErrReadOnly. A standby keeps one to answer /v1/decide.
	ReadOnly bool
}

// Engine is a running rules engine.
type Engine struct {
	opts    Options
	store   Store
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics

	prog  atomic.Pointer[program]
	graph *identity.Graph
	// graphReady, when set, is closed once graph is in place: an estimate evaluates profiles
	// while it replays the identity log (see Estimate). A running engine has none.
	graphReady chan struct{}
	suppress   *suppressions

	mu       sync.RWMutex // guards profiles and waits
	profiles map[string]*Profile
	// waits are the pending steps a later event may cancel, by customer (see journey.go).
	waits map[string][]wait
	// audiences are the systems' audiences the engine keeps in step (see audiences.go).
	audiences *audiences

	jobs   chan *job
	pacers pacers
	codes  *codeCounters
	// redeemed is the ledger of codes redeemed (see redeem.go).
	redeemed *redemptions
	// claims are the event keys of requests being processed (see claim).
	claimMu sync.Mutex
	claims  map[string]struct{}
	seen    *seenKeys
	kick    chan struct{}
	sweep   chan struct{} // new rules: sweep the campaigns now

	broken atomic.Pointer[error]
	stop   context.CancelFunc
	wg     sync.WaitGroup

	closeMu sync.RWMutex // guards sends on jobs against Close closing it
	closed  bool
}

// program is a compiled bundle with its code lists, generated on first use.
type program struct {
	*rules.Program
	broadcasts []string // campaigns with messages to their audience, by name
	codesMu    sync.Mutex
	codes      map[string][]string
	textsOnce  sync.Once
	texts      *ruleTexts // see Engine.texts
	fieldsOnce sync.Once  // see customerFields
	custFields []customerField
	custNames  []string
	idxOnce    sync.Once // see codeIndex
	codeIdx    map[string]codeRef
	layoutOnce sync.Once // see segmentLayout
	layout     *segmentLayout
}

func (p *program) codeList(c *rules.CCampaign) []string {
	p.codesMu.Lock()
	defer p.codesMu.Unlock()
	if l, ok := p.codes[c.Name]; ok {
		return l
	}
	var l []string
	if c.Codes != nil { // the same list every channel's code pool holds
		l = providers.GenerateCodes(c.Codes.Pattern, c.Codes.Charset, c.Codes.Seed, c.Codes.Count)
	}
	p.codes[c.Name] = l
	return l
}

// emptyProgram is what runs before any bundle was pushed: events are stored and tied to
// customers, nothing fires.
func emptyProgram() *program {
	p, err := rules.Compile(&rules.Bundle{FormatVersion: rules.FormatVersion, Settings: rules.Settings{Timezone: "UTC"}})
	if err != nil {
		panic(err)
	}
	p.Hash = ""
	return &program{Program: p, codes: map[string][]string{}}
}

// ErrBroken is returned after a store write failed: memory may be ahead of the store, so the
// engine refuses work until it is restarted and rebuilds from the store.
var ErrBroken = errors.New("the engine's store failed; restart the engine")

// ErrReadOnly is returned for work that writes, submitted to a read-only copy.
var ErrReadOnly = errors.New("this engine is a read-only copy (a standby's); send it to the leader")

// ErrClosed is returned for work submitted while the engine shuts down.
var ErrClosed = errors.New("the engine is shutting down")

// Open starts an engine on a store: it loads the active bundle, rebuilds the identity graph
// and the profiles, and starts the writer, the outbox and the bundle watcher.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("engine: no store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.DeliveryWorkers <= 0 {
		opts.DeliveryWorkers = 4
	}
	if opts.BundlePoll == 0 {
		opts.BundlePoll = time.Second
	}
	if opts.ReadOnly {
		opts.DisableDelivery, opts.BundlePoll, opts.Pollers, opts.Syncers = true, -1, nil, nil
	}
	e := &Engine{opts: opts, store: opts.Store, log: opts.Logger, now: opts.Now, metrics: newMetrics(),
		profiles: map[string]*Profile{}, waits: map[string][]wait{}, jobs: make(chan *job, 256), kick: make(chan struct{}, 1), sweep: make(chan struct{}, 1), claims: map[string]struct{}{}, seen: newSeenKeys(),
		audiences: newAudiences()}
	e.prog.Store(emptyProgram())
	hash, data, err := e.store.ActiveBundle(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the active rule bundle: %w", err)
	}
	if data != nil {
		p, err := compileBundle(data)
		if err != nil {
			return nil, fmt.Errorf("the active rule bundle %s: %w", short(hash), err)
		}
		e.prog.Store(p)
	}
	if e.graph, err = identity.New(identityRules(e.prog.Load())); err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := replayIdentity(ctx, e.store, e.graph)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the identity graph: %w", err)
	}
	key, hashes, err := e.store.Suppressions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the suppressions: %w", err)
	}
	e.suppress = newSuppressions(key, hashes)
	if err := e.store.Profiles(ctx, func(c string, body []byte) error {
		if body == nil {
			delete(e.profiles, c)
			return nil
		}
		p, err := decodeProfile(body)
		if err != nil {
			return fmt.Errorf("profile %s: %w", c, err)
		}
		e.profiles[c] = p
		return nil
	}); err != nil {
		return nil, fmt.Errorf("loading profiles: %w", err)
	}
	issued, byKey, err := e.store.CodesIssued(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the codes given out: %w", err)
	}
	e.codes = &codeCounters{issued: issued, byKey: byKey}
	if err := e.loadRedemptions(ctx); err != nil {
		return nil, err
	}
	if err := e.loadWaits(ctx); err != nil {
		return nil, fmt.Errorf("reading the waiting steps: %w", err)
	}
	e.log.Info("engine started", "bundle", short(e.prog.Load().Hash), "identity_records", n,
		"customers", e.graph.Len(), "profiles", len(e.profiles), "took", time.Since(start).Round(time.Millisecond))
	e.metrics.customers.Set(float64(e.graph.Len()))
	e.metrics.setBundle(e.prog.Load())

	runCtx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	e.wg.Add(1)
	// The pipeline ends when Close closes jobs, after committing what was queued: its
	// transactions must not be cancelled with the other loops.
	commits := make(chan *group)
	go e.processor(commits)
	go e.committer(context.WithoutCancel(runCtx), commits)
	if !opts.DisableDelivery {
		if err := e.recoverOutbox(ctx); err != nil {
			e.Close()
			return nil, err
		}
		e.wg.Add(1)
		go e.deliverLoop(runCtx)
		// Held actions run where messages are delivered: a local engine opened to read a
		// customer leaves them to the server.
		e.wg.Add(1)
		go e.stepLoop(runCtx)
	}
	if !opts.ReadOnly {
		e.wg.Add(1)
		go e.sweepLoop(runCtx)
	}
	if !opts.DisableDelivery && len(opts.Syncers) > 0 {
		e.wg.Add(1)
		go e.syncLoop(runCtx)
	}
	e.startPollers(runCtx)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		start := time.Now()
		if err := e.seen.load(runCtx, e.store); err != nil {
			if runCtx.Err() == nil {
				e.log.Warn("reading the event log's keys failed; every event ID is looked up in the store", "err", err)
			}
			return
		}
		e.log.Debug("event keys loaded", "took", time.Since(start).Round(time.Millisecond))
	}()
	if w, ok := e.store.(interface {
		ActiveHash(context.Context) (string, error)
	}); ok && opts.BundlePoll > 0 {
		e.wg.Add(1)
		go e.watchBundles(runCtx, w.ActiveHash)
	}
	return e, nil
}

// Close stops the engine's loops once the work already submitted is committed; work
// submitted later fails with ErrClosed. The store stays open (the caller owns it). Sends in
// flight are cut short and go again, with the same idempotency keys, after the next Open.
func (e *Engine) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	close(e.jobs)
	e.closeMu.Unlock()
	e.stop()
	e.wg.Wait()
	return nil
}

// Metrics returns the engine's Prometheus metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Graph returns the identity graph.
func (e *Engine) Graph() *identity.Graph { return e.graph }

func compileBundle(data []byte) (*program, error) {
	b, err := rules.Decode(data)
	if err != nil {
		return nil, err
	}
	p, err := rules.Compile(b)
	if err != nil {
		return nil, err
	}
	return &program{Program: p, broadcasts: broadcastsOf(p), codes: map[string][]string{}}, nil
}

func identityRules(p *program) identity.Rules {
	b := p.Bundle.Identity
	r := identity.Rules{Priority: b.Priority, Limits: map[string]identity.Limit{},
		BlockedValues: map[string][]string{}, BlockedPatterns: p.BlockedPatterns, DefaultCountry: b.DefaultCountry}
	for t, l := range p.IdentityLimits {
		r.Limits[t] = identity.Limit{Max: l.Max, Window: l.Window}
	}
	for _, bl := range b.Blocked {
		r.BlockedValues[bl.Type] = bl.Values
	}
	return r
}

// ActiveBundle returns the hash and summary of the rules running now ("" before any push).
func (e *Engine) ActiveBundle() (hash, summary string) {
	p := e.prog.Load()
	if p.Hash == "" {
		return "", ""
	}
	return p.Hash, p.Bundle.Summary()
}

// PushBundle compiles a bundle, stores it and swaps it in atomically: events already being
// processed finish under the old rules, the next ones see the new.
func (e *Engine) PushBundle(ctx context.Context, data []byte, by string) (string, error) {
	p, err := compileBundle(data)
	if err != nil {
		return "", err
	}
	if err := e.store.PutBundle(ctx, p.Hash, data, by); err != nil {
		return "", err
	}
	e.activate(p)
	return p.Hash, nil
}

// RemoveBundle deactivates the rules: nothing fires until the next push.
func (e *Engine) RemoveBundle(ctx context.Context) error {
	if err := e.store.PutBundle(ctx, "", nil, ""); err != nil {
		return err
	}
	e.activate(emptyProgram())
	return nil
}

func (e *Engine) activate(p *program) {
	old := e.prog.Swap(p)
	if old != nil && old.Hash == p.Hash {
		return
	}
	e.graph.SetRules(identityRules(p))
	e.metrics.setBundle(p)
	select {
	case e.sweep <- struct{}{}:
	default:
	}
	e.audiences.compareWhole() // a segment's condition may have changed: backfill
	e.log.Info("rule bundle activated", "bundle", short(p.Hash), "summary", p.Bundle.Summary())
}

// watchBundles picks up bundles a local `musubi apply` wrote into the store file.
func (e *Engine) watchBundles(ctx context.Context, active func(context.Context) (string, error)) {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.BundlePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hash, err := active(ctx)
		if err != nil || hash == e.prog.Load().Hash {
			continue
		}
		if hash == "" {
			e.activate(emptyProgram())
			continue
		}
		_, data, err := e.store.ActiveBundle(ctx)
		if err != nil || data == nil {
			continue
		}
		p, err := compileBundle(data)
		if err != nil {
			e.log.Error("the pushed rule bundle does not compile; keeping the running one", "bundle", short(hash), "err", err)
			continue
		}
		e.activate(p)
	}
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	if hash == "" {
		return "none"
	}
	return hash
}

// inputError is a problem with one request's input: the request fails, the batch commits.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

func isInputError(err error) bool {
	var ie inputError
	return errors.As(err, &ie)
}

// IsInputError reports whether err is about the caller's input (an HTTP 4xx).
func IsInputError(err error) bool { return isInputError(err) }

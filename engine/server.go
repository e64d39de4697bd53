package engine

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServerOptions configure the HTTP API.
type ServerOptions struct {
	// AdminToken guards /v1/admin/*: bundle pushes, customers, the outbox. Empty disables them.
	AdminToken string
	// IngestToken, when set, is required on /v1/events and /v1/decide.
	IngestToken string
	// PublicURL is the server's external base URL, for providers that sign the URL they call
	// (Square); when empty the request's own URL is used.
	PublicURL string
	// RequestTimeout bounds the time to read a request, headers and body: a client trickling
	// a body byte by byte is cut off. Zero is DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxConnsPerClient bounds the open connections from one IP address; more are closed as
	// they arrive. Zero is DefaultMaxConnsPerClient; negative is no bound (behind a proxy
	// that itself bounds its clients).
	MaxConnsPerClient int
	// Clock, when set, is the engine's manual clock, moved by POST /v1/admin/clock (tests).
	Clock *ManualClock
}

// The server's defaults: generous for a retailer's systems posting batches, tight enough
// that a thousand trickling connections cannot pin the server.
const (
	DefaultRequestTimeout    = 30 * time.Second
	DefaultMaxConnsPerClient = 256
)

// maxBody bounds request bodies.
const maxBody = 5 << 20

// Handler returns the engine's HTTP API (docs/engine.md).
func (e *Engine) Handler(o ServerOptions) http.Handler {
	mux := http.NewServeMux()
	ingest := func(h http.HandlerFunc) http.HandlerFunc { return e.auth(o.IngestToken, false, h) }
	admin := func(h http.HandlerFunc) http.HandlerFunc { return e.auth(o.AdminToken, true, h) }
	mux.HandleFunc("POST /v1/events", ingest(e.handleEvents))
	mux.HandleFunc("POST /v1/decide", ingest(e.handleDecide))
	mux.HandleFunc("POST /v1/webhooks/{provider}", func(w http.ResponseWriter, r *http.Request) { e.handleWebhook(w, r, o.PublicURL) })
	mux.HandleFunc("GET /v1/webhooks/{provider}", func(w http.ResponseWriter, r *http.Request) { e.handleWebhookCheck(w, r, o.PublicURL) })
	mux.HandleFunc("GET /v1/admin/bundle", admin(e.handleGetBundle))
	mux.HandleFunc("PUT /v1/admin/bundle", admin(e.handlePutBundle))
	mux.HandleFunc("DELETE /v1/admin/bundle", admin(e.handleDeleteBundle))
	mux.HandleFunc("GET /v1/admin/customers/{id}", admin(e.handleGetCustomer))
	mux.HandleFunc("POST /v1/admin/customers/{id}/unmerge", admin(e.handleUnmerge))
	mux.HandleFunc("DELETE /v1/admin/customers/{id}", admin(e.handleForget))
	mux.HandleFunc("DELETE /v1/admin/suppressions/{id}", admin(e.handleUnsuppress))
	mux.HandleFunc("GET /v1/admin/segments", admin(e.handleSegments))
	mux.HandleFunc("POST /v1/admin/estimate", admin(e.handleEstimate))
	mux.HandleFunc("GET /v1/admin/outbox", admin(e.handleOutbox))
	mux.HandleFunc("POST /v1/admin/outbox/{item}/retry", admin(e.handleRetry))
	if o.Clock != nil {
		mux.HandleFunc("POST /v1/admin/clock", admin(e.handleClock(o.Clock)))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := e.Broken(); err != nil {
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		hash, _ := e.ActiveBundle()
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "bundle": hash, "customers": e.graph.Len()})
	})
	// Ready: the engine runs and has rules to run, so a load balancer may send it events.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := e.Broken(); err != nil {
			writeError(w, http.StatusServiceUnavailable, err)
			return
		}
		hash, _ := e.ActiveBundle()
		if hash == "" {
			writeError(w, http.StatusServiceUnavailable, errors.New("no rule bundle is active: run musubi apply to push the rules"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "role": "leader", "bundle": hash})
	})
	return mux
}

func (e *Engine) auth(token string, admin bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			if admin {
				writeError(w, http.StatusForbidden, errors.New("the admin API is disabled: start musubi serve with MUSUBI_ADMIN_TOKEN set"))
				return
			}
			h(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="musubi"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		h(w, r)
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorBody{Error: err.Error()})
}

// statusOf maps an engine error to an HTTP status.
func statusOf(err error) int {
	switch {
	case isInputError(err):
		return http.StatusBadRequest
	case errors.Is(err, ErrBroken), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// readBody reads a JSON body, refusing other content types and oversize bodies.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: send application/json", ct))
		return nil, false
	}
	// Read into a buffer of the announced size: growing one as it fills copied a batch's
	// body several times over.
	buf := bytes.NewBuffer(make([]byte, 0, min(max(r.ContentLength, 0), maxBody)+bytes.MinRead))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxBody))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes; send fewer events per request", maxBody))
		} else {
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading the body: %v", err))
		}
		return nil, false
	}
	return body, true
}

func (e *Engine) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	evs, err := DecodeEvents(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	// What the actions gave out goes to a caller that asks (?answer=true): a till printing
	// a receipt. Others are not sent the codes and texts of every event they post, and the
	// processor does not collect them.
	answer, _ := strconv.ParseBool(r.URL.Query().Get("answer"))
	res, err := e.ingest(r.Context(), evs, answer)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeResults(w, res)
}

// writeResults answers POST /v1/events with {"results": [...]}, as encoding/json would write
// it (TestResultsEncodeAsEncodingJSON), without its reflection: a batch's results were a tenth
// of a request's work.
func writeResults(w http.ResponseWriter, res []Result) {
	b := make([]byte, 0, 64+96*len(res))
	b = append(b, `{"results":`...)
	if res == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range res {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendResult(b, &res[i])
		}
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	w.Write(b)
}

// appendResult appends one result as JSON, its fields in Result's order.
func appendResult(b []byte, r *Result) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = appendJSONField(b, "customer", r.Customer)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"merged", r.Merged}, {"entered", r.Entered}, {"exited", r.Exited}, {"fired", r.Fired}, {"dropped", r.Dropped}, {"redeemed", r.Redeemed}} {
		if len(l.v) == 0 {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, l.name...)
		b = append(b, `":[`...)
		for i, s := range l.v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if r.Suppressed {
		b = append(b, `,"suppressed":true`...)
	}
	if len(r.Answers) > 0 {
		// Only callers that ask get answers: encoding/json writes them.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(r.Answers)
		b = append(b, `,"answers":`...)
		b = append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	}
	return append(b, '}')
}

func (e *Engine) handleDecide(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req DecideRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, jsonError(err, reflect.TypeFor[DecideRequest]()))
		return
	}
	resp, err := e.Decide(r.Context(), req)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleWebhook verifies a provider's webhook with the provider's own secret and ingests its
// events under the identity_source that provider feeds: the one the URL names with
// ?source=NAME (as the LINE provider registers it), else the provider's only one. A repeated
// provider event ID is acknowledged and ignored, so the provider stops redelivering it.
func (e *Engine) handleWebhook(w http.ResponseWriter, r *http.Request, publicURL string) {
	name := r.PathValue("provider")
	recv, ok := e.opts.Receivers[name]
	if !ok {
		// Not name: labels come from the configuration only, or posts could grow /metrics.
		e.metrics.webhooks.WithLabelValues("(unknown)", "unknown").Inc()
		writeError(w, http.StatusNotFound, fmt.Errorf("no provider %q on this server receives webhooks", name))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("reading the body: %v", err))
		return
	}
	resp := recv.ReceiveWebhook(r.Context(), providers.WebhookRequest{URL: calledURL(r, publicURL), Header: r.Header, Body: body})
	if err := resp.Diagnostics.Err(); err != nil {
		status := http.StatusBadRequest
		if providers.CodeOf(err) == providers.ErrAuth {
			status = http.StatusUnauthorized
		}
		e.metrics.webhooks.WithLabelValues(name, "refused").Inc()
		e.log.Warn("webhook refused", "provider", name, "status", status, "err", err)
		writeError(w, status, err)
		return
	}
	// The source is settled after the signature, so only the system itself learns the names
	// of the sources, and before the events, so a wrong URL shows on the first call (LINE's
	// "Verify" sends none).
	prog := e.prog.Load()
	source, err := webhookSource(prog.Program, name, r.URL.Query())
	if err != nil {
		e.metrics.webhooks.WithLabelValues(name, "bad_source").Inc()
		e.log.Warn("webhook refused", "provider", name, "status", http.StatusBadRequest, "err", err)
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if len(resp.Events) > 0 && source == "" {
		e.metrics.webhooks.WithLabelValues(name, "no_source").Inc()
		writeError(w, http.StatusUnprocessableEntity, fmt.Errorf("no identity_source in the active rules uses provider %s", name))
		return
	}
	var res []Result
	evs := make([]*Event, 0, len(resp.Events))
	for _, ie := range resp.Events {
		evs = append(evs, inboundEvent(name, source, ie))
	}
	if len(evs) == 0 {
		res = []Result{}
	} else if res, err = e.ingest(r.Context(), evs, false); err != nil {
		e.metrics.webhooks.WithLabelValues(name, "error").Inc()
		writeError(w, statusOf(err), err)
		return
	}
	e.metrics.webhooks.WithLabelValues(name, "ok").Inc()
	if resp.Reply != "" {
		writeText(w, resp.Reply)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": res})
}

// calledURL is the URL the sender called, as it signed it: behind a proxy, publicURL's base.
func calledURL(r *http.Request, publicURL string) string {
	u := publicURL
	if u == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u = scheme + "://" + r.Host
	}
	return strings.TrimSuffix(u, "/") + r.URL.RequestURI()
}

func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, s)
}

// handleWebhookCheck answers a system's check of its webhook URL (a GET), for receivers whose
// systems make one.
func (e *Engine) handleWebhookCheck(w http.ResponseWriter, r *http.Request, publicURL string) {
	name := r.PathValue("provider")
	v, ok := e.opts.Receivers[name].(providers.WebhookVerifier)
	if !ok {
		e.metrics.webhooks.WithLabelValues("(unknown)", "unknown").Inc()
		writeError(w, http.StatusNotFound, fmt.Errorf("no provider %q on this server checks its webhook URL", name))
		return
	}
	reply, ds := v.VerifyWebhookURL(providers.WebhookRequest{URL: calledURL(r, publicURL), Header: r.Header})
	if err := ds.Err(); err != nil {
		e.metrics.webhooks.WithLabelValues(name, "refused").Inc()
		e.log.Warn("webhook URL check refused", "provider", name, "err", err)
		writeError(w, http.StatusUnauthorized, err)
		return
	}
	e.metrics.webhooks.WithLabelValues(name, "verified").Inc()
	writeText(w, reply)
}

// webhookSource returns the identity_source a webhook of provider feeds: the one its URL's
// query names with source=NAME (or musubi_source=NAME, as Shopify subscriptions carry it,
// out of the way of the shop's own parameters), which must be fed by that provider, else the
// provider's only one. It is "" when no source in the rules uses the provider and the URL
// names none.
func webhookSource(prog *rules.Program, provider string, query url.Values) (string, error) {
	if !query.Has("source") && query.Has("musubi_source") {
		query = url.Values{"source": query["musubi_source"]}
	}
	var fed []string
	for _, s := range prog.SourcesByProvider[provider] {
		fed = append(fed, s.Name)
	}
	sort.Strings(fed)
	feeds := func() string {
		if len(fed) == 0 {
			return fmt.Sprintf("no identity_source in the active rules uses provider %s", provider)
		}
		return fmt.Sprintf("provider %s feeds %s", provider, quotedList(fed))
	}
	if !query.Has("source") {
		switch len(fed) {
		case 0:
			return "", nil
		case 1:
			return fed[0], nil
		}
		return "", fmt.Errorf("provider %s feeds several identity sources (%s): name the one this webhook feeds in its URL, as ?source=NAME",
			provider, strings.Join(fed, ", "))
	}
	name := query.Get("source")
	s, ok := prog.Sources[name]
	switch {
	case name == "":
		return "", fmt.Errorf("source: empty; name the identity_source this webhook feeds (%s)", feeds())
	case !ok:
		return "", fmt.Errorf("source: no identity_source %q in the active rules%s; %s", name, suggest(name, fed), feeds())
	case s.Provider != provider:
		return "", fmt.Errorf("source: identity_source %q is fed by provider %s, not %s; %s", name, s.Provider, provider, feeds())
	}
	return name, nil
}

func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// BundleInfo is the admin API's view of the active bundle.
type BundleInfo struct {
	Hash    string `json:"hash"`
	Summary string `json:"summary,omitempty"`
}

func (e *Engine) handleGetBundle(w http.ResponseWriter, r *http.Request) {
	hash, summary := e.ActiveBundle()
	writeJSON(w, http.StatusOK, BundleInfo{Hash: hash, Summary: summary})
}

func (e *Engine) handlePutBundle(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	hash, err := e.PushBundle(r.Context(), body, r.Header.Get("User-Agent"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	_, summary := e.ActiveBundle()
	writeJSON(w, http.StatusOK, BundleInfo{Hash: hash, Summary: summary})
}

func (e *Engine) handleDeleteBundle(w http.ResponseWriter, r *http.Request) {
	if err := e.RemoveBundle(r.Context()); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Engine) handleGetCustomer(w http.ResponseWriter, r *http.Request) {
	v, err := e.Customer(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, customerStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func customerStatus(err error) int {
	if errors.Is(err, ErrNoCustomer) {
		return http.StatusNotFound
	}
	return statusOf(err)
}

func (e *Engine) handleUnmerge(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Merge string `json:"merge"`
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Merge == "" {
		writeError(w, http.StatusBadRequest, errors.New(`send {"merge": "MERGE_ID"}; musubi customer show lists the merges`))
		return
	}
	v, err := e.Unmerge(r.Context(), r.PathValue("id"), req.Merge)
	if err != nil {
		writeError(w, customerStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (e *Engine) handleForget(w http.ResponseWriter, r *http.Request) {
	v, err := e.Forget(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, customerStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (e *Engine) handleSegments(w http.ResponseWriter, r *http.Request) {
	segs, err := e.Segments(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if segs == nil {
		segs = []SegmentStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"segments": segs})
}

func (e *Engine) handleEstimate(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req providers.EstimateRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the estimate request: %w", err))
		return
	}
	resp, err := e.Estimate(r.Context(), req)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (e *Engine) handleOutbox(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	items, err := ListOutbox(r.Context(), e.store, status, e.now(), 1000)
	if err != nil {
		status := http.StatusInternalServerError
		if isInputError(err) {
			status = http.StatusBadRequest
		}
		writeError(w, status, err)
		return
	}
	if items == nil {
		items = []OutboxItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (e *Engine) handleRetry(w http.ResponseWriter, r *http.Request) {
	it, err := e.RetryOutbox(r.Context(), r.PathValue("item"))
	if err != nil {
		status := statusOf(err)
		if errors.Is(err, ErrNoOutboxItem) {
			status = http.StatusNotFound
		}
		writeError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, it)
}

// Serve runs the HTTP API on addr until ctx ends, then shuts down gracefully.
func (e *Engine) Serve(ctx context.Context, addr string, o ServerOptions, ready func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	return e.ServeListener(ctx, ln, o)
}

// shutdownGrace is how long requests in progress may take to finish at shutdown.
const shutdownGrace = 10 * time.Second

// ServeListener runs the HTTP API on a listener until ctx ends, then stops accepting and
// lets the requests in progress finish (up to 10 s) before it returns. It closes ln.
func (e *Engine) ServeListener(ctx context.Context, ln net.Listener, o ServerOptions) error {
	return serveHTTP(ctx, ln, e.Handler(o), o, e.metrics.refusedConns)
}

// serveHTTP serves h on ln as ServeListener does.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, o ServerOptions, refused prometheus.Counter) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: cmp.Or(o.RequestTimeout, DefaultRequestTimeout), IdleTimeout: 2 * time.Minute}
	if limit := cmp.Or(o.MaxConnsPerClient, DefaultMaxConnsPerClient); limit > 0 {
		ln = &perClientListener{Listener: ln, max: limit, open: map[string]int{}, refused: refused}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
			return fmt.Errorf("requests still running after %s were cut off: %w", shutdownGrace, err)
		}
		return nil
	}
}

// perClientListener closes a connection as it arrives when its IP address already has max
// open: one client cannot take every connection the server can hold.
type perClientListener struct {
	net.Listener
	max     int
	refused prometheus.Counter

	mu   sync.Mutex
	open map[string]int
}

func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		full := l.open[ip] >= l.max
		if !full {
			l.open[ip]++
		}
		l.mu.Unlock()
		if full {
			l.refused.Inc()
			c.Close()
			continue
		}
		return &clientConn{Conn: c, release: func() { l.closed(ip) }}, nil
	}
}

func (l *perClientListener) closed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

type clientConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *clientConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

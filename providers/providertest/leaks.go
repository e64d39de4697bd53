package providertest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// Leaks describes a provider whose configuration holds secrets, for NoSecretLeaks.
type Leaks struct {
	// Type is the registered provider type; its New gives the providers the configuration
	// mistakes are tried on.
	Type string
	// Config returns a valid configuration, holding secret values in its sensitive attributes.
	Config func(t *testing.T) map[string]any
	// New returns a provider configured against a fresh system with credentials it accepts.
	New func(t *testing.T) providers.Provider
	// Refused returns a provider whose credentials its system refuses. Nil skips.
	Refused func(t *testing.T) providers.Provider
	// Gone returns a provider whose system cannot be reached. Nil skips.
	Gone func(t *testing.T) providers.Provider
	// Fail makes p's system answer every request with the HTTP status (or the protocol's
	// nearest answer), until it is called with 0. Nil skips, unless Client is set.
	Fail func(t *testing.T, p providers.Provider, status int)
	// Client returns the HTTP client p reaches its system with: without Fail, NoSecretLeaks
	// makes the system fail by putting Faults in front of it.
	Client func(p providers.Provider) *http.Client
	// Secrets returns every value p must never show: the sensitive values it was configured
	// with and any credential its system issued it. It is called after every other call.
	Secrets func(t *testing.T, p providers.Provider) []string
	// Cases list one valid object per kind, each then created, read, updated, imported and
	// deleted.
	Cases []Case
	// SendTo is an address a Sender's system delivers to.
	SendTo string
	// Exercise makes the provider's own further calls and returns what they gave, which is
	// searched too. Nil for none.
	Exercise func(t *testing.T, p providers.Provider) []any
	// Quoted lists configuration attributes whose values from env() the provider is known to
	// quote in its diagnostics: a gap kept in sight, not a licence. Nil for none.
	Quoted []string
}

// Searched is what NoSecretLeaks searched, for a provider's own checks that the failures it
// meant to cause did happen.
type Searched struct {
	// Text is everything searched: responses, errors, diagnostics and log lines.
	Text string
	// Codes counts the error classes of the calls' diagnostics.
	Codes map[providers.ErrorCode]int
}

// leakStatuses are the failures every operation is tried with.
var leakStatuses = []int{400, 401, 403, 404, 409, 422, 429, 500, 503}

// NoSecretLeaks configures providers with known secrets, drives every operation while the
// system works, fails with each status, refuses the credentials and is gone, and tries
// configuration mistakes; then it searches every response, attribute, ID, error, diagnostic
// and log line for the secrets. It replaces the default logger while it runs, so the test
// calling it must not be parallel.
func NoSecretLeaks(t *testing.T, l Leaks) Searched {
	t.Helper()
	logs := captureLogs(t)
	s := &search{t: t, l: l, codes: map[providers.ErrorCode]int{}}

	p := l.New(t)
	s.use(p)
	refs := map[providers.Kind]map[string]string{}
	for _, c := range l.Cases {
		if c.Refs != nil {
			refs[c.Kind] = c.Refs(t, p)
		}
	}
	s.drive(p, refs)
	fail := l.Fail
	if fail == nil && l.Client != nil {
		faults := Inject(l.Client(p))
		fail = func(_ *testing.T, _ providers.Provider, status int) { faults.FailAll(status, nil) }
	}
	if fail != nil {
		for _, status := range leakStatuses {
			fail(t, p, status)
			s.drive(p, refs)
			fail(t, p, 0)
		}
	}
	if l.Exercise != nil {
		s.record(l.Exercise(t, p))
	}
	s.phase("with refused credentials", l.Refused, providers.ErrAuth, refs)
	s.phase("with the system gone", l.Gone, providers.ErrUnavailable, refs)
	if l.Config != nil {
		s.configMistakes()
	}

	var secrets []string
	for _, q := range s.used {
		secrets = append(secrets, l.Secrets(t, q)...)
	}
	secrets = append(secrets, s.markers...)
	s.text.WriteString(logs.String())
	text := s.text.String()
	if where := leaked(text, secrets); where != "" {
		t.Errorf("a secret shows: %s", where)
	}
	return Searched{Text: text, Codes: s.codes}
}

type search struct {
	t       *testing.T
	l       Leaks
	text    strings.Builder
	codes   map[providers.ErrorCode]int
	used    []providers.Provider
	markers []string
	n       int
}

func (s *search) use(p providers.Provider) {
	s.used = append(s.used, p)
	s.t.Cleanup(func() { p.Close() })
}

// record keeps the visible text of v and counts the error classes in it.
func (s *search) record(v any) {
	s.text.WriteString(visible(v))
	countCodes(reflect.ValueOf(v), s.codes, 0)
}

// phase drives a provider made by mk and checks its calls failed with code at least once.
func (s *search) phase(what string, mk func(*testing.T) providers.Provider, code providers.ErrorCode, refs map[providers.Kind]map[string]string) {
	if mk == nil {
		return
	}
	q := mk(s.t)
	s.use(q)
	before := s.codes[code]
	s.drive(q, refs)
	if s.l.Exercise != nil {
		s.record(s.l.Exercise(s.t, q))
	}
	if s.codes[code] == before {
		s.t.Errorf("no call %s failed as %s: the check does not exercise what it means to", what, code)
	}
}

// drive makes every call of the provider once.
func (s *search) drive(p providers.Provider, refs map[providers.Kind]map[string]string) {
	ctx := context.Background()
	key := func() string {
		s.n++
		return fmt.Sprintf("leak-%d", s.n)
	}
	s.record(p.Schema(ctx))
	for _, c := range s.l.Cases {
		r := refs[c.Kind]
		s.record(p.Validate(ctx, providers.ValidateRequest{Kind: c.Kind, Attributes: c.Attrs}))
		plan := p.Plan(ctx, providers.PlanRequest{Kind: c.Kind, Proposed: c.Attrs.Clone()})
		s.record(plan)
		planned := plan.Planned
		if planned == nil {
			planned = c.Attrs
		}
		k := key()
		cr := p.Create(ctx, providers.CreateRequest{Kind: c.Kind, Attributes: planned, IdempotencyKey: k, Refs: r})
		s.record(cr)
		id := cmp.Or(cr.ID, "leak-missing-id")
		s.record(p.Read(ctx, providers.ReadRequest{Kind: c.Kind, ID: id, Refs: r}))
		s.record(p.Read(ctx, providers.ReadRequest{Kind: c.Kind, IdempotencyKey: k, Refs: r}))
		if br, ok := p.(providers.BatchReader); ok {
			s.record(br.ReadBatch(ctx, []providers.ReadRequest{{Kind: c.Kind, ID: id, Refs: r}}))
		}
		s.record(p.Update(ctx, providers.UpdateRequest{Kind: c.Kind, ID: id, Prior: planned, Planned: merge(planned, c.Update), Refs: r}))
		s.record(p.Import(ctx, providers.ImportRequest{Kind: c.Kind, ID: id}))
		s.record(p.Delete(ctx, providers.DeleteRequest{Kind: c.Kind, ID: id, Prior: planned}))
	}
	if snd, ok := p.(providers.Sender); ok && s.l.SendTo != "" {
		s.record(snd.Messaging())
		req := providers.SendRequest{Name: "campaign.spring", To: s.l.SendTo, Customer: "cus_0042",
			Subject: "春のセール", Text: "春のセール開催中", IdempotencyKey: key()}
		s.record(snd.Send(ctx, req))
		req.To, req.IdempotencyKey = "", key()
		s.record(snd.Send(ctx, req))
	}
	if wr, ok := p.(providers.WebhookReceiver); ok {
		s.record(wr.ReceiveWebhook(ctx, providers.WebhookRequest{URL: "https://musubi.example/v1/webhooks/x", Header: http.Header{}, Body: []byte(`{}`)}))
		s.record(wr.ReceiveWebhook(ctx, providers.WebhookRequest{Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("not json")}))
	}
}

// configMistakes configures fresh providers with each attribute broken in turn, its value
// holding a marker and named sensitive (any value from env() is), and with every sensitive
// attribute the schema knows set, whether the configuration uses it or not.
func (s *search) configMistakes() {
	reg, ok := providers.Lookup(s.l.Type)
	if !ok {
		s.t.Fatalf("no provider type %q is registered", s.l.Type)
	}
	ctx := context.Background()
	schema := reg.New().Schema(ctx).Config
	base := s.l.Config(s.t)
	sensitive := map[string]bool{}
	for _, a := range schema {
		if !a.Sensitive {
			continue
		}
		sensitive[a.Name] = true
		if v, set := base[a.Name].(string); set {
			s.markers = append(s.markers, v)
		} else {
			base[a.Name] = s.marker(a.Name + "-unused")
		}
	}
	configure := func(cfg map[string]any, sens map[string]bool) providers.ConfigureResponse {
		p := reg.New()
		defer p.Close()
		r := p.Configure(ctx, providers.ConfigureRequest{Name: s.l.Type + ".leak", Config: cfg, Sensitive: sens, WorkDir: s.t.TempDir()})
		s.record(r)
		return r
	}
	configure(base, sensitive)
	for _, a := range schema {
		marker := fmt.Sprintf("SECRET-%s-7f3a9c", a.Name)
		for _, v := range broken(a.Type, marker) {
			cfg := maps.Clone(base)
			cfg[a.Name] = v
			sens := maps.Clone(sensitive)
			sens[a.Name] = true
			r := configure(cfg, sens)
			if where := leaked(visible(r), []string{marker}); where != "" && !slices.Contains(s.l.Quoted, a.Name) {
				s.t.Errorf("Configure quotes %s from env(): %s", a.Name, where)
				break
			}
		}
	}
}

func (s *search) marker(what string) string {
	m := fmt.Sprintf("SECRET-%s-%d-7f3a9c", what, len(s.markers))
	s.markers = append(s.markers, m)
	return m
}

// broken returns values of a type a provider must refuse, each holding the marker.
func broken(t providers.Type, marker string) []any {
	switch t {
	case providers.Strings:
		return []any{[]any{marker + "\x00"}, marker}
	case providers.StringMap:
		return []any{map[string]any{"X-Leak": marker + "\r\n"}, marker}
	case providers.Int, providers.Float, providers.Bool:
		return []any{marker}
	}
	return []any{"ftp://" + marker + "/\x00", " " + marker + " !"}
}

// leaked returns where in text a secret shows, in any letter case, the secret masked, or "".
func leaked(text string, secrets []string) string {
	lower := strings.ToLower(text)
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue // too short to tell from ordinary text
		}
		if i := strings.Index(lower, strings.ToLower(sec)); i >= 0 {
			from, to := max(0, i-160), min(len(text), i+len(sec)+40)
			return "…" + text[from:i] + "<secret>" + text[i+len(sec):to] + "…"
		}
	}
	return ""
}

// visible returns every string v holds that a person or a log could see: fields, map keys
// and elements, and the text of every error, followed through pointers.
func visible(v any) string {
	var b strings.Builder
	walk(&b, reflect.ValueOf(v), 0)
	return b.String()
}

var errorType = reflect.TypeFor[error]()

func walk(b *strings.Builder, v reflect.Value, depth int) {
	if !v.IsValid() || depth > 16 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		if v.IsNil() {
			return
		}
	}
	if v.CanInterface() && v.Type().Implements(errorType) {
		b.WriteString(v.Interface().(error).Error() + "\n")
	}
	switch v.Kind() {
	case reflect.String:
		b.WriteString(v.String() + "\n")
	case reflect.Pointer, reflect.Interface:
		walk(b, v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			walk(b, v.Field(i), depth+1)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b.WriteString(string(v.Bytes()) + "\n")
			return
		}
		for i := range v.Len() {
			walk(b, v.Index(i), depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walk(b, it.Key(), depth+1)
			walk(b, it.Value(), depth+1)
		}
	}
}

// countCodes counts the error classes of the diagnostics in v.
func countCodes(v reflect.Value, codes map[providers.ErrorCode]int, depth int) {
	if !v.IsValid() || depth > 16 {
		return
	}
	if v.Type() == reflect.TypeFor[providers.Diagnostics]() {
		for _, d := range v.Interface().(providers.Diagnostics) {
			if d.Err != nil {
				codes[d.Err.Code]++
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			countCodes(v.Elem(), codes, depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				countCodes(v.Field(i), codes, depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			countCodes(v.Index(i), codes, depth+1)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// captureLogs sends the default slog logger and the log package to a buffer until the test
// ends.
func captureLogs(t *testing.T) *syncBuffer {
	buf := &syncBuffer{}
	prev, out, flags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		slog.SetDefault(prev)
		// Restoring the default handler leaves the log package writing to the buffer.
		log.SetOutput(out)
		log.SetFlags(flags)
	})
	return buf
}

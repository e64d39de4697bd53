package provider

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	eng "github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/pgtest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

var _ providers.Provider = (*Provider)(nil)

// bundle is the quickstart programme's rule bundle; the seed makes bundles that differ.
func bundle(t *testing.T, seed string) []byte {
	t.Helper()
	cfg, diags := lang.LoadDir("../../examples/quickstart", lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return rules.FromConfig(cfg, map[string]string{"spring": seed}).Encode()
}

// attrs are the desired attributes the planner gives a bundle.
func attrs(t *testing.T, seed string) providers.Attrs {
	b := bundle(t, seed)
	d, err := rules.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return providers.Attrs{"bundle": string(b), "bundle_hash": rules.Hash(b), "summary": d.Summary()}
}

func configure(t *testing.T, config map[string]any) *Provider {
	t.Helper()
	p := &Provider{}
	if ds := p.Configure(context.Background(), providers.ConfigureRequest{Name: "engine.main", Config: config, WorkDir: t.TempDir()}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	return p
}

func cases(t *testing.T) []providertest.Case {
	return []providertest.Case{{
		Kind:       providers.KindRules,
		Attrs:      attrs(t, "seed-1"),
		Update:     attrs(t, "seed-2"),
		DriftAttr:  "bundle_hash",
		DriftValue: "seed-3",
		Invalid:    map[string]providers.Attrs{"bundle": {"bundle": `{"segments": [{"name": "x", "condition": "customer.nope > 1"}]}`}},
	}}
}

// The local engine: the bundle lands in the store file a musubi serve on it reads, or in
// the PostgreSQL store the servers on it share.
func TestConformanceLocal(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) { conformanceLocal(t, pg) })
	}
}

func conformanceLocal(t *testing.T, pg bool) {
	config := func(t *testing.T) map[string]any {
		if pg {
			return map[string]any{"path": pgtest.DSN(t)}
		}
		return map[string]any{}
	}
	providertest.Run(t, providertest.Harness{
		New:   func(t *testing.T) providers.Provider { return configure(t, config(t)) },
		Cases: cases(t),
		Tamper: func(t *testing.T, p providers.Provider, _ providers.Kind, _, _ string, seed any) {
			s, err := p.(*Provider).localStore(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			b := bundle(t, seed.(string))
			if err := s.PutBundle(context.Background(), rules.Hash(b), b, "someone else"); err != nil {
				t.Fatal(err)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, _ providers.Kind, _ string) {
			s, err := p.(*Provider).localStore(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutBundle(context.Background(), "", nil, ""); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// remote is a real engine behind its admin API, with faults injected in front of it.
type remote struct {
	eng *eng.Engine

	mu   sync.Mutex
	fail map[string]fault // by operation: create, read, update, delete
}

type fault struct {
	status int
	lose   bool
}

// ops maps the admin API's bundle calls to the suite's operations; PUT is both create and
// update, so a fault on either applies to the next PUT.
var ops = map[string][]string{http.MethodPut: {"create", "update"}, http.MethodGet: {"read"}, http.MethodDelete: {"delete"}}

func (r *remote) ServeHTTP(w http.ResponseWriter, req *http.Request, next http.Handler) {
	r.mu.Lock()
	var f fault
	var hit bool
	for _, op := range ops[req.Method] {
		if f, hit = r.fail[op]; hit {
			delete(r.fail, op)
			break
		}
	}
	r.mu.Unlock()
	switch {
	case !hit:
		next.ServeHTTP(w, req)
	case f.lose:
		next.ServeHTTP(httptest.NewRecorder(), req)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		http.Error(w, `{"error": "injected"}`, f.status)
	}
}

func startRemote(t *testing.T) (*remote, string) {
	t.Helper()
	store, err := eng.OpenSQLite(filepath.Join(t.TempDir(), "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := eng.Open(context.Background(), eng.Options{Store: store, BundlePoll: -1, DisableDelivery: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r := &remote{eng: e, fail: map[string]fault{}}
	h := e.Handler(eng.ServerOptions{AdminToken: "admin-secret"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.ServeHTTP(w, req, h) }))
	t.Cleanup(func() { srv.Close(); e.Close(); store.Close() })
	return r, srv.URL
}

// A remote engine: the bundle goes over the admin API of a running musubi serve, whose
// errors are classified as every provider's are.
func TestConformanceRemote(t *testing.T) {
	remotes := sync.Map{} // provider → *remote
	of := func(p providers.Provider) *remote { r, _ := remotes.Load(p); return r.(*remote) }
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) providers.Provider {
			r, url := startRemote(t)
			p := configure(t, map[string]any{"url": url, "token": "admin-secret"})
			remotes.Store(p, r)
			return p
		},
		Cases: cases(t),
		Tamper: func(t *testing.T, p providers.Provider, _ providers.Kind, _, _ string, seed any) {
			if _, err := of(p).eng.PushBundle(context.Background(), bundle(t, seed.(string)), "someone else"); err != nil {
				t.Fatal(err)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, _ providers.Kind, _ string) {
			if err := of(p).eng.RemoveBundle(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
		Fail: func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			r := of(p)
			r.mu.Lock()
			r.fail[op] = fault{status: status, lose: lose}
			r.mu.Unlock()
		},
	})
}

// The admin token shows nowhere: not in errors of a refusing, failing or vanished server,
// nor in what a mistaken configuration is told.
func TestNoSecretLeaks(t *testing.T) {
	remoteWith := func(token string) func(t *testing.T) providers.Provider {
		return func(t *testing.T) providers.Provider {
			_, url := startRemote(t)
			return configure(t, map[string]any{"url": url, "token": token})
		}
	}
	providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: providers.EngineType,
		Config: func(t *testing.T) map[string]any {
			_, url := startRemote(t)
			return map[string]any{"url": url, "token": "admin-secret"}
		},
		New:     remoteWith("admin-secret"),
		Refused: remoteWith("another-token-it-refuses"),
		Gone: func(t *testing.T) providers.Provider {
			return configure(t, map[string]any{"url": "http://127.0.0.1:1", "token": "admin-secret"})
		},
		Client:  func(p providers.Provider) *http.Client { return p.(*Provider).client.HTTP },
		Secrets: func(_ *testing.T, p providers.Provider) []string { return []string{p.(*Provider).client.Token} },
		Cases:   cases(t),
	})
}

func TestSettings(t *testing.T) {
	abs := filepath.Join(string(filepath.Separator), "var", "lib", "musubi", "engine.db")
	for _, c := range []struct {
		config   map[string]string
		workDir  string
		want     Settings
		problem  string // the attribute Configure names
		conflict bool   // Locate refuses it too
	}{
		{config: nil, workDir: "/cfg", want: Settings{Path: filepath.Join("/cfg", ".musubi", "engine.db")}},
		{config: nil, want: Settings{Path: filepath.Join(".musubi", "engine.db")}},
		{config: map[string]string{"path": "data/rules.db"}, workDir: "/cfg", want: Settings{Path: filepath.Join("/cfg", "data", "rules.db")}},
		{config: map[string]string{"path": abs}, workDir: "/cfg", want: Settings{Path: abs}},
		{config: map[string]string{"url": "https://rules.example.jp", "token": "t"}, workDir: "/cfg", want: Settings{URL: "https://rules.example.jp", Token: "t"}},
		{config: map[string]string{"url": "https://rules.example.jp"}, want: Settings{URL: "https://rules.example.jp"}, problem: "token"},
		{config: map[string]string{"url": "https://rules.example.jp", "path": "x.db", "token": "t"}, want: Settings{URL: "https://rules.example.jp", Path: "x.db", Token: "t"}, problem: "url", conflict: true},
	} {
		got := ReadSettings(func(a string) string { return c.config[a] }, c.workDir)
		if got != c.want {
			t.Errorf("%v in %q: %+v, want %+v", c.config, c.workDir, got, c.want)
		}
		d := got.check()
		if (d == nil) != (c.problem == "") || d != nil && d.Attribute != c.problem {
			t.Errorf("%v: Configure's problem %v, want one naming %q", c.config, d, c.problem)
		}
		if (got.conflict() != nil) != c.conflict {
			t.Errorf("%v: conflict %v, want %v", c.config, got.conflict(), c.conflict)
		}
	}
}

// Locate reads engine blocks with the same reader as Configure: serve, customer and outbox
// find the store apply wrote to.
func TestLocate(t *testing.T) {
	load := func(t *testing.T, src string) *lang.Config {
		t.Helper()
		cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, ".", lang.LoadOptions{})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return cfg
	}
	cfg := load(t, `
provider "engine" "main" { path = "data/rules.db" }
provider "engine" "cloud" {
  url   = "https://rules.example.jp"
  token = "t"
}
provider "sandbox" "line" { system = "messaging" }
`)
	loc, err := Locate(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if loc.Path != filepath.Join("data", "rules.db") || loc.Local != "engine.main" || loc.NoProvider || loc.Explicit ||
		len(loc.Remote) != 1 || loc.Remote[0] != (Remote{Name: "engine.cloud", URL: "https://rules.example.jp", Token: "t"}) ||
		!loc.Others["sandbox.line"] || loc.Others["engine.main"] {
		t.Errorf("Locate: %+v", loc)
	}
	if loc, _ := Locate(cfg, "other.db"); loc.Path != "other.db" || !loc.Explicit {
		t.Errorf("--store: %+v", loc)
	}

	two := load(t, `
provider "engine" "a" {}
provider "engine" "b" { path = "b.db" }
`)
	if _, err := Locate(two, ""); err == nil || !strings.Contains(err.Error(), "several local engine providers: engine.a (.musubi/engine.db), engine.b (b.db); choose the store with --store") {
		t.Errorf("two local engines: %v", err)
	}
	both := load(t, `
provider "engine" "main" {
  path = "x.db"
  url  = "https://rules.example.jp"
}
`)
	if _, err := Locate(both, ""); err == nil || !strings.Contains(err.Error(), "provider.engine.main: Conflicting engine location") {
		t.Errorf("path and url: %v", err)
	}
	none := load(t, `provider "sandbox" "ec" { system = "ec" }`)
	if loc, err := Locate(none, ""); err != nil || !loc.NoProvider || loc.Path != filepath.Join(".musubi", "engine.db") {
		t.Errorf("no engine provider: %+v %v", loc, err)
	}
}

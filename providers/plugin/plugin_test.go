package plugin

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin/protocol"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

// start runs the example plugin and closes it when the test ends.
func start(t testing.TB, opts Options) providers.Provider {
	t.Helper()
	p, info, err := Start(context.Background(), examplePlugin(t, ""), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if info.Name != loyalty.Name || info.Version != loyalty.Version || info.Protocol != protocol.Version || !info.BatchReader || info.Sender {
		t.Fatalf("the plugin reports %+v", info)
	}
	return p
}

func configure(t testing.TB, p providers.Provider, config map[string]any) {
	t.Helper()
	sensitive := map[string]bool{}
	if _, ok := config["api_key"]; ok {
		sensitive["api_key"] = true
	}
	if ds := p.Configure(context.Background(), providers.ConfigureRequest{Name: loyaltytest.Program, Config: config, Sensitive: sensitive}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
}

// The example plugin passes the conformance suite through gRPC exactly as it does in-process.
func TestConformanceThroughGRPC(t *testing.T) {
	t.Parallel()
	providertest.Run(t, loyaltytest.Harness(func(t *testing.T, path string) providers.Provider {
		p := start(t, Options{})
		configure(t, p, map[string]any{"path": path})
		return p
	}))
}

func TestOptionalInterfacesAsReported(t *testing.T) {
	t.Parallel()
	p := start(t, Options{})
	if _, ok := p.(providers.BatchReader); !ok {
		t.Error("the loyalty plugin reads in batches, the client does not")
	}
	if _, ok := p.(providers.Sender); ok {
		t.Error("the loyalty plugin sends no messages, the client claims to")
	}
	if _, ok := p.(providers.WebhookReceiver); ok {
		t.Error("the loyalty plugin receives no webhooks, the client claims to")
	}
}

func TestCloseEndsTheProcess(t *testing.T) {
	t.Parallel()
	p := start(t, Options{})
	c, _ := protocol.ClientOf(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("the plugin process still runs after Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// A plugin that dies in the middle of a create reports it clearly, and the object it made is
// found by its idempotency key afterwards: nothing is created twice.
func TestCrashMidCall(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "loyalty.json")
	p := start(t, Options{Env: []string{"LOYALTY_FAULT=create:2:exit"}})
	configure(t, p, map[string]any{"path": path})
	ctx := context.Background()
	req := func(key string) providers.CreateRequest {
		return providers.CreateRequest{Kind: providers.KindCoupon, Attributes: loyaltytest.CouponAttrs(), IdempotencyKey: key}
	}
	if r := p.Create(ctx, req("first")); r.Diagnostics.HasErrors() {
		t.Fatal(r.Diagnostics.Err())
	}
	r := p.Create(ctx, req("second"))
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrUnavailable ||
		!strings.Contains(err.Error(), "provider plugin loyalty exited: exit status 3: loyalty: create 2 done; exiting (LOYALTY_FAULT)") {
		t.Fatalf("a crash mid-create: %v", err)
	}
	if err := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, IdempotencyKey: "second"}).Diagnostics.Err(); !strings.Contains(err.Error(), "exited") {
		t.Fatalf("a call after the crash: %v", err)
	}

	again := start(t, Options{})
	configure(t, again, map[string]any{"path": path})
	found := again.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, IdempotencyKey: "second"})
	if !found.Found {
		t.Fatal("the object the crashed create made is not found by its key")
	}
	if r := again.Create(ctx, req("second")); r.ID != found.ID {
		t.Fatalf("retrying the create made %s besides %s", r.ID, found.ID)
	}
	objs, _ := loyalty.OpenStore(path).Objects()
	if len(objs) != 2 {
		t.Fatalf("the app holds %d objects, want 2", len(objs))
	}
}

// A plugin that stops answering is bounded by the caller's deadline.
func TestHangEndsAtTheDeadline(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Env: []string{"LOYALTY_FAULT=create:1:hang"}})
	configure(t, p, map[string]any{"path": filepath.Join(t.TempDir(), "loyalty.json")})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: loyaltytest.CouponAttrs(), IdempotencyKey: "k"})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrUnavailable || !strings.Contains(err.Error(), "did not finish create before the deadline") {
		t.Fatalf("a hanging create: %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("the hanging create returned after %s", took)
	}
}

func TestProtocolMismatchSaysWhichSideToUpgrade(t *testing.T) {
	t.Parallel()
	_, _, err := Start(context.Background(), examplePlugin(t, "2"), Options{})
	if err == nil || err.Error() != "plugin loyalty speaks protocol 2, this musubi speaks 1: upgrade musubi" {
		t.Errorf("a newer plugin: %v", err)
	}
	_, _, err = Start(context.Background(), examplePlugin(t, ""), Options{Protocol: 2})
	if err == nil || err.Error() != "plugin loyalty speaks protocol 1, this musubi speaks 2: upgrade the plugin" {
		t.Errorf("an older plugin: %v", err)
	}
	// Beyond the versions the host offers, go-plugin refuses first; the answer is the same.
	v, ok := offeredVersion(errorString("incompatible API version with plugin. Plugin version: 40, Client versions: [1 2]"))
	if !ok || v != 40 {
		t.Errorf("offeredVersion: %d, %v", v, ok)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// safeBuffer collects log output written from go-plugin's goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The plugin's log reaches Musubi's slog log at its level; the API key it is configured
// with appears nowhere in it, nor in errors.
func TestLogsReachSlogWithoutSecrets(t *testing.T) {
	t.Parallel()
	const secret = "lk_live_5ecret-key-do-not-log"
	var logs safeBuffer
	path := filepath.Join(t.TempDir(), "loyalty.json")
	if err := loyalty.OpenStore(path).SetAPIKey(secret); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	p := start(t, Options{Logger: logger, Env: []string{"LOYALTY_FAULT=create:2:exit"}})
	configure(t, p, map[string]any{"path": path, "api_key": secret})
	ctx := context.Background()
	create := func(key string) error {
		return p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: loyaltytest.CouponAttrs(), IdempotencyKey: key}).Diagnostics.Err()
	}
	if err := create("a"); err != nil {
		t.Fatal(err)
	}
	err := create("b")
	if err == nil {
		t.Fatal("the crash went unreported")
	}
	wrong := start(t, Options{Logger: logger})
	configure(t, wrong, map[string]any{"path": path, "api_key": "not-" + secret})
	authErr := wrong.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: "cpn_000001"}).Diagnostics.Err()
	if providers.CodeOf(authErr) != providers.ErrAuth {
		t.Fatalf("a wrong key: %v", authErr)
	}
	wrong.Close()
	out := logs.String()
	for _, want := range []string{`level=DEBUG msg="loyalty: configured" plugin=loyalty`, `level=ERROR msg="loyalty: create 2 done; exiting (LOYALTY_FAULT)" plugin=loyalty`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	for _, s := range []string{out, err.Error(), authErr.Error()} {
		if strings.Contains(s, "5ecret") {
			t.Fatalf("the API key leaked:\n%s", s)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "musubi-provider-loyalty")
	named := filepath.Join(dir, PluginDir, "musubi-provider-points")
	for _, f := range []string{bin, named} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "plain"), []byte("x"), 0o644)
	cases := []struct {
		source, builtin, path, err string
	}{
		{source: "builtin/sandbox", builtin: "sandbox"},
		{source: "builtin/shopifyy", err: `there is no built-in provider "shopifyy" (built-in providers: `},
		{source: "./bin/musubi-provider-loyalty", path: bin},
		{source: "bin/musubi-provider-loyalty", path: bin},
		{source: bin, path: bin},
		{source: "points", path: named},
		{source: "loyalty", err: "there is no plugin .musubi/plugins/musubi-provider-loyalty"},
		{source: "./missing", err: "no such file"},
		{source: "./bin", err: "is a directory"},
		{source: "./plain", err: "is not executable"},
		{source: "Bad Name", err: "neither builtin/TYPE, a path, nor a plugin name"},
		{source: "", err: "the source is empty"},
	}
	for _, c := range cases {
		r, err := Resolve(dir, c.source)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%q): %v, want an error with %q", c.source, err, c.err)
			}
		case err != nil:
			t.Errorf("Resolve(%q): %v", c.source, err)
		case r.Builtin != c.builtin || r.Path != c.path:
			t.Errorf("Resolve(%q) = %+v, want builtin %q path %q", c.source, r, c.builtin, c.path)
		}
	}
}

func config(providers map[string]string) *lang.Config {
	cfg := &lang.Config{Providers: map[string]*lang.Provider{}}
	for name, src := range providers {
		typ, n, _ := strings.Cut(name, ".")
		cfg.Providers[name] = &lang.Provider{Ref: lang.ProviderRef{Type: typ, Name: n}, Source: src, Range: hcl.Range{Filename: "main.hcl"}}
	}
	return cfg
}

// copyPlugin puts the example plugin into dir as a file the test may tamper with.
func copyPlugin(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(examplePlugin(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PluginDir, "musubi-provider-loyalty")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInitLockAndVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := copyPlugin(t, dir)
	cfg := config(map[string]string{"loyalty.app": "loyalty", "loyalty.outlet": "loyalty", "sandbox.ec": "builtin/sandbox"})
	ctx := context.Background()
	lock, inits, err := Init(ctx, cfg, dir, "v1.4.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(inits) != 2 || inits[0].Source != "builtin/sandbox" || strings.Join(inits[1].Blocks, ",") != "loyalty.app,loyalty.outlet" {
		t.Fatalf("init: %+v", inits)
	}
	if err := lock.Write(dir); err != nil {
		t.Fatal(err)
	}
	sum, _ := Checksum(bin)
	want := `# Written by musubi init: the provider plugins this configuration was initialised with.
# Commit it. Commands refuse a plugin binary whose checksum differs from the one here;
# after replacing a plugin on purpose, run musubi init -upgrade.

provider "builtin/sandbox" {
  builtin = true
  version = "v1.4.0"
}

provider "loyalty" {
  name     = "loyalty"
  version  = "0.1.0"
  protocol = 1
  sha256   = "` + sum + `"
}
`
	got, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if string(got) != want {
		t.Fatalf("the lock file:\n%s\nwant:\n%s", got, want)
	}
	read, err := ReadLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(read.Bytes()) != want {
		t.Fatalf("the lock file does not read back as written:\n%s", read.Bytes())
	}
	if again, _, err := Init(ctx, cfg, dir, "v1.4.0", false); err != nil || string(again.Bytes()) != want {
		t.Fatalf("a second init: %v\n%s", err, again.Bytes())
	}

	src := Source(dir, nil)
	p, err := src(cfg.Providers["loyalty.app"])
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	builtin, err := src(cfg.Providers["sandbox.ec"])
	if _, ok := builtin.(*sandbox.Provider); !ok || err != nil {
		t.Fatalf("builtin/sandbox resolved to %T, %v", builtin, err)
	}

	// Someone replaces the binary after init.
	f, _ := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	_, err = Source(dir, nil)(cfg.Providers["loyalty.app"])
	if err == nil || !strings.Contains(err.Error(), "the provider plugin loyalty changed since musubi init") || !strings.Contains(err.Error(), "run musubi init -upgrade") {
		t.Fatalf("a tampered binary: %v", err)
	}
	if _, _, err := Init(ctx, cfg, dir, "v1.4.0", false); err == nil || !strings.Contains(err.Error(), "provider.loyalty.app: the plugin binary loyalty differs") {
		t.Fatalf("init over a tampered binary: %v", err)
	}
	upgraded, _, err := Init(ctx, cfg, dir, "v1.4.0", true)
	if err != nil {
		t.Fatalf("init -upgrade: %v", err)
	}
	newSum, _ := Checksum(bin)
	if upgraded.Providers["loyalty"].SHA256 != newSum {
		t.Fatal("init -upgrade did not pin the new binary")
	}
}

func TestSourceNeedsInit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyPlugin(t, dir)
	cfg := config(map[string]string{"loyalty.app": "loyalty"})
	_, err := Source(dir, nil)(cfg.Providers["loyalty.app"])
	if err == nil || err.Error() != "the provider plugin loyalty has not been initialised (there is no .musubi.lock.hcl): run musubi init" {
		t.Fatalf("no lock file: %v", err)
	}
	_, err = Source(dir, &Lock{Providers: map[string]Locked{}, Found: true})(cfg.Providers["loyalty.app"])
	if err == nil || !strings.Contains(err.Error(), "is not in .musubi.lock.hcl: run musubi init") {
		t.Fatalf("not in the lock file: %v", err)
	}
}

func TestReadLockRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"syntax":    `provider "x" {`,
		"unknown":   `provider "x" { version = "1" colour = "red" }`,
		"duplicate": "provider \"x\" {\n version = \"1\"\n}\nprovider \"x\" {\n version = \"2\"\n}\n",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, LockFile), []byte(src), 0o644)
		if _, err := ReadLock(dir); err == nil || !strings.Contains(err.Error(), "musubi init -upgrade") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzReadLock: the lock file is edited by people and merged by git; no content may crash.
func FuzzReadLock(f *testing.F) {
	f.Add([]byte("provider \"loyalty\" {\n  name = \"loyalty\"\n  version = \"0.1.0\"\n  protocol = 1\n  sha256 = \"ab\"\n}\n"))
	f.Add([]byte("provider \"builtin/sandbox\" {\n  builtin = true\n  version = \"dev\"\n}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, LockFile), b, 0o644)
		l, err := ReadLock(dir)
		if err != nil {
			return
		}
		os.WriteFile(filepath.Join(dir, LockFile), l.Bytes(), 0o644)
		again, err := ReadLock(dir)
		if err != nil {
			t.Fatalf("a lock file written back does not read: %v\n%s", err, l.Bytes())
		}
		if string(again.Bytes()) != string(l.Bytes()) {
			t.Fatalf("the lock file changes on a round trip:\n%s\n%s", l.Bytes(), again.Bytes())
		}
	})
}

// A binary that dies before its handshake is explained by its exit and its last words.
func TestStartFailureQuotesThePlugin(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "musubi-provider-broken")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho 'cannot open libpos.so' >&2\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := Start(context.Background(), path, Options{})
	if err == nil || err.Error() != "provider plugin broken ("+path+") did not start: exit status 4: cannot open libpos.so" {
		t.Fatalf("got %v", err)
	}
}

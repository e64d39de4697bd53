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

	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin/protocol"
	"github.com/musubi-hq/musubi/providers/providertest"
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

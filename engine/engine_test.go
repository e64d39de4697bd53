package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/pgtest"
	"github.com/musubi-hq/musubi/providers/sandbox"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// noon in Tokyo: outside the quickstart's quiet hours, two weeks before its spring campaign,
// so the tests of triggers see no campaign broadcast (TestCampaignBroadcast has its own).
var noon = time.Date(2027, 2, 16, 12, 0, 0, 0, time.FixedZone("JST", 9*3600))

// springNoon is noon in Tokyo while the quickstart's spring campaign runs.
var springNoon = time.Date(2027, 3, 2, 12, 0, 0, 0, time.FixedZone("JST", 9*3600))

// quickstartBundle is the quickstart programme's rule bundle, optionally edited.
func quickstartBundle(t testing.TB, edit func(*rules.Bundle)) []byte {
	t.Helper()
	cfg, diags := lang.LoadDir("../examples/quickstart", lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b := rules.FromConfig(cfg, map[string]string{"spring": "test-seed"})
	if edit != nil {
		edit(b)
	}
	return b.Encode()
}

type fixture struct {
	t     testing.TB
	dir   string
	clock *clock
	store Store
	// dsn is the PostgreSQL database the engine is stored in, under TestOnPostgres; else
	// the store is a SQLite file in dir.
	dsn  string
	line *sandbox.Provider
	eng  *Engine
	// syncers keep audiences, when a test gives some before open.
	syncers map[string]providers.MemberSyncer
}

func newFixture(t testing.TB, bundle []byte) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clock: &clock{t: noon}}
	if onPostgres(t) {
		f.dsn = pgtest.DSN(t)
	}
	f.line = newLineSandbox(t, f.dir)
	f.open()
	if bundle != nil {
		if _, err := f.eng.PushBundle(context.Background(), bundle, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// newLineSandbox is the sandbox's messaging system, in dir.
func newLineSandbox(t testing.TB, dir string) *sandbox.Provider {
	t.Helper()
	line := &sandbox.Provider{}
	if ds := line.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.line",
		Config: map[string]any{"system": "messaging", "path": filepath.Join(dir, "sandbox.db")}}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	t.Cleanup(func() { line.Close() })
	return line
}

func (f *fixture) open() {
	f.t.Helper()
	s := f.openStore()
	e, err := Open(context.Background(), Options{Store: s, Now: f.clock.Now, BundlePoll: -1, DisableDelivery: true,
		Senders: map[string]providers.Sender{"sandbox.line": f.line}, Syncers: f.syncers})
	if err != nil {
		f.t.Fatal(err)
	}
	f.store, f.eng = s, e
	f.t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.eng != nil {
		f.eng.Close()
		f.store.Close()
		f.eng = nil
	}
}

// restart closes the engine and opens it again on the same files, as after a crash.
func (f *fixture) restart() {
	f.close()
	f.open()
}

func (f *fixture) ingest(js string) []Result {
	f.t.Helper()
	evs, err := DecodeEvents([]byte(js))
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := f.eng.Ingest(context.Background(), evs)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) deliveries() []sandbox.Delivery {
	f.t.Helper()
	ds, err := f.line.Store().Outbox(context.Background(), "sandbox.line")
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

const purchase = `{"id": "pos-1", "type": "purchase", "source": "pos", "channel": "pos", "store_id": "shibuya",
	"record": {"phone_number": "090-1234-5678", "member_code": "M-1001"},
	"data": {"order_id": "T-1", "total": 3200, "currency": "JPY"}}`

const follow = `{"id": "line-1", "type": "follow", "source": "line", "channel": "line",
	"record": {"userId": "U4af4980629", "phone": "+81 90-1234-5678"}, "data": {"account": "sandbox.line"}}`

// The quickstart's OMO story: a store purchase and a LINE follow for the same phone number
// are one customer; the follow gives LINE consent, the customer enters loyal_store, and the
// welcome trigger sends a personal spring code, exactly once.
func TestStorePurchaseAndFollowBecomeOneCustomerWhoGetsOneCode(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	r1 := f.ingest(purchase)[0]
	if r1.Customer == "" || len(r1.Entered) != 0 {
		t.Fatalf("purchase: %+v", r1)
	}
	r2 := f.ingest(follow)[0]
	if r2.Customer != r1.Customer {
		t.Fatalf("follow tied to %s, purchase to %s", r2.Customer, r1.Customer)
	}
	if strings.Join(r2.Entered, ",") != "loyal_store" || strings.Join(r2.Fired, ",") != "welcome_regular" {
		t.Fatalf("follow: %+v", r2)
	}
	v, err := f.eng.Customer(context.Background(), "phone:090-1234-5678")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != r1.Customer || v.Traits["store_purchases_90d"] != int64(1) || v.Traits["spend_90d"] != int64(3200) || !v.Consent["line"] {
		t.Fatalf("customer: %+v", v)
	}
	items, _ := f.store.Outbox(context.Background(), StatusPending, 10)
	if len(items) != 1 || items[0].To != "U4af4980629" || !strings.Contains(items[0].Text, "SPR-") {
		t.Fatalf("outbox: %+v", items)
	}
	if err := f.eng.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds := f.deliveries()
	if len(ds) != 1 || ds[0].Recipient != "U4af4980629" || !strings.Contains(ds[0].Text, "春の10%オフクーポン: SPR-") {
		t.Fatalf("deliveries: %+v", ds)
	}
	// A redelivered follow is recognised; nothing fires again.
	if r := f.ingest(follow)[0]; !r.Duplicate {
		t.Fatalf("repeat: %+v", r)
	}
	// After a restart the engine knows the same customer and the same traits.
	f.restart()
	v2, err := f.eng.Customer(context.Background(), "line_user:U4af4980629")
	if err != nil || v2.ID != v.ID || v2.Traits["spend_90d"] != int64(3200) || strings.Join(v2.Segments, ",") != "loyal_store" {
		t.Fatalf("after restart: %+v %v", v2, err)
	}
	if err := f.eng.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := f.ingest(follow)[0]; !r.Duplicate {
		t.Fatalf("repeat after a restart: %+v", r)
	}
	if len(f.deliveries()) != 1 {
		t.Fatal("delivered again after a restart")
	}
}

// A send cut short after the channel accepted it (the response was lost) is retried with the
// same key, and the channel does not deliver it twice.
func TestLostResponseIsRetriedWithoutASecondDelivery(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	if err := f.line.Store().AddFault(context.Background(), sandbox.Fault{Provider: "sandbox.line", Op: "send", Nth: 1, LoseResponse: true}); err != nil {
		t.Fatal(err)
	}
	f.ingest(purchase)
	f.ingest(follow)
	f.eng.DeliverDue(context.Background())
	items, _ := f.store.Outbox(context.Background(), "", 10)
	if len(items) != 1 || items[0].Status != StatusPending || items[0].Attempts != 1 || items[0].LastError == "" {
		t.Fatalf("after a lost response: %+v", items)
	}
	f.clock.Add(time.Hour) // past the backoff
	f.eng.DeliverDue(context.Background())
	items, _ = f.store.Outbox(context.Background(), "", 10)
	if items[0].Status != StatusSent || items[0].Attempts != 2 {
		t.Fatalf("after the retry: %+v", items)
	}
	if n := len(f.deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}

// Rate limits are retried after Retry-After; a refusal is a dead letter at once.
func TestRetriesAndDeadLetters(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	ctx := context.Background()
	f.line.Store().AddFault(ctx, sandbox.Fault{Provider: "sandbox.line", Op: "send", Nth: 1, Status: 429})
	f.ingest(purchase)
	f.ingest(follow)
	f.eng.DeliverDue(ctx)
	items, _ := f.store.Outbox(ctx, "", 10)
	if items[0].Status != StatusPending || !items[0].NextAt.After(noon) || !strings.Contains(items[0].LastError, "rate_limited") {
		t.Fatalf("after 429: %+v", items[0])
	}
	f.clock.Add(time.Hour)
	f.line.Store().AddFault(ctx, sandbox.Fault{Provider: "sandbox.line", Op: "send", Nth: 1, Status: 422})
	f.eng.DeliverDue(ctx)
	items, _ = f.store.Outbox(ctx, "", 10)
	if items[0].Status != StatusDead || !strings.Contains(items[0].LastError, "invalid") {
		t.Fatalf("after 422: %+v", items[0])
	}
	if n := len(f.deliveries()); n != 0 {
		t.Fatalf("%d deliveries, want 0", n)
	}
}

// Delivery rules: no consent means no message; quiet hours hold it; the frequency cap stops
// the fourth; a cooldown stops a repeat firing.
func TestDeliveryRules(t *testing.T) {
	ctx := context.Background()
	t.Run("consent", func(t *testing.T) {
		f := newFixture(t, quickstartBundle(t, func(b *rules.Bundle) { b.Segments[1].Condition = "customer.traits.store_purchases_90d >= 1" }))
		r := f.ingest(purchase)[0] // entered loyal_store, but no LINE user and no consent
		items, _ := f.store.Outbox(ctx, "", 10)
		if len(r.Fired) != 1 || len(items) != 0 {
			t.Fatalf("a message to a customer not on LINE: %+v %+v", r, items)
		}
		if n := testutil.ToFloat64(f.eng.metrics.outcomes.WithLabelValues(statusUnreachable)); n != 1 {
			t.Fatalf("unreachable messages counted: %v", n)
		}

	})
	t.Run("quiet hours", func(t *testing.T) {
		f := newFixture(t, quickstartBundle(t, nil))
		f.clock.Set(time.Date(2027, 2, 16, 22, 30, 0, 0, time.FixedZone("JST", 9*3600)))
		f.ingest(purchase)
		f.ingest(follow)
		items, _ := f.store.Outbox(ctx, "", 10)
		want := time.Date(2027, 2, 17, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))
		if len(items) != 1 || items[0].Status != StatusPending || !items[0].NextAt.Equal(want) || !strings.Contains(items[0].Reason, "quiet hours until 2027-02-17 09:00 JST") {
			t.Fatalf("%+v", items)
		}
		f.eng.DeliverDue(ctx)
		if len(f.deliveries()) != 0 {
			t.Fatal("sent during quiet hours")
		}
		f.clock.Set(want)
		f.eng.DeliverDue(ctx)
		if len(f.deliveries()) != 1 {
			t.Fatal("not sent after quiet hours")
		}
	})
	t.Run("frequency cap and cooldown", func(t *testing.T) {
		f := newFixture(t, quickstartBundle(t, func(b *rules.Bundle) { b.Triggers[0].Cooldown = "" }))
		f.ingest(follow) // a LINE follower with consent
		nudge := func(id string) Result {
			return f.ingest(`{"id": "` + id + `", "type": "cart.updated", "identifiers": {"line_user": "U4af4980629"}, "data": {"cart": {"total": 2850}}}`)[0]
		}
		for i := range 4 {
			if r := nudge("cart-" + string(rune('a'+i))); len(r.Fired) != 1 {
				t.Fatalf("nudge %d: %+v", i, r)
			}
		}
		items, _ := f.store.Outbox(ctx, "", 10)
		if len(items) != 4 || items[3].Status != StatusSuppressed || !strings.Contains(items[3].Reason, "frequency cap: 3 messages on sandbox in 7d") {
			t.Fatalf("%+v", items)
		}
		if !strings.Contains(items[0].Text, "あと150円で10%オフになります。") {
			t.Fatalf("text: %q", items[0].Text)
		}
		f2 := newFixture(t, quickstartBundle(t, nil)) // cooldown 24h
		f2.ingest(follow)
		r1 := f2.ingest(`{"id": "c1", "type": "cart.updated", "identifiers": {"line_user": "U4af4980629"}, "data": {"cart": {"total": 2850}}}`)[0]
		r2 := f2.ingest(`{"id": "c2", "type": "cart.updated", "identifiers": {"line_user": "U4af4980629"}, "data": {"cart": {"total": 2900}}}`)[0]
		if len(r1.Fired) != 1 || len(r2.Fired) != 0 {
			t.Fatalf("cooldown: %+v %+v", r1, r2)
		}
	})
}

// A decision predicts exactly what ingesting the same event does, and changes nothing.
func TestDecideMatchesIngestWithoutSideEffects(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	f.clock.Set(springNoon) // the spring offer runs
	ctx := context.Background()
	f.ingest(purchase)
	f.ingest(follow)
	ev := `{"id": "cart-9", "type": "cart.updated", "identifiers": {"phone": "09012345678"}, "data": {"cart": {"total": 2850, "currency": "JPY"}}}`
	evs, _ := DecodeEvents([]byte(ev))
	d, err := f.eng.Decide(ctx, DecideRequest{Event: evs[0]})
	if err != nil {
		t.Fatal(err)
	}
	var nudge *Decision
	for i := range d.Decisions {
		if d.Decisions[i].Trigger == "cart_nudge" {
			nudge = &d.Decisions[i]
		}
	}
	if nudge == nil || !nudge.Fired || nudge.Actions[0].Status != "would_send" || nudge.Actions[0].Text != "あと150円で10%オフになります。" {
		t.Fatalf("decision: %+v", d)
	}
	if len(d.Offers) != 1 || d.Offers[0].Eligible || d.Offers[0].Remaining != 150 {
		t.Fatalf("offers: %+v", d.Offers)
	}
	before, _ := f.store.Outbox(ctx, "", 10)
	if _, err := f.eng.Decide(ctx, DecideRequest{Event: evs[0]}); err != nil {
		t.Fatal(err)
	}
	if after, _ := f.store.Outbox(ctx, "", 10); len(after) != len(before) {
		t.Fatal("a decision queued a message")
	}
	r := f.ingest(ev)[0]
	items, _ := f.store.Outbox(ctx, "", 10)
	last := items[len(items)-1]
	if strings.Join(r.Fired, ",") != "cart_nudge" || last.Text != nudge.Actions[0].Text || last.To != nudge.Actions[0].To || last.Key != nudge.Actions[0].Key {
		t.Fatalf("ingest %+v, outbox %+v, decision %+v", r, last, nudge.Actions[0])
	}
	// Now in cooldown: the decision says so, like the next event would find.
	d, _ = f.eng.Decide(ctx, DecideRequest{Event: evs[0]})
	for _, x := range d.Decisions {
		if x.Trigger == "cart_nudge" && (x.Fired || !strings.HasPrefix(x.Reason, "cooldown")) {
			t.Fatalf("after firing: %+v", x)
		}
	}
}

func TestBadEventsAreRefusedWithTheFieldAndNothingIsStored(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	srv := httptest.NewServer(f.eng.Handler(ServerOptions{}))
	defer srv.Close()
	cases := []struct{ body, want string }{
		{``, "the body is empty"},
		{`{"id": 1}`, "invalid JSON"},
		{`{"id": "x", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"total": "3200"}}`, "data.total: want a whole number, got a string"},
		{`{"id": "x", "type": "purchse", "identifiers": {"email": "a@b.jp"}}`, `type: unknown event type "purchse" (did you mean "purchase"?)`},
		{`{"id": "x", "type": "purchase", "source": "pso", "record": {"phone_number": "1"}}`, `source: no identity_source "pso" in the active rules (did you mean "pos"?)`},
		{`{"id": "x", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"totl": 1}}`, `unknown field "totl"`},
		{`[` + purchase + `, {"id": "", "type": "purchase"}]`, `event 1 (id ""): id: required`},
		{`{"id": "x", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "colour": "red"}`, `unknown field "colour"`},
	}
	for _, c := range cases {
		resp, err := http.Post(srv.URL+"/v1/events", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var eb errorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(eb.Error, c.want) {
			t.Errorf("%s: %d %q, want 400 containing %q", c.body, resp.StatusCode, eb.Error, c.want)
		}
	}
	resp, _ := http.Post(srv.URL+"/v1/events", "text/plain", strings.NewReader(purchase))
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", resp.StatusCode)
	}
	if f.eng.Graph().Len() != 0 {
		t.Fatal("a refused request stored a customer")
	}
}

// A serving engine collects garbage at DefaultGCPercent unless told otherwise, by the flag or
// by GOGC.
func TestServeGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	t.Setenv("GOGC", "")
	if got := ServeGC(0); got != DefaultGCPercent || debug.SetGCPercent(DefaultGCPercent) != DefaultGCPercent {
		t.Errorf("default: %d", got)
	}
	if got := ServeGC(150); got != 150 || debug.SetGCPercent(150) != 150 {
		t.Errorf("--gc-percent 150: %d", got)
	}
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50) // as the runtime does at start with GOGC=50
	if got := ServeGC(0); got != 50 || debug.SetGCPercent(50) != 50 {
		t.Errorf("GOGC=50: %d", got)
	}
}

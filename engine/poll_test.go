package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakePoller stands in for a POS whose sales are read by polling: its cursor is the number
// of sales read, and a poll returns at most page of them.
type fakePoller struct {
	mu      sync.Mutex
	sales   []providers.InboundEvent
	page    int
	fail    int // polls still to fail
	cursors []string
}

func (f *fakePoller) PollInterval() time.Duration { return 5 * time.Millisecond }

func (f *fakePoller) PollEvents(_ context.Context, cursor string) (providers.PollResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cursors = append(f.cursors, cursor)
	if f.fail > 0 {
		f.fail--
		return providers.PollResult{}, &providers.APIError{Code: providers.ErrRateLimited, Status: 429, Message: "slow down"}
	}
	n, _ := strconv.Atoi(cursor)
	end := min(n+f.page, len(f.sales))
	return providers.PollResult{Events: f.sales[n:end], Cursor: strconv.Itoa(end), More: end < len(f.sales)}, nil
}

// sell records a sale of total yen to member at the till.
func (f *fakePoller) sell(id, member string, total int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sales = append(f.sales, providers.InboundEvent{ID: id, Type: "purchase", Channel: "pos", StoreID: "shibuya",
		Time: noon, Record: map[string]any{"member_code": member}, Data: map[string]any{"total": total, "currency": "JPY"}})
}

func (f *fakePoller) polled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cursors...)
}

// pollEngine runs an engine on the quickstart's rules (whose pos source sandbox.pos feeds)
// that polls p as sandbox.pos; push says whether to push the rules.
func pollEngine(t *testing.T, dir string, p providers.EventPoller, push bool) (*Engine, *SQLiteStore) {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(dir, "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), Options{Store: s, Now: (&clock{t: noon}).Now, BundlePoll: -1, DisableDelivery: true,
		Pollers: map[string]providers.EventPoller{"sandbox.pos": p}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); s.Close() })
	if push {
		if _, err := e.PushBundle(context.Background(), quickstartBundle(t, nil), "test"); err != nil {
			t.Fatal(err)
		}
	}
	return e, s
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// spend is the member's spend_90d and store_purchases_90d, -1 when the member is unknown.
func spend(e *Engine, member string) (yen, purchases int64) {
	v, err := e.Customer(context.Background(), "member:"+member)
	if err != nil {
		return -1, -1
	}
	y, _ := v.Traits["spend_90d"].(int64)
	n, _ := v.Traits["store_purchases_90d"].(int64)
	return y, n
}

func cursorOf(t *testing.T, s *SQLiteStore) string {
	t.Helper()
	c, err := s.PollCursor(context.Background(), "sandbox.pos")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Polled sales become purchases of the source the provider feeds, each once; the cursor is
// stored with them, and a restarted engine resumes from it.
func TestPollIngestsOnceAndResumesFromTheCursor(t *testing.T) {
	dir := t.TempDir()
	p := &fakePoller{page: 2}
	for i := range 5 {
		p.sell(fmt.Sprintf("sale-%d", i), "M-1", 1000)
	}
	e, s := pollEngine(t, dir, p, true)
	waitFor(t, "five purchases", func() bool { y, n := spend(e, "M-1"); return y == 5000 && n == 5 })
	waitFor(t, "the cursor", func() bool { return cursorOf(t, s) == "5" })
	// Three pages of two, read one after the other (More), then polls with nothing new.
	if got := p.polled(); len(got) < 3 || got[0] != "" || got[1] != "2" || got[2] != "4" {
		t.Fatalf("polled with cursors %q", got)
	}
	e.Close()
	s.Close()

	p.sell("sale-5", "M-1", 700)
	before := len(p.polled())
	e, s = pollEngine(t, dir, p, false)
	waitFor(t, "the sale made while the engine was down", func() bool { y, n := spend(e, "M-1"); return y == 5700 && n == 6 })
	if got := p.polled()[before]; got != "5" {
		t.Fatalf("the restarted engine polled from %q, want the stored cursor 5", got)
	}
	waitFor(t, "the cursor", func() bool { return cursorOf(t, s) == "6" })
}

// A crash after the events were committed and before the cursor was stored leaves the old
// cursor: the next poll reads the same sales again, and they are duplicates, dropped.
func TestPollRepeatsAfterACrashAreDuplicates(t *testing.T) {
	dir := t.TempDir()
	p := &fakePoller{page: 10}
	p.sell("sale-1", "M-1", 1200)
	p.sell("sale-2", "M-1", 800)
	e, s := pollEngine(t, dir, p, true)
	waitFor(t, "two purchases", func() bool { y, _ := spend(e, "M-1"); return y == 2000 })
	waitFor(t, "the cursor", func() bool { return cursorOf(t, s) == "2" })
	e.Close()
	// The cursor as it was before that poll, as if the engine died before storing it.
	if err := s.PutPollCursor(context.Background(), "sandbox.pos", ""); err != nil {
		t.Fatal(err)
	}
	s.Close()

	e, s = pollEngine(t, dir, p, false)
	waitFor(t, "the repeated poll", func() bool { return cursorOf(t, s) == "2" })
	if y, n := spend(e, "M-1"); y != 2000 || n != 2 {
		t.Fatalf("after re-reading the sales: spend %d over %d purchases, want 2000 over 2", y, n)
	}
	if got := testutil.ToFloat64(e.metrics.events.WithLabelValues("purchase", "true")); got != 2 {
		t.Fatalf("%v duplicate purchases counted, want 2", got)
	}
}

// A poller that fails is tried again with a backoff; the engine keeps taking events
// meanwhile, and the sales arrive once the system answers again.
func TestPollFailuresDoNotStopTheEngine(t *testing.T) {
	p := &fakePoller{page: 10, fail: 3}
	p.sell("sale-1", "M-1", 500)
	e, _ := pollEngine(t, t.TempDir(), p, true)
	evs, err := DecodeEvents([]byte(`{"id": "api-1", "type": "purchase", "source": "pos", "record": {"member_code": "M-2"}, "data": {"total": 900}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Ingest(context.Background(), evs); err != nil {
		t.Fatalf("posting an event while the poller fails: %v", err)
	}
	waitFor(t, "the polled sale", func() bool { y, _ := spend(e, "M-1"); return y == 500 })
	if errs := pollCount(t, e, "error"); errs != 3 {
		t.Fatalf("musubi_polls_total{result=error} = %v, want 3", errs)
	}
	if y, _ := spend(e, "M-2"); y != 900 {
		t.Fatalf("the posted event: spend %d", y)
	}
}

// An invalid event does not hold the cursor back: the others of its poll go in, it is
// skipped and counted.
func TestPollSkipsAnInvalidEvent(t *testing.T) {
	p := &fakePoller{page: 10}
	p.sell("sale-1", "M-1", 500)
	p.sales = append(p.sales, providers.InboundEvent{ID: "sale-2", Type: "purchase", Channel: "pos",
		Record: map[string]any{"member_code": "M-1"}, Data: map[string]any{"total": "lots"}})
	p.sell("sale-3", "M-1", 300)
	e, s := pollEngine(t, t.TempDir(), p, true)
	waitFor(t, "the cursor past all three", func() bool { return cursorOf(t, s) == "3" })
	if y, n := spend(e, "M-1"); y != 800 || n != 2 {
		t.Fatalf("spend %d over %d purchases, want 800 over 2", y, n)
	}
}

// Without rules naming the provider in an identity_source nothing is polled: the events
// would have no source to be filed under.
func TestPollWaitsForASource(t *testing.T) {
	p := &fakePoller{page: 10}
	p.sell("sale-1", "M-1", 500)
	e, s := pollEngine(t, t.TempDir(), p, false)
	time.Sleep(50 * time.Millisecond)
	if got := p.polled(); len(got) != 0 {
		t.Fatalf("polled %d times with no rules", len(got))
	}
	if _, err := e.PushBundle(context.Background(), quickstartBundle(t, nil), "test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sale", func() bool { return cursorOf(t, s) == "1" })
}

// pollCount reads musubi_polls_total of a result.
func pollCount(t *testing.T, e *Engine, result string) float64 {
	t.Helper()
	mfs, err := e.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "musubi_polls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func TestPollBackoff(t *testing.T) {
	plain := &providers.APIError{Code: providers.ErrUnavailable}
	for _, c := range []struct {
		interval time.Duration
		failures int
		err      error
		want     time.Duration
	}{
		{time.Minute, 1, plain, time.Minute},
		{time.Minute, 3, plain, 4 * time.Minute},
		{time.Minute, 40, plain, maxPollBackoff},
		{time.Hour, 5, plain, time.Hour},
		{time.Minute, 1, &providers.APIError{Code: providers.ErrRateLimited, RetryAfter: 5 * time.Minute}, 5 * time.Minute},
	} {
		if got := pollBackoff(c.interval, c.failures, c.err); got != c.want {
			t.Errorf("pollBackoff(%s, %d, %v) = %s, want %s", c.interval, c.failures, c.err, got, c.want)
		}
	}
}

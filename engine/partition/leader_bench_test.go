package partition

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

// leaderBundle is the programme of the engine's own benchmarks (engine/bench_test.go): 10
// traits, 50 segments and 100 triggers on purchases, cart updates and store visits.
func leaderBundle() *rules.Bundle {
	b := &rules.Bundle{FormatVersion: rules.FormatVersion,
		Settings: rules.Settings{Currency: "JPY", Timezone: "Asia/Tokyo"},
		Identity: rules.Identity{Priority: []string{"member", "email", "phone", "line_user"}, DefaultCountry: "JP",
			Limits: []rules.IdentityLimit{{Type: "member", Max: 1}}},
		Traits: []rules.Trait{
			{Name: "purchases_90d", On: "purchase", Window: "90d", Aggregate: "count"},
			{Name: "store_purchases_90d", On: "purchase", Where: "event.channel == 'pos'", Window: "90d", Aggregate: "count"},
			{Name: "spend_90d", On: "purchase", Window: "90d", Aggregate: "sum", Value: "event.total"},
			{Name: "max_basket_90d", On: "purchase", Window: "90d", Aggregate: "max", Value: "event.total"},
			{Name: "last_store", On: "purchase", Aggregate: "last", Value: "event.store_id"},
			{Name: "stores_90d", On: "purchase", Window: "90d", Aggregate: "distinct", Value: "event.store_id"},
			{Name: "carts_7d", On: "cart.updated", Window: "7d", Aggregate: "count"},
			{Name: "cart_value_7d", On: "cart.updated", Window: "7d", Aggregate: "max", Value: "event.cart.total"},
			{Name: "visits_30d", On: "store.visit", Window: "30d", Aggregate: "count"},
			{Name: "beacon_visits_30d", On: "store.visit", Where: "event.kind == 'beacon'", Window: "30d", Aggregate: "count"},
		},
		Delivery: rules.Delivery{FrequencyCaps: []rules.FrequencyCap{{Channel: "sandbox", Max: 3, Per: "7d"}}},
	}
	conds := []string{
		"customer.traits.purchases_90d >= %d", "customer.traits.spend_90d >= %d000", "customer.traits.visits_30d >= %d",
		"customer.traits.carts_7d >= %d", "customer.traits.max_basket_90d >= %d00", "customer.traits.stores_90d >= %d",
		"customer.traits.store_purchases_90d >= %d && customer.consent.line", "customer.traits.cart_value_7d >= %d000",
		"customer.traits.beacon_visits_30d >= %d", "customer.traits.last_store == 'store-%d'",
	}
	for i := range 50 {
		b.Segments = append(b.Segments, rules.Segment{Name: fmt.Sprintf("seg_%02d", i), Condition: fmt.Sprintf(conds[i%len(conds)], 1+i/10)})
	}
	for i := range 100 {
		t := rules.Trigger{Name: fmt.Sprintf("trg_%03d", i), Cooldown: "24h"}
		switch {
		case i < 40:
			t.On, t.Condition = "purchase", fmt.Sprintf("event.total > %d00 && customer.traits.purchases_90d >= %d", 10+i, 1+i%5)
		case i < 70:
			t.On, t.Condition = "cart.updated", fmt.Sprintf("event.cart.total < %d00 && %d00 - event.cart.total <= 200", 20+i, 20+i)
		default:
			t.On, t.Condition = "store.visit", fmt.Sprintf("event.store_id == 'store-%d' && customer.segments.seg_%02d", i%7, i%50)
		}
		t.Actions = []rules.Action{{Type: "send", Message: &rules.Message{Via: "sandbox.line", Template: "{{ customer.id }}: thank you"}}}
		b.Triggers = append(b.Triggers, t)
	}
	return b
}

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLeaderMemory is what one leader holds in memory per customer: the real engine with
// the embedded store and the benchmark programme, MUSUBI_BENCH_CUSTOMERS customers (100,000
// by default; run it with 1,000,000) imported with three identifiers each, then
// MUSUBI_BENCH_EVENTS_PER_CUSTOMER events for every one of them (1 by default: a purchase; 3
// adds a cart update and a store visit, so every trait has state), so each has a profile.
// It reports the live heap per million customers: the identity graph alone, and everything
// once every customer has a profile.
func BenchmarkLeaderMemory(b *testing.B) {
	n := envInt("MUSUBI_BENCH_CUSTOMERS", 100_000)
	rounds := envInt("MUSUBI_BENCH_EVENTS_PER_CUSTOMER", 1)
	for b.Loop() {
		dir := b.TempDir()
		line := &sandbox.Provider{}
		line.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.line",
			Config: map[string]any{"system": "messaging", "path": filepath.Join(dir, "sandbox.db")}})
		st, err := engine.OpenSQLite(filepath.Join(dir, "engine.db"))
		if err != nil {
			b.Fatal(err)
		}
		e, err := engine.Open(context.Background(), engine.Options{Store: st, BundlePoll: -1, DisableDelivery: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Senders: map[string]providers.Sender{"sandbox.line": line}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.PushBundle(context.Background(), leaderBundle().Encode(), "bench"); err != nil {
			b.Fatal(err)
		}
		engine.ServeGC(0)
		heap0 := liveHeap()
		records := make([][]identity.ID, n)
		for i := range n {
			records[i] = []identity.ID{{Type: "phone", Value: fmt.Sprintf("+8190%08d", i)}, {Type: "member", Value: fmt.Sprintf("M%08d", i)},
				{Type: "email", Value: fmt.Sprintf("c%d@example.jp", i)}}
		}
		if _, err := e.Graph().ResolveBatch(records, time.Now()); err != nil {
			b.Fatal(err)
		}
		records = nil
		heap1 := liveHeap()
		start := time.Now()
		const batch, workers = 500, 4
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					for lo := w * batch; lo < n; lo += workers * batch {
						evs := make([]map[string]any, 0, batch)
						for i := lo; i < min(n, lo+batch); i++ {
							evs = append(evs, leaderEvent(r, i))
						}
						body, _ := json.Marshal(evs)
						decoded, err := engine.DecodeEvents(body)
						if err == nil {
							_, err = e.Ingest(context.Background(), decoded)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		heap2 := liveHeap()
		perM := func(bytes uint64) float64 { return float64(bytes) / float64(n) * 1e6 / (1 << 20) }
		b.ReportMetric(perM(heap1-heap0), "graph-MiB/M")
		b.ReportMetric(perM(heap2-heap0), "leader-MiB/M")
		b.ReportMetric(perM(heap2-heap1), "profiles-MiB/M")
		b.ReportMetric(float64(n*rounds)/took.Seconds(), "load-events/s")
		fmt.Fprintf(os.Stderr, "leader: %d customers, %d events each in %s; live heap %d MiB\n", n, rounds, took.Round(time.Millisecond), (heap2-heap0)>>20)
		e.Close()
		st.Close()
		line.Close()
	}
}

// leaderEvent is customer i's event of round r: a purchase, then a cart update, then a store
// visit.
func leaderEvent(r, i int) map[string]any {
	ev := map[string]any{"id": "m" + strconv.Itoa(r) + "-" + strconv.Itoa(i), "channel": "pos",
		"identifiers": map[string]string{"phone": fmt.Sprintf("+8190%08d", i)}, "store_id": "store-" + strconv.Itoa(i%7)}
	switch r % 3 {
	case 0:
		ev["type"], ev["data"] = "purchase", map[string]any{"total": 500 + i%9000, "currency": "JPY"}
	case 1:
		ev["type"], ev["data"] = "cart.updated", map[string]any{"cart": map[string]any{"total": 1000 + i%8000}}
	default:
		ev["type"], ev["data"] = "store.visit", map[string]any{"kind": "beacon"}
	}
	return ev
}

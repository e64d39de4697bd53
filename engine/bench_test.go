package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/pgtest"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

// benchCustomers is the size of the known customer base (MUSUBI_BENCH_CUSTOMERS; 1,000,000
// by default, as the engine's targets are stated for it).
func benchCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("MUSUBI_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// benchBundle is a programme of 10 traits, 50 segments and 100 triggers on the events a retailer
// sees most: purchases, cart updates and store visits.
func benchBundle() *rules.Bundle {
	b := &rules.Bundle{FormatVersion: rules.FormatVersion,
		Settings: rules.Settings{Currency: "JPY", Timezone: "Asia/Tokyo"},
		Identity: rules.Identity{Priority: []string{"member", "email", "phone", "line_user"}, DefaultCountry: "JP",
			Limits: []rules.IdentityLimit{{Type: "member", Max: 1}}},
		Sources: []rules.Source{{Name: "pos", Provider: "sandbox.pos", Identifiers: map[string]string{"phone": "phone_number", "member": "member_code"}}},
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
	traitConds := []string{
		"customer.traits.purchases_90d >= %d", "customer.traits.spend_90d >= %d000", "customer.traits.visits_30d >= %d",
		"customer.traits.carts_7d >= %d", "customer.traits.max_basket_90d >= %d00", "customer.traits.stores_90d >= %d",
		"customer.traits.store_purchases_90d >= %d && customer.consent.line", "customer.traits.cart_value_7d >= %d000",
		"customer.traits.beacon_visits_30d >= %d", "customer.traits.last_store == 'store-%d'",
	}
	for i := range 50 {
		b.Segments = append(b.Segments, rules.Segment{Name: fmt.Sprintf("seg_%02d", i), Condition: fmt.Sprintf(traitConds[i%len(traitConds)], 1+i/10)})
	}
	for i := range 100 {
		t := rules.Trigger{Name: fmt.Sprintf("trg_%03d", i)}
		switch {
		case i < 40:
			t.On, t.Condition = "purchase", fmt.Sprintf("event.total > %d00 && customer.traits.purchases_90d >= %d", 10+i, 1+i%5)
		case i < 70:
			t.On, t.Condition = "cart.updated", fmt.Sprintf("event.cart.total < %d00 && %d00 - event.cart.total <= 200", 20+i, 20+i)
		default:
			t.On, t.Condition = "store.visit", fmt.Sprintf("event.store_id == 'store-%d' && customer.segments.seg_%02d", i%7, i%50)
		}
		t.Actions = []rules.Action{{Type: "send", Message: &rules.Message{Via: "sandbox.line", Template: "{{ customer.id }}: thank you"}}}
		t.Cooldown = "24h"
		b.Triggers = append(b.Triggers, t)
	}
	return b
}

type benchEnv struct {
	dir string
	eng *Engine
	srv *httptest.Server
	// customers is how many are known; customer i's phone number is phone(i). The numbers
	// are made when needed: a slice of a million strings would be a million pointers for
	// the collector to follow in the engine's process, which is the load generator's cost.
	customers int
	rng       *rand.Rand
}

// TestMain removes the benchmarks' store, a few hundred megabytes, when they are done, and
// stops the tests' PostgreSQL.
func TestMain(m *testing.M) {
	code := m.Run()
	if env := benchOnce.env; env != nil {
		env.srv.Close()
		env.eng.Close()
		env.eng.store.Close()
		os.RemoveAll(env.dir)
	}
	pgtest.Stop()
	os.Exit(code)
}

var benchOnce struct {
	sync.Once
	env *benchEnv
	err error
}

// setupBench builds the engine once per test binary: 1M customers with three identifiers
// each, resolved in bulk, the benchmark programme active.
func setupBench(b *testing.B) *benchEnv {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "musubi-engine-bench")
		if err != nil {
			benchOnce.err = err
			return
		}
		line := &sandbox.Provider{}
		line.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.line",
			Config: map[string]any{"system": "messaging", "path": filepath.Join(dir, "sandbox.db")}})
		st, err := ingestBenchStore(b, dir)
		if err != nil {
			benchOnce.err = err
			return
		}
		e, err := Open(context.Background(), Options{Store: st, BundlePoll: -1, DisableDelivery: true,
			Senders: map[string]providers.Sender{"sandbox.line": line}})
		if err != nil {
			benchOnce.err = err
			return
		}
		if _, err := e.PushBundle(context.Background(), benchBundle().Encode(), "bench"); err != nil {
			benchOnce.err = err
			return
		}
		ServeGC(0) // as musubi serve runs the engine
		n := benchCustomers()
		env := &benchEnv{dir: dir, eng: e, rng: rand.New(rand.NewPCG(1, 2)), customers: n}
		records := make([][]identity.ID, n)
		for i := range n {
			records[i] = benchRecord(i)
		}
		start := time.Now()
		if _, err := e.Graph().ResolveBatch(records, time.Now()); err != nil {
			benchOnce.err = err
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %d customers resolved in %s\n", n, time.Since(start).Round(time.Millisecond))
		// MUSUBI_BENCH_PENDING keeps that many held actions in the store, due a day later, to
		// show that pending steps cost ingest nothing.
		if pending, _ := strconv.Atoi(os.Getenv("MUSUBI_BENCH_PENDING")); pending > 0 {
			ids := make([]string, 0, 1000)
			for i := range min(n, 1000) {
				c, _ := e.Graph().Lookup(identity.ID{Type: "phone", Value: phone(i)})
				ids = append(ids, c)
			}
			addSteps(b, st, pending, ids, time.Now().Add(24*time.Hour))
			fmt.Fprintf(os.Stderr, "bench: %d pending steps\n", pending)
		}
		env.srv = httptest.NewServer(e.Handler(ServerOptions{}))
		benchOnce.env = env
	})
	if benchOnce.err != nil {
		b.Fatal(benchOnce.err)
	}
	return benchOnce.env
}

// phone is the phone number of the bench's customer i.
func phone(i int) string { return fmt.Sprintf("+8190%08d", i) }

// benchRecord is the bench's customer i as an import record: phone, member number, email.
func benchRecord(i int) []identity.ID {
	return []identity.ID{{Type: "phone", Value: phone(i)}, {Type: "member", Value: fmt.Sprintf("M%08d", i)},
		{Type: "email", Value: fmt.Sprintf("c%d@example.jp", i)}}
}

var benchSeq struct {
	sync.Mutex
	n int
}

// randomEvents makes n events for random known customers: half purchases, a third cart
// updates, the rest store visits.
func (env *benchEnv) randomEvents(rng *rand.Rand, n int) []byte {
	evs := make([]map[string]any, n)
	benchSeq.Lock()
	base := benchSeq.n
	benchSeq.n += n
	benchSeq.Unlock()
	for i := range evs {
		evs[i] = benchEvent(rng, "b"+strconv.Itoa(base+i), phone(rng.IntN(env.customers)))
	}
	body, _ := json.Marshal(evs)
	return body
}

// benchEvent is a POS event of the customer with the phone number: half purchases, a third
// cart updates, the rest store visits.
func benchEvent(rng *rand.Rand, id, phone string) map[string]any {
	ev := map[string]any{"id": id, "source": "pos", "channel": "pos",
		"record": map[string]any{"phone_number": phone}, "store_id": "store-" + strconv.Itoa(rng.IntN(7))}
	switch r := rng.IntN(6); {
	case r < 3:
		ev["type"], ev["data"] = "purchase", map[string]any{"total": 500 + rng.IntN(9000), "currency": "JPY"}
	case r < 5:
		ev["type"], ev["data"] = "cart.updated", map[string]any{"cart": map[string]any{"total": 1000 + rng.IntN(8000)}}
	default:
		ev["type"], ev["data"] = "store.visit", map[string]any{"kind": "beacon"}
	}
	return ev
}

// BenchmarkIngest posts batches of 200 events over HTTP from eight clients at once, end to
// end: validation, identity, traits, 50 segments, 100 triggers, outbox, group commit to the
// embedded store. It reports events per second. Each client waits for its answer, which
// comes once its events are committed, before it sends again; with fewer than eight the
// engine waits for work about a fifth of the time (MUSUBI_BENCH_CLIENTS sets the number).
// The requests are made before the clock starts: making them is the load generator's work,
// not the engine's. It also reports the process's CPU time per event, which moves less than
// the rate with what else the machine is doing.
func BenchmarkIngest(b *testing.B) {
	env := setupBench(b)
	const batch = 200
	clients := 8
	if n, err := strconv.Atoi(os.Getenv("MUSUBI_BENCH_CLIENTS")); err == nil && n > 0 {
		clients = n
	}
	bodies := make(chan []byte, b.N*clients)
	rng := rand.New(rand.NewPCG(3, 4))
	for range b.N * clients {
		bodies <- env.randomEvents(rng, batch)
	}
	close(bodies)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range bodies {
				resp, err := http.Post(env.srv.URL+"/v1/events", "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("status %d", resp.StatusCode)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	n := float64(b.N * clients * batch)
	b.ReportMetric(n/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/n, "cpu-µs/event")
}

// processCPU is the CPU time the process has used, user and system. The benchmark's clients
// run in the process too, so it counts their HTTP work as well as the engine's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecide asks /v1/decide about live carts of random known customers, one request at
// a time, and reports the 50th and 99th percentile latency.
func BenchmarkDecide(b *testing.B) {
	env := setupBench(b)
	rng := rand.New(rand.NewPCG(5, 6))
	bodies := make([][]byte, 1024)
	for i := range bodies {
		c := rng.IntN(env.customers)
		bodies[i], _ = json.Marshal(map[string]any{"event": map[string]any{"type": "cart.updated", "source": "pos",
			"record": map[string]any{"phone_number": phone(c)}, "data": map[string]any{"cart": map[string]any{"total": 1000 + rng.IntN(8000)}}}})
	}
	client := &http.Client{}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		resp, err := client.Post(env.srv.URL+"/v1/decide", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			b.Fatal(err)
		}
		var out DecideResponse
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkRulesPerEvent is the CEL-only cost of one purchase: its 6 traits, the segments they
// feed and the 40 purchase triggers' conditions, with no I/O.
// benchRules is the benchmark programme and an engine with no store around it, enough to run
// the rules on a profile directly.
func benchRules(t testing.TB) (*program, *Engine) {
	p, err := rules.Compile(benchBundle())
	if err != nil {
		t.Fatal(err)
	}
	prog := &program{Program: p, codes: map[string][]string{}}
	e := &Engine{metrics: newMetrics()}
	e.graph, _ = identity.New(identityRules(prog))
	return prog, e
}

func BenchmarkRulesPerEvent(b *testing.B) {
	prog, e := benchRules(b)
	now := time.Now()
	evs, _ := DecodeEvents([]byte(`{"id": "x", "type": "purchase", "identifiers": {"phone": "+819000000001"}, "channel": "pos", "store_id": "store-3", "data": {"total": 4200}}`))
	if err := evs[0].validate(prog, now); err != nil {
		b.Fatal(err)
	}
	prof := newProfile("c_bench", now)
	b.ResetTimer()
	for range b.N {
		changed := e.updateTraits(prog, prof, evs[0], now)
		c := e.customerValue(prog, prof, now)
		e.updateSegments(prog, prof, c, changed, false, now)
		vars := newCELVars(c, evs[0].fields, now)
		vars.code = noCode
		for _, t := range prog.TriggersByEvent["purchase"] {
			if _, err := t.Condition.EvalBool(vars); err != nil {
				b.Fatal(err)
			}
		}
	}
}

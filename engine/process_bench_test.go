package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

// BenchmarkProcess is the processor's own cost per event: e.process on the benchmark
// programme (10 traits, 50 segments, 100 triggers) for a few thousand customers with
// profiles, half purchases, a third cart updates, the rest store visits. No store write: the
// group's transaction is only recorded, as the processor does before the committer runs it.
// The clock moves 40 s per event, so a customer's next event is often, not always, inside the
// triggers' 24-hour cooldowns; a quarter of the customers can be reached on LINE.
func BenchmarkProcess(b *testing.B) {
	benchProcess(b, benchBundle(), func(rng *rand.Rand, id, phone string) map[string]any { return benchEvent(rng, id, phone) })
}

// BenchmarkProcessPurchase is BenchmarkProcess with purchases only, none of them carrying a
// coupon code: the path every sale takes, whether or not the engine looks for redemptions.
// With codes, each purchase carries one of a campaign's 5,000 codes, which the engine finds
// in its code index and raises as a coupon.redeemed.
func BenchmarkProcessPurchase(b *testing.B) {
	purchase := func(rng *rand.Rand, id, phone string) map[string]any {
		return map[string]any{"id": id, "type": "purchase", "source": "pos", "channel": "pos",
			"record": map[string]any{"phone_number": phone}, "store_id": "store-" + strconv.Itoa(rng.IntN(7)),
			"data": map[string]any{"order_id": id, "total": 500 + rng.IntN(9000), "currency": "JPY"}}
	}
	b.Run("no_codes", func(b *testing.B) { benchProcess(b, benchBundle(), purchase) })
	b.Run("codes", func(b *testing.B) {
		bundle := benchBundle()
		pool := &rules.CodePool{Pattern: "SPR-####-####", Charset: lang.DefaultCodeCharset, Count: 5000, Seed: "bench"}
		bundle.Campaigns = append(bundle.Campaigns, rules.Campaign{Name: "spring", Codes: pool, Currency: "JPY", Percent: 10})
		codes := providers.GenerateCodes(pool.Pattern, pool.Charset, pool.Seed, pool.Count)
		benchProcess(b, bundle, func(rng *rand.Rand, id, phone string) map[string]any {
			ev := purchase(rng, id, phone)
			ev["data"].(map[string]any)["coupon_codes"] = []string{codes[rng.IntN(len(codes))]}
			return ev
		})
	})
}

// BenchmarkProcessAudiences is BenchmarkProcess with every one of the 50 segments held as an
// audience on the LINE sandbox: what keeping audiences in step costs ingest. tracked only
// notes the moves; synced also syncs them beside the processor every second, as serve does,
// after a backfill that is not timed (run it for a few seconds: -benchtime 100000x). The sync's own work, on another
// goroutine, counts in the allocations.
func BenchmarkProcessAudiences(b *testing.B) {
	bundle := benchBundle()
	for _, s := range bundle.Segments {
		bundle.Audiences = append(bundle.Audiences, rules.Audience{Segment: s.Name, Provider: "sandbox.line"})
	}
	gen := func(rng *rand.Rand, id, phone string) map[string]any { return benchEvent(rng, id, phone) }
	// tracked: the processor notes the moves, nothing syncs them.
	b.Run("tracked", func(b *testing.B) { benchProcessWith(b, bundle, gen, nil) })
	b.Run("synced", func(b *testing.B) { benchProcessWith(b, bundle, gen, benchAudiences{}) })
}

// benchSyncInterval is how often BenchmarkProcessAudiences/synced syncs: as serve does.
var benchSyncInterval = syncInterval

// benchAudiences is a system that takes every batch, 10,000 members a call, as an ad
// platform does.
type benchAudiences struct{}

func (benchAudiences) MemberRules() providers.MemberRules {
	return providers.MemberRules{Fields: []string{"userId"}, Batch: 10_000}
}

func (benchAudiences) SyncMembers(context.Context, providers.SyncMembersRequest) providers.SyncMembersResponse {
	return providers.SyncMembersResponse{}
}

// benchProcess runs e.process on the events gen makes, after every customer has a profile.
func benchProcess(b *testing.B, bundle *rules.Bundle, gen func(rng *rand.Rand, id, phone string) map[string]any) {
	benchProcessWith(b, bundle, gen, nil)
}

// benchProcessWith is benchProcess, with audiences synced to syncer every second if not nil.
func benchProcessWith(b *testing.B, bundle *rules.Bundle, gen func(rng *rand.Rand, id, phone string) map[string]any, syncer providers.MemberSyncer) {
	const customers, pool = 4096, 8192
	dir := b.TempDir()
	line := &sandbox.Provider{}
	line.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.line",
		Config: map[string]any{"system": "messaging", "path": filepath.Join(dir, "sandbox.db")}})
	defer line.Close()
	st, err := OpenSQLite(filepath.Join(dir, "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: noon}
	var syncers map[string]providers.MemberSyncer
	if syncer != nil {
		syncers = map[string]providers.MemberSyncer{"sandbox.line": syncer}
	}
	e, err := Open(context.Background(), Options{Store: st, Now: clk.Now, BundlePoll: -1, DisableDelivery: true, Logger: slog.New(slog.DiscardHandler),
		Senders: map[string]providers.Sender{"sandbox.line": line}, Syncers: syncers})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if _, err := e.PushBundle(context.Background(), bundle.Encode(), "bench"); err != nil {
		b.Fatal(err)
	}
	records := make([][]identity.ID, customers)
	for i := range customers {
		records[i] = benchRecord(i)
		if i%4 == 0 {
			records[i] = append(records[i], identity.ID{Type: "line_user", Value: fmt.Sprintf("U%08d", i)})
		}
	}
	if _, err := e.Graph().ResolveBatch(records, clk.Now()); err != nil {
		b.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(7, 8))
	raw := make([]map[string]any, pool)
	for i := range raw {
		c := rng.IntN(customers)
		if i < customers {
			c = i // every customer has a profile before the timer starts
		}
		ev := gen(rng, "p"+strconv.Itoa(i), phone(c))
		if c%4 == 0 {
			ev["consent"] = map[string]bool{"line": true}
		}
		raw[i] = ev
	}
	body, _ := json.Marshal(raw)
	evs, err := DecodeEvents(body)
	if err != nil {
		b.Fatal(err)
	}
	prog := e.prog.Load()
	for _, ev := range evs {
		if err := ev.validate(prog, clk.Now()); err != nil {
			b.Fatal(err)
		}
		if ev.body, err = json.Marshal(ev); err != nil { // as Ingest encodes it ahead
			b.Fatal(err)
		}
		e.early(prog, ev) // as Ingest does, in the request's goroutine
	}

	g := e.newGroup()
	run := func(i int) {
		if i%1000 == 0 {
			g = e.newGroup() // a group commits at most MaxBatch events
		}
		clk.Add(40 * time.Second)
		ev := evs[i%len(evs)]
		ev.Time = clk.Now()
		ev.fields.Set("time", ev.Time)
		if _, err := e.process(g.st, ev, false); err != nil { // as POST /v1/events without ?answer=true
			b.Fatal(err)
		}
	}
	for i := range customers {
		run(i)
	}
	if syncer != nil { // as the engine's sync loop does, beside the processor
		// The backfill of the profiles made so far, as at serve's start, is not timed.
		if err := e.SyncAudiences(context.Background()); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			t := time.NewTicker(benchSyncInterval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				e.SyncAudiences(ctx)
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := range b.N {
		run(customers + i)
	}
	// The process's CPU time moves less than the wall time with what else the machine runs.
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

package engine

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

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLeaderMemory is what one leader holds in memory per customer: the real engine with
// the embedded store and the benchmark programme (benchBundle), MUSUBI_BENCH_CUSTOMERS customers (100,000
// by default; run it with 1,000,000) imported with three identifiers each, then
// MUSUBI_BENCH_EVENTS_PER_CUSTOMER events for every one of them (1 by default: a purchase; 3
// adds a cart update and a store visit, so every trait has state), so each has a profile.
// It reports the live heap per million customers: the identity graph alone, and everything
// once every customer has a profile.
func BenchmarkLeaderMemory(b *testing.B) {
	n := 100_000
	if os.Getenv("MUSUBI_BENCH_CUSTOMERS") != "" {
		n = benchCustomers()
	}
	rounds := 1
	if r, err := strconv.Atoi(os.Getenv("MUSUBI_BENCH_EVENTS_PER_CUSTOMER")); err == nil && r > 0 {
		rounds = r
	}
	for b.Loop() {
		dir := b.TempDir()
		line := &sandbox.Provider{}
		line.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.line",
			Config: map[string]any{"system": "messaging", "path": filepath.Join(dir, "sandbox.db")}})
		st, err := OpenSQLite(filepath.Join(dir, "engine.db"))
		if err != nil {
			b.Fatal(err)
		}
		e, err := Open(context.Background(), Options{Store: st, BundlePoll: -1, DisableDelivery: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Senders: map[string]providers.Sender{"sandbox.line": line}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.PushBundle(context.Background(), benchBundle().Encode(), "bench"); err != nil {
			b.Fatal(err)
		}
		ServeGC(0)
		heap0 := liveHeap()
		records := make([][]identity.ID, n)
		for i := range n {
			records[i] = benchRecord(i)
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
						decoded, err := DecodeEvents(body)
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
		"identifiers": map[string]string{"phone": phone(i)}, "store_id": "store-" + strconv.Itoa(i%7)}
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

package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

// benchSteps is how many pending steps BenchmarkDueSteps keeps (MUSUBI_BENCH_STEPS).
func benchSteps() int {
	if n, err := strconv.Atoi(os.Getenv("MUSUBI_BENCH_STEPS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// addSteps writes n pending steps, due at due, for the customers given, straight to the store
// in large transactions: what a day of delayed triggers leaves behind.
func addSteps(tb testing.TB, st Store, n int, customers []string, due time.Time) {
	tb.Helper()
	body := []byte(`{"id":"ping","type":"custom.ping","time":"2027-02-16T03:00:00Z","data":{"page":"/coats/a"}}`)
	const tx = 20_000
	for done := 0; done < n; done += tx {
		err := st.Update(context.Background(), func(t Tx) error {
			for i := done; i < min(done+tx, n); i++ {
				s := &Step{Key: idempotencyKey("bench-step", strconv.Itoa(i)), Customer: customers[i%len(customers)], Trigger: "later",
					Type: "send", Due: due, CreatedAt: due, EventKey: "api:ping-" + strconv.Itoa(i), EventType: "custom.ping", Event: body}
				if err := t.ScheduleStep(s); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkDueSteps keeps a million pending steps (a delayed LINE message each, for 10,000
// customers), then moves the clock past them and runs them all: it reports the engine's heap
// before and after they were written (steps live in the store, not in memory), the store's
// size, and how many due steps a second the engine runs, each one a send through the
// delivery rules into the outbox, and the step's deletion, group-committed.
func BenchmarkDueSteps(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		line := &sandbox.Provider{}
		line.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.line",
			Config: map[string]any{"system": "messaging", "path": filepath.Join(dir, "sandbox.db")}})
		st, err := OpenSQLite(filepath.Join(dir, "engine.db"))
		if err != nil {
			b.Fatal(err)
		}
		clk := &clock{t: noon}
		e, err := Open(context.Background(), Options{Store: st, Now: clk.Now, BundlePoll: -1, DisableDelivery: true,
			Senders: map[string]providers.Sender{"sandbox.line": line}})
		if err != nil {
			b.Fatal(err)
		}
		bundle, err := rules.Decode(quickstartWith(b, `
trigger "later" {
  on    = "custom.ping"
  delay = "1h"
  action "send" {
    via      = provider.sandbox.line
    template = "{{ event.data.page }} をもう一度"
  }
}
`))
		if err != nil {
			b.Fatal(err)
		}
		bundle.Delivery = rules.Delivery{} // no caps: every step is a message
		if _, err := e.PushBundle(context.Background(), bundle.Encode(), "bench"); err != nil {
			b.Fatal(err)
		}
		const customers = 10_000
		ids := make([]string, 0, customers)
		for i := 0; i < customers; i += 500 {
			evs := make([]*Event, 0, 500)
			for j := i; j < i+500; j++ {
				evs = append(evs, &Event{ID: "f" + strconv.Itoa(j), Type: "follow", Channel: "line",
					Identifiers: map[string]string{"line_user": fmt.Sprintf("U%032x", j)}})
			}
			res, err := e.Ingest(context.Background(), evs)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				ids = append(ids, r.Customer)
			}
		}
		n := benchSteps()
		heap0 := heapMiB()
		start := time.Now()
		addSteps(b, st, n, ids, noon.Add(time.Hour))
		written := time.Since(start)
		heap1 := heapMiB()
		info, _ := os.Stat(filepath.Join(dir, "engine.db"))
		wal, _ := os.Stat(filepath.Join(dir, "engine.db-wal"))
		size := info.Size()
		if wal != nil {
			size += wal.Size()
		}
		clk.Add(2 * time.Hour)
		b.ResetTimer()
		start = time.Now()
		ran := 0
		for {
			k, err := e.RunDueSteps(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				break
			}
			ran += k
		}
		took := time.Since(start)
		b.StopTimer()
		if ran != n {
			b.Fatalf("ran %d of %d steps", ran, n)
		}
		if left, _ := st.CountSteps(context.Background()); left != 0 {
			b.Fatalf("%d steps left", left)
		}
		b.ReportMetric(float64(n)/took.Seconds(), "steps/s")
		b.ReportMetric(float64(n)/written.Seconds(), "written/s")
		b.ReportMetric(heap1-heap0, "heap-MiB-for-steps")
		b.ReportMetric(float64(size)/(1<<20), "store-MiB")
		e.Close()
		st.Close()
	}
}

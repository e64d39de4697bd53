package partition

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
)

// reference runs a workload through one identity graph, one event after another, and returns
// the graph with the events and spend of each final customer.
func reference(t testing.TB, w *Workload) (*identity.Graph, map[string][2]int64) {
	g, err := identity.New(Rules)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.ResolveBatch(w.Base, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, ev := range w.Events {
		if _, err := g.Resolve(ev.IDs, ev.At); err != nil {
			t.Fatal(err)
		}
	}
	totals := map[string][2]int64{}
	for _, ev := range w.Events {
		c, _ := g.Lookup(ev.IDs[0])
		v := totals[c]
		v[0]++
		v[1] += ev.Total
		totals[c] = v
	}
	return g, totals
}

// check compares a partitioned run with the single graph: every identifier in exactly one
// partition, the same people (groups of identifiers), each with the events and spend the
// single run gives them, and no profile left behind by a customer that moved or merged.
func check(t *testing.T, c *Cluster, w *Workload, ref *identity.Graph, totals map[string][2]int64) {
	t.Helper()
	seen := map[identity.ID]bool{}
	var all []identity.ID
	for _, r := range w.Base {
		for _, id := range r {
			if !seen[id] {
				seen[id] = true
				all = append(all, id)
			}
		}
	}
	for _, ev := range w.Events {
		for _, id := range ev.IDs {
			if !seen[id] {
				seen[id] = true
				all = append(all, id)
			}
		}
	}
	toRef := map[Place]string{}
	toPlace := map[string]Place{}
	for _, id := range all {
		pls := c.Locate(id)
		if len(pls) != 1 {
			t.Fatalf("%v is held by %d partitions (%v), want 1", id, len(pls), pls)
		}
		r, ok := ref.Lookup(id)
		if !ok {
			t.Fatalf("%v is unknown to the single graph", id)
		}
		pl := pls[0]
		if prev, ok := toRef[pl]; ok && prev != r {
			t.Fatalf("%v: customer %v holds identifiers of two people of the single run (%s, %s): a merge that should not be", id, pl, prev, r)
		}
		if prev, ok := toPlace[r]; ok && prev != pl {
			t.Fatalf("%v: person %s of the single run is split between %v and %v: a merge lost", id, r, prev, pl)
		}
		toRef[pl], toPlace[r] = r, pl
	}
	if got, want := c.Customers(), ref.Len(); got != want {
		t.Errorf("%d customers across the partitions, %d in the single graph", got, want)
	}
	var events int64
	c.Profiles(func(pl Place, ids []identity.ID) {
		if len(ids) == 0 {
			t.Errorf("profile %v belongs to no live customer", pl)
		}
		n, spend, steps, _ := c.Profile(pl)
		events += n
		want := totals[toRef[pl]]
		if n != want[0] || spend != want[1] {
			t.Errorf("customer %v: %d events, spend %d; the single run gives %d, %d", pl, n, spend, want[0], want[1])
		}
		if steps > int(n) {
			t.Errorf("customer %v: %d steps for %d events", pl, steps, n)
		}
	})
	if events != int64(len(w.Events)) {
		t.Errorf("the profiles hold %d events of %d", events, len(w.Events))
	}
}

func TestPartitionedMatchesSingle(t *testing.T) {
	for _, merge := range []float64{0.02, 0.2} {
		w := Generate(WorkloadConfig{Customers: 20_000, Events: 40_000, Merge: merge, New: 0.05, Seed: 7})
		ref, totals := reference(t, w)
		for _, n := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("merge=%g/n=%d", merge, n), func(t *testing.T) {
				// A small batch and queue interleave partitions more, and so races between
				// handoffs.
				c, err := New(Config{Partitions: n, Batch: 8, Queue: 4}, w.Base)
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan Stats)
				go func() { done <- c.Run(w.Events) }()
				var s Stats
				select {
				case s = <-done:
				case <-time.After(20 * time.Second):
					t.Fatalf("the run did not finish: partitions wait on each other\n%s", c.dump())
				}
				check(t, c, w, ref, totals)
				if n == 1 && s.Cross+s.Moved != 0 {
					t.Errorf("one partition moved customers: %+v", s)
				}
				if s.Unknown != 0 {
					t.Errorf("%d identifiers were not where the router sent their release", s.Unknown)
				}
				if s.Handoffs != s.Cross {
					t.Errorf("%d handoffs completed of %d", s.Handoffs, s.Cross)
				}
				if n > 1 && s.Handoffs == 0 {
					t.Errorf("no handoffs with %d partitions", n)
				}
				t.Logf("%d partitions: %.1f%% of events cross partitions, %d customers moved, %d held back, handoff %.1f µs of CPU",
					n, 100*s.CrossFraction(), s.Moved, s.Held, s.HandoffMicros())
			})
		}
	}
}

// BenchmarkPartitions runs a workload through 1, 2, 4 and 8 partitions. One operation is the
// whole workload: MUSUBI_PARTITION_CUSTOMERS imported customers (200,000 by default),
// MUSUBI_PARTITION_EVENTS events after them (200,000), of which MUSUBI_PARTITION_MERGE (0.01)
// carry the email of one customer and the phone of another, and 5% come from new people.
// work=0 is identity and profile alone; work=40µs burns, per event, about what the engine
// spends on one on this machine (BenchmarkIngest: 36–53 µs of CPU an event, HTTP, rules and
// store together). It reports events/s; the CPU per event of the partitions together, of the
// busiest partition (times N: 1 when the load is even) and of the router, each measured on
// its own thread, so that they do not depend on how many cores the machine has or what else
// runs on it; the fraction of events that crossed partitions; a handoff's CPU (release and
// adoption) and the time from the router's decision to the merging event running.
func BenchmarkPartitions(b *testing.B) {
	customers := envInt("MUSUBI_PARTITION_CUSTOMERS", 200_000)
	events := envInt("MUSUBI_PARTITION_EVENTS", 200_000)
	merge := 0.01
	if v, err := strconv.ParseFloat(os.Getenv("MUSUBI_PARTITION_MERGE"), 64); err == nil {
		merge = v
	}
	w := Generate(WorkloadConfig{Customers: customers, Events: events, Merge: merge, New: 0.05, Seed: 11})
	for _, work := range []time.Duration{0, 40 * time.Microsecond} {
		for _, n := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("work=%s/n=%d", work, n), func(b *testing.B) {
				var total Stats
				var partCPU, maxCPU time.Duration
				for b.Loop() {
					b.StopTimer()
					c, err := New(Config{Partitions: n, Work: work}, w.Base)
					if err != nil {
						b.Fatal(err)
					}
					runtime.GC()
					b.StartTimer()
					s := c.Run(w.Events)
					total.Events += s.Events
					total.Elapsed += s.Elapsed
					total.Cross += s.Cross
					total.Handoffs += s.Handoffs
					total.HandoffCPU += s.HandoffCPU
					total.HandoffWait += s.HandoffWait
					total.RouterCPU += s.RouterCPU
					for _, d := range s.PartitionCPU {
						partCPU += d
						maxCPU = max(maxCPU, d)
					}
				}
				perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(total.Events) }
				b.ReportMetric(total.EventsPerSecond(), "events/s")
				b.ReportMetric(perEvent(partCPU), "part-cpu-µs/event")
				b.ReportMetric(perEvent(maxCPU)*float64(n)*float64(b.N), "max-part-cpu-µs/event×N")
				b.ReportMetric(perEvent(total.RouterCPU), "router-cpu-µs/event")
				b.ReportMetric(100*total.CrossFraction(), "%cross")
				b.ReportMetric(total.HandoffMicros(), "handoff-cpu-µs")
				if total.Handoffs > 0 {
					b.ReportMetric(float64(total.HandoffWait.Microseconds())/1000/float64(total.Handoffs), "handoff-wait-ms")
				}
			})
		}
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

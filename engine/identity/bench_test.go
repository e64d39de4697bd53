package identity

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

var benchRules = Rules{Priority: []string{"member", "email", "phone"}, DefaultCountry: "JP"}

// customerBase returns n import records of three identifiers each, overlapping as a real
// customer base does: 70% are people seen for the first time (member, email, phone), 20% are
// returning people, their member number with a new email and LINE user (attach), and 10%
// carry the email of one earlier person and the phone of another (two profiles of one person
// meet: merge). 30% of records thus share an identifier with an earlier one. Earlier people
// are picked among the last 50,000, so no early customer gathers everyone.
func customerBase(n int) [][]ID {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([][]ID, n)
	ids := make([]ID, 3*n) // one backing array: the records are input, not what is measured
	base := make([]int, 0, n)
	earlier := func() []ID { return recs[base[len(base)-1-rng.IntN(min(len(base), 50_000))]] }
	for i := range n {
		r := ids[3*i : 3*i+3 : 3*i+3]
		suffix := strconv.Itoa(10_000_000 + i)
		switch p := rng.IntN(10); {
		case len(base) > 0 && p < 1:
			r[0] = earlier()[1]
			r[1] = earlier()[2]
			r[2] = ID{"line_user", "U" + suffix}
		case len(base) > 0 && p < 3:
			r[0] = earlier()[0]
			r[1] = ID{"email", "returning" + suffix + "@example.jp"}
			r[2] = ID{"line_user", "U" + suffix}
		default:
			r[0] = ID{"member", "M" + suffix}
			r[1] = ID{"email", "customer" + suffix + "@example.jp"}
			r[2] = ID{"phone", "+8190" + suffix[:8]}
			base = append(base, i)
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkResolveBatch imports a million customers. It reports the time of one import and
// the memory the graph holds per customer.
func BenchmarkResolveBatch(b *testing.B) {
	for _, limited := range []bool{false, true} {
		name := "plain"
		r := benchRules
		if limited {
			name = "member_limit_1"
			r.Limits = map[string]Limit{"member": {Max: 1}}
		}
		b.Run(name, func(b *testing.B) {
			recs := customerBase(1_000_000)
			b.ReportAllocs()
			b.ResetTimer()
			var g *Graph
			for b.Loop() {
				b.StopTimer()
				g, _ = New(r)
				runtime.GC()
				b.StartTimer()
				if _, err := g.ResolveBatch(recs, time.Unix(1_800_000_000, 0)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(g.Len()), "customers")
			b.ReportMetric(float64(len(g.merges)), "merges")
			b.ReportMetric(float64(g.memory())/float64(g.Len()), "bytes/customer")
		})
	}
}

// memory is the heap the graph's own structures hold (arena chunks, slices, tables).
func (g *Graph) memory() int {
	return g.arena.size() + cap(g.idents)*int(unsafe.Sizeof(ident{})) + cap(g.customers)*int(unsafe.Sizeof(customer{})) +
		cap(g.merges)*int(unsafe.Sizeof(mergeRec{})) + cap(g.pool)*4 + 8*(len(g.idx.s)+len(g.uids.s)+len(g.mergeIdx.s))
}

// BenchmarkHeapPerCustomer measures what a graph of a million customers with three
// identifiers each (member, email, phone; nothing shared) adds to the live heap, as the runtime
// sees it.
func BenchmarkHeapPerCustomer(b *testing.B) {
	recs := make([][]ID, 1_000_000)
	for i := range recs {
		s := strconv.Itoa(10_000_000 + i)
		recs[i] = []ID{{"member", "M" + s}, {"email", "customer" + s + "@example.jp"}, {"phone", "+8190" + s}}
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g, _ := New(benchRules)
		if _, err := g.ResolveBatch(recs, time.Unix(1_800_000_000, 0)); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(g.Len()), "heap-bytes/customer")
		b.ReportMetric(float64(g.memory())/float64(g.Len()), "graph-bytes/customer")
		runtime.KeepAlive(g)
	}
}

// BenchmarkResolveKnown is the hot path of ingest: an event of a known customer.
func BenchmarkResolveKnown(b *testing.B) {
	g, _ := New(Rules{Priority: []string{"member", "email", "phone", "device"},
		BlockedValues: map[string][]string{"device": {"ipad-store-1"}}, Limits: map[string]Limit{"member": {Max: 1}}})
	recs := customerBase(1_000_000)
	if _, err := g.ResolveBatch(recs, time.Unix(1_800_000_000, 0)); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	events := make([][]ID, 4096)
	for i := range events {
		r := recs[rng.IntN(len(recs))]
		events[i] = []ID{r[2], r[1]}
	}
	at := time.Unix(1_800_000_100, 0)
	b.Run("two_ids", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := g.Resolve(events[i&4095], at); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("with_blocked_device", func(b *testing.B) {
		withDevice := make([][]ID, len(events))
		for i, e := range events {
			withDevice[i] = append([]ID{{"device", "ipad-store-1"}}, e...)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := g.Resolve(withDevice[i&4095], at); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(4096)
			for pb.Next() {
				if _, err := g.Resolve(events[i&4095], at); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkResolveNew resolves events that create customers and attach identifiers, with
// the Resolution the engine persists.
func BenchmarkResolveNew(b *testing.B) {
	g, _ := New(benchRules)
	at := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ids := []ID{{"email", fmt.Sprintf("n%d@example.jp", i)}, {"phone", fmt.Sprintf("+8180%08d", i)}}
		if _, err := g.Resolve(ids, at); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkNormalize(b *testing.B) {
	r := &Rules{DefaultCountry: "JP"}
	for _, c := range []struct{ typ, raw string }{
		{"email", "hanako@example.jp"},
		{"email", " Hanako.Yamada@Example.JP "},
		{"phone", "+819012345678"},
		{"phone", "090-1234-5678"},
		{"member", "M0001"},
	} {
		b.Run(c.typ+"/"+c.raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Normalize(c.typ, c.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSnapshotLoad(b *testing.B) {
	g, _ := New(benchRules)
	if _, err := g.ResolveBatch(customerBase(1_000_000), time.Unix(1_800_000_000, 0)); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := g.Snapshot(&buf); err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := g.Snapshot(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len())/float64(g.Len()), "bytes/customer")
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := Load(benchRules, bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package identity

import (
	"bytes"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// mixedBase returns n records like customerBase's, and besides: shared and blocked devices,
// identifiers named twice, empty values and types, types the graph meets only in the batch,
// records without identifiers and records naming an identifier a forgotten customer held.
func mixedBase(n int, seed uint64) [][]ID {
	rng := rand.New(rand.NewPCG(seed, 7))
	recs := customerBase(n)
	for i, r := range recs {
		r = append([]ID(nil), r...)
		switch p := rng.IntN(100); {
		case p < 5:
			r = append(r, ID{"device", "device-" + strconv.Itoa(rng.IntN(300))})
		case p < 7:
			r = append(r, r[rng.IntN(len(r))])
		case p < 8:
			r[rng.IntN(len(r))].Value = ""
		case p < 9:
			r = append(r, ID{"", "x"})
		case p < 10:
			r = append(r, ID{"ec_" + strconv.Itoa(rng.IntN(5)), "E" + strconv.Itoa(rng.IntN(n))})
		case p < 11:
			r = nil
		case p < 12:
			r = []ID{{"email", "forgotten" + strconv.Itoa(rng.IntN(20)) + "@example.jp"}}
		case p < 13:
			r = append(r, ID{"member", "TEST-" + strconv.Itoa(rng.IntN(5))})
		}
		rng.Shuffle(len(r), func(a, b int) { r[a], r[b] = r[b], r[a] })
		recs[i] = r
	}
	return recs
}

// TestResolveBatchMatchesResolve imports a few hundred thousand records with ResolveBatch and
// one by one with Resolve, with limits and without, into empty graphs and graphs holding
// customers already, and checks that both give the same customers, graphs and snapshots.
func TestResolveBatchMatchesResolve(t *testing.T) {
	n := 300_000
	if testing.Short() {
		n = 40_000
	}
	limited := benchRules
	limited.Limits = map[string]Limit{"member": {Max: 1}}
	patterns := scriptRules
	patterns.BlockedPatterns = map[string][]*regexp.Regexp{"member": {regexp.MustCompile(`^TEST-`)}}
	patterns.Limits = map[string]Limit{"member": {Max: 1}, "device": {Max: 2, Window: 72 * time.Hour}, "email": {Max: 3}}
	for _, c := range []struct {
		name    string
		rules   Rules
		recs    [][]ID
		history bool
	}{
		{"plain", benchRules, customerBase(n), false},
		{"member_limit_1", limited, customerBase(n), false},
		{"mixed", scriptRules, mixedBase(n/4, 1), true},
		{"mixed_patterns", patterns, mixedBase(n/4, 2), true},
		{"mixed_plain", benchRules, mixedBase(n/4, 3), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			batch, one := newGraph(t, c.rules), newGraph(t, c.rules)
			if c.history {
				for _, g := range []*Graph{batch, one} {
					history(t, g, c.recs[:n/40])
				}
			}
			at := t0.Add(time.Hour)
			got, err := batch.ResolveBatch(c.recs, at)
			if err != nil {
				t.Fatal(err)
			}
			for i, rec := range c.recs {
				res := resolve(t, one, at, rec...)
				if got[i] != res.Customer {
					t.Fatalf("record %d %v: batch %s, one by one %s", i, rec, got[i], res.Customer)
				}
			}
			if dump(batch) != dump(one) {
				t.Fatal("the graphs differ")
			}
			var sb, so bytes.Buffer
			if err := batch.Snapshot(&sb); err != nil {
				t.Fatal(err)
			}
			if err := one.Snapshot(&so); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sb.Bytes(), so.Bytes()) {
				t.Fatal("the snapshots differ")
			}
			for _, rec := range c.recs[:1000] {
				for _, id := range rec {
					a, aok := batch.Lookup(id)
					b, bok := one.Lookup(id)
					if a != b || aok != bok || batch.Canonical(a) != one.Canonical(b) {
						t.Fatalf("%v: batch %s %v, one by one %s %v", id, a, aok, b, bok)
					}
				}
			}
			checkInvariants(t, batch, at)
		})
	}
}

// history gives a graph customers before the batch, days earlier: some merged, some unmerged
// since, some forgotten (whose identifiers the batch names again, making the same Uni-IDs).
func history(t *testing.T, g *Graph, recs [][]ID) {
	t.Helper()
	past := t0.Add(-100 * time.Hour)
	for i := range 20 {
		resolve(t, g, past, ID{"email", "forgotten" + strconv.Itoa(i) + "@example.jp"}, ID{"device", "device-" + strconv.Itoa(i+1)})
	}
	var merges []string
	for _, r := range recs {
		res := resolve(t, g, past, r...)
		for _, m := range res.Merges {
			merges = append(merges, m.ID)
		}
	}
	for i, m := range merges {
		if i%3 == 0 {
			if _, err := g.Unmerge(m, past); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 20 {
		if i%2 == 0 {
			c, _ := g.Lookup(ID{"email", "forgotten" + strconv.Itoa(i) + "@example.jp"})
			if _, _, err := g.Forget(c); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestResolveBatchCollidingHashes imports records whose identifiers share hashes (a test mask
// keeps 12 bits of them): telling them apart is up to comparing values.
func TestResolveBatchCollidingHashes(t *testing.T) {
	for _, r := range []Rules{scriptRules, benchRules} {
		recs := mixedBase(8000, 4)
		batch, one := newGraph(t, r), newGraph(t, r)
		batch.collide, one.collide = 1<<12-1, 1<<12-1
		history(t, batch, recs[:200])
		history(t, one, recs[:200])
		got, err := batch.ResolveBatch(recs, t0)
		if err != nil {
			t.Fatal(err)
		}
		for i, rec := range recs {
			if res := resolve(t, one, t0, rec...); got[i] != res.Customer {
				t.Fatalf("record %d %v: batch %s, one by one %s", i, rec, got[i], res.Customer)
			}
		}
		if dump(batch) != dump(one) {
			t.Fatal("the graphs differ")
		}
		checkInvariants(t, batch, t0)
	}
}

// TestPutAll fills an index with removed slots in parallel and finds every entry after.
func TestPutAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	hs := make([]uint64, 100_000)
	for i := range hs {
		hs[i] = rng.Uint64()
		if i%10 == 0 {
			hs[i] = hs[i] &^ (1<<20 - 1) // crowd some home slots, so probes leave their range
		}
	}
	var s slots
	s.reserve(len(hs), nil)
	old := 20_000
	for i := range old {
		s.put(hs[i], uint32(i))
	}
	for i := 0; i < old; i += 2 {
		s.remove(hs[i], uint32(i))
	}
	bh, bv := make([]uint64, len(hs)), make([]uint32, len(hs))
	left := s.putAll(2, hs[old:], uint32(old), nil, bh, bv)
	for _, v := range left {
		s.put(hs[v], v)
	}
	if s.live != len(hs)-old/2 {
		t.Fatalf("%d live, want %d", s.live, len(hs)-old/2)
	}
	for i, h := range hs {
		want := i >= old || i%2 == 1
		if got := s.find(h, func(v uint32) bool { return v == uint32(i) }) != none; got != want {
			t.Fatalf("entry %d found %v", i, got)
		}
	}
	// Entries equal to one present are left, in order.
	dup := []uint64{hs[1], hs[3], hs[old+5]}
	dup = append(dup, hs[50_000:70_000]...)
	left = s.putAll(2, dup, 0, func(have, want uint32) bool { return want < 3 && have == []uint32{1, 3, uint32(old + 5)}[want] }, bh, bv)
	if len(left) < 3 || left[0] != 0 || left[1] != 1 || left[2] != 2 || !slices.IsSorted(left) {
		t.Fatalf("left %v", left[:min(len(left), 5)])
	}
}

package identity

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// dump renders everything the graph knows, in creation order, so two graphs can be compared.
func dump(g *Graph) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var b strings.Builder
	fmt.Fprintf(&b, "live %d, merge seq %d\n", g.live, g.mergeSeq)
	states := []string{"live", "merged", "forgotten"}
	for c := range g.customers {
		cu := &g.customers[c]
		fmt.Fprintf(&b, "%s %s", g.uid(uint32(c)), states[cu.state])
		if cu.state == merged {
			fmt.Fprintf(&b, " into %s", g.uid(cu.into))
		}
		var ks []uint32
		for k := cu.head; k != none; k = g.idents[k].next {
			ks = append(ks, k)
		}
		slices.SortFunc(ks, func(a, b uint32) int {
			if g.identLess(a, b) {
				return -1
			}
			if g.identLess(b, a) {
				return 1
			}
			return 0
		})
		for _, k := range ks {
			fmt.Fprintf(&b, " %s=%s@%d", g.types[g.idents[k].typ], g.value(k), g.idents[k].at)
		}
		b.WriteByte('\n')
	}
	for m := range g.merges {
		r := &g.merges[m]
		if r.state == dropped {
			continue
		}
		out := g.mergeOut(uint32(m), time.Unix(0, r.at).UTC())
		fmt.Fprintf(&b, "merge %s %s<-%s state %d at %d moved %v cause %v\n", out.ID, out.Into, out.From, r.state, r.at, out.Moved, out.Cause)
	}
	return b.String()
}

// checkInvariants fails the test when the graph is inconsistent: every identifier belongs to
// one live customer, which lists it; the index finds it; counts add up; merged customers lead
// to live ones; no customer holds more values of a limited type, attached within the window
// before now, than the limit allows (unless now is zero).
func checkInvariants(t testing.TB, g *Graph, now time.Time) {
	t.Helper()
	g.mu.RLock()
	defer g.mu.RUnlock()
	seen := make([]bool, len(g.idents))
	nLive := 0
	for c := range g.customers {
		cu := &g.customers[c]
		n := uint32(0)
		perType := map[uint16]int{}
		for k := cu.head; k != none; k = g.idents[k].next {
			if seen[k] {
				t.Fatalf("identifier %d is listed twice", k)
			}
			seen[k] = true
			n++
			id := &g.idents[k]
			if id.owner != uint32(c) {
				t.Fatalf("%s lists %s=%s, owned by %s", g.uid(uint32(c)), g.types[id.typ], g.value(k), g.uid(id.owner))
			}
			if got := g.findIdent(id.typ, g.value(k), g.identHash(k)); got != k {
				t.Fatalf("the index finds %d for %s=%s, not %d", got, g.types[id.typ], g.value(k), k)
			}
			if l := g.trules[id.typ].limit; !now.IsZero() && l.Max > 0 && inWindow(id.at, nanos(now), l.Window) {
				perType[id.typ]++
			}
		}
		if n != cu.count {
			t.Fatalf("%s counts %d identifiers, holds %d", g.uid(uint32(c)), cu.count, n)
		}
		switch cu.state {
		case live:
			nLive++
			for typ, n := range perType {
				if max := g.trules[typ].limit.Max; n > max {
					t.Fatalf("%s holds %d %s values; the limit is %d", g.uid(uint32(c)), n, g.types[typ], max)
				}
			}
		case merged:
			if n != 0 || g.canonical(uint32(c)) == none {
				t.Fatalf("merged customer %s holds %d identifiers or leads nowhere", g.uid(uint32(c)), n)
			}
		case forgotten:
			if n != 0 {
				t.Fatalf("forgotten customer %s holds %d identifiers", g.uid(uint32(c)), n)
			}
		}
		if g.findUID(g.uid(uint32(c))) != uint32(c) {
			t.Fatalf("the index does not find customer %s", g.uid(uint32(c)))
		}
	}
	for k := range g.idents {
		if g.idents[k].owner != none && !seen[k] {
			t.Fatalf("identifier %d is owned by %s but not listed", k, g.uid(g.idents[k].owner))
		}
		if g.idents[k].owner != none && g.customers[g.idents[k].owner].state != live {
			t.Fatalf("identifier %d is owned by a customer not live", k)
		}
	}
	if nLive != g.live {
		t.Fatalf("%d live customers, counted %d", g.live, nLive)
	}
	if g.idx.live != func() int {
		n := 0
		for _, s := range seen {
			if s {
				n++
			}
		}
		return n
	}() {
		t.Fatalf("the index holds %d entries", g.idx.live)
	}
}

func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(ident{}); n != 24 {
		t.Errorf("an identifier takes %d bytes", n)
	}
	if n := unsafe.Sizeof(customer{}); n != 24 {
		t.Errorf("a customer takes %d bytes", n)
	}
}

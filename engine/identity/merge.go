package identity

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"
)

// Unmerge is what undoing a merge did.
type Unmerge struct {
	Merge    string    `json:"merge"`
	Into     string    `json:"into"` // the survivor of the merge
	From     string    `json:"from"` // the customer live again
	At       time.Time `json:"at"`
	Restored []ID      `json:"restored"` // identifiers given back to From
}

// ErrUnknown is wrapped by errors about customers and merges the graph does not know.
var ErrUnknown = errors.New("unknown")

// merge moves every identifier of from to into and records the merge, under id when given (a
// replayed merge) or a new deterministic ID.
func (g *Graph) merge(into, from uint32, at int64, cause []uint32, id string) (uint32, error) {
	var ref uint32
	var n uint8
	var err error
	if id == "" {
		var seq [20]byte
		s := strconv.AppendUint(seq[:0], g.mergeSeq, 10)
		ref, n, err = g.storeID("m_", 16, Digest(g.uid(into), g.uid(from), unsafe.String(&s[0], len(s))), true)
	} else {
		ref, err = g.arena.add(id)
		n = uint8(len(id))
	}
	if err != nil {
		return none, err
	}
	m := g.join(into, from, at, cause, ref, n)
	g.mergeIdx.reserve(1, g.mergeHash)
	g.mergeIdx.put(g.mergeHash(m), m)
	return m, nil
}

// join moves every identifier of from to into and records the merge with the ID at ref, not
// yet indexed.
func (g *Graph) join(into, from uint32, at int64, cause []uint32, ref uint32, n uint8) uint32 {
	g.mergeSeq++
	g.pool = reserve(g.pool, int(g.customers[from].count)+len(cause))
	moved := span{off: uint32(len(g.pool))}
	last := none
	fc := &g.customers[from]
	for k := fc.head; k != none; k = g.idents[k].next {
		g.idents[k].owner = into
		g.pool = append(g.pool, k)
		last = k
	}
	moved.n = uint32(len(g.pool)) - moved.off
	ic := &g.customers[into]
	if last != none {
		g.idents[last].next = ic.head
		ic.head = fc.head
	}
	ic.count += fc.count
	fc.head, fc.count, fc.state, fc.into = none, 0, merged, into
	c := span{off: uint32(len(g.pool)), n: uint32(len(cause))}
	g.pool = append(g.pool, cause...)
	m := uint32(len(g.merges))
	g.merges = append(reserve(g.merges, 1), mergeRec{at: at, id: ref, idLen: n, into: into, from: from, prev: ic.merges, moved: moved, cause: c})
	ic.merges = m
	g.live--
	return m
}

// Unmerge undoes a merge: From is a live customer again and gets back the identifiers the merge
// moved, except those forgotten since; identifiers attached to the survivor after the merge
// stay with it. The merges that had made From stay with it.
func (g *Graph) Unmerge(mergeID string, at time.Time) (Unmerge, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unmerge(mergeID, at)
}

func (g *Graph) unmerge(mergeID string, at time.Time) (Unmerge, error) {
	m := g.findMerge(mergeID)
	if m == none {
		return Unmerge{}, fmt.Errorf("merge %s: %w (or a party of it was forgotten)", mergeID, ErrUnknown)
	}
	r := &g.merges[m]
	if r.state == undone {
		return Unmerge{}, fmt.Errorf("merge %s was already undone", mergeID)
	}
	from := r.from
	if fc := &g.customers[from]; fc.state != merged || fc.into != r.into {
		return Unmerge{}, fmt.Errorf("merge %s: customer %s is not merged into %s", mergeID, g.uid(from), g.uid(r.into))
	}
	holder := g.canonical(r.into)
	if holder == none {
		return Unmerge{}, fmt.Errorf("merge %s: customer %s was forgotten", mergeID, g.uid(r.into))
	}
	var restored []uint32
	for _, k := range g.pool[r.moved.off : r.moved.off+r.moved.n] {
		if g.idents[k].owner == holder {
			g.idents[k].owner = from
			restored = append(restored, k)
		}
	}
	hc, fc := &g.customers[holder], &g.customers[from]
	k := hc.head
	hc.head, hc.count = none, 0
	for k != none {
		next := g.idents[k].next
		c := hc
		if g.idents[k].owner == from {
			c = fc
		}
		g.idents[k].next = c.head
		c.head = k
		c.count++
		k = next
	}
	fc.state, fc.into = live, none
	r.state = undone
	g.live++
	return Unmerge{Merge: mergeID, Into: g.uid(r.into), From: g.uid(from), At: at, Restored: g.ids(restored)}, nil
}

// Forget erases a person: the customer (or the live customer a merged-away ID stands for) and
// every customer merged into it lose all their identifiers, the merges involving them are
// dropped, and their Uni-IDs never resolve again (Canonical is ""). It returns the identifiers
// removed and the Record to persist.
func (g *Graph) Forget(customer string) ([]ID, Record, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids, c, err := g.forget(customer)
	if err != nil {
		return nil, Record{}, err
	}
	return ids, Record{Op: OpForget, Customer: c}, nil
}

func (g *Graph) forget(customer string) ([]ID, string, error) {
	c := g.findUID(customer)
	if c == none {
		return nil, "", fmt.Errorf("customer %s: %w", customer, ErrUnknown)
	}
	if g.customers[c].state == forgotten {
		return nil, "", fmt.Errorf("customer %s was already forgotten", customer)
	}
	c = g.canonical(c)
	person := []uint32{c}
	for i := 0; i < len(person); i++ {
		for m := g.customers[person[i]].merges; m != none; m = g.merges[m].prev {
			if g.merges[m].state == active {
				person = append(person, g.merges[m].from)
			}
		}
	}
	var ks []uint32
	for k := g.customers[c].head; k != none; k = g.idents[k].next {
		ks = append(ks, k)
	}
	ids := g.ids(ks)
	for _, k := range ks {
		g.idx.remove(g.identHash(k), k)
		g.idents[k].owner = none
	}
	for _, p := range person {
		pc := &g.customers[p]
		pc.head, pc.count, pc.into, pc.state = none, 0, none, forgotten
	}
	for m := range g.merges {
		r := &g.merges[m]
		if r.state != dropped && (g.customers[r.into].state == forgotten || g.customers[r.from].state == forgotten) {
			g.mergeIdx.remove(g.mergeHash(uint32(m)), uint32(m))
			r.state = dropped
		}
	}
	g.live--
	return ids, g.uid(c), nil
}

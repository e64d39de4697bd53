package identity

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// entry is one identifier of the event being resolved.
type entry struct {
	tname, val string
	h          uint64
	slot       uint64 // the content of the home slot of h, loaded early
	src        int32  // index in the event's identifiers
	rank       int32
	ident      uint32 // the identifier in the graph, none when new
	owner      uint32 // the customer holding it, none when new
	hitCount   int32  // limit drops: the count that broke the limit
	hitTyp     int32  // limit drops: the type whose limit broke, -1 the per-customer cap
	typ        uint16
	state      uint8
	why        uint16 // invalid: the reason; blocked by pattern: which one
	collided   bool   // in a batch: another identifier of the batch has the same hash
}

// Entry states.
const (
	stActive uint8 = iota
	stDup          // the event names the identifier twice
	stInvalid
	stBlocked
	stPattern
	stLimit
)

// Reasons an identifier is invalid.
const (
	invEmptyType uint16 = iota
	invLongType
	invTypes
	invEmptyValue
	invLongValue
)

var invalidReasons = [...]string{
	invEmptyType:  "invalid: empty identifier type",
	invLongType:   fmt.Sprintf("invalid: identifier type longer than %d bytes", maxTypeLen),
	invTypes:      fmt.Sprintf("invalid: more than %d identifier types", maxTypes),
	invEmptyValue: "invalid: empty value",
	invLongValue:  fmt.Sprintf("invalid: value longer than %d bytes", maxValueLen),
}

// ErrTooManyIdentifiers refuses an event or record carrying more than MaxPerEvent
// identifiers, before anything changes.
var ErrTooManyIdentifiers = errors.New("too many identifiers")

// Resolve ties the identifiers of one event to one customer. Values must be normalised (see
// Rules.Normalize). Blocked and invalid identifiers are dropped first. With none of the rest
// known, a new customer is created; with one customer known, the new identifiers are attached
// to it; with several, they are merged into the survivor: the customer matched by the
// highest-priority identifier (the older one on a tie). When that would give the customer more
// values of a type than its limit allows (counting values attached within the window), the
// lowest-priority identifier of the event is dropped, with the reason, and matching retried.
//
// The same events in the same order give the same customers, Uni-IDs and merge IDs. Resolving
// identifiers that all belong to one customer changes nothing and takes only a read lock.
func (g *Graph) Resolve(ids []ID, at time.Time) (Resolution, error) {
	if len(ids) > MaxPerEvent {
		return Resolution{}, fmt.Errorf("%w: an event carries %d; at most %d", ErrTooManyIdentifiers, len(ids), MaxPerEvent)
	}
	g.mu.RLock()
	res, ok := g.resolveKnown(ids, at)
	g.mu.RUnlock()
	if ok {
		return res, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	res = Resolution{At: at}
	_, err := g.resolve(ids, nanos(at), &res)
	return res, err
}

// reserve returns s with room for n more elements, at least doubling its capacity when it
// grows (append grows large slices by a quarter, copying them over and over). Unlike
// slices.Grow it does not clear the room: fresh memory from the system is zero already, and
// each page is first touched when used, if ever.
func reserve[E any](s []E, n int) []E {
	if cap(s)-len(s) >= n {
		return s
	}
	grown := make([]E, len(s), max(len(s)+n, 2*cap(s)))
	copy(grown, s)
	return grown
}

// resolveKnown answers, under the read lock, an event whose usable identifiers all belong to
// one customer (or that has none); ok is false when resolving it changes the graph.
func (g *Graph) resolveKnown(ids []ID, at time.Time) (res Resolution, ok bool) {
	var buf [8]entry
	es, ok := g.prepare(ids, buf[:0], false)
	if !ok {
		return res, false
	}
	owner := none
	for i := range es {
		e := &es[i]
		if e.state != stActive {
			continue
		}
		if e.owner == none || owner != none && e.owner != owner {
			return res, false
		}
		owner = e.owner
	}
	return Resolution{Customer: g.uid(owner), At: at, Dropped: g.dropped(ids, es)}, true
}

// prepare turns the event's identifiers into entries sorted by priority, marking invalid,
// blocked and repeated ones, and looks up their customers. Without intern, it gives up (false)
// on a type the graph has never seen.
func (g *Graph) prepare(ids []ID, es []entry, intern bool) ([]entry, bool) {
	for i, id := range ids {
		e := entry{tname: id.Type, val: id.Value, src: int32(i), rank: math.MaxInt32, ident: none, owner: none}
		t, known := g.typeOf(id.Type)
		switch {
		case known:
		case !intern:
			return es, false
		case id.Type == "":
			e.state, e.why = stInvalid, invEmptyType
		case len(id.Type) > maxTypeLen:
			e.state, e.why = stInvalid, invLongType
		default:
			if t, known = g.intern(id.Type); !known {
				e.state, e.why = stInvalid, invTypes
			}
		}
		if e.state == stActive {
			tr := g.trules[t]
			e.typ, e.rank = t, tr.rank
			switch {
			case id.Value == "":
				e.state, e.why = stInvalid, invEmptyValue
			case len(id.Value) > maxValueLen:
				e.state, e.why = stInvalid, invLongValue
			case tr.blocked != nil && blocked(tr.blocked, id.Value):
				e.state = stBlocked
			default:
				for p, re := range tr.patterns {
					if re.MatchString(id.Value) {
						e.state, e.why = stPattern, uint16(min(p, math.MaxUint16))
						break
					}
				}
			}
		}
		if e.state == stActive {
			e.h = g.hashID(t, id.Value)
		}
		es = append(es, e)
	}
	// Load the home slot of every identifier before probing any: the loads miss the cache
	// independently, so they overlap instead of queueing one after the other.
	if len(g.idx.s) > 0 {
		for i := range es {
			if e := &es[i]; e.state == stActive {
				e.slot = g.idx.s[e.h&g.idx.mask]
			}
		}
		for i := range es {
			if e := &es[i]; e.state == stActive {
				if e.ident = g.findIdentFrom(e.typ, e.val, e.h, e.slot); e.ident != none {
					e.owner = g.idents[e.ident].owner
				}
			}
		}
	}
	sortEntries(es)
	return es, true
}

// sortEntries sorts entries by priority and marks the identifiers an event names twice.
func sortEntries(es []entry) {
	for i := 1; i < len(es); i++ { // insertion sort: events carry a handful of identifiers
		for j := i; j > 0 && entryLess(&es[j], &es[j-1]); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	for i := 1; i < len(es); i++ {
		if p := &es[i-1]; es[i].state == stActive && (p.state == stActive || p.state == stDup) &&
			es[i].typ == p.typ && es[i].val == p.val {
			es[i].state = stDup
		}
	}
}

func blocked(set map[string]struct{}, v string) bool {
	_, ok := set[v]
	return ok
}

func entryLess(a, b *entry) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	if a.tname != b.tname {
		return a.tname < b.tname
	}
	return a.val < b.val
}

// dropped lists the entries not used: invalid and blocked ones in priority order, then those
// dropped for limits in the order they were dropped.
func (g *Graph) dropped(ids []ID, es []entry) []Dropped {
	var out []Dropped
	for i := range es {
		e := &es[i]
		var reason string
		switch e.state {
		case stInvalid:
			reason = invalidReasons[e.why]
		case stBlocked:
			reason = "blocked value"
		case stPattern:
			reason = "blocked value: matches " + g.trules[e.typ].patterns[e.why].String()
		default:
			continue
		}
		out = append(out, Dropped{ID: ids[e.src], Reason: reason})
	}
	for i := len(es) - 1; i >= 0; i-- {
		if e := &es[i]; e.state == stLimit {
			reason := limitReason("", int(e.hitCount), Limit{})
			if e.hitTyp >= 0 {
				reason = limitReason(g.types[e.hitTyp], int(e.hitCount), g.trules[e.hitTyp].limit)
			}
			out = append(out, Dropped{ID: ids[e.src], Reason: reason})
		}
	}
	return out
}

// resolve resolves one event under the write lock, filling res unless it is nil, and returns
// the customer ("none" when every identifier was dropped).
func (g *Graph) resolve(ids []ID, at int64, res *Resolution) (uint32, error) {
	need := 64 * (len(ids) + 1)
	for _, id := range ids {
		need += len(id.Value)
	}
	if !g.arena.room(need) || len(g.idents)+len(ids) >= int(none) || len(g.customers)+1 >= int(none) {
		return none, errFull
	}
	es, _ := g.prepare(ids, g.scratch[:0], true)
	defer func() {
		clear(es) // the scratch space keeps no values alive
		g.scratch = es[:0]
	}()
	return g.resolveEntries(ids, es, at, res, nil)
}

// resolveEntries resolves one event given its prepared entries. Within a batch (b not nil),
// what needs the index of identifiers, Uni-IDs or merge IDs is left to b.
func (g *Graph) resolveEntries(ids []ID, es []entry, at int64, res *Resolution, b *batch) (uint32, error) {
	var obuf [8]uint32
	var survivor uint32
	var others []uint32
	for {
		survivor, others = g.match(es, obuf[:0])
		last := -1
		for i := range es {
			if es[i].state == stActive {
				last = i
			}
		}
		if last < 0 {
			if res != nil {
				res.Dropped = g.dropped(ids, es)
			}
			return none, nil
		}
		typ, count, ok := g.withinLimits(es, survivor, others, at)
		if ok {
			break
		}
		es[last].state, es[last].hitTyp, es[last].hitCount = stLimit, typ, count
	}

	created := survivor == none
	if created {
		first := 0
		for es[first].state != stActive {
			first++
		}
		if b != nil {
			survivor = b.addCustomer(g, es[first].src)
		} else {
			ref, n, err := g.storeID("c_", 20, Digest(es[first].tname, es[first].val), false)
			if err != nil {
				return none, err
			}
			survivor = g.addCustomer(ref, n)
		}
	}
	var mbuf [8]uint32
	merges := mbuf[:0]
	for _, o := range others {
		var cbuf [8]uint32
		cause := cbuf[:0]
		for i := range es {
			if e := &es[i]; e.state == stActive && (e.owner == survivor || e.owner == o) {
				cause = append(cause, e.ident)
			}
		}
		if b != nil {
			b.merge(g, survivor, o, at, cause)
			continue
		}
		m, err := g.merge(survivor, o, at, cause, "")
		if err != nil {
			return none, err
		}
		merges = append(merges, m)
	}
	first := len(g.idents)
	for i := range es {
		if e := &es[i]; e.state == stActive && e.owner == none {
			if b != nil {
				b.attach(g, survivor, e, at)
				continue
			}
			if err := g.attach(survivor, e.typ, e.val, e.h, at); err != nil {
				return none, err
			}
		}
	}
	if res != nil {
		res.Customer, res.Created = g.uid(survivor), created
		for k := first; k < len(g.idents); k++ {
			res.Attached = append(res.Attached, ID{Type: g.types[g.idents[k].typ], Value: g.value(uint32(k))})
		}
		for _, m := range merges {
			res.Merges = append(res.Merges, g.mergeOut(m, res.At))
		}
		res.Dropped = g.dropped(ids, es)
	}
	return survivor, nil
}

// match returns the survivor among the customers the active entries point at, the customer of
// the highest-priority identifier (the oldest one when identifiers of that priority point at
// several), and the others, in priority order.
func (g *Graph) match(es []entry, others []uint32) (uint32, []uint32) {
	survivor, rank := none, int32(0)
	for i := range es {
		e := &es[i]
		if e.state != stActive || e.owner == none {
			continue
		}
		if survivor == none {
			survivor, rank = e.owner, e.rank
		} else if e.rank == rank && e.owner < survivor { // customers are numbered in creation order
			survivor = e.owner
		}
	}
	for i := range es {
		e := &es[i]
		if e.state == stActive && e.owner != none && e.owner != survivor && !slices.Contains(others, e.owner) {
			others = append(others, e.owner)
		}
	}
	return survivor, others
}

type limitCount struct {
	typ          uint16
	added, count int32
}

// withinLimits checks what resolving would leave the survivor with. A limit breaks only when
// values of its type are added (attached or merged in) and the customer would then hold more
// than Max values attached within the window; a customer over a limit tightened since keeps
// what it has. It returns the type that would break (-1: the per-customer cap) and its count.
func (g *Graph) withinLimits(es []entry, survivor uint32, others []uint32, at int64) (int32, int32, bool) {
	added, total := 0, 0
	for i := range es {
		if es[i].state == stActive && es[i].owner == none {
			added++
		}
	}
	total = added
	if survivor != none {
		total += int(g.customers[survivor].count)
	}
	for _, o := range others {
		added += int(g.customers[o].count)
		total += int(g.customers[o].count)
	}
	if added == 0 {
		return 0, 0, true
	}
	if total > maxPerCustomer {
		return -1, int32(total), false
	}
	if !g.rules.limited {
		return 0, 0, true
	}
	var cbuf [8]limitCount
	counts := cbuf[:0]
	counter := func(t uint16) *limitCount {
		for i := range counts {
			if counts[i].typ == t {
				return &counts[i]
			}
		}
		counts = append(counts, limitCount{typ: t})
		return &counts[len(counts)-1]
	}
	for i := range es {
		if e := &es[i]; e.state == stActive && e.owner == none && g.trules[e.typ].limit.Max > 0 {
			c := counter(e.typ)
			c.added++
			c.count++
		}
	}
	for _, o := range others {
		for k := g.customers[o].head; k != none; k = g.idents[k].next {
			id := &g.idents[k]
			if l := g.trules[id.typ].limit; l.Max > 0 {
				c := counter(id.typ)
				c.added++
				if inWindow(id.at, at, l.Window) {
					c.count++
				}
			}
		}
	}
	if len(counts) == 0 {
		return 0, 0, true
	}
	if survivor != none {
		for k := g.customers[survivor].head; k != none; k = g.idents[k].next {
			id := &g.idents[k]
			if l := g.trules[id.typ].limit; l.Max > 0 && inWindow(id.at, at, l.Window) {
				for i := range counts {
					if counts[i].typ == id.typ {
						counts[i].count++
					}
				}
			}
		}
	}
	for _, c := range counts {
		if c.count > int32(g.trules[c.typ].limit.Max) {
			return int32(c.typ), c.count, false
		}
	}
	return 0, 0, true
}

// inWindow reports whether a value attached at attached counts at time at for a window.
func inWindow(attached, at int64, window time.Duration) bool {
	if window <= 0 {
		return true
	}
	cutoff := at - int64(window)
	if cutoff > at { // overflow near the start of time
		return true
	}
	return attached > cutoff
}

// nanos returns t in Unix nanoseconds, clamped to what an int64 holds.
func nanos(t time.Time) int64 {
	const maxSec = math.MaxInt64/1_000_000_000 - 1
	switch s := t.Unix(); {
	case s > maxSec:
		return maxSec * 1e9
	case s < -maxSec:
		return -maxSec * 1e9
	}
	return t.UnixNano()
}

// addCustomer adds a live customer with the Uni-ID at ref.
func (g *Graph) addCustomer(ref uint32, n uint8) uint32 {
	c := uint32(len(g.customers))
	g.customers = append(reserve(g.customers, 1), customer{uid: ref, uidLen: n, head: none, into: none, merges: none})
	g.uids.reserve(1, g.uidHash)
	g.uids.put(g.uidHash(c), c)
	g.live++
	return c
}

// attach gives customer c the new identifier (t, v) whose hash is h.
func (g *Graph) attach(c uint32, t uint16, v string, h uint64, at int64) error {
	k, err := g.addIdent(c, t, v, at)
	if err != nil {
		return err
	}
	g.idx.reserve(1, g.identHash)
	g.idx.put(h, k)
	return nil
}

// addIdent gives customer c the new identifier (t, v), not yet indexed.
func (g *Graph) addIdent(c uint32, t uint16, v string, at int64) (uint32, error) {
	ref, err := g.arena.add(v)
	if err != nil {
		return none, err
	}
	k := uint32(len(g.idents))
	cu := &g.customers[c]
	g.idents = append(reserve(g.idents, 1), ident{ref: ref, owner: c, next: cu.head, at: at, n: uint16(len(v)), typ: t})
	cu.head = k
	cu.count++
	return k, nil
}

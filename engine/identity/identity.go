// Package identity is the identity graph of Musubi's rules engine: it ties the identifiers
// events carry (email, phone, member number, LINE user ID, EC account, device) to one customer,
// the Uni-ID, by flat matching as CDPs do (Segment Unify, RudderStack's id stitcher): an event
// whose identifiers are all new makes a new customer, one whose identifiers point at one
// customer belongs to it, and one whose identifiers point at several merges them.
//
// The identity block of the rules protects merges: blocked values (a shared in-store iPad, a
// test address) never match anything; limits cap the values of a type a customer may hold (one
// member number), and when a merge or attachment would break one, the lowest-priority identifier
// of the event is dropped and matching retried, as Segment does. Every merge is recorded with
// the identifiers it moved, so it can be explained and undone; Forget erases a person.
//
// The graph lives in memory. The engine persists what each call returns (Record) and replays it
// at start, or loads a Snapshot. Identifiers are indexed by a 64-bit hash in a pointer-free
// open-addressing table and their values kept in a byte arena, so a graph of millions of
// customers costs the garbage collector nothing to scan and resolving a known customer
// allocates nothing.
package identity

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// ID is an identifier: its type (email, phone, member, line_user, ec_id, ...) and its value,
// normalised with Rules.Normalize.
type ID struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Resolution is what resolving one event did.
type Resolution struct {
	Customer string    `json:"customer"` // the Uni-ID the event belongs to; "" when every identifier was dropped
	Created  bool      `json:"created,omitempty"`
	At       time.Time `json:"at"`                 // the event's time, which attached identifiers carry
	Attached []ID      `json:"attached,omitempty"` // identifiers newly attached to Customer, in the order attached
	Merges   []Merge   `json:"merges,omitempty"`   // customers merged into Customer
	Dropped  []Dropped `json:"dropped,omitempty"`  // identifiers not used, with the reason
}

// Merge is one customer merged into another.
type Merge struct {
	ID    string    `json:"id"`
	Into  string    `json:"into"`
	From  string    `json:"from"`
	At    time.Time `json:"at"`
	Moved []ID      `json:"moved"` // what moved from From to Into, which Unmerge gives back
	Cause []ID      `json:"cause"` // the event's identifiers that belonged to Into or From
}

// Dropped is an identifier of an event that was not used, and why.
type Dropped struct {
	ID     ID     `json:"id"`
	Reason string `json:"reason"`
}

// Customer states.
const (
	live uint8 = iota
	merged
	forgotten
)

// Merge states.
const (
	active uint8 = iota
	undone
	dropped // a party was forgotten
)

type customer struct {
	uid    uint32 // arena reference of the Uni-ID
	head   uint32 // first identifier held
	count  uint32 // identifiers held
	into   uint32 // survivor, while merged
	merges uint32 // latest merge into this customer; older ones follow mergeRec.prev
	uidLen uint8
	state  uint8
}

// ident is one identifier in the graph: 24 bytes, no pointers (fields ordered so).
type ident struct {
	at    int64  // when it was attached (Unix ns), for limit windows
	ref   uint32 // arena reference of the value
	owner uint32 // customer holding it; none once forgotten
	next  uint32 // next identifier of the same customer
	n     uint16 // value length
	typ   uint16
}

type span struct{ off, n uint32 }

type mergeRec struct {
	at           int64
	id           uint32 // arena reference of the merge ID
	into, from   uint32
	prev         uint32
	moved, cause span // in Graph.pool
	idLen        uint8
	state        uint8
}

// Graph is the identity graph. It is safe for concurrent use: reads and the resolution of
// known customers share a read lock; changes take the write lock.
type Graph struct {
	mu    sync.RWMutex
	rules *compiled
	seed  maphash.Seed

	typeIdx map[string]uint16
	types   []string
	trules  []*typeRule // per type, from rules

	arena  arena
	idents []ident
	idx    slots // hash of (type, value) → idents

	customers []customer
	uids      slots // hash of Uni-ID → customers
	live      int

	merges   []mergeRec
	mergeIdx slots // hash of merge ID → merges
	pool     []uint32
	mergeSeq uint64

	scratch []entry

	collide uint64 // tests: a mask keeping few bits of identifiers' hashes, so that they collide
}

// New returns an empty graph resolving with r.
func New(r Rules) (*Graph, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("identity rules: %w", err)
	}
	g := &Graph{seed: maphash.MakeSeed(), typeIdx: map[string]uint16{}}
	g.rules = compile(r)
	return g, nil
}

// SetRules makes r the rules of future resolutions; what is in the graph stays as it is.
// Rules that do not Validate still apply as far as they go (an unknown default country fails
// the normalisation of national phone numbers).
func (g *Graph) SetRules(r Rules) {
	c := compile(r)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rules = c
	for i, t := range g.types {
		g.trules[i] = c.rule(t)
	}
}

// Rules returns the rules in force. They are shared: do not change them.
func (g *Graph) Rules() *Rules {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.rules.pub
}

// Len returns the number of live customers.
func (g *Graph) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.live
}

// Lookup returns the customer holding an identifier.
func (g *Graph) Lookup(id ID) (string, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	t, ok := g.typeOf(id.Type)
	if !ok {
		return "", false
	}
	k := g.findIdent(t, id.Value, g.hashID(t, id.Value))
	if k == none {
		return "", false
	}
	return g.uid(g.idents[k].owner), true
}

// Identifiers returns the identifiers a customer holds, by priority then value. A customer
// merged away or forgotten holds none.
func (g *Graph) Identifiers(customer string) []ID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c := g.findUID(customer)
	if c == none {
		return nil
	}
	ks := make([]uint32, 0, g.customers[c].count)
	for k := g.customers[c].head; k != none; k = g.idents[k].next {
		ks = append(ks, k)
	}
	return g.ids(ks)
}

// Merges returns the merges that made a customer, oldest first: the customers merged into it
// and not unmerged since. The customers merged into those are in their own Merges.
func (g *Graph) Merges(customer string) []Merge {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c := g.findUID(customer)
	if c == none {
		return nil
	}
	var out []Merge
	for m := g.customers[c].merges; m != none; m = g.merges[m].prev {
		if g.merges[m].state == active {
			out = append(out, g.mergeOut(m, time.Unix(0, g.merges[m].at).UTC()))
		}
	}
	slices.Reverse(out)
	return out
}

// Canonical returns the live customer a Uni-ID stands for now: itself, or the customer it was
// merged into (following merges). It is "" for an unknown or forgotten customer.
func (g *Graph) Canonical(customer string) string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c := g.findUID(customer)
	if c == none {
		return ""
	}
	c = g.canonical(c)
	if c == none {
		return ""
	}
	return g.uid(c)
}

// Forgotten reports whether a Uni-ID is that of a forgotten customer, or of one merged into a
// customer since forgotten.
func (g *Graph) Forgotten(customer string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	c := g.findUID(customer)
	return c != none && g.canonical(c) == none
}

// canonical follows merges from c to a live customer; none when c is forgotten.
func (g *Graph) canonical(c uint32) uint32 {
	for g.customers[c].state == merged {
		c = g.customers[c].into
	}
	if g.customers[c].state == forgotten {
		return none
	}
	return c
}

func (g *Graph) uid(c uint32) string {
	if c == none {
		return ""
	}
	return g.arena.str(g.customers[c].uid, int(g.customers[c].uidLen))
}

// idOf returns the Uni-ID of customer v, or the ID of merge v.
func (g *Graph) idOf(isMerge bool, v uint32) string {
	if isMerge {
		return g.mergeID(v)
	}
	return g.uid(v)
}

// setID makes the n bytes at ref the Uni-ID of customer v, or the ID of merge v.
func (g *Graph) setID(isMerge bool, v, ref uint32, n uint8) {
	if isMerge {
		g.merges[v].id, g.merges[v].idLen = ref, n
	} else {
		g.customers[v].uid, g.customers[v].uidLen = ref, n
	}
}

func (g *Graph) value(k uint32) string {
	return g.arena.str(g.idents[k].ref, int(g.idents[k].n))
}

func (g *Graph) hashID(t uint16, v string) uint64 {
	return g.typeHash(maphash.String(g.seed, v), t)
}

// typeHash turns the hash of a value into that of the identifier of type t with the value.
func (g *Graph) typeHash(h uint64, t uint16) uint64 {
	h ^= (uint64(t) + 1) * 0x9e3779b97f4a7c15
	if g.collide != 0 {
		h = (h & g.collide) * 0x9e3779b97f4a7c15
	}
	return h
}

func (g *Graph) identHash(k uint32) uint64 { return g.hashID(g.idents[k].typ, g.value(k)) }

func (g *Graph) uidHash(c uint32) uint64 { return maphash.String(g.seed, g.uid(c)) }

func (g *Graph) mergeHash(m uint32) uint64 { return maphash.String(g.seed, g.mergeID(m)) }

func (g *Graph) mergeID(m uint32) string {
	return g.arena.str(g.merges[m].id, int(g.merges[m].idLen))
}

// findIdent is the hot lookup, written out rather than through slots.find.
func (g *Graph) findIdent(t uint16, v string, h uint64) uint32 {
	if len(g.idx.s) == 0 {
		return none
	}
	return g.findIdentFrom(t, v, h, g.idx.s[h&g.idx.mask])
}

// findIdentFrom is findIdent given the content of the home slot.
func (g *Graph) findIdentFrom(t uint16, v string, h uint64, e uint64) uint32 {
	s, mask := g.idx.s, g.idx.mask
	f := fingerprint(h)
	for i := h & mask; ; {
		if e == 0 {
			return none
		}
		if e>>32 == f {
			k := uint32(e)
			id := &g.idents[k]
			if id.typ == t && int(id.n) == len(v) && g.arena.str(id.ref, len(v)) == v {
				return k
			}
		}
		i = (i + 1) & mask
		e = s[i]
	}
}

func (g *Graph) findUID(uid string) uint32 {
	return g.uids.find(maphash.String(g.seed, uid), func(c uint32) bool { return g.uid(c) == uid })
}

func (g *Graph) findMerge(id string) uint32 {
	return g.mergeIdx.find(maphash.String(g.seed, id), func(m uint32) bool { return g.mergeID(m) == id })
}

// typeOf returns the index of an identifier type. Graphs know a handful of types, which a
// scan finds faster than hashing the name.
func (g *Graph) typeOf(t string) (uint16, bool) {
	if len(g.types) <= 8 {
		for i, name := range g.types {
			if name == t {
				return uint16(i), true
			}
		}
		return 0, false
	}
	i, ok := g.typeIdx[t]
	return i, ok
}

// intern returns the index of an identifier type, adding it when new.
func (g *Graph) intern(t string) (uint16, bool) {
	if i, ok := g.typeOf(t); ok {
		return i, true
	}
	if t == "" || len(t) > maxTypeLen || len(g.types) == maxTypes {
		return 0, false
	}
	i := uint16(len(g.types))
	g.typeIdx[t] = i
	g.types = append(g.types, t)
	g.trules = append(g.trules, g.rules.rule(t))
	return i, true
}

// identLess orders identifiers by priority, then type name, then value.
func (g *Graph) identLess(a, b uint32) bool {
	ia, ib := &g.idents[a], &g.idents[b]
	if ia.typ != ib.typ {
		if ra, rb := g.trules[ia.typ].rank, g.trules[ib.typ].rank; ra != rb {
			return ra < rb
		}
		return g.types[ia.typ] < g.types[ib.typ]
	}
	return g.value(a) < g.value(b)
}

// ids returns identifiers as IDs, sorted.
func (g *Graph) ids(ks []uint32) []ID {
	slices.SortFunc(ks, func(a, b uint32) int {
		switch {
		case g.identLess(a, b):
			return -1
		case g.identLess(b, a):
			return 1
		}
		return 0
	})
	out := make([]ID, len(ks))
	for i, k := range ks {
		out[i] = ID{Type: g.types[g.idents[k].typ], Value: g.value(k)}
	}
	return out
}

// mergeOut returns a merge as the API shows it: identifiers since forgotten left out.
func (g *Graph) mergeOut(m uint32, at time.Time) Merge {
	r := &g.merges[m]
	return Merge{ID: g.mergeID(m), Into: g.uid(r.into), From: g.uid(r.from), At: at,
		Moved: g.ids(g.liveIdents(r.moved)), Cause: g.ids(g.liveIdents(r.cause))}
}

func (g *Graph) liveIdents(s span) []uint32 {
	out := make([]uint32, 0, s.n)
	for _, k := range g.pool[s.off : s.off+s.n] {
		if g.idents[k].owner != none {
			out = append(out, k)
		}
	}
	return out
}

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Digest is the SHA-256 of parts joined by NUL bytes.
func Digest(parts ...string) [sha256.Size]byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	if n <= 128 { // most: a small buffer, which costs less to clear
		var buf [128]byte
		return sha256.Sum256(join(buf[:0], parts))
	}
	var buf [1280]byte
	return sha256.Sum256(join(buf[:0], parts))
}

func join(b []byte, parts []string) []byte {
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// storeID stores prefix + n base32 characters of sum in the arena, with a counter suffix (-2,
// -3, ...) while the ID is taken (by a merge when isMerge, a customer otherwise), and returns
// its reference and length.
func (g *Graph) storeID(prefix string, n int, sum [sha256.Size]byte, isMerge bool) (uint32, uint8, error) {
	var enc [24]byte
	b32.Encode(enc[:], sum[:15])
	var buf [48]byte
	id := append(append(buf[:0], prefix...), enc[:n]...)
	base := len(id)
	for i := 2; ; i++ {
		s := unsafe.String(&id[0], len(id))
		if isMerge && g.findMerge(s) == none || !isMerge && g.findUID(s) == none {
			break
		}
		id = strconv.AppendInt(append(id[:base], '-'), int64(i), 10)
	}
	ref, err := g.arena.add(unsafe.String(&id[0], len(id)))
	return ref, uint8(len(id)), err
}

// validID reports whether s can be a Uni-ID or merge ID read from a record or snapshot.
func validID(s string) bool {
	return s != "" && len(s) <= 255 && !strings.ContainsRune(s, 0)
}

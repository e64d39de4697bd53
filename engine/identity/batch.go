package identity

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// ResolveBatch resolves records in order, as Resolve would one by one, under one lock and
// without building Resolutions: the initial import of a customer base. It returns the customer
// of each record ("" when all its identifiers were dropped). What it changes is not in any
// Record: persist a Snapshot after it.
//
// What does not depend on the order of the records is done first, on every core: checking and
// hashing identifiers, and finding, for each identifier, the record that names it first (in
// shards small enough for the processor's cache, instead of probing the graph's index at
// random). The records are then resolved one after the other, as Resolve does, on dense
// numbers instead of hashes; Uni-IDs, merge IDs and the index of identifiers are filled in at
// the end.
func (g *Graph) ResolveBatch(records [][]ID, at time.Time) ([]string, error) {
	n, need := 0, 0
	for i, r := range records {
		if len(r) > MaxPerEvent {
			return nil, fmt.Errorf("%w: record %d carries %d; at most %d", ErrTooManyIdentifiers, i, len(r), MaxPerEvent)
		}
		n += len(r)
		need += 64 * (len(r) + 1)
		for _, id := range r {
			need += len(id.Value)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.idents)+n >= int(none) || len(g.customers)+len(records) >= int(none) {
		return nil, errFull
	}
	g.idx.reserve(n, g.identHash)
	g.uids.reserve(len(records), g.uidHash)
	g.idents = reserve(g.idents, n)
	g.customers = reserve(g.customers, len(records))
	if need > (maxChunks-len(g.arena.chunks))*(chunkSize-2*maxValueLen) {
		// Close to full: one by one, so the error comes at the record that does not fit.
		return g.resolveSerially(records, nanos(at))
	}
	return g.resolveBatch(records, n, nanos(at)), nil
}

// resolveSerially is ResolveBatch one record at a time.
func (g *Graph) resolveSerially(records [][]ID, at int64) ([]string, error) {
	out := make([]string, len(records))
	for i, r := range records {
		c, err := g.resolve(r, at, nil)
		if err != nil {
			return out[:i], fmt.Errorf("record %d: %w", i, err)
		}
		out[i] = g.uid(c)
	}
	return out, nil
}

// batch is a ResolveBatch under way. Its identifiers are numbered by position: the records'
// identifiers one after the other.
type batch struct {
	records [][]ID
	recOff  []uint32 // position of each record's first identifier; one more at the end
	hash    []uint64 // per position: the hash of the identifier, when active
	meta    []occMeta
	first   []uint32 // per active position: the position where the batch names it first
	identAt []uint32 // per first position: the identifier in the graph, none while it has none
	rec     uint32   // the record being resolved
	pos     uint32   // its position

	workers   int
	newIdents uint32   // the first identifier the batch adds
	newHash   []uint64 // hashes of the identifiers the batch adds, in order
	created   []created
	merges    []batchMerge
}

// occMeta is what checking an identifier found: its type and state (the reason when invalid).
type occMeta struct {
	typ   uint16
	why   uint16
	state uint8
}

// stUnknownType marks an identifier whose type the graph must first learn, in record order.
const stUnknownType = 0xff

type created struct {
	c        uint32
	rec, pos uint32 // the identifier the Uni-ID is made from
}

type batchMerge struct {
	m   uint32
	seq uint64
}

// shardEntry is an active identifier, shards of which find the first position of each.
type shardEntry struct {
	h        uint64
	pos, rec uint32
}

func (g *Graph) resolveBatch(records [][]ID, n int, at int64) []string {
	b := &batch{records: records, newIdents: uint32(len(g.idents))}
	b.workers = 1
	if n >= 1<<14 {
		b.workers = min(runtime.GOMAXPROCS(0), 8)
	}
	b.recOff = make([]uint32, len(records)+1)
	p := uint32(0)
	for i, r := range records {
		b.recOff[i] = p
		p += uint32(len(r))
	}
	b.recOff[len(records)] = p
	b.hash = make([]uint64, n)
	b.meta = make([]occMeta, n)
	b.first = make([]uint32, n)
	b.identAt = make([]uint32, n)
	b.newHash = make([]uint64, 0, n)

	b.findFirsts(g)

	outC := make([]uint32, len(records))
	for r, ids := range records {
		b.rec, b.pos = uint32(r), b.recOff[r]
		es := b.entries(g, ids, g.scratch[:0])
		c, _ := g.resolveEntries(ids, es, at, nil, b) // the arena was checked: nothing fails
		clear(es)
		g.scratch = es[:0]
		outC[r] = c
	}
	b.hash, b.meta, b.first, b.identAt = nil, nil, nil, nil

	b.nameCustomers(g)
	b.nameMerges(g)
	b.index(g)
	out := make([]string, len(records))
	for i, c := range outC {
		out[i] = g.uid(c)
	}
	return out
}

// split runs f on workers ranges of [0, n) at once.
func split(workers, n int, f func(w, lo, hi int)) {
	if workers <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w, n*w/workers, n*(w+1)/workers)
		}()
	}
	wg.Wait()
}

// findFirsts checks and hashes every identifier and finds the position where the batch first
// names each, and the graph's identifier for it.
func (b *batch) findFirsts(g *Graph) {
	n := len(b.hash)
	shardBits := 0
	for n>>shardBits > 4096 && shardBits < 12 {
		shardBits++
	}
	shards := 1 << shardBits
	shift := uint(64 - shardBits) // a shard is the top bits of the hash; 64 shifts to 0
	counts := make([][]uint32, b.workers)
	unknown := make([]bool, b.workers)
	split(b.workers, len(b.records), func(w, lo, hi int) {
		cnt := make([]uint32, shards)
		for r := lo; r < hi; r++ {
			pos := b.recOff[r]
			for j := range b.records[r] {
				id := &b.records[r][j]
				t, known := g.typeOf(id.Type)
				if !known {
					b.meta[pos+uint32(j)].state = stUnknownType
					unknown[w] = true
					continue
				}
				if b.check(g, pos+uint32(j), t, id.Value) {
					cnt[b.hash[pos+uint32(j)]>>shift]++
				}
			}
		}
		counts[w] = cnt
	})
	// Types the graph does not know yet are learnt in the order the records name them.
	for w, u := range unknown {
		if !u {
			continue
		}
		lo, hi := len(b.records)*w/b.workers, len(b.records)*(w+1)/b.workers
		for r := lo; r < hi; r++ {
			pos := b.recOff[r]
			for j, id := range b.records[r] {
				m := &b.meta[pos+uint32(j)]
				if m.state != stUnknownType {
					continue
				}
				switch {
				case id.Type == "":
					*m = occMeta{state: stInvalid, why: invEmptyType}
				case len(id.Type) > maxTypeLen:
					*m = occMeta{state: stInvalid, why: invLongType}
				default:
					t, ok := g.intern(id.Type)
					if !ok {
						*m = occMeta{state: stInvalid, why: invTypes}
					} else if *m = (occMeta{}); b.check(g, pos+uint32(j), t, id.Value) {
						counts[w][b.hash[pos+uint32(j)]>>shift]++
					}
				}
			}
		}
	}

	// Scatter the active identifiers into shards, keeping their order.
	offs := make([][]uint32, b.workers)
	total := uint32(0)
	bounds := make([]uint32, shards+1)
	for s := range shards {
		bounds[s] = total
		for w := range b.workers {
			if offs[w] == nil {
				offs[w] = make([]uint32, shards)
			}
			offs[w][s] = total
			total += counts[w][s]
		}
	}
	bounds[shards] = total
	entries := make([]shardEntry, total)
	split(b.workers, len(b.records), func(w, lo, hi int) {
		off := offs[w]
		for r := lo; r < hi; r++ {
			for pos := b.recOff[r]; pos < b.recOff[r+1]; pos++ {
				if b.meta[pos].state == stActive {
					h := b.hash[pos]
					entries[off[h>>shift]] = shardEntry{h: h, pos: pos, rec: uint32(r)}
					off[h>>shift]++
				}
			}
		}
	})

	// In each shard, the first entry of an identifier is its first position.
	largest := uint32(0)
	for s := range shards {
		largest = max(largest, bounds[s+1]-bounds[s])
	}
	size := 16
	for size < 2*int(largest) {
		size <<= 1
	}
	searchGraph := g.idx.live > 0
	split(b.workers, shards, func(w, lo, hi int) {
		table := make([]uint64, size)
		for s := lo; s < hi; s++ {
			es := entries[bounds[s]:bounds[s+1]]
			sz := 16
			for sz < 2*len(es) {
				sz <<= 1
			}
			t, mask := table[:sz], uint64(sz-1)
			clear(t)
			for i := range es {
				e := &es[i]
				f := fingerprint(e.h)
				for slot := e.h & mask; ; slot = (slot + 1) & mask {
					v := t[slot]
					if v == 0 {
						t[slot] = f<<32 | uint64(i)
						b.first[e.pos] = e.pos
						k := none
						if searchGraph {
							id := b.id(e.rec, e.pos)
							k = g.findIdent(b.meta[e.pos].typ, id.Value, e.h)
						}
						b.identAt[e.pos] = k
						break
					}
					if v>>32 == f {
						if o := &es[uint32(v)]; o.h == e.h && b.same(o, e) {
							b.first[e.pos] = o.pos
							break
						}
					}
				}
			}
		}
	})
}

// check checks the identifier at pos, of type t, as prepare does, and hashes it when active.
func (b *batch) check(g *Graph, pos uint32, t uint16, v string) bool {
	m := occMeta{typ: t}
	tr := g.trules[t]
	switch {
	case v == "":
		m.state, m.why = stInvalid, invEmptyValue
	case len(v) > maxValueLen:
		m.state, m.why = stInvalid, invLongValue
	case tr.blocked != nil && blocked(tr.blocked, v):
		m.state = stBlocked
	default:
		for p, re := range tr.patterns {
			if re.MatchString(v) {
				m.state, m.why = stPattern, uint16(min(p, math.MaxUint16))
				break
			}
		}
	}
	b.meta[pos] = m
	if m.state != stActive {
		return false
	}
	b.hash[pos] = g.hashID(t, v)
	return true
}

func (b *batch) id(rec, pos uint32) *ID {
	return &b.records[rec][pos-b.recOff[rec]]
}

func (b *batch) same(x, y *shardEntry) bool {
	return b.meta[x.pos].typ == b.meta[y.pos].typ && b.id(x.rec, x.pos).Value == b.id(y.rec, y.pos).Value
}

// entries are the record's entries as prepare makes them.
func (b *batch) entries(g *Graph, ids []ID, es []entry) []entry {
	for j := range ids {
		id := &ids[j]
		pos := b.pos + uint32(j)
		m := b.meta[pos]
		e := entry{tname: id.Type, val: id.Value, src: int32(j), rank: math.MaxInt32, ident: none, owner: none, state: m.state, why: m.why}
		if m.state != stInvalid || m.why >= invEmptyValue {
			e.typ, e.rank = m.typ, g.trules[m.typ].rank
		}
		if m.state == stActive {
			e.h = b.hash[pos]
			if e.ident = b.identAt[b.first[pos]]; e.ident != none {
				e.owner = g.idents[e.ident].owner
			}
		}
		es = append(es, e)
	}
	sortEntries(es)
	return es
}

// addCustomer adds a customer made from the record's identifier src; its Uni-ID comes later.
func (b *batch) addCustomer(g *Graph, src int32) uint32 {
	c := uint32(len(g.customers))
	g.customers = append(reserve(g.customers, 1), customer{head: none, into: none, merges: none})
	g.live++
	b.created = append(b.created, created{c: c, rec: b.rec, pos: b.pos + uint32(src)})
	return c
}

// merge merges from into into; the merge's ID comes later.
func (b *batch) merge(g *Graph, into, from uint32, at int64, cause []uint32) {
	seq := g.mergeSeq
	b.merges = append(b.merges, batchMerge{m: g.join(into, from, at, cause, 0, 0), seq: seq})
}

// attach gives customer c the entry's new identifier; the index learns it later.
func (b *batch) attach(g *Graph, c uint32, e *entry, at int64) {
	k, _ := g.addIdent(c, e.typ, e.val, at)
	pos := b.pos + uint32(e.src)
	b.identAt[b.first[pos]] = k
	b.newHash = append(b.newHash, e.h)
}

// nameCustomers gives the customers the batch created their Uni-IDs, in the order created,
// as storeID would have then.
func (b *batch) nameCustomers(g *Graph) {
	const idLen = 22 // "c_" and 20 characters
	refs := make([]uint32, len(b.created))
	for i := range b.created {
		refs[i], _, _ = g.arena.alloc(idLen)
	}
	split(b.workers, len(b.created), func(_, lo, hi int) {
		var enc [24]byte
		for i := lo; i < hi; i++ {
			id := b.id(b.created[i].rec, b.created[i].pos)
			sum := Digest(id.Type, id.Value)
			b32.Encode(enc[:], sum[:15])
			dst := g.arena.bytes(refs[i], idLen)
			dst[0], dst[1] = 'c', '_'
			copy(dst[2:], enc[:20])
		}
	})
	for i, cr := range b.created {
		cu := &g.customers[cr.c]
		cu.uid, cu.uidLen = refs[i], idLen
		if g.findUID(g.uid(cr.c)) != none {
			// Taken: the next free suffix, as storeID gives it.
			id := []byte(g.uid(cr.c))
			for k := 2; ; k++ {
				s := string(strconv.AppendInt(append(id[:idLen:idLen], '-'), int64(k), 10))
				if g.findUID(s) == none {
					cu.uid, _ = g.arena.add(s)
					cu.uidLen = uint8(len(s))
					break
				}
			}
		}
		g.uids.put(g.uidHash(cr.c), cr.c)
	}
}

// nameMerges gives the batch's merges their IDs, in order, as merge would have then.
func (b *batch) nameMerges(g *Graph) {
	g.mergeIdx.reserve(len(b.merges), g.mergeHash)
	for _, bm := range b.merges {
		r := &g.merges[bm.m]
		var seq [20]byte
		s := strconv.AppendUint(seq[:0], bm.seq, 10)
		ref, n, _ := g.storeID("m_", 16, Digest(g.uid(r.into), g.uid(r.from), unsafe.String(&s[0], len(s))), true)
		r.id, r.idLen = ref, n
		g.mergeIdx.put(g.mergeHash(bm.m), bm.m)
	}
}

// index adds the batch's identifiers to the index.
func (b *batch) index(g *Graph) {
	for i, h := range b.newHash {
		g.idx.put(h, b.newIdents+uint32(i))
	}
}

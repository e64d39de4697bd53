package identity

import (
	"fmt"
	"hash/maphash"
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
	g.customers = reserve(g.customers, len(records))
	if len(g.idents)+n >= linked || need > (maxChunks-len(g.arena.chunks))*(chunkSize-2*maxValueLen) {
		// Close to full (or past what the batch numbers): one by one, so an error comes at the
		// record that does not fit.
		g.idx.reserve(n, g.identHash)
		g.uids.reserve(len(records), g.uidHash)
		g.idents = reserve(g.idents, n)
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
	// hash is, per active position, the hash of the identifier; as the records are resolved,
	// its start holds the hashes of the identifiers added instead.
	hash []uint64
	meta []occMeta
	// link is, per active position, 0 while the identifier has no identifier in the graph,
	// linked|k once it is identifier k, and p+1 when the batch names it first at p (only
	// position p then says which identifier it is).
	link     []uint32
	collided map[ID]uint32 // identifiers whose hash another identifier of the batch has first
	rec      uint32        // the record being resolved
	pos      uint32        // its position

	workers   int
	shardH    []uint64 // room to scatter hashes, and values beside them
	shardV    []uint32
	newIdents uint32    // the first identifier the batch adds
	added     int       // identifiers added
	created   []created // per customer created, from the first
	merges    int       // merges made, from the first
	merge0    uint32
	seq0      uint64
}

const linked = 1 << 31

// occMeta is what checking an identifier found: its type and state (the reason when invalid).
type occMeta struct {
	typ   uint16
	why   uint16
	state uint8
	local bool // typ is numbered within a worker's typeNames until the graph learns it
}

// created locates the identifier a new customer's Uni-ID is made from.
type created struct{ rec, pos uint32 }

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
	b.link = make([]uint32, n)
	b.shardH = make([]uint64, n)
	b.shardV = make([]uint32, n)
	b.created = make([]created, 0, len(records))

	// The identifiers the batch adds are at most those it names that the graph does not have.
	g.idents = reserve(g.idents, b.findFirsts(g))

	outC := make([]uint32, len(records))
	for r, ids := range records {
		b.rec, b.pos = uint32(r), b.recOff[r]
		es := b.entries(g, ids, g.scratch[:0])
		c, _ := g.resolveEntries(ids, es, at, nil, b) // the arena was checked: nothing fails
		clear(es)
		g.scratch = es[:0]
		outC[r] = c
	}
	b.meta, b.link = nil, nil

	b.index(g)
	b.nameCustomers(g)
	b.nameMerges(g)
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

// findFirsts checks and hashes every identifier, looks up those the graph has and links every
// position to the first position of its hash in the batch. It returns how many hashes the batch
// has that the graph has not.
func (b *batch) findFirsts(g *Graph) int {
	n := len(b.hash)
	shardBits := 0
	for n>>shardBits > 16384 && shardBits < 12 {
		shardBits++
	}
	shards := 1 << shardBits
	shift := uint(64 - shardBits) // a shard is the top bits of the hash; 64 shifts to 0
	searchGraph := g.idx.live > 0
	counts := make([][]uint32, b.workers)
	unknown := make([]typeNames, b.workers) // per worker, types the graph does not know, in order
	split(b.workers, len(b.records), func(w, lo, hi int) {
		cnt := make([]uint32, shards)
		names := &unknown[w]
		for r := lo; r < hi; r++ {
			pos := b.recOff[r]
			for j := range b.records[r] {
				id := &b.records[r][j]
				if t, known := g.typeOf(id.Type); known {
					if b.check(g, pos+uint32(j), t, g.trules[t], false, id.Value, searchGraph) {
						cnt[b.hash[pos+uint32(j)]>>shift]++
					}
					continue
				}
				// A type the graph learns below: numbered within the worker until then, and
				// the hash of the value left to complete.
				switch {
				case id.Type == "":
					b.meta[pos+uint32(j)] = occMeta{state: stInvalid, why: invEmptyType}
				case len(id.Type) > maxTypeLen:
					b.meta[pos+uint32(j)] = occMeta{state: stInvalid, why: invLongType}
				default:
					if t, tr, ok := names.add(g, id.Type); ok {
						b.check(g, pos+uint32(j), t, tr, true, id.Value, false)
					} else {
						b.meta[pos+uint32(j)] = occMeta{state: stInvalid, why: invTypes}
					}
				}
			}
		}
		counts[w] = cnt
	})
	// The graph learns new types in the order the records first name them, as prepare would
	// one record at a time; then the identifiers of those types are completed.
	learnt := false
	for w := range unknown {
		names := &unknown[w]
		for i, t := range names.list {
			gt, ok := g.intern(t)
			names.global[i] = int32(gt)
			if !ok {
				names.global[i] = -1
			}
			learnt = true
		}
	}
	if learnt {
		split(b.workers, len(b.records), func(w, lo, hi int) {
			global := unknown[w].global
			for pos := b.recOff[lo]; pos < b.recOff[hi]; pos++ {
				m := &b.meta[pos]
				if !m.local {
					continue
				}
				t := global[m.typ]
				if t < 0 {
					*m = occMeta{state: stInvalid, why: invTypes}
					continue
				}
				m.typ, m.local = uint16(t), false
				if m.state == stActive {
					h := g.typeHash(b.hash[pos], uint16(t))
					b.hash[pos] = h
					counts[w][h>>shift]++
				}
			}
		})
	}

	// Scatter the active positions into shards, keeping their order.
	bounds := make([]uint32, shards+1)
	total := uint32(0)
	for s := range shards {
		bounds[s] = total
		for w := range b.workers {
			c := counts[w][s]
			counts[w][s] = total
			total += c
		}
	}
	bounds[shards] = total
	split(b.workers, len(b.records), func(w, lo, hi int) {
		off := counts[w]
		for pos := b.recOff[lo]; pos < b.recOff[hi]; pos++ {
			if b.meta[pos].state == stActive {
				h := b.hash[pos]
				b.shardH[off[h>>shift]] = h
				b.shardV[off[h>>shift]] = pos
				off[h>>shift]++
			}
		}
	})

	// In each shard, the first position of a hash is the first of its identifier, unless two
	// identifiers share the hash, which resolving checks.
	largest := uint32(0)
	for s := range shards {
		largest = max(largest, bounds[s+1]-bounds[s])
	}
	size := 16
	for size < 2*int(largest) {
		size <<= 1
	}
	fresh := make([]int, b.workers)
	split(b.workers, shards, func(w, lo, hi int) {
		table := make([]uint64, size)
		for s := lo; s < hi; s++ {
			hs, ps := b.shardH[bounds[s]:bounds[s+1]], b.shardV[bounds[s]:bounds[s+1]]
			sz := 16
			for sz < 2*len(hs) {
				sz <<= 1
			}
			t, mask := table[:sz], uint64(sz-1)
			clear(t)
			for i, h := range hs {
				f := fingerprint(h)
				for slot := h & mask; ; slot = (slot + 1) & mask {
					v := t[slot]
					if v == 0 {
						t[slot] = f<<32 | uint64(i)
						if b.link[ps[i]] == 0 {
							fresh[w]++
						}
						break
					}
					if v>>32 == f && hs[uint32(v)] == h {
						b.link[ps[i]] = ps[uint32(v)] + 1
						break
					}
				}
			}
		}
	})
	sum := 0
	for _, f := range fresh {
		sum += f
	}
	return sum
}

// typeNames are distinct type names in the order added, with their rules, and once the graph
// learns them their numbers (-1: it could not).
type typeNames struct {
	list   []string
	rules  []*typeRule
	global []int32
	set    map[string]uint16
}

// add returns the number of a type name within the list, and its rule; false when the list
// is as long as a graph's types can be, and the graph cannot learn the name.
func (n *typeNames) add(g *Graph, t string) (uint16, *typeRule, bool) {
	if n.set == nil {
		for i, u := range n.list {
			if u == t {
				return uint16(i), n.rules[i], true
			}
		}
		if len(n.list) == 8 {
			n.set = map[string]uint16{}
			for i, u := range n.list {
				n.set[u] = uint16(i)
			}
		}
	} else if i, ok := n.set[t]; ok {
		return i, n.rules[i], true
	}
	if len(n.list) == maxTypes {
		return 0, nil, false
	}
	i := uint16(len(n.list))
	n.list, n.rules, n.global = append(n.list, t), append(n.rules, g.rules.rule(t)), append(n.global, -1)
	if n.set != nil {
		n.set[t] = i
	}
	return i, n.rules[i], true
}

// check checks the identifier at pos, of type t, as prepare does, and hashes it when active.
func (b *batch) check(g *Graph, pos uint32, t uint16, tr *typeRule, local bool, v string, searchGraph bool) bool {
	m := occMeta{typ: t, local: local}
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
	if local {
		b.hash[pos] = maphash.String(g.seed, v)
		return true
	}
	h := g.hashID(t, v)
	b.hash[pos] = h
	if searchGraph {
		if k := g.findIdent(t, v, h); k != none {
			b.link[pos] = linked | k
		}
	}
	return true
}

// id returns the identifier at pos, of record rec.
func (b *batch) id(rec, pos uint32) *ID {
	return &b.records[rec][pos-b.recOff[rec]]
}

// record returns the record holding the identifier at pos.
func (b *batch) record(pos uint32) uint32 {
	lo, hi := 0, len(b.records)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if b.recOff[mid+1] <= pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return uint32(lo)
}

// entries are the record's entries as prepare makes them.
func (b *batch) entries(g *Graph, ids []ID, es []entry) []entry {
	for j := range ids {
		id := &ids[j]
		pos := b.pos + uint32(j)
		m := b.meta[pos]
		es = append(es, entry{tname: id.Type, val: id.Value, src: int32(j), rank: math.MaxInt32, ident: none, owner: none, state: m.state, why: m.why})
		e := &es[len(es)-1]
		if m.state != stInvalid || m.why >= invEmptyValue {
			e.typ, e.rank = m.typ, g.trules[m.typ].rank
		}
		if m.state == stActive {
			e.h = b.hash[pos]
			b.lookup(g, pos, e)
			if e.ident != none {
				e.owner = g.idents[e.ident].owner
			}
		}
	}
	sortEntries(es)
	return es
}

// lookup finds the identifier of an active entry: the one its first position links to, when
// that is the same type and value.
func (b *batch) lookup(g *Graph, pos uint32, e *entry) {
	l := b.link[pos]
	first := pos
	if l != 0 && l&linked == 0 {
		first, l = l-1, b.link[l-1]
	}
	if l != 0 {
		k := l &^ linked
		if id := &g.idents[k]; id.typ == e.typ && int(id.n) == len(e.val) && g.value(k) == e.val {
			e.ident = k
			return
		}
	} else if first == pos {
		return
	} else if id := b.id(b.record(first), first); id.Type == e.tname && id.Value == e.val {
		return // the same identifier, not in the graph yet
	}
	// Another identifier has the hash: look it up by value.
	e.collided = true
	if k, ok := b.collided[ID{e.tname, e.val}]; ok {
		e.ident = k
	} else {
		e.ident = g.findIdent(e.typ, e.val, e.h)
	}
}

// addCustomer adds a customer made from the record's identifier src; its Uni-ID comes later.
func (b *batch) addCustomer(g *Graph, src int32) uint32 {
	c := uint32(len(g.customers))
	g.customers = append(reserve(g.customers, 1), customer{head: none, into: none, merges: none})
	g.live++
	b.created = append(b.created, created{rec: b.rec, pos: b.pos + uint32(src)})
	return c
}

// merge merges from into into; the merge's ID comes later.
func (b *batch) merge(g *Graph, into, from uint32, at int64, cause []uint32) {
	if b.merges == 0 {
		b.merge0, b.seq0 = uint32(len(g.merges)), g.mergeSeq
	}
	g.join(into, from, at, cause, 0, 0)
	b.merges++
}

// attach gives customer c the entry's new identifier; the index learns it later.
func (b *batch) attach(g *Graph, c uint32, e *entry, at int64) {
	k, _ := g.addIdent(c, e.typ, e.val, at)
	// The hashes of the positions resolved are not read again: they make room for those of the
	// identifiers added.
	b.hash[b.added] = e.h
	b.added++
	if e.collided {
		if b.collided == nil {
			b.collided = map[ID]uint32{}
		}
		b.collided[ID{e.tname, e.val}] = k
		return
	}
	pos := b.pos + uint32(e.src)
	if l := b.link[pos]; l != 0 && l&linked == 0 {
		pos = l - 1
	}
	b.link[pos] = linked | k
}

// nameCustomers gives the customers the batch created their Uni-IDs, as storeID would have
// when they were created.
func (b *batch) nameCustomers(g *Graph) {
	if len(b.created) == 0 {
		return
	}
	b.name(g, false, len(b.created), uint32(len(g.customers)-len(b.created)), func(i int) [32]byte {
		id := b.id(b.created[i].rec, b.created[i].pos)
		return Digest(id.Type, id.Value)
	})
}

// nameMerges gives the batch's merges their IDs, as merge would have then.
func (b *batch) nameMerges(g *Graph) {
	if b.merges == 0 {
		return
	}
	b.name(g, true, b.merges, b.merge0, func(i int) [32]byte {
		r := &g.merges[b.merge0+uint32(i)]
		var seq [20]byte
		s := strconv.AppendUint(seq[:0], b.seq0+uint64(i), 10)
		return Digest(g.uid(r.into), g.uid(r.from), unsafe.String(&s[0], len(s)))
	})
}

// name gives n customers (merges when isMerge) from base on their IDs, made from sum(i) as
// storeID makes them, and indexes them.
func (b *batch) name(g *Graph, isMerge bool, n int, base uint32, sum func(i int) [32]byte) {
	prefix, chars, t, hash := "c_", 20, &g.uids, g.uidHash
	if isMerge {
		prefix, chars, t, hash = "m_", 16, &g.mergeIdx, g.mergeHash
	}
	t.reserve(n, hash)
	idLen := len(prefix) + chars
	refs := b.shardV[:n]
	for i := range refs {
		refs[i], _, _ = g.arena.alloc(idLen)
	}
	hs := b.hash[:n] // free once the index has the identifiers' hashes
	split(b.workers, n, func(_, lo, hi int) {
		var enc [24]byte
		for i := lo; i < hi; i++ {
			sum := sum(i)
			b32.Encode(enc[:], sum[:15])
			dst := g.arena.bytes(refs[i], idLen)
			copy(dst, prefix)
			copy(dst[len(prefix):], enc[:chars])
			hs[i] = maphash.Bytes(g.seed, dst)
		}
	})
	for i, ref := range refs {
		g.setID(isMerge, base+uint32(i), ref, uint8(idLen))
	}
	// Two customers made from the same identifier (one since forgotten) get the same ID, which
	// the later takes with a suffix; those and the few that do not fit the parallel pass are
	// named here, in order.
	left := t.putAll(b.workers, hs, base, func(have, want uint32) bool { return g.idOf(isMerge, have) == g.idOf(isMerge, want) },
		b.shardH, b.shardV)
	find := g.findUID
	if isMerge {
		find = g.findMerge
	}
	for _, v := range left {
		id := []byte(g.idOf(isMerge, v))
		s := string(id)
		for k := 2; find(s) != none; k++ {
			s = string(strconv.AppendInt(append(id[:idLen:idLen], '-'), int64(k), 10))
		}
		if s != string(id) {
			ref, _ := g.arena.add(s)
			g.setID(isMerge, v, ref, uint8(len(s)))
		}
		t.put(maphash.String(g.seed, s), v)
	}
}

// index adds the batch's identifiers to the index.
func (b *batch) index(g *Graph) {
	g.idx.reserve(b.added, g.identHash)
	hs := b.hash[:b.added]
	for _, k := range g.idx.putAll(b.workers, hs, b.newIdents, nil, b.shardH, b.shardV) {
		g.idx.put(hs[k-b.newIdents], k)
	}
}

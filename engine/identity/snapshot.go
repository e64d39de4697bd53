package identity

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// snapshotMagic starts a snapshot; the digit is the format version.
const snapshotMagic = "musubi identity graph 1\n"

// Snapshot writes the graph in a compact binary form that Load reads back: the fast way to
// rebuild it, and the way to drop from storage what Forget erased (the records before a
// snapshot are not needed once it is stored). Forgotten identifiers are not in it; forgotten
// Uni-IDs are, so they are never given again.
func (g *Graph) Snapshot(w io.Writer) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	// Number types and identifiers in the order they are written, so graphs that hold the same
	// customers write the same bytes whatever order they learnt types in.
	typeNo := make([]uint32, len(g.types))
	for i := range typeNo {
		typeNo[i] = none
	}
	var types []string
	identNo := make([]uint32, len(g.idents))
	n := uint32(0)
	for c := range g.customers {
		for k := g.customers[c].head; k != none; k = g.idents[k].next {
			identNo[k] = n
			n++
			if t := g.idents[k].typ; typeNo[t] == none {
				typeNo[t] = uint32(len(types))
				types = append(types, g.types[t])
			}
		}
	}

	sw := &snapWriter{w: bufio.NewWriterSize(w, 1<<16)}
	sw.raw(snapshotMagic)
	sw.uint(g.mergeSeq)
	sw.uint(uint64(len(types)))
	for _, t := range types {
		sw.str(t)
	}
	sw.uint(uint64(len(g.customers)))
	sw.uint(uint64(n))
	for c := range g.customers {
		cu := &g.customers[c]
		sw.str(g.uid(uint32(c)))
		sw.uint(uint64(cu.state))
		sw.uint(uint64(cu.into + 1)) // none wraps to 0
		sw.uint(uint64(cu.count))
		for k := cu.head; k != none; k = g.idents[k].next {
			id := &g.idents[k]
			sw.uint(uint64(typeNo[id.typ]))
			sw.str(g.value(k))
			sw.int(id.at)
		}
	}
	kept := 0
	for m := range g.merges {
		if g.merges[m].state != dropped {
			kept++
		}
	}
	sw.uint(uint64(kept))
	for m := range g.merges {
		r := &g.merges[m]
		if r.state == dropped {
			continue
		}
		sw.str(g.mergeID(uint32(m)))
		sw.uint(uint64(r.into))
		sw.uint(uint64(r.from))
		sw.int(r.at)
		sw.uint(uint64(r.state))
		for _, s := range []span{r.moved, r.cause} {
			ks := g.liveIdents(s)
			sw.uint(uint64(len(ks)))
			for _, k := range ks {
				sw.uint(uint64(identNo[k]))
			}
		}
	}
	sw.raw("end\n")
	if sw.err != nil {
		return sw.err
	}
	return sw.w.Flush()
}

type snapWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (s *snapWriter) raw(v string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(v)
	}
}

func (s *snapWriter) uint(v uint64) {
	if s.err == nil {
		_, s.err = s.w.Write(binary.AppendUvarint(s.buf[:0], v))
	}
}

func (s *snapWriter) int(v int64) {
	if s.err == nil {
		_, s.err = s.w.Write(binary.AppendVarint(s.buf[:0], v))
	}
}

func (s *snapWriter) str(v string) {
	s.uint(uint64(len(v)))
	s.raw(v)
}

// Load reads a graph written by Snapshot, to resolve with r.
func Load(r Rules, rd io.Reader) (*Graph, error) {
	g, err := New(r)
	if err != nil {
		return nil, err
	}
	sr := &snapReader{r: bufio.NewReaderSize(rd, 1<<16), g: g}
	if err := sr.load(); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading the identity snapshot: %w", err)
	}
	return g, nil
}

type snapReader struct {
	r *bufio.Reader
	g *Graph
}

var errCorrupt = errors.New("corrupt snapshot")

// index reads a number below n.
func (s *snapReader) index(n int) (uint32, error) {
	v, err := binary.ReadUvarint(s.r)
	if err == nil && v >= uint64(n) {
		err = fmt.Errorf("%w: index %d out of range", errCorrupt, v)
	}
	return uint32(v), err
}

func (s *snapReader) uint(max uint64) (uint64, error) {
	v, err := binary.ReadUvarint(s.r)
	if err == nil && v > max {
		err = fmt.Errorf("%w: %d out of range", errCorrupt, v)
	}
	return v, err
}

// str reads a string into the arena.
func (s *snapReader) str(max int) (uint32, int, error) {
	n, err := s.uint(uint64(max))
	if err != nil {
		return 0, 0, err
	}
	ref, b, err := s.g.arena.alloc(int(n))
	if err != nil {
		return 0, 0, err
	}
	_, err = io.ReadFull(s.r, b)
	return ref, int(n), err
}

func (s *snapReader) load() error {
	g := s.g
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(s.r, magic); err != nil {
		return err
	}
	if string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not an identity snapshot of this version", errCorrupt)
	}
	var err error
	if g.mergeSeq, err = binary.ReadUvarint(s.r); err != nil {
		return err
	}
	nt, err := s.uint(maxTypes)
	if err != nil {
		return err
	}
	for range nt {
		ref, n, err := s.str(maxTypeLen)
		if err != nil {
			return err
		}
		if _, ok := g.intern(g.arena.str(ref, n)); !ok {
			return fmt.Errorf("%w: invalid identifier type", errCorrupt)
		}
	}
	if len(g.types) != int(nt) {
		return fmt.Errorf("%w: an identifier type appears twice", errCorrupt)
	}
	nc, err := s.uint(uint64(none - 1))
	if err != nil {
		return err
	}
	ni, err := s.uint(uint64(none - 1))
	if err != nil {
		return err
	}
	// Reserve for what the header announces, within reason: it is not trusted yet.
	g.uids.reserve(int(min(nc, 1<<24)), g.uidHash)
	g.idx.reserve(int(min(ni, 1<<26)), g.identHash)
	g.customers = reserve(g.customers, int(min(nc, 1<<24)))
	g.idents = reserve(g.idents, int(min(ni, 1<<26)))
	for c := range uint32(nc) {
		ref, n, err := s.str(255)
		if err != nil {
			return err
		}
		if n == 0 || g.findUID(g.arena.str(ref, n)) != none {
			return fmt.Errorf("%w: customer %d has an empty or repeated ID", errCorrupt, c)
		}
		state, err := s.uint(uint64(forgotten))
		if err != nil {
			return err
		}
		into, err := s.uint(uint64(nc))
		if err != nil {
			return err
		}
		count, err := s.uint(uint64(none - 1))
		if err != nil {
			return err
		}
		g.addCustomer(ref, uint8(n))
		cu := &g.customers[c]
		cu.state, cu.into = uint8(state), uint32(into)-1
		switch {
		case cu.state == merged && (cu.into == none || cu.into == c):
			return fmt.Errorf("%w: customer %d is merged into nothing", errCorrupt, c)
		case cu.state != merged && cu.into != none, cu.state != live && count > 0:
			return fmt.Errorf("%w: customer %d", errCorrupt, c)
		}
		if cu.state != live {
			g.live--
		}
		last := none
		for range count {
			t, err := s.index(int(nt))
			if err != nil {
				return err
			}
			ref, n, err := s.str(maxValueLen)
			if err != nil {
				return err
			}
			at, err := binary.ReadVarint(s.r)
			if err != nil {
				return err
			}
			v := g.arena.str(ref, n)
			h := g.hashID(uint16(t), v)
			if n == 0 || g.findIdent(uint16(t), v, h) != none {
				return fmt.Errorf("%w: customer %d holds an empty or repeated identifier", errCorrupt, c)
			}
			k := uint32(len(g.idents))
			g.idents = append(g.idents, ident{ref: ref, owner: c, next: none, at: at, n: uint16(n), typ: uint16(t)})
			g.idx.reserve(1, g.identHash)
			g.idx.put(h, k)
			if last == none {
				g.customers[c].head = k
			} else {
				g.idents[last].next = k
			}
			last = k
			g.customers[c].count++
		}
	}
	if uint64(len(g.idents)) != ni {
		return fmt.Errorf("%w: %d identifiers, the header says %d", errCorrupt, len(g.idents), ni)
	}
	if err := g.checkChains(); err != nil {
		return err
	}
	nm, err := s.uint(uint64(none - 1))
	if err != nil {
		return err
	}
	for range nm {
		ref, n, err := s.str(255)
		if err != nil {
			return err
		}
		if n == 0 || g.findMerge(g.arena.str(ref, n)) != none {
			return fmt.Errorf("%w: a merge has an empty or repeated ID", errCorrupt)
		}
		var r mergeRec
		r.id, r.idLen = ref, uint8(n)
		into, err := s.index(int(nc))
		if err != nil {
			return err
		}
		from, err := s.index(int(nc))
		if err != nil {
			return err
		}
		if r.at, err = binary.ReadVarint(s.r); err != nil {
			return err
		}
		state, err := s.uint(uint64(undone))
		if err != nil {
			return err
		}
		r.into, r.from, r.state = into, from, uint8(state)
		if r.into == r.from {
			return fmt.Errorf("%w: a customer merged into itself", errCorrupt)
		}
		for _, sp := range []*span{&r.moved, &r.cause} {
			cnt, err := s.uint(uint64(len(g.idents)))
			if err != nil {
				return err
			}
			sp.off, sp.n = uint32(len(g.pool)), uint32(cnt)
			for range cnt {
				k, err := s.index(len(g.idents))
				if err != nil {
					return err
				}
				g.pool = append(g.pool, k)
			}
		}
		m := uint32(len(g.merges))
		r.prev = g.customers[r.into].merges
		g.customers[r.into].merges = m
		g.merges = append(g.merges, r)
		g.mergeIdx.reserve(1, g.mergeHash)
		g.mergeIdx.put(g.mergeHash(m), m)
	}
	for m := range g.merges {
		r := &g.merges[m]
		if r.state == active && (g.customers[r.from].state != merged || g.customers[r.from].into != r.into) {
			return fmt.Errorf("%w: merge %d does not match its customers", errCorrupt, m)
		}
	}
	end := make([]byte, 4)
	if _, err := io.ReadFull(s.r, end); err != nil {
		return err
	}
	if string(end) != "end\n" {
		return fmt.Errorf("%w: no end marker", errCorrupt)
	}
	return nil
}

// checkChains makes sure every merged customer leads to a live one, so canonical ends.
func (g *Graph) checkChains() error {
	ok := make([]bool, len(g.customers)) // merged customers known to lead to a live one
	for c := range g.customers {
		if g.customers[c].state != merged || ok[c] {
			continue
		}
		x, steps := uint32(c), 0
		for g.customers[x].state == merged && !ok[x] {
			if steps++; steps > len(g.customers) {
				return fmt.Errorf("%w: customers merged in a cycle", errCorrupt)
			}
			x = g.customers[x].into
		}
		if g.customers[x].state == forgotten {
			return fmt.Errorf("%w: customer %d is merged into a forgotten one", errCorrupt, c)
		}
		for y := uint32(c); y != x; y = g.customers[y].into {
			ok[y] = true
		}
	}
	return nil
}

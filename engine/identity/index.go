package identity

import (
	"errors"
	"unsafe"
)

// none marks an absent index (no customer, no identifier, end of a list).
const none = ^uint32(0)

// slots is an open-addressing hash index (linear probing) from a 64-bit hash to a 32-bit
// index into one of the graph's slices. A slot packs the upper half of the hash, forced odd so
// that 0 can mean empty, with the index. Callers confirm a candidate against the stored value,
// so two values whose hashes collide stay distinct. Slots hold no pointers: the garbage
// collector never scans them, whatever the size of the graph.
type slots struct {
	s    []uint64
	mask uint64
	used int // slots not empty: live and removed
	live int
}

// removed marks a slot whose entry was deleted; its upper half is even, so it never matches.
const removed = 2

func fingerprint(h uint64) uint64 { return h>>32 | 1 }

// reserve makes room for extra more entries without exceeding a load of 3/4; growing rehashes
// every entry with hash, which recomputes it from the value the entry points at.
func (t *slots) reserve(extra int, hash func(uint32) uint64) {
	if len(t.s) > 0 && (t.used+extra)*4 <= len(t.s)*3 {
		return
	}
	size := 16
	for size*3 < (t.live+extra)*4 {
		size <<= 1
	}
	if size < len(t.s) {
		size = len(t.s) // same size: a rehash that clears removed slots
	}
	old := t.s
	t.s, t.mask, t.used, t.live = make([]uint64, size), uint64(size-1), 0, 0
	for _, s := range old {
		if s != 0 && s != removed {
			t.put(hash(uint32(s)), uint32(s))
		}
	}
}

// put adds an entry; the caller has reserved room and checked that it is not present.
func (t *slots) put(h uint64, v uint32) {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if s := t.s[i]; s == 0 || s == removed {
			if s == 0 {
				t.used++
			}
			t.s[i] = fingerprint(h)<<32 | uint64(v)
			t.live++
			return
		}
	}
}

// find returns the index stored under h for which match is true, or none.
func (t *slots) find(h uint64, match func(uint32) bool) uint32 {
	if len(t.s) == 0 {
		return none
	}
	f := fingerprint(h)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.s[i]
		if s == 0 {
			return none
		}
		if s>>32 == f && match(uint32(s)) {
			return uint32(s)
		}
	}
}

// remove deletes the entry (h, v).
func (t *slots) remove(h uint64, v uint32) {
	if len(t.s) == 0 {
		return
	}
	want := fingerprint(h)<<32 | uint64(v)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		switch t.s[i] {
		case 0:
			return
		case want:
			t.s[i] = removed
			t.live--
			return
		}
	}
}

// chunkBits sizes the arena's chunks (1 MiB); a reference is chunk<<chunkBits | offset.
const (
	chunkBits = 20
	chunkSize = 1 << chunkBits
	maxChunks = 1 << (32 - chunkBits)
)

var errFull = errors.New("the identity graph is full (4 GiB of identifier values)")

// arena stores identifier values and IDs as bytes in large append-only chunks, so a million
// customers cost a handful of allocations instead of millions of small strings. Bytes are never
// written twice, which is what makes handing them out as strings (str) safe.
type arena struct {
	chunks [][]byte
}

// room reports whether n more bytes fit.
func (a *arena) room(n int) bool {
	return len(a.chunks) < maxChunks || len(a.chunks[len(a.chunks)-1])+n <= chunkSize
}

// alloc returns a reference to n new bytes and the bytes to fill in.
func (a *arena) alloc(n int) (uint32, []byte, error) {
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > chunkSize {
		if len(a.chunks) == maxChunks {
			return 0, nil, errFull
		}
		a.chunks = append(a.chunks, make([]byte, 0, chunkSize))
		last++
	}
	c := a.chunks[last]
	off := len(c)
	a.chunks[last] = c[:off+n]
	return uint32(last)<<chunkBits | uint32(off), a.chunks[last][off : off+n : off+n], nil
}

// add copies s into the arena.
func (a *arena) add(s string) (uint32, error) {
	ref, b, err := a.alloc(len(s))
	if err != nil {
		return 0, err
	}
	copy(b, s)
	return ref, nil
}

// bytes returns the n bytes at ref, to fill in once after alloc.
func (a *arena) bytes(ref uint32, n int) []byte {
	c := a.chunks[ref>>chunkBits]
	off := ref & (chunkSize - 1)
	return c[off : off+uint32(n) : off+uint32(n)]
}

// str returns the n bytes at ref as a string without copying.
func (a *arena) str(ref uint32, n int) string {
	if n == 0 {
		return ""
	}
	c := a.chunks[ref>>chunkBits]
	return unsafe.String(&c[ref&(chunkSize-1)], n)
}

// size is the memory the arena holds.
func (a *arena) size() int { return len(a.chunks) * chunkSize }

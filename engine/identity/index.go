package identity

import (
	"errors"
	"math/bits"
	"slices"
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

// putAll adds the entries (hs[i], base+i), in parallel on workers: each worker fills one range
// of slots, taking the entries whose home slot is in it in order, scattered first into bh and
// bv (room for len(hs) each) so that each worker writes near where it just wrote. An entry for
// which taken(v, base+i) reports the value v of a slot it probes is left, as is one whose probe
// leaves its range; putAll returns what it left, in order, for the caller to put. The caller
// has reserved room.
func (t *slots) putAll(workers int, hs []uint64, base uint32, taken func(have, want uint32) bool, bh []uint64, bv []uint32) []uint32 {
	const bucketBits = 15 // slots per bucket: 256 KiB of table, within a core's cache
	n := len(hs)
	size := len(t.s)
	shift := max(bits.Len(uint(size))-1-bucketBits, 0)
	buckets := size >> shift
	if n < 1<<14 || buckets < workers {
		workers = 1
	}
	// Bucket the entries by home slot, keeping their order.
	counts := make([][]uint32, workers)
	split(workers, n, func(w, lo, hi int) {
		c := make([]uint32, buckets)
		for _, h := range hs[lo:hi] {
			c[(h&t.mask)>>shift]++
		}
		counts[w] = c
	})
	bounds := make([]uint32, buckets+1)
	total := uint32(0)
	for b := range buckets {
		bounds[b] = total
		for w := range workers {
			c := counts[w][b]
			counts[w][b] = total
			total += c
		}
	}
	bounds[buckets] = total
	split(workers, n, func(w, lo, hi int) {
		off := counts[w]
		for i := lo; i < hi; i++ {
			h := hs[i]
			b := (h & t.mask) >> shift
			bh[off[b]], bv[off[b]] = h, base+uint32(i)
			off[b]++
		}
	})
	left := make([][]uint32, workers)
	used := make([]int, workers)
	split(workers, buckets, func(w, blo, bhi int) {
		hi := uint64(bhi) << shift
		for e := bounds[blo]; e < bounds[bhi]; e++ {
			h, v := bh[e], bv[e]
			f := fingerprint(h)
			free := int64(-1)
			j := h & t.mask
			for ; j < hi; j++ {
				s := t.s[j]
				if s == 0 {
					break
				}
				if s == removed {
					if free < 0 {
						free = int64(j)
					}
					if taken == nil {
						break
					}
					continue
				}
				if taken != nil && s>>32 == f && taken(uint32(s), v) {
					j = hi // left for the caller
				}
			}
			if j >= hi {
				left[w] = append(left[w], v)
				continue
			}
			if free < 0 {
				free = int64(j)
				used[w]++
			}
			t.s[free] = f<<32 | uint64(v)
		}
	})
	var out []uint32
	for w := range workers {
		t.used += used[w]
		out = append(out, left[w]...)
	}
	t.live += n - len(out)
	slices.Sort(out)
	return out
}

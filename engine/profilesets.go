package engine

import (
	"encoding/json"
	"iter"
	"math/bits"
	"slices"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

// segmentSet is the segments a customer is in. It is laid out by a programme's positions:
// segment i of the programme is bit i, so the processor, which looks up every segment a
// rule may have moved for every event, tests a bit instead of hashing a name, and a profile
// holds a few words instead of a map. Names its programme lacks (segments of another
// programme, or read from the store before any programme was laid out) are kept by name,
// so pushing an earlier programme back finds its members as they were.
type segmentSet struct {
	layout *segmentLayout
	bits   []uint64
	other  []string
}

// segmentLayout is a programme's segments by position, and their positions by name.
type segmentLayout struct {
	names []string
	index map[string]int
}

// newSegmentLayout lays out segments in the programme's order.
func newSegmentLayout(segs []*rules.CSegment) *segmentLayout {
	l := &segmentLayout{names: make([]string, len(segs)), index: make(map[string]int, len(segs))}
	for i, s := range segs {
		l.names[i] = s.Name
		l.index[s.Name] = i
	}
	return l
}

// emptyLayout lays out no segment: a set under it keeps every name as a name.
var emptyLayout = &segmentLayout{}

// segmentLayout is the programme's layout of its segments, made once.
func (p *program) segmentLayout() *segmentLayout {
	p.layoutOnce.Do(func() { p.layout = newSegmentLayout(p.Segments) })
	return p.layout
}

// at reports whether the set holds the segment at position i of layout l. It only reads, so
// readers may share a profile: a set laid out for another programme is looked up by name
// until the processor changes it (setAt lays it out again).
func (s *segmentSet) at(l *segmentLayout, i int) bool {
	if s.layout != l {
		return s.has(l.names[i])
	}
	return s.bit(i)
}

// bit reports whether bit i is set, under the set's own layout.
func (s *segmentSet) bit(i int) bool {
	w := i / 64
	return w < len(s.bits) && s.bits[w]&(1<<(i%64)) != 0
}

// setAt adds (in) or removes the segment at position i of layout l.
func (s *segmentSet) setAt(l *segmentLayout, i int, in bool) {
	if s.layout != l {
		s.relayout(l)
	}
	w := i / 64
	if in {
		if w >= len(s.bits) {
			s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
		}
		s.bits[w] |= 1 << (i % 64)
	} else if w < len(s.bits) {
		s.bits[w] &^= 1 << (i % 64)
	}
}

// relayout moves the set to layout l: members by name find their positions in l, and those
// l lacks are kept as names.
func (s *segmentSet) relayout(l *segmentLayout) {
	names := s.names()
	s.layout, s.bits, s.other = l, nil, nil
	for _, n := range names {
		s.add(n)
	}
}

// has reports whether the set holds the segment of that name.
func (s *segmentSet) has(name string) bool {
	if s.layout != nil {
		if i, ok := s.layout.index[name]; ok {
			return s.bit(i)
		}
	}
	return slices.Contains(s.other, name)
}

// add puts the segment of that name in the set.
func (s *segmentSet) add(name string) {
	if s.layout == nil {
		s.layout = emptyLayout
	}
	if i, ok := s.layout.index[name]; ok {
		s.setAt(s.layout, i, true)
	} else if !slices.Contains(s.other, name) {
		s.other = append(s.other, name)
	}
}

// all yields the segments in the set: those of the layout in its order, then the others.
func (s *segmentSet) all() iter.Seq[string] {
	return func(yield func(string) bool) {
		for w, word := range s.bits {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				if !yield(s.layout.names[w*64+b]) {
					return
				}
				word &^= 1 << b
			}
		}
		for _, n := range s.other {
			if !yield(n) {
				return
			}
		}
	}
}

// names lists the segments in the set, as all yields them.
func (s *segmentSet) names() []string {
	return slices.AppendSeq(make([]string, 0, s.len()), s.all())
}

// len is how many segments the set holds.
func (s *segmentSet) len() int {
	n := len(s.other)
	for _, w := range s.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// clone copies the set; the layout, never changed, is shared.
func (s segmentSet) clone() segmentSet {
	return segmentSet{layout: s.layout, bits: slices.Clone(s.bits), other: slices.Clone(s.other)}
}

// IsZero reports an empty set, which a profile's JSON leaves out.
func (s segmentSet) IsZero() bool { return s.len() == 0 }

// MarshalJSON writes the set as the object of names its JSON form has always been.
func (s segmentSet) MarshalJSON() ([]byte, error) {
	m := make(map[string]bool, s.len())
	for n := range s.all() {
		m[n] = true
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the object of names, true for a member.
func (s *segmentSet) UnmarshalJSON(b []byte) error {
	var m map[string]bool
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = segmentSet{}
	for _, n := range sortedKeys(m) {
		if m[n] {
			s.add(n)
		}
	}
	return nil
}

// segmentsOf makes a set of the named segments.
func segmentsOf(names ...string) segmentSet {
	var s segmentSet
	for _, n := range names {
		s.add(n)
	}
	return s
}

// segmentFields is a customer's membership as CEL reads customer.segments: the fields of
// the segments type are the programme's segments in its order, so field i is bit i, and
// every field is set (a segment the customer is not in is false).
type segmentFields struct {
	s *segmentSet
	l *segmentLayout
}

func (f segmentFields) Field(i int) (any, bool) {
	if i < 0 || i >= len(f.l.names) {
		return nil, false
	}
	return f.s.at(f.l, i), true
}

func (f segmentFields) Map() map[string]any {
	m := make(map[string]any, len(f.l.names))
	for i, n := range f.l.names {
		m[n] = f.s.at(f.l, i)
	}
	return m
}

// firedSet is when each trigger (or a broadcast's message) last fired for the customer. It
// is a short list searched in order, not a map: a customer has fired a few triggers, every
// event looks up those it might fire, and a map of each customer's was a large part of the
// memory the collector walks.
type firedSet []firedAt

type firedAt struct {
	name string
	at   time.Time
}

// get is when name last fired.
func (f firedSet) get(name string) (time.Time, bool) {
	for i := range f {
		if f[i].name == name {
			return f[i].at, true
		}
	}
	return time.Time{}, false
}

// set records that name fired at at.
func (f *firedSet) set(name string, at time.Time) {
	for i := range *f {
		if (*f)[i].name == name {
			(*f)[i].at = at
			return
		}
	}
	*f = append(*f, firedAt{name, at})
}

// MarshalJSON writes the object of names and times the JSON form has always been.
func (f firedSet) MarshalJSON() ([]byte, error) {
	m := make(map[string]time.Time, len(f))
	for _, x := range f {
		m[x.name] = x.at
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the object of names and times.
func (f *firedSet) UnmarshalJSON(b []byte) error {
	var m map[string]time.Time
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*f = nil
	for _, k := range sortedKeys(m) {
		f.set(k, m[k])
	}
	return nil
}

package engine

// The store keeps a profile in a compact binary form, written and read without reflection:
// the committer, the engine's slowest stage, encodes every changed profile, and JSON took it
// several times as long and twice the bytes.
//
// A body is the format byte profileV1, then the fields in this order, with no trailing bytes:
//
//	id                      string
//	first_seen, last_seen   time
//	consent                 count, then count × (string, bool)
//	attributes              count, then count × (string, value)
//	traits                  count, then count × (name string, buckets, last value, last_at varint)
//	  buckets               count, then count × (start varint, the change from the bucket
//	                        before; n varint; sum, min, max float; distinct strings)
//	segments                as consent
//	fired                   count, then count × (string, time)
//	sent                    count, then count × (channel string, time)
//
// count and string lengths are uvarints; a string is its length and bytes; a bool one byte, 0
// or 1; a float is its IEEE bits byte-reversed as a uvarint (as gob does, so whole numbers take
// a few bytes); a time is unix seconds (varint), nanoseconds (uvarint) and the zone offset in
// seconds (varint), so instants and offsets survive as they did in JSON. A value is a tag byte
// (valNil...valJSON) and its payload: strings, int64, float64, lists and objects natively, any
// other Go type as the JSON text the JSON store kept, read back as JSON reads it.
//
// Bodies beginning with '{' are profiles written as JSON by earlier versions; a later format
// gets another first byte that no JSON document begins with.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// profileV1 is the first byte of a binary profile. It is a control character, which no JSON
// document begins with.
const profileV1 = 0x01

// Value tags.
const (
	valNil byte = iota
	valFalse
	valTrue
	valString
	valInt
	valFloat
	valList
	valObject
	valJSON
)

// maxValueDepth bounds the nesting of a value, as encoding/json bounds the events that bring
// attributes, so a corrupt body cannot recurse without end.
const maxValueDepth = 10000

// appendProfile appends p's binary form to dst. It fails only for a value JSON cannot encode
// either, or one nested deeper than a body may be.
func appendProfile(dst []byte, p *Profile) ([]byte, error) {
	var err error
	dst = slices.Grow(dst, sizeHint(p))
	dst = append(dst, profileV1)
	dst = appendString(dst, p.ID)
	dst = appendTime(dst, p.FirstSeen)
	dst = appendTime(dst, p.LastSeen)
	dst = appendBools(dst, p.Consent)
	dst = binary.AppendUvarint(dst, uint64(len(p.Attributes)))
	for k, v := range p.Attributes {
		dst = appendString(dst, k)
		if dst, err = appendValue(dst, v, 0); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Traits)))
	for name, ts := range p.Traits {
		if ts == nil {
			ts = &TraitState{} // only a JSON body can hold one; it reads as no state
		}
		dst = appendString(dst, name)
		dst = binary.AppendUvarint(dst, uint64(len(ts.Buckets)))
		prev := int64(0)
		for _, b := range ts.Buckets {
			dst = binary.AppendVarint(dst, b.Start-prev) // buckets are sorted: small steps
			prev = b.Start
			dst = binary.AppendVarint(dst, b.N)
			dst = appendFloat(dst, b.Sum)
			dst = appendFloat(dst, b.Min)
			dst = appendFloat(dst, b.Max)
			dst = binary.AppendUvarint(dst, uint64(len(b.Distinct)))
			for _, d := range b.Distinct {
				dst = appendString(dst, d)
			}
		}
		if dst, err = appendValue(dst, ts.Last, 0); err != nil {
			return nil, fmt.Errorf("trait %s: %w", name, err)
		}
		dst = binary.AppendVarint(dst, ts.LastAt)
	}
	dst = appendSegments(dst, &p.Segments)
	dst = binary.AppendUvarint(dst, uint64(len(p.Fired)))
	for _, x := range p.Fired {
		dst = appendString(dst, x.name)
		dst = appendTime(dst, x.at)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Sent)))
	for _, s := range p.Sent {
		dst = appendString(dst, s.Channel)
		dst = appendTime(dst, s.At)
	}
	return dst, nil
}

// sizeHint guesses p's encoded size (names of a dozen bytes, 11 bytes a time), so encoding
// allocates once: growing by doubling was half its time.
func sizeHint(p *Profile) int {
	n := 16 + len(p.ID) + 24*(len(p.Fired)+len(p.Sent)+len(p.Attributes)) + 12*(len(p.Consent)+p.Segments.len())
	for _, ts := range p.Traits {
		n += 20
		if ts != nil {
			n += 12 * len(ts.Buckets)
		}
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBools(dst []byte, m map[string]bool) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	for k, v := range m {
		dst = appendString(dst, k)
		dst = appendBool(dst, v)
	}
	return dst
}

// appendSegments writes a segment set as the bools of its names, each true.
func appendSegments(dst []byte, s *segmentSet) []byte {
	dst = binary.AppendUvarint(dst, uint64(s.len()))
	for n := range s.all() {
		dst = appendString(dst, n)
		dst = append(dst, 1)
	}
	return dst
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendFloat(dst []byte, f float64) []byte {
	return binary.AppendUvarint(dst, bits.ReverseBytes64(math.Float64bits(f)))
}

func appendTime(dst []byte, t time.Time) []byte {
	_, offset := t.Zone()
	dst = binary.AppendVarint(dst, t.Unix())
	dst = binary.AppendUvarint(dst, uint64(t.Nanosecond()))
	return binary.AppendVarint(dst, int64(offset))
}

// appendValue appends an attribute or last value. Events bring strings, booleans, int64,
// float64, lists and objects of them (numbersToGo); other types come from CEL only.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("a value nested more than %d deep", maxValueDepth)
	}
	var err error
	switch x := v.(type) {
	case nil:
		dst = append(dst, valNil)
	case bool:
		if x {
			dst = append(dst, valTrue)
		} else {
			dst = append(dst, valFalse)
		}
	case string:
		dst = appendString(append(dst, valString), x)
	case int64:
		dst = binary.AppendVarint(append(dst, valInt), x)
	case float64:
		dst = appendFloat(append(dst, valFloat), x)
	case []any:
		dst = binary.AppendUvarint(append(dst, valList), uint64(len(x)))
		for _, e := range x {
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		dst = binary.AppendUvarint(append(dst, valObject), uint64(len(x)))
		for k, e := range x {
			dst = appendString(dst, k)
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return nil, err
			}
		}
	default:
		// As the JSON store kept it, so it reads back as it did (uint64 as float64...).
		j, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		dst = appendString(append(dst, valJSON), string(j))
	}
	return dst, nil
}

// readProfile decodes a binary profile. A body that is not one, or is cut short or corrupt,
// is an error naming the field and the byte where reading stopped.
func readProfile(body []byte) (*Profile, error) {
	if len(body) == 0 {
		return nil, errors.New("profile body: empty")
	}
	if body[0] != profileV1 {
		return nil, fmt.Errorf("profile body: unknown format (first byte %#02x)", body[0])
	}
	r := &profileReader{b: body, off: 1}
	p := &Profile{}
	r.at("id")
	p.ID = r.str()
	r.at("first_seen")
	p.FirstSeen = r.time()
	r.at("last_seen")
	p.LastSeen = r.time()
	r.at("consent")
	p.Consent = r.bools()
	r.at("attributes")
	if n := r.count(); n > 0 {
		p.Attributes = make(map[string]any, n)
		for range n {
			r.key = r.str()
			p.Attributes[r.key] = r.value(0)
		}
	}
	r.at("traits")
	if n := r.count(); n > 0 {
		p.Traits = make(map[string]*TraitState, n)
		for range n {
			r.key = r.str()
			ts := &TraitState{}
			if nb := r.count(); nb > 0 {
				ts.Buckets = make([]Bucket, nb)
			}
			start := int64(0)
			for i := range ts.Buckets {
				b := &ts.Buckets[i]
				start += r.varint()
				b.Start, b.N = start, r.varint()
				b.Sum, b.Min, b.Max = r.float(), r.float(), r.float()
				if nd := r.count(); nd > 0 {
					b.Distinct = make([]string, nd)
					for j := range b.Distinct {
						b.Distinct[j] = r.str()
					}
				}
			}
			ts.Last = r.value(0)
			ts.LastAt = r.varint()
			p.Traits[r.key] = ts
		}
	}
	r.at("segments")
	p.Segments = r.segments()
	r.at("fired")
	if n := r.count(); n > 0 {
		p.Fired = make(firedSet, 0, n)
		for range n {
			r.key = r.str()
			p.Fired.set(r.key, r.time())
		}
	}
	r.at("sent")
	if n := r.count(); n > 0 {
		p.Sent = make([]Sent, n)
		for i := range p.Sent {
			p.Sent[i] = Sent{Channel: r.str(), At: r.time()}
		}
	}
	if r.err == nil && r.off < len(r.b) {
		r.at("end")
		r.fail("%d bytes after the profile", len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

// profileReader reads a binary profile. The first error sticks: later reads return zero
// values, and every count is bounded by the bytes left, so a corrupt body ends the loops
// quickly and allocates no more than its own size allows.
type profileReader struct {
	b          []byte
	off        int
	field, key string // what is being read, for errors
	err        error
}

func (r *profileReader) at(field string) { r.field, r.key = field, "" }

func (r *profileReader) fail(format string, args ...any) {
	if r.err != nil {
		return
	}
	where := r.field
	if r.key != "" {
		where += fmt.Sprintf("[%q]", r.key)
	}
	r.err = fmt.Errorf("profile body: %s: %s (at byte %d of %d)", where, fmt.Sprintf(format, args...), r.off, len(r.b))
}

func (r *profileReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("cut short")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *profileReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n == 0 {
		r.fail("cut short")
	} else if n < 0 {
		r.fail("a number longer than 64 bits")
	}
	r.off += max(n, 0)
	return v
}

// varint undoes binary.AppendVarint's zig-zag encoding.
func (r *profileReader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// count reads a number of entries; each takes at least a byte.
func (r *profileReader) count() int {
	n := r.uvarint()
	if left := uint64(len(r.b) - r.off); n > left {
		r.fail("%d entries with %d bytes left", n, left)
		return 0
	}
	return int(n)
}

func (r *profileReader) str() string {
	n := r.uvarint()
	if left := uint64(len(r.b) - r.off); n > left {
		r.fail("a string of %d bytes with %d left", n, left)
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

func (r *profileReader) bool() bool {
	switch b := r.byte(); b {
	case 0, 1:
		return b == 1
	default:
		r.fail("%#02x is not a boolean", b)
		return false
	}
}

func (r *profileReader) bools() map[string]bool {
	n := r.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]bool, n)
	for range n {
		r.key = r.str()
		m[r.key] = r.bool()
	}
	return m
}

// segments reads a segment set written as bools: the names that are true.
func (r *profileReader) segments() segmentSet {
	var s segmentSet
	for range r.count() {
		name := r.str()
		if r.bool() {
			s.add(name)
		}
	}
	return s
}

func (r *profileReader) float() float64 {
	return math.Float64frombits(bits.ReverseBytes64(r.uvarint()))
}

// time reads a time as JSON read the RFC 3339 text it replaces: UTC for offset zero, the local
// zone when it has the offset then, else a fixed zone.
func (r *profileReader) time() time.Time {
	sec, nsec, offset := r.varint(), r.uvarint(), r.varint()
	if nsec >= 1e9 {
		r.fail("%d nanoseconds", nsec)
	}
	if offset <= -24*3600 || offset >= 24*3600 {
		r.fail("a zone offset of %d seconds", offset)
	}
	if r.err != nil {
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if offset == 0 {
		return t.UTC()
	}
	if _, local := t.Zone(); int64(local) == offset {
		return t
	}
	return t.In(time.FixedZone("", int(offset)))
}

func (r *profileReader) value(depth int) any {
	if depth > maxValueDepth {
		r.fail("a value nested more than %d deep", maxValueDepth)
		return nil
	}
	switch tag := r.byte(); tag {
	case valNil:
	case valFalse, valTrue:
		return tag == valTrue
	case valString:
		return r.str()
	case valInt:
		return r.varint()
	case valFloat:
		return r.float()
	case valList:
		n := r.count()
		l := make([]any, n)
		for i := range l {
			l[i] = r.value(depth + 1)
		}
		return l
	case valObject:
		n := r.count()
		m := make(map[string]any, n)
		for range n {
			k := r.str()
			m[k] = r.value(depth + 1)
		}
		return m
	case valJSON:
		var v any
		if err := json.Unmarshal([]byte(r.str()), &v); err != nil {
			r.fail("a JSON value: %v", err)
		}
		return v
	default:
		r.fail("unknown value tag %#02x", tag)
	}
	return nil
}

package engine

import (
	"cel.dev/cel-go/common/types"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
)

// Profile is what the engine knows of one customer besides identifiers: consent, attributes,
// trait state, segment membership and the bookkeeping of triggers and sends.
type Profile struct {
	ID         string                 `json:"id"`
	FirstSeen  time.Time              `json:"first_seen"`
	LastSeen   time.Time              `json:"last_seen"`
	Consent    map[string]bool        `json:"consent,omitempty"`
	Attributes map[string]any         `json:"attributes,omitempty"`
	Traits     map[string]*TraitState `json:"traits,omitempty"`
	Segments   segmentSet             `json:"segments,omitzero"`
	// Fired is when each trigger last fired for the customer (cooldowns).
	Fired firedSet `json:"fired,omitempty"`
	// Sent lists recent sends per channel (provider type), for frequency caps.
	Sent []Sent `json:"sent,omitempty"`
}

// Sent is one message sent (or queued) to the customer.
type Sent struct {
	Channel string    `json:"c"`
	At      time.Time `json:"t"`
}

// TraitState is a trait's incremental aggregate: time buckets for windowed traits (one
// bucket for an all-time trait), so a value is a fold over a few buckets, never over events.
type TraitState struct {
	Buckets []Bucket `json:"b,omitempty"`
	Last    any      `json:"l,omitempty"`
	LastAt  int64    `json:"lt,omitempty"` // unix ms of the event that set Last
}

// Bucket aggregates the events of one time slice.
type Bucket struct {
	Start    int64    `json:"s"` // unix seconds
	N        int64    `json:"n"`
	Sum      float64  `json:"sum,omitempty"`
	Min      float64  `json:"min,omitempty"`
	Max      float64  `json:"max,omitempty"`
	Distinct []string `json:"d,omitempty"`
}

// maxDistinct bounds the values a distinct trait remembers per bucket.
const maxDistinct = 1000

// bucketWidth is a trait's time slice: a 90th of its window (a day for 90 days), at least a
// minute. Window values are exact to one slice.
func bucketWidth(window time.Duration) int64 {
	if window <= 0 {
		return 0
	}
	w := int64(window/time.Second) / 90
	return max(w, 60)
}

func newProfile(id string, at time.Time) *Profile {
	return &Profile{ID: id, FirstSeen: at, LastSeen: at}
}

// observe adds one event's value to a trait.
func (ts *TraitState) observe(t *rules.CTrait, at time.Time, v any) {
	sec := at.Unix()
	start := int64(0)
	if w := bucketWidth(t.WindowDur); w > 0 {
		start = sec - sec%w
	}
	// Events mostly come in time order: the bucket is the last one, or a new one after it.
	i := len(ts.Buckets) - 1
	switch {
	case i >= 0 && ts.Buckets[i].Start == start:
	case i < 0 || ts.Buckets[i].Start < start:
		ts.Buckets = append(ts.Buckets, Bucket{Start: start})
		i++
	default:
		var found bool
		i, found = slices.BinarySearchFunc(ts.Buckets, start, func(b Bucket, s int64) int { return cmp.Compare(b.Start, s) })
		if !found {
			ts.Buckets = slices.Insert(ts.Buckets, i, Bucket{Start: start})
		}
	}
	b := &ts.Buckets[i]
	switch t.Agg {
	case lang.AggSum, lang.AggMin, lang.AggMax:
		f, ok := number(v)
		if !ok {
			return
		}
		if b.N == 0 || f < b.Min {
			b.Min = f
		}
		if b.N == 0 || f > b.Max {
			b.Max = f
		}
		b.Sum += f
	case lang.AggDistinct:
		key := fmt.Sprint(v)
		if !slices.Contains(b.Distinct, key) && len(b.Distinct) < maxDistinct {
			b.Distinct = append(b.Distinct, key)
		}
	case lang.AggLast:
		if ms := at.UnixMilli(); ms >= ts.LastAt {
			ts.Last, ts.LastAt = jsonable(v), ms
		}
	}
	b.N++
}

// prune drops buckets that have left the window.
func (ts *TraitState) prune(t *rules.CTrait, now time.Time) {
	if t.WindowDur <= 0 {
		return
	}
	cutoff := now.Add(-t.WindowDur).Unix()
	w := bucketWidth(t.WindowDur)
	n := 0
	for _, b := range ts.Buckets {
		if b.Start+w > cutoff {
			ts.Buckets[n] = b
			n++
		}
	}
	ts.Buckets = ts.Buckets[:n]
}

// value folds the buckets inside the window at now into the trait's value.
func (ts *TraitState) value(t *rules.CTrait, now time.Time) any {
	cutoff := int64(-1 << 62)
	if t.WindowDur > 0 {
		cutoff = now.Add(-t.WindowDur).Unix() - bucketWidth(t.WindowDur) + 1
	}
	var n int64
	var sum, mn, mx float64
	// Distinct values are counted in a list while they are few (most customers visit a
	// handful of stores), which makes no map for each reading of the trait.
	var few [16]string
	distinct := few[:0]
	var many map[string]bool
	for _, b := range ts.Buckets {
		if b.Start < cutoff || b.N == 0 {
			continue
		}
		if n == 0 || b.Min < mn {
			mn = b.Min
		}
		if n == 0 || b.Max > mx {
			mx = b.Max
		}
		n += b.N
		sum += b.Sum
		if t.Agg == lang.AggDistinct {
			for _, d := range b.Distinct {
				switch {
				case many != nil:
					many[d] = true
				case slices.Contains(distinct, d):
				case len(distinct) < len(few):
					distinct = append(distinct, d)
				default:
					many = make(map[string]bool, 2*len(few))
					for _, x := range distinct {
						many[x] = true
					}
					many[d] = true
				}
			}
		}
	}
	switch t.Agg {
	case lang.AggCount:
		return n
	case lang.AggDistinct:
		if many != nil {
			return int64(len(many))
		}
		return int64(len(distinct))
	case lang.AggSum:
		return typed(t, sum)
	case lang.AggMin:
		return typed(t, mn)
	case lang.AggMax:
		return typed(t, mx)
	case lang.AggLast:
		if ts.LastAt == 0 || (t.WindowDur > 0 && ts.LastAt < now.Add(-t.WindowDur).UnixMilli()) {
			return zeroTrait(t)
		}
		return fromJSONable(t, ts.Last)
	}
	return nil
}

// merge folds another customer's trait state into this one (a merge of two profiles).
func (ts *TraitState) merge(t *rules.CTrait, o *TraitState) {
	for _, ob := range o.Buckets {
		i := slices.IndexFunc(ts.Buckets, func(b Bucket) bool { return b.Start == ob.Start })
		if i < 0 {
			ts.Buckets = append(ts.Buckets, ob)
			continue
		}
		b := &ts.Buckets[i]
		if ob.N > 0 && (b.N == 0 || ob.Min < b.Min) {
			b.Min = ob.Min
		}
		if ob.N > 0 && (b.N == 0 || ob.Max > b.Max) {
			b.Max = ob.Max
		}
		b.N += ob.N
		b.Sum += ob.Sum
		for _, d := range ob.Distinct {
			if !slices.Contains(b.Distinct, d) && len(b.Distinct) < maxDistinct {
				b.Distinct = append(b.Distinct, d)
			}
		}
	}
	slices.SortFunc(ts.Buckets, func(a, b Bucket) int { return int(a.Start - b.Start) })
	if o.LastAt > ts.LastAt {
		ts.Last, ts.LastAt = o.Last, o.LastAt
	}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case time.Time:
		return float64(x.UnixNano()) / 1e9, true
	}
	return 0, false
}

// typed converts an aggregate back to the trait's declared type.
func typed(t *rules.CTrait, f float64) any {
	switch t.Type.Kind() {
	case types.IntKind:
		return int64(f)
	case types.TimestampKind:
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	}
	return f
}

func zeroTrait(t *rules.CTrait) any {
	switch t.Type.Kind() {
	case types.IntKind:
		return int64(0)
	case types.DoubleKind:
		return 0.0
	case types.StringKind:
		return ""
	case types.BoolKind:
		return false
	case types.TimestampKind:
		return time.Unix(0, 0).UTC()
	}
	return nil
}

// jsonable keeps a last value in a form that survives the profile's JSON encoding.
func jsonable(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

func fromJSONable(t *rules.CTrait, v any) any {
	switch t.Type.Kind() {
	case types.IntKind:
		if f, ok := number(v); ok {
			return int64(f)
		}
	case types.TimestampKind:
		if s, ok := v.(string); ok {
			if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return tm
			}
		}
	}
	return v
}

// decodeProfile reads a stored profile: binary (profilecodec.go), or JSON as versions before
// it wrote them.
func decodeProfile(body []byte) (*Profile, error) {
	if len(body) > 0 && body[0] == '{' {
		var p Profile
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	return readProfile(body)
}

// clone copies a profile deeply enough that changes to either leave the other alone.
// Attribute values are replaced, never changed in place, so they are shared.
func (p *Profile) clone() *Profile {
	c := *p
	c.Consent = maps.Clone(p.Consent)
	c.Attributes = maps.Clone(p.Attributes)
	c.Segments = p.Segments.clone()
	c.Fired = slices.Clone(p.Fired)
	c.Sent = slices.Clone(p.Sent)
	if p.Traits != nil {
		c.Traits = make(map[string]*TraitState, len(p.Traits))
		for k, ts := range p.Traits {
			t := *ts
			t.Buckets = slices.Clone(ts.Buckets)
			for i := range t.Buckets {
				t.Buckets[i].Distinct = slices.Clone(t.Buckets[i].Distinct)
			}
			c.Traits[k] = &t
		}
	}
	return &c
}

package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// realisticProfile is a regular customer of the benchmark programme: 10 traits with a few
// daily buckets (one a distinct trait, one a last value), 20 triggers fired, a few segments
// and sends.
func realisticProfile() *Profile {
	now := time.Date(2025, 6, 1, 12, 30, 15, 123456789, time.Local)
	day := now.Unix() - now.Unix()%86400
	p := &Profile{ID: "c_k3v9q2m8x7p4t6w1z5yb", FirstSeen: now.Add(-400 * 24 * time.Hour), LastSeen: now,
		Consent:    map[string]bool{"line": true, "email": false},
		Attributes: map[string]any{"home_city": "Tokyo", "locale": "ja-JP", "tone": "casual", "points": int64(1250)},
		Traits:     map[string]*TraitState{}}
	buckets := func(n int, sum float64, distinct ...string) []Bucket {
		var bs []Bucket
		for i := range n {
			bs = append(bs, Bucket{Start: day - int64(n-i)*86400*7, N: int64(1 + i%3), Sum: sum * float64(1+i), Min: sum, Max: sum * 2, Distinct: distinct})
		}
		return bs
	}
	for _, name := range []string{"purchases_90d", "store_purchases_90d", "carts_7d", "visits_30d", "beacon_visits_30d"} {
		p.Traits[name] = &TraitState{Buckets: buckets(3, 0)}
	}
	p.Traits["spend_90d"] = &TraitState{Buckets: buckets(4, 3280)}
	p.Traits["max_basket_90d"] = &TraitState{Buckets: buckets(4, 4980)}
	p.Traits["cart_value_7d"] = &TraitState{Buckets: buckets(2, 2500)}
	p.Traits["stores_90d"] = &TraitState{Buckets: buckets(3, 0, "store-1", "store-4")}
	p.Traits["last_store"] = &TraitState{Buckets: buckets(1, 0), Last: "store-4", LastAt: now.UnixMilli()}
	for i := range 5 {
		p.Segments.add(fmt.Sprintf("seg_%02d", i*7))
	}
	for i := range 20 {
		p.Fired.set(fmt.Sprintf("trg_%03d", i*5), now.Add(-time.Duration(i)*37*time.Hour))
	}
	for i := range 3 {
		p.Sent = append(p.Sent, Sent{Channel: "sandbox", At: now.Add(-time.Duration(i) * 26 * time.Hour)})
	}
	return p
}

// richProfile has every field, every aggregate's state and every kind of value.
func richProfile() *Profile {
	jst := time.FixedZone("", 9*3600)
	return &Profile{ID: "c_ünïcødé_東京", FirstSeen: time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
		LastSeen: time.Date(2025, 3, 4, 5, 6, 7, 999999999, jst),
		Consent:  map[string]bool{"line": true, "email": false, "": true},
		Attributes: map[string]any{"home_city": "札幌", "vip": true, "opt": false, "points": int64(-42), "big": int64(math.MaxInt64),
			"ratio": 0.25, "neg_zero": math.Copysign(0, -1), "inf": math.Inf(1), "nan": math.NaN(), "none": nil, "empty": "",
			"tags":     []any{"a", int64(1), 2.5, nil, []any{}, map[string]any{}},
			"location": map[string]any{"lat": 35.68, "lng": 139.76, "label": map[string]any{"ja": "東京駅"}}},
		Traits: map[string]*TraitState{
			"count":    {Buckets: []Bucket{{Start: 0, N: 7}}},
			"sum":      {Buckets: []Bucket{{Start: 1717200000, N: 2, Sum: 1234.5, Min: 34.5, Max: 1200}, {Start: 1717286400, N: 1, Sum: 0.1, Min: 0.1, Max: 0.1}}},
			"min_time": {Buckets: []Bucket{{Start: -86400, N: 1, Min: 1.7e9, Max: 1.7e9, Sum: 1.7e9}}},
			"distinct": {Buckets: []Bucket{{Start: 60, N: 3, Distinct: []string{"store-1", "ストア2", ""}}, {Start: 120, N: 1, Distinct: []string{"x"}}}},
			"last_str": {Buckets: []Bucket{{N: 1}}, Last: "2025-03-04T05:06:07.5+09:00", LastAt: 1741032367500},
			"last_int": {Buckets: []Bucket{{N: 1}}, Last: int64(3), LastAt: -1},
			"last_any": {Last: []any{map[string]any{"sku": "A-1", "qty": int64(2)}}, LastAt: 5},
			"empty":    {},
		},
		Segments: segmentsOf("vip"),
		Fired: firedSet{{"welcome", time.Date(2025, 1, 1, 0, 0, 0, 0, time.Local)},
			{"broadcast:spring", time.Date(2025, 3, 1, 9, 0, 0, 5, jst)}, {"zero", time.Time{}}},
		Sent: []Sent{{Channel: "line", At: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}, {Channel: "", At: time.Time{}}}}
}

// dump prints v with every dynamic type, maps sorted, floats by their bits and times as instant
// and offset (what the store keeps; the zone follows from them, see TestProfileCodecZones), so
// two values print alike exactly when they are the same, NaN included.
func dump(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		return v.Elem().Type().String() + "(" + dump(v.Elem()) + ")"
	case reflect.Map:
		if v.IsNil() {
			return "nil-map"
		}
		var parts []string
		for it := v.MapRange(); it.Next(); {
			parts = append(parts, fmt.Sprintf("%q:%s", it.Key().String(), dump(it.Value())))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case reflect.Slice:
		if v.IsNil() {
			return "nil-slice"
		}
		var parts []string
		for i := range v.Len() {
			parts = append(parts, dump(v.Index(i)))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			_, offset := t.Zone()
			return fmt.Sprintf("%d.%09d%+d", t.Unix(), t.Nanosecond(), offset)
		}
		if f, ok := v.Interface().(firedAt); ok {
			return f.name + "@" + dump(reflect.ValueOf(f.at))
		}
		if s, ok := v.Interface().(segmentSet); ok { // the members, whatever the layout
			names := s.names()
			slices.Sort(names)
			return fmt.Sprint(names)
		}
		var parts []string
		for i := range v.NumField() {
			parts = append(parts, v.Type().Field(i).Name+"="+dump(v.Field(i)))
		}
		return "{" + strings.Join(parts, " ") + "}"
	case reflect.Float64:
		return fmt.Sprintf("%#x", math.Float64bits(v.Float()))
	}
	return fmt.Sprintf("%#v", v.Interface())
}

func dumpProfile(p *Profile) string { return dump(reflect.ValueOf(p)) }

func encodeProfile(t testing.TB, p *Profile) []byte {
	t.Helper()
	b, err := appendProfile(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProfileCodecRoundTrip(t *testing.T) {
	for name, c := range map[string]struct{ in, want *Profile }{
		"realistic": {in: realisticProfile()},
		"rich":      {in: richProfile()},
		"zero":      {in: &Profile{}},
		// Empty maps and slices read back as none, as they did from JSON.
		"empty": {in: &Profile{ID: "c_1", Consent: map[string]bool{}, Attributes: map[string]any{}, Traits: map[string]*TraitState{"t": {Buckets: []Bucket{}}},
			Fired: firedSet{}, Sent: []Sent{}},
			want: &Profile{ID: "c_1", Traits: map[string]*TraitState{"t": {}}}},
		// Values of other types, from CEL, read back as JSON read them.
		"cel values": {in: &Profile{Traits: map[string]*TraitState{"u": {Last: uint64(7)}, "d": {Last: time.Second}, "b": {Last: []byte("hi")}}},
			want: &Profile{Traits: map[string]*TraitState{"u": {Last: 7.0}, "d": {Last: 1e9}, "b": {Last: "aGk="}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if c.want == nil {
				c.want = c.in
			}
			body := encodeProfile(t, c.in)
			got, err := decodeProfile(body)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := dumpProfile(got), dumpProfile(c.want); g != w {
				t.Fatalf("read back\n%s\nwant\n%s", g, w)
			}
			if again := encodeProfile(t, got); c.want == c.in && len(again) != len(body) {
				t.Fatalf("encoded again in %d bytes, first in %d", len(again), len(body))
			}
		})
	}
}

// Times read back in the zone JSON gave them: UTC, the local zone, or a fixed one.
func TestProfileCodecZones(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Now().Round(0), time.Now().UTC(), time.Unix(-1e10, 5).In(time.FixedZone("IST", 5*3600+1800)),
		time.Date(2025, 3, 4, 5, 6, 7, 8, time.FixedZone("", 9*3600)), time.Date(2025, 7, 1, 0, 0, 0, 0, time.FixedZone("", -4*3600))} {
		j, _ := json.Marshal(tm)
		var want time.Time
		if err := json.Unmarshal(j, &want); err != nil {
			t.Fatal(err)
		}
		p, err := decodeProfile(encodeProfile(t, &Profile{FirstSeen: tm}))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.FirstSeen; !got.Equal(tm) || got.Location().String() != want.Location().String() || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano) {
			t.Errorf("%v read back as %v, JSON reads %v", tm, got, want)
		}
	}
}

// Profiles stored as JSON by earlier versions still load, and are written back in binary.
func TestProfileCodecReadsJSON(t *testing.T) {
	body := `{"id":"c_1","first_seen":"2025-03-01T09:00:00+09:00","last_seen":"2025-03-02T10:00:00.5Z",` +
		`"consent":{"line":true},"attributes":{"home_city":"東京","points":12,"location":{"lat":35.6}},` +
		`"traits":{"spend_90d":{"b":[{"s":1740787200,"n":2,"sum":3000,"min":1000,"max":2000}]},` +
		`"last_store":{"b":[{"s":0,"n":1}],"l":"store-4","lt":1740790800000},"stores_90d":{"b":[{"s":1740787200,"n":1,"d":["store-4"]}]}},` +
		`"segments":{"vip":true},"fired":{"trg_001":"2025-03-01T09:00:00+09:00"},"sent":[{"c":"line","t":"2025-03-01T00:00:00Z"}]}`
	var want Profile
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	got, err := decodeProfile([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if g, w := dumpProfile(got), dumpProfile(&want); g != w {
		t.Fatalf("read\n%s\nwant\n%s", g, w)
	}
	again, err := decodeProfile(encodeProfile(t, got))
	if err != nil {
		t.Fatal(err)
	}
	if g, w := dumpProfile(again), dumpProfile(&want); g != w {
		t.Fatalf("written in binary and read back\n%s\nwant\n%s", g, w)
	}
	if _, err := decodeProfile([]byte(`{"id":`)); err == nil {
		t.Fatal("a cut JSON profile read without error")
	}
}

func TestProfileCodecCorrupt(t *testing.T) {
	body := encodeProfile(t, richProfile())
	for n := range len(body) {
		if _, err := decodeProfile(body[:n]); err == nil {
			t.Fatalf("the body cut to %d of %d bytes read without error", n, len(body))
		}
	}
	p := &Profile{ID: "c_1", Consent: map[string]bool{"line": true}, Attributes: map[string]any{"tier": "gold"}}
	good := encodeProfile(t, p)
	at := func(s string) int { return bytes.Index(good, []byte(s)) + len(s) }
	edit := func(i int, b byte) []byte { c := slices.Clone(good); c[i] = b; return c }
	for _, c := range []struct {
		body []byte
		want string
	}{
		{nil, "profile body: empty"},
		{[]byte{0x02, 0}, "unknown format (first byte 0x02)"},
		{good[:at("\x04tier")], `attributes["tier"]: cut short`},
		{good[:at("\x04tier")+3], `attributes["tier"]: a string of 4 bytes with 1 left`},
		{edit(at("\x04tier"), 0x2a), `attributes["tier"]: unknown value tag 0x2a`},
		{edit(at("\x04line"), 7), `consent["line"]: 0x07 is not a boolean`},
		{edit(1, 100), "id: a string of 100 bytes with"},
		{append(slices.Clone(good), 0, 0), "end: 2 bytes after the profile"},
		{[]byte{profileV1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "first_seen: 4294967295 nanoseconds"},
		{append([]byte{profileV1, 0}, slices.Repeat([]byte{0xff}, 11)...), "first_seen: a number longer than 64 bits"},
	} {
		_, err := decodeProfile(c.body)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decoding % x: got %v, want %q", c.body, err, c.want)
		}
	}
	if _, err := appendProfile(nil, &Profile{Attributes: map[string]any{"f": func() {}}}); err == nil || !strings.Contains(err.Error(), "attribute f:") {
		t.Errorf("encoding a value JSON cannot encode either: got %v", err)
	}
}

// FuzzProfileCodec decodes arbitrary bodies: they read or fail, never panic, and what reads
// writes back and reads again the same.
func FuzzProfileCodec(f *testing.F) {
	for _, p := range []*Profile{realisticProfile(), richProfile(), {}} {
		b := encodeProfile(f, p)
		f.Add(b)
		f.Add(b[:len(b)/2])
		j, _ := json.Marshal(&Profile{ID: p.ID, Segments: p.Segments, Sent: p.Sent})
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeProfile(body)
		if err != nil {
			return
		}
		p2, err := decodeProfile(encodeProfile(t, p))
		if err != nil {
			t.Fatalf("a decoded profile does not read back: %v", err)
		}
		// JSON read differently (zones, missing traits); binary reads back exactly.
		if body[0] != '{' && dumpProfile(p2) != dumpProfile(p) {
			t.Fatalf("read back\n%s\nwant\n%s", dumpProfile(p2), dumpProfile(p))
		}
		p3, err := decodeProfile(encodeProfile(t, p2))
		if err != nil || dumpProfile(p3) != dumpProfile(p2) {
			t.Fatalf("written again it reads %v, %v", err, dumpProfile(p3))
		}
	})
}

func BenchmarkProfileEncode(b *testing.B) {
	p := realisticProfile()
	b.Run("json", func(b *testing.B) {
		var n int
		for b.Loop() {
			body, _ := json.Marshal(p)
			n = len(body)
		}
		b.ReportMetric(float64(n), "bytes")
	})
	b.Run("binary", func(b *testing.B) {
		var n int
		for b.Loop() {
			body, _ := appendProfile(nil, p)
			n = len(body)
		}
		b.ReportMetric(float64(n), "bytes")
	})
}

func BenchmarkProfileDecode(b *testing.B) {
	p := realisticProfile()
	j, _ := json.Marshal(p)
	bin := encodeProfile(b, p)
	for name, body := range map[string][]byte{"json": j, "binary": bin} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := decodeProfile(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(body)), "bytes")
		})
	}
}

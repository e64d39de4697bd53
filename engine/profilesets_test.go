package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

func layoutOf(names ...string) *segmentLayout {
	var segs []*rules.CSegment
	for i, n := range names {
		segs = append(segs, &rules.CSegment{Name: n, Index: i})
	}
	return newSegmentLayout(segs)
}

// A customer's segments survive programmes that reorder, drop and bring back segments: a
// segment the programme lacks is kept by name, and found again when a programme has it.
func TestSegmentSetAcrossProgrammes(t *testing.T) {
	first := layoutOf("vip", "lapsed", "new")
	var s segmentSet
	s.setAt(first, 0, true)
	s.setAt(first, 2, true)
	if !s.at(first, 0) || s.at(first, 1) || !s.at(first, 2) || s.len() != 2 {
		t.Fatalf("set %v under the first programme", s.names())
	}
	// The next programme drops "new", moves "vip" and has 70 segments (two words).
	var names []string
	for i := range 68 {
		names = append(names, "s"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	second := layoutOf(append(names, "lapsed", "vip")...)
	if !s.at(second, 69) || s.at(second, 68) {
		t.Fatal("read under the second programme before it changed the set")
	}
	s.setAt(second, 68, true) // lapsed, in the second word
	if !s.at(second, 69) || !s.at(second, 68) || !s.has("new") || s.len() != 3 {
		t.Fatalf("set %v under the second programme", s.names())
	}
	s.setAt(second, 69, false)
	if s.has("vip") || !s.has("lapsed") {
		t.Fatalf("set %v after leaving vip", s.names())
	}
	// Back to the first: "new" is found where it was.
	if !s.at(first, 2) || !s.at(first, 1) || s.at(first, 0) {
		t.Fatalf("set %v back under the first programme", s.names())
	}
	got := s.names()
	slices.Sort(got)
	if !slices.Equal(got, []string{"lapsed", "new"}) {
		t.Fatalf("names %v", got)
	}
	c := s.clone()
	c.setAt(first, 1, false)
	if !s.has("lapsed") {
		t.Fatal("changing a clone changed the set")
	}
}

// A profile's segments read and write JSON as the object of names they always were.
func TestSegmentSetJSON(t *testing.T) {
	in := &Profile{ID: "c_1", Segments: segmentsOf("vip", "lapsed")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"c_1","first_seen":"0001-01-01T00:00:00Z","last_seen":"0001-01-01T00:00:00Z","segments":{"lapsed":true,"vip":true}}`; string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var out Profile
	if err := json.Unmarshal([]byte(`{"id":"c_1","segments":{"vip":true,"gone":false}}`), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Segments.has("vip") || out.Segments.has("gone") || out.Segments.len() != 1 {
		t.Fatalf("read %v", out.Segments.names())
	}
	if b, _ := json.Marshal(&Profile{ID: "c_2"}); string(b) != `{"id":"c_2","first_seen":"0001-01-01T00:00:00Z","last_seen":"0001-01-01T00:00:00Z"}` {
		t.Fatalf("an empty set is written: %s", b)
	}
}

// When triggers fired reads and writes JSON as the object of names and times it always was.
func TestFiredSetJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var f firedSet
	f.set("welcome", at)
	f.set("nudge", at.Add(time.Hour))
	f.set("welcome", at.Add(2*time.Hour))
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"nudge":"2026-12-07T11:00:00Z","welcome":"2026-12-07T12:00:00Z"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back firedSet
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got, ok := back.get("welcome"); !ok || !got.Equal(at.Add(2*time.Hour)) || len(back) != 2 {
		t.Fatalf("read back %v", back)
	}
	if _, ok := back.get("other"); ok {
		t.Fatal("found a trigger that never fired")
	}
}

// Segment members stay members across programmes that move their segment to another
// position, drop another segment and bring it back, and across a restart: no one enters a
// segment they were already in, loyal_store included after a programme without it.
func TestSegmentMembersKeptAcrossProgrammes(t *testing.T) {
	original := quickstartBundle(t, nil)
	f := newFixture(t, original)
	buy := func(n int, total int) Result {
		t.Helper()
		return f.ingest(fmt.Sprintf(`{"id": "pos-%d", "type": "purchase", "source": "pos", "channel": "pos", "store_id": "shibuya",
			"record": {"phone_number": "090-1234-5678"}, "consent": {"line": true}, "data": {"order_id": "T-%d", "total": %d, "currency": "JPY"}}`, n, n, total))[0]
	}
	if r := buy(1, 35000); !slices.Contains(r.Entered, "big_spenders") || !slices.Contains(r.Entered, "loyal_store") {
		t.Fatalf("the first purchase: %+v", r)
	}
	// big_spenders moves to the front, behind a new segment; loyal_store goes.
	edited := quickstartBundle(t, func(b *rules.Bundle) {
		var big rules.Segment
		for _, s := range b.Segments {
			if s.Name == "big_spenders" {
				big = s
			}
		}
		// Entering "anyone" makes the processor lay the set out anew under this programme.
		b.Segments = []rules.Segment{{Name: "anyone", Condition: "customer.traits.spend_90d >= 0"}, big}
	})
	check := func(step string, r Result) {
		t.Helper()
		if slices.Contains(r.Entered, "big_spenders") || slices.Contains(r.Exited, "big_spenders") || slices.Contains(r.Entered, "loyal_store") {
			t.Fatalf("%s: %+v", step, r)
		}
		v, err := f.eng.Customer(context.Background(), r.Customer)
		if err != nil || !slices.Contains(v.Segments, "big_spenders") || step == "back to the original" && !slices.Contains(v.Segments, "loyal_store") {
			t.Fatalf("%s: segments %v (%v)", step, v.Segments, err)
		}
	}
	for i, step := range []struct {
		name    string
		bundle  []byte
		restart bool
	}{{"reordered", edited, false}, {"restarted", nil, true}, {"back to the original", original, false}} {
		if step.bundle != nil {
			if _, err := f.eng.PushBundle(context.Background(), step.bundle, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if step.restart {
			f.restart()
		}
		check(step.name, buy(2+i, 100))
	}
}

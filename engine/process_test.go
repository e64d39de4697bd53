package engine

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Keys are kept in the outbox and by providers: they must never change from one version to
// the next, or a retry after an upgrade would send again.
func TestIdempotencyKeysStayTheSame(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"trg_001", "0", "pos:p1", "c_abc"}, "mk_bc020a91aa65660588b60f73df59a38d"},
		{[]string{"code", "spring", strings.Repeat("x", 300)}, "mk_0139dcfb9d63dac66c0b8e4a17aff0af"},
		{nil, "mk_e3b0c44298fc1c149afbf4c8996fb924"},
	} {
		if got := idempotencyKey(c.parts...); got != c.want {
			t.Errorf("idempotencyKey(%q) = %s, want %s", c.parts, got, c.want)
		}
	}
}

// A decision moves nobody: only ingested events count segment moves.
func TestDecideCountsNoSegmentMoves(t *testing.T) {
	f := newFixture(t, benchBundle().Encode())
	ev := `{"id": "d1", "type": "purchase", "identifiers": {"phone": "+819000000001"}, "channel": "pos", "store_id": "store-3", "data": {"total": 4200}}`
	evs, err := DecodeEvents([]byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.eng.Decide(context.Background(), DecideRequest{Event: evs[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Segments, "seg_00") {
		t.Fatalf("the decision's segments are %v, want seg_00 among them", d.Segments)
	}
	moves := f.eng.metrics.segmentMoves.WithLabelValues("seg_00", "entered")
	if n := testutil.ToFloat64(moves); n != 0 {
		t.Errorf("after a decision, %v moves into seg_00 are counted, want 0", n)
	}
	f.ingest(ev)
	if n := testutil.ToFloat64(moves); n != 1 {
		t.Errorf("after the event, %v moves into seg_00 are counted, want 1", n)
	}
}

// The delivery rules' reasons, as a decision shows them.
func TestDecisionsSayWhyAMessageWouldNotGo(t *testing.T) {
	f := newFixture(t, benchBundle().Encode())
	for i, c := range []struct{ ids, want string }{
		{`{"phone": "+819000000001"}`, "unreachable: no line_user identifier to reach the customer on sandbox.line"},
		{`{"phone": "+819000000002", "line_user": "U000002"}`, "suppressed: no consent for line"},
	} {
		ids, want := c.ids, c.want
		f.ingest(`{"id": "v` + strconv.Itoa(i) + `", "type": "store.visit", "identifiers": ` + ids + `}`)
		evs, err := DecodeEvents([]byte(`{"type": "purchase", "identifiers": ` + ids + `, "data": {"total": 4200}}`))
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.eng.Decide(context.Background(), DecideRequest{Event: evs[0]})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Decisions) == 0 || !d.Decisions[0].Fired || len(d.Decisions[0].Actions) != 1 {
			t.Fatalf("decisions %+v, want trg_000 to fire with one action", d.Decisions)
		}
		if o := d.Decisions[0].Actions[0]; o.Status+": "+o.Reason != want {
			t.Errorf("the message to %s: %s: %s, want %s", ids, o.Status, o.Reason, want)
		}
	}
}

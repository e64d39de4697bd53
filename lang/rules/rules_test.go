package rules

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/musubi-hq/musubi/lang"
)

func quickstart(t *testing.T) *lang.Config {
	t.Helper()
	cfg, diags := lang.LoadDir("../../examples/quickstart", lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

// The bundle the planner pushes compiles in the engine, and its hash survives the trip: the
// engine reports the same hash the plan computed, so no false drift.
func TestQuickstartBundleCompilesWithTheSameHash(t *testing.T) {
	b := FromConfig(quickstart(t), map[string]string{"spring": "seed-1"})
	enc := b.Encode()
	back, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(back)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hash != Hash(enc) {
		t.Fatalf("hash after decode %s, before %s", p.Hash, Hash(enc))
	}
	if got := b.Summary(); got != "3 sources, 2 traits, 2 segments, 2 triggers" {
		t.Errorf("summary = %q", got)
	}
	if len(p.TriggersByEvent["segment.entered"]) != 1 || len(p.TriggersByEvent["cart.updated"]) != 1 {
		t.Errorf("triggers by event: %v", p.TriggersByEvent)
	}
	if len(p.TraitsByEvent["purchase"]) != 2 {
		t.Errorf("traits by event: %v", p.TraitsByEvent)
	}
	seg := p.Segments[1] // loyal_store (sorted after big_spenders)
	if seg.Name != "loyal_store" || len(seg.Traits) != 1 || seg.Traits[0] != "store_purchases_90d" {
		t.Errorf("segment references: %+v", seg)
	}
	if c := p.Campaigns["spring"].Codes; c == nil || c.Count != 500 || !strings.HasPrefix(c.Pattern, "SPR-") || c.Seed != "seed-1" {
		t.Errorf("codes: %+v", c)
	}
	spring := p.Campaigns["spring"]
	if len(spring.Msgs) != 1 || spring.Msgs[0].Via != "sandbox.line" || spring.Audience != "loyal_store" {
		t.Errorf("spring broadcasts %d messages to %q", len(spring.Msgs), spring.Audience)
	}
	if c := spring.Value["coupon"].(map[string]any); c["percent"] != 10.0 || c["code_count"] != int64(500) {
		t.Errorf("campaign value: %v", spring.Value)
	}
	// Same configuration, same seed: the same bytes.
	if again := FromConfig(quickstart(t), map[string]string{"spring": "seed-1"}).Encode(); string(again) != string(enc) {
		t.Error("the bundle is not deterministic")
	}
}

func TestCompileErrorsNameTheRule(t *testing.T) {
	cases := []struct {
		edit func(*Bundle)
		want string
	}{
		{func(b *Bundle) { b.Segments[0].Condition = "customer.traits.nope > 1" }, "segment.big_spenders.condition:1:"},
		{func(b *Bundle) { b.Triggers[0].Condition = "event.cart.total + 'x'" }, "trigger.cart_nudge.condition:1:"},
		{func(b *Bundle) { b.Triggers[0].Actions[0].Message.Template = "{{ event.nope }}" }, "trigger.cart_nudge.action[0].template"},
		{func(b *Bundle) { b.Traits[0].On = "purchased" }, `trait.spend_90d.on: unknown event type "purchased"`},
		{func(b *Bundle) { b.Triggers[1].Actions[0].Campaign = "autumn" }, `campaign "autumn" is not in the bundle`},
		{func(b *Bundle) { b.Triggers[0].Actions[0].To = "code_owner" }, `trigger.cart_nudge.action[0].to: a cart.updated event names no "code_owner"`},
		{func(b *Bundle) { b.Identity.Blocked[0].Patterns = []string{"("} }, "identity.blocked.email"},
		{func(b *Bundle) { b.Delivery.FrequencyCaps[0].Per = "soon" }, "delivery.frequency_cap.sandbox.per"},
		{func(b *Bundle) { b.Campaigns[0].Messages[0].Template = "{{ campaign.nope }}" }, "campaign.spring.message[0].template"},
		{func(b *Bundle) { b.Campaigns[0].Audience = "" }, "campaign.spring: a campaign's messages go to its audience"},
		{func(b *Bundle) { b.Campaigns[0].Messages[0].SendAt = "2027-03-02 10:00" }, "campaign.spring.message[0].send_at: parsing time"},
		{func(b *Bundle) { b.Triggers[0].Actions[0].Message.SendAt = "2027-03-02T01:00:00Z" }, "trigger.cart_nudge.action[0].send_at: a trigger's message goes out when the trigger fires"},
	}
	for _, c := range cases {
		b := FromConfig(quickstart(t), nil)
		c.edit(b)
		_, err := Compile(b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

func TestDecodeRefusesOtherVersionsAndUnknownFields(t *testing.T) {
	if _, err := Decode([]byte(`{"format_version": 2}`)); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("version 2: %v", err)
	}
	if _, err := Decode([]byte(`{"format_version": 1, "segmentz": []}`)); err == nil || !strings.Contains(err.Error(), "segmentz") {
		t.Errorf("unknown field: %v", err)
	}
}

// A scheduled campaign message carries its send_at through the bundle as RFC 3339 in UTC,
// whatever zone it was written in, and compiles to the same instant; a message without one
// adds nothing to the bundle, so bundles without schedules keep their hashes.
func TestSendAtRoundTrip(t *testing.T) {
	const src = `provider "sandbox" "line" {
  system = "messaging"
}
segment "s" {
  condition = "true"
}
campaign "xmas" {
  audience = segment.s
  message {
    via      = provider.sandbox.line
    template = "Merry Christmas"
    send_at  = "2026-12-24T10:00:00"
  }
  message {
    via      = provider.sandbox.line
    template = "Welcome"
  }
}
`
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, ".", lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b := FromConfig(cfg, nil)
	enc := b.Encode()
	if !strings.Contains(string(enc), `"send_at":"2026-12-24T01:00:00Z"`) || strings.Count(string(enc), "send_at") != 1 {
		t.Fatalf("bundle: %s", enc)
	}
	back, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(back)
	if err != nil {
		t.Fatal(err)
	}
	msgs := p.Campaigns["xmas"].Msgs
	if want := time.Date(2026, 12, 24, 10, 0, 0, 0, time.FixedZone("JST", 9*3600)); !msgs[0].SendAt.Equal(want) || !msgs[1].SendAt.IsZero() {
		t.Fatalf("send_at compiled to %v and %v", msgs[0].SendAt, msgs[1].SendAt)
	}
	if p.Hash != Hash(enc) || string(back.Encode()) != string(enc) {
		t.Error("the bundle does not survive the trip unchanged")
	}
	if strings.Contains(string(FromConfig(quickstart(t), nil).Encode()), "send_at") {
		t.Error("a bundle without scheduled messages mentions send_at")
	}
}

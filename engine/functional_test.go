package engine

import (
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
)

// outbox lists every item of the engine's outbox.
func (f *fixture) outbox() []OutboxItem {
	f.t.Helper()
	items, err := f.store.Outbox(f.t.Context(), "", 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return items
}

// quickstartWith is the quickstart programme with one more file, as a rule bundle.
func quickstartWith(t testing.TB, extra string) []byte {
	t.Helper()
	files := fstest.MapFS{"extra.hcl": {Data: []byte(extra)}}
	root := os.DirFS("../examples/quickstart")
	err := fs.WalkDir(root, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, path)
		files[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.Load(files, ".", lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return rules.FromConfig(cfg, map[string]string{"spring": "test-seed"}).Encode()
}

// A campaign that only says something (no coupon) sends its message to its audience.
func TestCampaignMessageWithoutCouponIsSent(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
campaign "hello" {
  audience = segment.loyal_store
  message {
    via      = provider.sandbox.line
    template = "いつもありがとうございます"
  }
}
`))
	f.ingest(purchase)
	f.ingest(follow)
	var texts []string
	for _, it := range f.outbox() {
		texts = append(texts, it.Text)
		if it.Name == broadcastPrefix+"hello" && it.Status != StatusPending {
			t.Errorf("hello is %s: %s", it.Status, it.Reason)
		}
	}
	if !slices.Contains(texts, "いつもありがとうございます") {
		t.Fatalf("the campaign without a coupon sent nothing; the outbox holds %q", texts)
	}
}

// An emitted event carries its data map as declared, and triggers on it read it.
func TestEmittedEventCarriesItsData(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
trigger "note_follow" {
  on = "follow"
  action "emit" {
    event = "custom.followed"
    data  = { via = "event.channel", account = "event.account" }
  }
}

trigger "thank_line_follower" {
  on        = "custom.followed"
  condition = "event.data.via == 'line'"
  action "send" {
    via      = provider.sandbox.line
    template = "フォローありがとう ({{ event.data.account }})"
  }
}
`))
	res := f.ingest(follow)
	if !slices.Contains(res[0].Fired, "thank_line_follower") {
		t.Fatalf("the trigger on the emitted event did not fire: %+v", res[0])
	}
	found := false
	for _, it := range f.outbox() {
		found = found || strings.HasPrefix(it.Text, "フォローありがとう (sandbox.line)")
	}
	if !found {
		t.Error("the message does not show the emitted data")
	}
	// A system posting the programme's own event sends the same free data map.
	res = f.ingest(`{"id": "c-1", "type": "custom.followed", "identifiers": {"line_user": "U4af4980629"}, "data": {"via": "line", "account": "kiosk"}}`)
	if !slices.Contains(res[0].Fired, "thank_line_follower") {
		t.Fatalf("a posted custom event: %+v", res[0])
	}
}

// A move is learnt from location.changed itself: the profile's home city and position follow
// it, the city before is kept, and a rule can see "moved to a new city" without the sender
// knowing where the customer lived.
func TestLocationChangedMovesTheProfile(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
trigger "welcome_to_town" {
  on        = "location.changed"
  condition = "customer.previous_city != '' && customer.home_city != customer.previous_city"
  action "send" {
    via      = provider.sandbox.line
    template = "{{ customer.home_city }}へようこそ ({{ customer.previous_city }}から)"
  }
}
`))
	f.ingest(follow)
	moved := func(id, city string) Result {
		return f.ingest(`{"id": "` + id + `", "type": "location.changed", "identifiers": {"line_user": "U4af4980629"},
			"data": {"city": "` + city + `", "location": {"lat": 34.69, "lng": 135.50}}}`)[0]
	}
	if r := moved("m-1", "Tokyo"); slices.Contains(r.Fired, "welcome_to_town") {
		t.Error("a first known city is no move")
	}
	if r := moved("m-2", "Osaka"); !slices.Contains(r.Fired, "welcome_to_town") {
		t.Fatalf("a move from Tokyo to Osaka fired nothing: %+v", r)
	}
	f.restart() // what the profile learnt is stored
	v, err := f.eng.Customer(t.Context(), "line_user:U4af4980629")
	if err != nil {
		t.Fatal(err)
	}
	if v.Attributes["home_city"] != "Osaka" || v.Attributes["previous_city"] != "Tokyo" {
		t.Errorf("attributes after the move: %v", v.Attributes)
	}
	if loc, _ := v.Attributes["location"].(map[string]any); loc["lat"] != 34.69 {
		t.Errorf("location: %v", v.Attributes["location"])
	}
	found := false
	for _, it := range f.outbox() {
		found = found || strings.HasPrefix(it.Text, "Osakaへようこそ (Tokyoから)")
	}
	if !found {
		t.Error("the welcome does not name both cities")
	}
}

// A trigger's issue_coupon of a campaign with a shared code (a register's coupon, which has
// one serial number) sends the customer that code.
func TestIssueCouponOfASharedCode(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
campaign "till" {
  coupon {
    percent = 10
    code    = "TILL10"
  }
  channels = [provider.sandbox.pos]
}

trigger "till_coupon" {
  on = "follow"
  action "issue_coupon" {
    campaign = campaign.till
    via      = provider.sandbox.line
    template = "レジでご提示ください: {{ code }}"
  }
}
`))
	res := f.ingest(follow)
	if !slices.Contains(res[0].Fired, "till_coupon") {
		t.Fatalf("the trigger did not fire: %+v", res[0])
	}
	var texts []string
	for _, it := range f.outbox() {
		if it.Name == "trigger.till_coupon" {
			texts = append(texts, it.Text)
		}
	}
	if !slices.Equal(texts, []string{"レジでご提示ください: TILL10"}) {
		t.Fatalf("the outbox holds %q", texts)
	}
}

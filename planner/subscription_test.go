package planner

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
)

// An identity source that lists no events is subscribed to those its system sends that the
// programme reads: what triggers and traits use, and the follows, surveys and account links
// the engine reads by itself. A system that does not say what it sends is asked for what the
// rules use; a source that lists its events gets them as written, for its provider to judge;
// a system that sends nothing the programme reads gets no subscription.
func TestSubscriptionsAskForWhatTheSystemSendsAndTheProgrammeReads(t *testing.T) {
	f := newFixture(t)
	f.mems = map[string]*memProvider{"mem.ec": newMem(), "mem.pos": newMem(), "mem.line": newMem(), "mem.app": newMem(), "mem.kiosk": newMem()}
	f.mems["mem.ec"].topics = []string{"purchase", "cart.updated", "account.linked", "order.ready_for_pickup"}
	f.mems["mem.pos"].topics = []string{"purchase", "account.linked"}
	f.mems["mem.line"].topics = []string{"follow", "unfollow"}
	f.mems["mem.kiosk"].topics = []string{"store.visit"}
	f.config = `
provider "mem" "ec" {}
provider "mem" "pos" {}
provider "mem" "line" {}
provider "mem" "app" {}
provider "mem" "kiosk" {}

identity_source "ec" {
  provider    = provider.mem.ec
  identifiers = { email = "email" }
}
identity_source "pos" {
  provider    = provider.mem.pos
  identifiers = { phone = "phone" }
}
identity_source "line" {
  provider    = provider.mem.line
  identifiers = { line_user = "userId" }
}
identity_source "app" {
  provider    = provider.mem.app
  identifiers = { app_user = "user" }
}
identity_source "kiosk" {
  provider    = provider.mem.kiosk
  identifiers = { member = "member" }
}
identity_source "survey" {
  provider    = provider.mem.line
  identifiers = { survey_email = "email" }
  events      = ["survey.submitted", "purchase"]
}
identity {
  priority = ["member", "email", "phone", "line_user", "app_user", "survey_email"]
}

trait "purchases_90d" {
  on        = "purchase"
  window    = "90d"
  aggregate = "count"
}
trait "carts_7d" {
  on        = "cart.updated"
  window    = "7d"
  aggregate = "count"
}
`
	p, _ := f.plan()
	got := map[string][]string{}
	for _, c := range p.Changes {
		if c.Kind == providers.KindSubscription {
			got[c.Address.String()] = c.After.Strings("topics")
		}
	}
	want := map[string][]string{
		"identity_source.ec.subscription[mem.ec]":     {"account.linked", "cart.updated", "purchase"},
		"identity_source.pos.subscription[mem.pos]":   {"account.linked", "purchase"},
		"identity_source.line.subscription[mem.line]": {"follow", "unfollow"},
		// Says nothing of what it sends: what the rules use.
		"identity_source.app.subscription[mem.app]": {"cart.updated", "purchase"},
		// As written: the provider keeps what it can and warns about the rest.
		"identity_source.survey.subscription[mem.line]": {"survey.submitted", "purchase"},
	}
	if len(got) != len(want) {
		t.Errorf("subscriptions %v, want %v", got, want)
	}
	for addr, topics := range want {
		if !slices.Equal(got[addr], topics) {
			t.Errorf("%s: topics %v, want %v", addr, got[addr], topics)
		}
	}
}

func TestHostSaysWhatAProviderDelivers(t *testing.T) {
	f := newFixture(t)
	f.mems["mem.ec"].topics = []string{"purchase"}
	_, host := f.plan()
	if got := host.Topics("mem.ec"); !slices.Equal(got, []string{"purchase"}) {
		t.Errorf("mem.ec delivers %v, want [purchase]", got)
	}
	if got := host.Topics("mem.pos"); got != nil {
		t.Errorf("mem.pos says nothing, yet delivers %v", got)
	}
	if got := host.Topics("mem.nowhere"); got != nil {
		t.Errorf("a provider not started delivers %v", got)
	}
}

// A programme that reads only redemptions still hears of purchases: the engine finds most
// redemptions in the codes a purchase carries.
func TestRedemptionsAskForPurchases(t *testing.T) {
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(`
trigger "thanks" {
  on = "coupon.redeemed"
  action "emit" {
    event = "custom.thanked"
  }
}
`)}}, ".", lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := usedEventTypes(cfg)
	if !slices.Contains(got, "purchase") || !slices.Contains(got, "coupon.redeemed") {
		t.Errorf("used event types: %v", got)
	}
}

package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// memSender sends messages and keeps none, as the webhook provider does; with no address,
// it has Send and reaches nobody, as a sandbox simulating a POS.
type memSender struct {
	*memProvider
	address string
}

func (memSender) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{Kinds: map[providers.Kind]providers.KindSupport{}}
}
func (s memSender) Messaging() providers.MessagingSupport {
	return providers.MessagingSupport{Address: s.address}
}
func (memSender) Send(context.Context, providers.SendRequest) providers.SendResponse {
	return providers.SendResponse{}
}

// memRules holds the rule bundle, as the engine provider does.
type memRules struct{ *memProvider }

func (memRules) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{Kinds: map[providers.Kind]providers.KindSupport{
		providers.KindRules: {Attributes: []string{"bundle", "bundle_hash", "summary"}}}}
}

const pureSenderConfig = `
provider "mem" "ec" {}
provider "mem" "pos" {}
provider "mem" "tablet" {}
provider "engine" "main" {}

identity_source "oms" {
  provider    = provider.engine.main
  identifiers = { member = "member_code" }
}
segment "regulars" {
  condition = "customer.consent.line"
}
campaign "spring" {
  coupon {
    percent = 10
    codes {
      pattern = "SPR-####-####"
      count   = 20
    }
  }
  audience = segment.regulars
  channels = [provider.mem.ec]
  message {
    via      = provider.mem.tablet
    template = "Spring sale: {{ code }}"
  }
}
trigger "pickup_ready" {
  on = "order.ready_for_pickup"
  action "send" {
    via      = provider.mem.tablet
    template = "{{ customer.attributes.name }} picks up order {{ event.order_id }} by {{ event.pickup_by }}"
  }
  action "issue_coupon" {
    campaign = campaign.spring
    via      = provider.mem.tablet
    template = "Coupon {{ code }} for order {{ event.order_id }}"
  }
}
`

func pureSenderFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.config = pureSenderConfig
	f.others = map[string]providers.Provider{"mem.tablet": memSender{newMem(), "member"}, "engine.main": memRules{newMem()}}
	return f
}

func sendsOf(p *plans.Plan) []string {
	var out []string
	for _, s := range p.Sends {
		out = append(out, fmt.Sprintf("%s %s,%d %q", s.Block, s.Provider, s.Index, s.Template))
	}
	return out
}

// A provider that sends and keeps no messages (a webhook) is a channel like any other: a
// campaign message, a send action and an issue_coupon with via name it. Nothing is planned on
// it, neither message nor audience; the plan lists its messages with the rule bundle that
// carries them, and only when it pushes that bundle.
func TestPureSenderInVia(t *testing.T) {
	f := pureSenderFixture(t)
	p, host := f.plan()
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Address.String())
	}
	want := []string{"campaign.spring.code_pool[mem.ec]", "campaign.spring.coupon[mem.ec]", "musubi.rules.rules[engine.main]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan:\n%v\nwant\n%v", got, want)
	}
	wantSends := []string{
		`campaign.spring mem.tablet,0 "Spring sale: {{ code }}"`,
		`trigger.pickup_ready mem.tablet,0 "{{ customer.attributes.name }} picks up order {{ event.order_id }} by {{ event.pickup_by }}"`,
		`trigger.pickup_ready mem.tablet,1 "Coupon {{ code }} for order {{ event.order_id }}"`,
	}
	if fmt.Sprint(sendsOf(p)) != fmt.Sprint(wantSends) {
		t.Errorf("sends:\n%v\nwant\n%v", sendsOf(p), wantSends)
	}
	if !host.Sends("mem.tablet") || host.Manages("mem.tablet", providers.KindMessage) || host.Sends("mem.pos") || host.Sends("mem.nowhere") ||
		!host.Manages("mem.nowhere", providers.KindMessage) {
		t.Error("Host.Sends or Host.Manages is wrong")
	}
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}

	p, _ = f.plan()
	if p.HasChanges() || p.Sends != nil {
		t.Fatalf("second plan: %+v, sends %v", p.Summary(), sendsOf(p))
	}

	// A new text changes only the bundle, which carries it: the plan shows it again.
	f.config = strings.Replace(f.config, "picks up order", "is here for order", 1)
	p, _ = f.plan()
	if s := p.Summary(); s.Change != 1 || s.Add+s.Replace+s.Destroy != 0 || len(p.Sends) != 3 ||
		!strings.Contains(p.Sends[1].Template, "is here for order") {
		t.Errorf("after a new text: %+v, sends %v", s, sendsOf(p))
	}
}

// A provider that neither keeps messages nor sends them (a POS) stays refused in via, with an
// error on the block that names it; so does one that has Send and addresses nobody.
func TestViaRefusesAProviderThatCannotSend(t *testing.T) {
	for via, manages := range map[string]string{
		"mem.pos":  "manages only: audience, code_pool, coupon, subscription",
		"mem.mute": "manages no resources",
	} {
		f := pureSenderFixture(t)
		f.others["mem.mute"] = memSender{newMem(), ""}
		f.config = strings.Replace(f.config, "action \"send\" {\n    via      = provider.mem.tablet", "action \"send\" {\n    via      = provider."+via, 1) +
			"provider \"mem\" \"mute\" {}\n"
		_, _, diags := f.planWith()
		if len(diags) != 1 {
			t.Fatalf("%s: want one error, got %v", via, diags)
		}
		d := diags[0]
		want := "trigger.pickup_ready sends a message through provider." + via + ", which neither keeps messages nor sends them " +
			"(it " + manages + "). Name a messaging provider in via."
		if d.Detail != want || d.Subject == nil || d.Subject.Start.Line != 31 {
			t.Errorf("got %s at %v\nwant %s at line 31", d.Detail, d.Subject, want)
		}
	}
}

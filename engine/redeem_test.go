package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// referral is a referral campaign whose codes followers get, a reward to the owner of each
// code a friend redeems, and a shared code.
const referral = `
campaign "friends" {
  referral = true
  coupon {
    amount = 500
    codes {
      pattern = "FRD-####-####"
      count   = 100
    }
  }
  channels = [provider.sandbox.ec, provider.sandbox.pos]
}

campaign "thanks" {
  description = "A friend's first order with a referral code brings its owner one of these."
  channels    = [provider.sandbox.ec, provider.sandbox.pos]
  coupon {
    amount = 1000
    codes {
      count   = 100
      pattern = "THX-####-####"
    }
  }
}

campaign "summer" {
  coupon {
    percent = 5
    code    = "SUMMER5"
  }
  channels = [provider.sandbox.ec]
}

trigger "share" {
  on = "follow"
  action "issue_coupon" {
    campaign = campaign.friends
    via      = provider.sandbox.line
    template = "Your code for friends: {{ code }}"
  }
}

trigger "reward" {
  on = "coupon.redeemed"
  action "issue_coupon" {
    to       = "code_owner"
    campaign = campaign.thanks
    via      = provider.sandbox.line
    template = "{{ customer.identifiers.line_user[0] }}: a friend used your code. Thanks: {{ code }}"
  }
}
`

// referralFixture is the quickstart with the referral programme, and Hanako (on LINE) holding
// her referral code.
func referralFixture(t *testing.T) (f *fixture, hanako, code string) {
	t.Helper()
	f = newFixture(t, quickstartWith(t, referral))
	r := f.ingest(`{"id": "line-h", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U-hanako"}}`)[0]
	for _, it := range f.outbox() {
		if it.Name == "trigger.share" && it.Customer == r.Customer {
			code = regexp.MustCompile(`FRD-\S+`).FindString(it.Text)
		}
	}
	if code == "" {
		t.Fatalf("no referral code in the outbox: %+v", f.outbox())
	}
	return f, r.Customer, code
}

// buy is a store purchase by the member with the given codes.
func buy(id, member string, codes ...string) string {
	cs, _ := json.Marshal(codes)
	return fmt.Sprintf(`{"id": %q, "type": "purchase", "source": "pos", "channel": "pos", "record": {"member_code": %q},
		"data": {"order_id": %q, "total": 4000, "currency": "JPY", "coupon_codes": %s}}`, id, member, "T-"+id, cs)
}

// rewards lists the texts of the rewards queued for customer.
func (f *fixture) rewards(customer string) []string {
	var out []string
	for _, it := range f.outbox() {
		if it.Name == "trigger.reward" && it.Customer == customer && it.Status == StatusPending {
			out = append(out, it.Text)
		}
	}
	return out
}

// redemptions lists the coupon.redeemed events the log holds for a customer.
func (f *fixture) redemptions(customer string) []map[string]any {
	f.t.Helper()
	var out []map[string]any
	err := f.store.Events(f.t.Context(), []string{customer}, func(_ string, body []byte) error {
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			return err
		}
		if ev.Type == redeemedType {
			out = append(out, ev.Data)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) decide(js string) *DecideResponse {
	f.t.Helper()
	evs, err := DecodeEvents([]byte(js))
	if err != nil {
		f.t.Fatal(err)
	}
	d, err := f.eng.Decide(f.t.Context(), DecideRequest{Event: evs[0]})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// rewardOutcome is what the reward trigger's action would do for the redemption a decision
// on a purchase shows.
func rewardOutcome(t *testing.T, d *DecideResponse) Outcome {
	t.Helper()
	if len(d.Redemptions) != 1 {
		t.Fatalf("redemptions: %+v", d.Redemptions)
	}
	for _, x := range d.Redemptions[0].Decisions {
		if x.Trigger == "reward" && x.Fired && len(x.Actions) == 1 {
			return x.Actions[0]
		}
	}
	t.Fatalf("no reward decision: %+v", d.Redemptions[0])
	return Outcome{}
}

// A purchase carrying a code the engine issued is also a coupon.redeemed naming the customer
// the code was issued to; the code matches in any case.
func TestPurchaseWithAnIssuedCodeIsARedemptionWithItsOwner(t *testing.T) {
	f, hanako, code := referralFixture(t)
	r := f.ingest(buy("b1", "M-2", strings.ToLower(code), "NOT-A-CODE"))[0]
	if strings.Join(r.Redeemed, ",") != code || strings.Join(r.Fired, ",") != "reward" {
		t.Fatalf("result: %+v", r)
	}
	got := f.redemptions(r.Customer)
	if len(got) != 1 {
		t.Fatalf("redemptions: %v", got)
	}
	want := map[string]any{"code": code, "campaign": "friends", "owner": hanako, "order_id": "T-b1", "total": float64(4000),
		"currency": "JPY", "referral": true, "first_use": true}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	// A purchase with no code redeems nothing.
	if r := f.ingest(buy("b0", "M-2"))[0]; len(r.Redeemed) != 0 || len(r.Fired) != 0 {
		t.Fatalf("a purchase without codes: %+v", r)
	}
}

// The owner of a referral code is rewarded once per friend: a friend's second order with the
// code brings nothing, another friend's brings a reward (with a code of its own); the owner's
// own use of the code rewards nobody. The rule holds across a restart.
func TestReferralRewardsTheOwnerOncePerFriend(t *testing.T) {
	f, hanako, code := referralFixture(t)
	f.ingest(buy("b1", "M-2", code))
	rewards := f.rewards(hanako)
	if len(rewards) != 1 || !strings.HasPrefix(rewards[0], "U-hanako: a friend used your code. Thanks: THX-") {
		t.Fatalf("rewards after the first friend: %q", rewards)
	}
	// The reward goes to the owner's LINE account, under the owner's name in the outbox.
	for _, it := range f.outbox() {
		if it.Name == "trigger.reward" && it.To != "U-hanako" {
			t.Fatalf("reward addressed to %q", it.To)
		}
	}
	r := f.ingest(buy("b2", "M-2", code))[0]
	if strings.Join(r.Redeemed, ",") != code || len(f.rewards(hanako)) != 1 {
		t.Fatalf("the same friend again: %+v, rewards %q", r, f.rewards(hanako))
	}
	if got := f.redemptions(r.Customer); len(got) != 2 || got[1]["first_use"] != false {
		t.Fatalf("the second redemption: %v", got)
	}
	f.restart()
	f.ingest(buy("c1", "M-3", code))
	rewards = f.rewards(hanako)
	if len(rewards) != 2 || rewards[1] == rewards[0] {
		t.Fatalf("rewards after another friend: %q", rewards)
	}
	f.ingest(buy("b3", "M-2", code))
	if len(f.rewards(hanako)) != 2 {
		t.Fatal("the first friend rewarded again after a restart")
	}
	// Hanako herself, once her member card is tied to her LINE account, uses her own code.
	f.ingest(`{"id": "link-h", "type": "account.linked", "source": "pos", "record": {"member_code": "M-OWN"}, "identifiers": {"line_user": "U-hanako"}}`)
	d := f.decide(buy("h2", "M-OWN", code))
	if o := rewardOutcome(t, d); o.Status != "suppressed" || !strings.Contains(o.Reason, "their own referral code") {
		t.Fatalf("self-use: %+v", o)
	}
	r = f.ingest(buy("h2", "M-OWN", code))[0]
	if r.Customer != hanako || strings.Join(r.Redeemed, ",") != code || len(f.rewards(hanako)) != 2 {
		t.Fatalf("self-use rewarded: %+v, rewards %q", r, f.rewards(hanako))
	}
}

// An order counts once: another report of the same order, as a purchase or a coupon.redeemed
// a register posts itself, redeems nothing again.
func TestAnOrderRedeemsACodeOnce(t *testing.T) {
	f, hanako, code := referralFixture(t)
	r1 := f.ingest(buy("b1", "M-2", code))[0]
	again := strings.Replace(buy("b1", "M-2", code), `"id": "b1"`, `"id": "b1-again"`, 1)
	r2 := f.ingest(again)[0]
	if len(r2.Redeemed) != 0 || len(r2.Fired) != 0 {
		t.Fatalf("the same order again: %+v", r2)
	}
	posted := fmt.Sprintf(`{"id": "pos-redeem-1", "type": "coupon.redeemed", "source": "pos", "record": {"member_code": "M-2"},
		"data": {"code": %q, "order_id": "T-b1"}}`, code)
	r3 := f.ingest(posted)[0]
	if !r3.Duplicate || r3.Customer != r1.Customer {
		t.Fatalf("a posted redemption of the same order: %+v", r3)
	}
	if d := f.decide(posted); len(d.Redemptions) != 1 || !d.Redemptions[0].Repeat || len(d.Decisions) != 0 {
		t.Fatalf("decision on the same order: %+v", d)
	}
	if len(f.redemptions(r1.Customer)) != 1 || len(f.rewards(hanako)) != 1 {
		t.Fatalf("redemptions %v, rewards %q", f.redemptions(r1.Customer), f.rewards(hanako))
	}
	// A register that reports redemptions itself posts coupon.redeemed: the owner is found by
	// the code, as for a purchase.
	other := strings.Replace(posted, "T-b1", "T-x9", 1)
	other = strings.Replace(other, `"member_code": "M-2"`, `"member_code": "M-5"`, 1)
	r4 := f.ingest(other)[0]
	if strings.Join(r4.Fired, ",") != "reward" || len(f.rewards(hanako)) != 2 {
		t.Fatalf("a posted redemption by another friend: %+v, rewards %q", r4, f.rewards(hanako))
	}
	if got := f.redemptions(r4.Customer); len(got) != 1 || got[0]["owner"] != hanako || got[0]["campaign"] != "friends" {
		t.Fatalf("posted redemption: %v", got)
	}
	// One that knows the owner names her, by an identifier as well as by Uni-ID.
	named := `{"id": "pos-redeem-3", "type": "coupon.redeemed", "source": "pos", "record": {"member_code": "M-6"},
		"data": {"code": "PAPER-REFERRAL", "order_id": "T-p1", "owner": "line_user:U-hanako"}}`
	r5 := f.ingest(named)[0]
	if got := f.redemptions(r5.Customer); strings.Join(r5.Redeemed, ",") != "PAPER-REFERRAL" || len(got) != 1 || got[0]["owner"] != hanako {
		t.Fatalf("a redemption naming its owner: %+v, %v", r5, got)
	}
}

// A shared code is a redemption of its campaign with no owner: an action addressed to the
// code's owner runs for nobody, and says why.
func TestASharedCodeHasNoOwner(t *testing.T) {
	f, _, _ := referralFixture(t)
	ev := buy("b1", "M-2", "summer5")
	o := rewardOutcome(t, f.decide(ev))
	if o.Status != "suppressed" || o.Reason != "code SUMMER5 is campaign summer's shared code: it has no owner" {
		t.Fatalf("decision: %+v", o)
	}
	before := len(f.outbox())
	r := f.ingest(ev)[0]
	if strings.Join(r.Redeemed, ",") != "SUMMER5" || strings.Join(r.Fired, ",") != "reward" || len(f.outbox()) != before {
		t.Fatalf("result %+v, outbox %d → %d", r, before, len(f.outbox()))
	}
	if got := f.redemptions(r.Customer); len(got) != 1 || got[0]["owner"] != "" || got[0]["campaign"] != "summer" {
		t.Fatalf("redemption: %v", got)
	}
}

// A decision on a purchase shows the redemption it would make and the owner's reward, as
// ingesting it then does; once the friend has used the code, the decision says the owner
// is rewarded once per friend. Nothing is drawn or queued by a decision.
func TestDecideShowsTheRedemptionAndTheOwnersReward(t *testing.T) {
	f, hanako, code := referralFixture(t)
	f.ingest(`{"id": "b0", "type": "store.visit", "source": "pos", "record": {"member_code": "M-2"}}`)
	ev := buy("b1", "M-2", code)
	before := len(f.outbox())
	d := f.decide(ev)
	red := d.Redemptions[0]
	if red.Code != code || red.Campaign != "friends" || red.Owner != hanako || !red.Referral || !red.FirstUse || red.Repeat {
		t.Fatalf("redemption: %+v", red)
	}
	o := rewardOutcome(t, d)
	if o.Status != "would_send" || o.Customer != hanako || o.To != "U-hanako" || o.Code != "" {
		t.Fatalf("reward: %+v", o)
	}
	if len(f.outbox()) != before {
		t.Fatal("a decision queued a message")
	}
	f.ingest(ev)
	var queued OutboxItem
	for _, it := range f.outbox() {
		if it.Name == "trigger.reward" {
			queued = it
		}
	}
	if queued.Key != o.Key || queued.To != o.To || queued.Customer != hanako {
		t.Fatalf("queued %+v, decided %+v", queued, o)
	}
	o = rewardOutcome(t, f.decide(buy("b2", "M-2", code)))
	if o.Status != "suppressed" || !strings.Contains(o.Reason, "once per friend") {
		t.Fatalf("the same friend again: %+v", o)
	}
}

// A forgotten owner owns no code any more: a later redemption of it rewards nobody.
func TestAForgottenOwnerIsRewardedNoMore(t *testing.T) {
	f, hanako, code := referralFixture(t)
	if _, err := f.eng.Forget(context.Background(), hanako); err != nil {
		t.Fatal(err)
	}
	o := rewardOutcome(t, f.decide(buy("b1", "M-2", code)))
	if o.Status != "suppressed" || !strings.Contains(o.Reason, "issued to no customer") {
		t.Fatalf("reward after a forget: %+v", o)
	}
	f.restart()
	o = rewardOutcome(t, f.decide(buy("b1", "M-2", code)))
	if o.Status != "suppressed" || !strings.Contains(o.Reason, "issued to no customer") {
		t.Fatalf("reward after a forget and a restart: %+v", o)
	}
}

// A reward is delivered under the owner's delivery rules, not the friend's: the owner's
// frequency cap, quiet hours and consent; an event emitted for the owner is the owner's.
func TestARewardFollowsTheOwnersDeliveryRules(t *testing.T) {
	f := newFixture(t, quickstartWith(t, referral+`
trigger "note_referral" {
  on = "coupon.redeemed"
  action "emit" {
    to    = "code_owner"
    event = "custom.referred"
  }
}

trait "referrals" {
  on        = "custom.referred"
  aggregate = "count"
}
`))
	r := f.ingest(`{"id": "line-h", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U-hanako"}}`)[0]
	hanako := r.Customer
	code := regexp.MustCompile(`FRD-\S+`).FindString(f.outbox()[0].Text)
	f.ingest(buy("b1", "M-2", code)) // the owner's second message this week, her first reward
	f.ingest(buy("c1", "M-3", code)) // her third
	o := rewardOutcome(t, f.decide(buy("d1", "M-4", code)))
	if o.Status != "suppressed" || !strings.Contains(o.Reason, "frequency cap") || o.Customer != hanako {
		t.Fatalf("a fourth message this week: %+v", o)
	}
	v, err := f.eng.Customer(t.Context(), hanako)
	if err != nil || v.Traits["referrals"] != int64(2) {
		t.Fatalf("the owner's referrals: %+v %v", v, err)
	}
	f.clock.Add(8 * 24 * time.Hour)
	f.clock.Set(f.clock.Now().Add(10 * time.Hour)) // 22:00 in Tokyo
	if o := rewardOutcome(t, f.decide(buy("d1", "M-4", code))); o.Status != "would_send" || !strings.HasPrefix(o.Reason, "quiet hours") {
		t.Fatalf("at night: %+v", o)
	}
	f.ingest(`{"id": "line-h2", "type": "unfollow", "source": "line", "channel": "line", "record": {"userId": "U-hanako"}}`)
	if o := rewardOutcome(t, f.decide(buy("d1", "M-4", code))); o.Status != "suppressed" || o.Customer != hanako {
		t.Fatalf("after the owner unfollowed: %+v", o)
	}
}

// BenchmarkRedemptionCheck is what the engine adds to a purchase that carries no code:
// looking for codes, and for a redemption to record.
func BenchmarkRedemptionCheck(b *testing.B) {
	f := newFixture(b, quickstartWith(b, referral))
	evs, err := DecodeEvents([]byte(buy("b1", "M-2")))
	if err != nil {
		b.Fatal(err)
	}
	ev, prog := evs[0], f.eng.prog.Load()
	if err := ev.validate(prog, noon); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if redeems(ev) || redemptionsOf(prog, ev, "c") != nil {
			b.Fatal("a redemption without a code")
		}
	}
}

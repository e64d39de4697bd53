package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const tryonJourney = `
trigger "tryon_recommend" {
  on        = "tryon"
  condition = "event.item.family in ['coat-a', 'coat-b'] && customer.segments.loyal_store"
  wait {
    for = "3h"
    unless {
      on        = "purchase"
      condition = "event.items.exists(i, i.family == trigger.event.item.family)"
    }
  }
  action "send" {
    via      = provider.sandbox.line
    template = "{{ event.item.name }}、まだ迷っていますか？"
  }
}

trigger "browse_next_day" {
  on    = "tryon"
  delay = "24h"
  action "send" {
    via      = provider.sandbox.line
    template = "昨日の {{ event.item.name }}"
  }
}
`

func tryon(id, family string) string {
	return fmt.Sprintf(`{"id": %q, "type": "tryon", "identifiers": {"phone": "090-1234-5678"}, "data": {"item": {"sku": "%s-1", "name": "%s coat", "family": %q}}}`,
		id, family, family, family)
}

func buyFamily(id, family string) string {
	return fmt.Sprintf(`{"id": %q, "type": "purchase", "identifiers": {"phone": "090-1234-5678"}, "channel": "pos",
		"data": {"order_id": %q, "total": 100, "currency": "JPY", "items": [{"sku": "%s-1", "family": %q, "quantity": 1, "price": 100}]}}`, id, id, family, family)
}

// sent lists the outbox texts of a trigger's messages.
func (f *fixture) sent(trigger string) []string {
	f.t.Helper()
	var out []string
	for _, it := range f.outbox() {
		if it.Name == "trigger."+trigger {
			out = append(out, it.Text)
		}
	}
	return out
}

func (f *fixture) runDue() int {
	f.t.Helper()
	n, err := f.eng.RunDueSteps(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) pending(ref string) []Step {
	f.t.Helper()
	v, err := f.eng.Customer(context.Background(), ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return v.Pending
}

// A regular in the store (a purchase, a LINE follow) who tries a coat on.
func (f *fixture) regular() {
	f.ingest(purchase)
	f.ingest(follow)
}

// A delayed message is not in the outbox before its time, is there once after it, and a
// restart in between changes nothing: the step is in the store, not in memory.
func TestDelayedActionRunsOnceOnTimeAcrossARestart(t *testing.T) {
	f := newFixture(t, quickstartWith(t, tryonJourney))
	f.regular()
	res := f.ingest(tryon("t-1", "scarf"))[0]
	if !strings.Contains(strings.Join(res.Fired, ","), "browse_next_day") {
		t.Fatalf("fired: %+v", res)
	}
	if got := f.pending("phone:090-1234-5678"); len(got) != 1 || got[0].Trigger != "browse_next_day" || !got[0].Due.Equal(noon.Add(24*time.Hour)) {
		t.Fatalf("pending: %+v", got)
	}
	f.clock.Add(23 * time.Hour)
	if n := f.runDue(); n != 0 || len(f.sent("browse_next_day")) != 0 {
		t.Fatalf("ran %d steps an hour early", n)
	}
	f.restart()
	f.clock.Add(time.Hour)
	if n := f.runDue(); n != 1 {
		t.Fatalf("ran %d steps when due, want 1", n)
	}
	if got := f.sent("browse_next_day"); len(got) != 1 || got[0] != "昨日の scarf coat" {
		t.Fatalf("sent: %q", got)
	}
	f.restart()
	if n := f.runDue(); n != 0 || len(f.sent("browse_next_day")) != 1 || len(f.pending("phone:090-1234-5678")) != 0 {
		t.Fatalf("ran again after a restart: %d", n)
	}
}

// A try-on followed by a purchase of the same family sends nothing; a purchase of another
// family does not cancel; without a purchase the recommendation goes once.
func TestWaitIsCancelledByALaterMatchingEvent(t *testing.T) {
	f := newFixture(t, quickstartWith(t, tryonJourney))
	f.regular()
	f.ingest(tryon("t-1", "coat-a"))
	f.clock.Add(time.Hour)
	f.ingest(buyFamily("o-1", "coat-b")) // another family: the wait goes on
	f.ingest(buyFamily("o-2", "coat-a")) // the same family: cancelled
	f.clock.Add(3 * time.Hour)
	f.runDue()
	if got := f.sent("tryon_recommend"); len(got) != 0 {
		t.Fatalf("sent after the shopper bought the coat: %q", got)
	}

	f.ingest(tryon("t-2", "coat-b"))
	f.restart() // the wait is rebuilt from the store
	f.ingest(buyFamily("o-3", "coat-a"))
	f.clock.Add(3 * time.Hour)
	f.runDue()
	if got := f.sent("tryon_recommend"); len(got) != 1 || got[0] != "coat-b coat、まだ迷っていますか？" {
		t.Fatalf("sent: %q", got)
	}
}

// A held action checks the trigger's condition again when it runs: a customer who left the
// segment meanwhile gets nothing, not even a suppressed message.
func TestHeldActionRechecksTheCondition(t *testing.T) {
	f := newFixture(t, quickstartWith(t, tryonJourney))
	f.regular()
	f.ingest(tryon("t-1", "coat-a"))
	f.ingest(`{"id": "line-2", "type": "unfollow", "source": "line", "channel": "line", "record": {"userId": "U4af4980629"}}`)
	f.clock.Add(4 * time.Hour)
	if n := f.runDue(); n != 1 {
		t.Fatalf("ran %d", n)
	}
	if got := f.sent("tryon_recommend"); len(got) != 0 {
		t.Fatalf("sent to a customer who left the segment: %q", got)
	}
}

// A merge carries the merged-away customer's pending steps; a forget drops them.
func TestStepsFollowMergesAndForgets(t *testing.T) {
	f := newFixture(t, quickstartWith(t, tryonJourney))
	f.ingest(`{"id": "t-1", "type": "tryon", "identifiers": {"email": "hanako@example.jp"}, "data": {"item": {"name": "x", "family": "scarf"}}}`)
	f.ingest(`{"id": "m-1", "type": "store.visit", "identifiers": {"email": "hanako@example.jp", "phone": "090-1234-5678"}}`)
	f.regular()
	v, err := f.eng.Customer(context.Background(), "phone:090-1234-5678")
	if err != nil || len(v.Pending) != 1 {
		t.Fatalf("pending after the merge: %+v %v", v, err)
	}
	if _, err := f.eng.Forget(context.Background(), v.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.store.CountSteps(context.Background()); n != 0 {
		t.Fatalf("%d steps left after a forget", n)
	}
	f.clock.Add(25 * time.Hour)
	if n := f.runDue(); n != 0 {
		t.Fatalf("ran %d steps of a forgotten customer", n)
	}
}

// at = "HH:MM" runs at the next such time in the programme's zone; one that falls in quiet
// hours runs then and its message is held until they end.
func TestAtRunsAtTheNextTimeOfDayAndQuietHoursStillHold(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
trigger "morning" {
  on = "tryon"
  at = "08:00"
  action "send" {
    via      = provider.sandbox.line
    template = "おはようございます"
  }
}
`))
	f.regular()
	f.ingest(tryon("t-1", "scarf"))
	steps := f.pending("phone:090-1234-5678")
	want := time.Date(2027, 2, 17, 8, 0, 0, 0, noon.Location())
	if len(steps) != 1 || !steps[0].Due.Equal(want) {
		t.Fatalf("pending: %+v, want due %s", steps, want)
	}
	f.clock.Set(want)
	f.runDue()
	var held *OutboxItem
	for _, it := range f.outbox() {
		if it.Name == "trigger.morning" {
			held = &it
		}
	}
	if held == nil || held.Status != StatusPending || !held.NextAt.Equal(time.Date(2027, 2, 17, 9, 0, 0, 0, noon.Location())) {
		t.Fatalf("the 08:00 message, in quiet hours until 09:00: %+v", held)
	}
}

// An event with no identifiers (a cash buyer at a vending machine) runs the actions that need
// no one to come back to and answers with what they gave out: a code of its own, each time.
func TestAnonymousEventDrawsACodeAndAnswers(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
campaign "vending" {
  coupon {
    percent = 10
    valid {
      from  = "2027-01-01"
      until = "2027-12-31T23:59:59+09:00"
    }
    codes {
      pattern = "VND-####"
      count   = 100
    }
  }
  channels = [provider.sandbox.pos]
}

trigger "vending_coupon" {
  on = "vending.purchase"
  action "issue_coupon" {
    campaign    = campaign.vending
    template    = "Show {{ code }} at the store nearby"
    valid_until = "event.time + duration('336h')"
  }
  action "send" {
    via      = provider.sandbox.line
    template = "unreachable"
  }
  action "send" {
    via      = provider.sandbox.line
    template = "later"
    delay    = "1h"
  }
}
`))
	vend := func(id string) Result {
		return f.ingest(`{"id": "` + id + `", "type": "vending.purchase", "source": "", "data": {"machine_id": "vm-7", "total": 150, "currency": "JPY"}}`)[0]
	}
	r1, r2 := vend("v-1"), vend("v-2")
	if r1.Customer != "" || len(r1.Answers) != 3 {
		t.Fatalf("answers: %+v", r1)
	}
	a := r1.Answers[0]
	if a.Status != "issued" || !strings.HasPrefix(a.Code, "VND-") || a.Text != "Show "+a.Code+" at the store nearby" || !a.ExpiresAt.Equal(noon.Add(14*24*time.Hour)) {
		t.Fatalf("the code's answer: %+v", a)
	}
	if r1.Answers[1].Status != statusUnreachable || r1.Answers[2].Status != "suppressed" {
		t.Fatalf("the other actions: %+v", r1.Answers[1:])
	}
	if r2.Answers[0].Code == a.Code {
		t.Fatalf("two buyers got the same code %s", a.Code)
	}
	if r := f.ingest(`{"id": "v-1", "type": "vending.purchase", "data": {"machine_id": "vm-7"}}`)[0]; !r.Duplicate {
		t.Fatalf("a repeat: %+v", r)
	}
	if n, _ := f.store.CountSteps(context.Background()); n != 0 {
		t.Fatalf("%d steps kept for no one", n)
	}
}

// A code good for some time from when it was given (valid_for) is redeemed before and after
// that time: the engine says which redemption came too late, to the triggers on
// coupon.redeemed (event.expired) and in decisions, also after a restart.
func TestCodeRedeemedAfterItsValidForIsExpired(t *testing.T) {
	f := newFixture(t, quickstartWith(t, `
campaign "vending" {
  coupon {
    percent   = 10
    valid_for = "14d"
    codes {
      pattern = "VND-####"
      count   = 100
    }
  }
  channels = [provider.sandbox.pos]
}

trigger "vending_coupon" {
  on = "vending.purchase"
  action "issue_coupon" {
    campaign = campaign.vending
  }
}

trigger "late_code" {
  on        = "coupon.redeemed"
  condition = "event.expired"
  action "emit" {
    event = "custom.late_code"
  }
}
`))
	f.ingest(`[{"id": "v-1", "type": "vending.purchase", "data": {"machine_id": "vm-7"}},
		{"id": "v-2", "type": "vending.purchase", "data": {"machine_id": "vm-7"}}]`)
	// The codes drawn for the two anonymous buyers, in order: the pool's first two.
	prog := f.eng.prog.Load()
	codes := prog.codeList(prog.Campaigns["vending"])
	redeem := func(id, c string) string {
		return `{"id": "` + id + `", "type": "coupon.redeemed", "identifiers": {"phone": "090-1234-5678"}, "data": {"code": "` + c + `", "order_id": "` + id + `"}}`
	}
	f.clock.Add(10 * 24 * time.Hour)
	if r := f.ingest(redeem("r-1", codes[0]))[0]; strings.Contains(strings.Join(r.Fired, ","), "late_code") {
		t.Fatalf("a code redeemed on day 10 of 14 is late: %+v", r)
	}
	f.restart()
	f.clock.Add(5 * 24 * time.Hour)
	d := f.decide(redeem("r-2", codes[1]))
	if len(d.Redemptions) != 1 || !d.Redemptions[0].Expired {
		t.Fatalf("the decision on a code redeemed on day 15: %+v", d.Redemptions)
	}
	if r := f.ingest(redeem("r-2", codes[1]))[0]; !strings.Contains(strings.Join(r.Fired, ","), "late_code") {
		t.Fatalf("a code redeemed on day 15 of 14 is not late: %+v", r)
	}
}

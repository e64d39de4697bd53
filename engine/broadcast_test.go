package engine

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The quickstart's spring campaign messages its audience (loyal_store) while it runs: members
// who were in it before it started get it when it starts, members who join later when they
// join; each once, with the one code that is theirs for the campaign, and never again after a
// restart or another sweep; nothing once it has ended.
func TestCampaignBroadcast(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	f.ingest(purchase)
	hanako := f.ingest(follow)[0] // a regular on LINE: the welcome trigger gives her a spring code
	if strings.Join(hanako.Fired, ",") != "welcome_regular" {
		t.Fatalf("follow: %+v", hanako)
	}
	sweep := func() {
		t.Helper()
		if err := f.eng.SweepCampaigns(ctx); err != nil {
			t.Fatal(err)
		}
	}
	byName := func() map[string][]OutboxItem {
		items, err := f.store.Outbox(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]OutboxItem{}
		for _, it := range items {
			out[it.Name] = append(out[it.Name], it)
		}
		return out
	}
	sweep() // two weeks early: nothing
	if got := byName(); len(got["campaign.spring"]) != 0 {
		t.Fatalf("broadcast before the campaign starts: %+v", got["campaign.spring"])
	}

	// It starts: Hanako gets the campaign's message, with the code the welcome gave her.
	f.clock.Set(springNoon)
	sweep()
	got := byName()
	if len(got["campaign.spring"]) != 1 || len(got["trigger.welcome_regular"]) != 1 {
		t.Fatalf("after the start: %+v", got)
	}
	code := got["trigger.welcome_regular"][0].Text[strings.Index(got["trigger.welcome_regular"][0].Text, "SPR-"):]
	if msg := got["campaign.spring"][0]; !strings.Contains(msg.Text, code) || msg.To != "U4af4980629" || msg.Status != StatusPending {
		t.Fatalf("the campaign message %+v does not carry her code %s", msg, code)
	}

	// A new regular who joins LINE during the campaign gets it on entering the audience.
	taro := `[{"id": "pos-2", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-5555-6666", "member_code": "M-2002"}, "data": {"total": 1500}},
	          {"id": "line-2", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U5555", "phone": "090-5555-6666"}}]`
	f.ingest(taro)
	if got := byName(); len(got["campaign.spring"]) != 2 {
		t.Fatalf("after Taro joined: %+v", got["campaign.spring"])
	}

	// Sweeps and restarts send nothing twice; delivery sends each message once.
	sweep()
	f.restart()
	sweep()
	if err := f.eng.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.deliveries() {
		if strings.Contains(d.Text, "春のセール") {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d campaign messages delivered, want 2", n)
	}

	// After the campaign, a new member gets nothing from it.
	f.clock.Set(springNoon.Add(40 * 24 * time.Hour))
	f.ingest(strings.NewReplacer("pos-2", "pos-3", "line-2", "line-3", "5555-6666", "7777-8888", "M-2002", "M-2003", "U5555", "U7777").Replace(taro))
	sweep()
	if got := byName(); len(got["campaign.spring"]) != 2 {
		t.Fatalf("broadcast after the campaign ended: %+v", got["campaign.spring"])
	}
}

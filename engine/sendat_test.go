package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

// The spring campaign with two messages: the quickstart's, scheduled for 10:00 on 5 March,
// and a greeting without a send_at, which goes out as soon as the campaign runs.
func scheduledSpring(t testing.TB) []byte {
	return quickstartBundle(t, func(b *rules.Bundle) {
		c := &b.Campaigns[0]
		c.Messages[0].SendAt = "2027-03-05T01:00:00Z"
		c.Messages = append(c.Messages, rules.Message{Via: "sandbox.line", Template: "春のセールが始まりました"})
	})
}

// sweep sweeps the campaigns and waits until everything before it is committed: a sweep the
// engine started by itself (on opening, on new rules) may have sent what this one finds sent.
func (f *fixture) sweep() {
	f.t.Helper()
	ctx := context.Background()
	if err := f.eng.SweepCampaigns(ctx); err != nil {
		f.t.Fatal(err)
	}
	if err := f.eng.submitTx(ctx, func(*txState) error { return nil }); err != nil {
		f.t.Fatal(err)
	}
}

var springSendAt = time.Date(2027, 3, 5, 10, 0, 0, 0, time.FixedZone("JST", 9*3600))

// A scheduled campaign message goes to nobody before its send_at, neither to the audience
// nor to customers entering it; the first sweep at send_at sends it to the audience's
// members then, once each, whatever sweeps and restarts follow; those who enter later get it
// on entry. The campaign's other message is not held back by it.
func TestScheduledCampaignMessage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, scheduledSpring(t))
	f.ingest(purchase)
	f.ingest(follow) // Hanako, a regular on LINE, in the audience before the campaign starts
	sweep := f.sweep
	// scheduled lists the scheduled message's outbox items, by recipient.
	scheduled := func() map[string]OutboxItem {
		t.Helper()
		out := map[string]OutboxItem{}
		for _, it := range f.outbox() {
			if it.Name != "campaign.spring" || !strings.Contains(it.Text, "春のセール:") {
				continue
			}
			if _, twice := out[it.To]; twice {
				t.Fatalf("%s got the scheduled message twice", it.To)
			}
			out[it.To] = it
		}
		return out
	}
	greetings := func() int {
		n := 0
		for _, it := range f.outbox() {
			if it.Name == "campaign.spring" && it.Text == "春のセールが始まりました" {
				n++
			}
		}
		return n
	}

	// The campaign starts: the greeting goes out, the scheduled message waits.
	f.clock.Set(springNoon)
	sweep()
	if got := scheduled(); len(got) != 0 || greetings() != 1 {
		t.Fatalf("at the start: scheduled %+v, %d greetings", got, greetings())
	}
	// Taro enters the audience before send_at: the greeting, not the scheduled message.
	taro := `[{"id": "pos-2", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-5555-6666", "member_code": "M-2002"}, "data": {"total": 1500}},
	          {"id": "line-2", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U5555", "phone": "090-5555-6666"}}]`
	f.clock.Set(springNoon.Add(24 * time.Hour))
	f.ingest(taro)
	if got := scheduled(); len(got) != 0 || greetings() != 2 {
		t.Fatalf("Taro entered before send_at: scheduled %+v, %d greetings", got, greetings())
	}

	// The sweep loop wakes up for it: at most a minute away, and exactly on time when closer.
	prog := f.eng.prog.Load()
	if next := nextSendAt(prog, f.clock.Now()); !next.Equal(springSendAt) {
		t.Fatalf("next send_at %v, want %v", next, springSendAt)
	}
	if w := sweepWait(prog, springSendAt.Add(-20*time.Second)); w != 20*time.Second {
		t.Fatalf("20s before send_at the sweep waits %v", w)
	}
	if w := sweepWait(prog, springSendAt); w != sweepInterval {
		t.Fatalf("at send_at, with nothing else waiting, the sweep waits %v", w)
	}

	// A second early: still nothing.
	f.clock.Set(springSendAt.Add(-time.Second))
	sweep()
	if got := scheduled(); len(got) != 0 {
		t.Fatalf("a second before send_at: %+v", got)
	}

	// At send_at the engine restarts; its first sweep and the next ones send it once to each
	// member, with the idempotency key of any broadcast.
	f.clock.Set(springSendAt)
	f.restart()
	sweep()
	sweep()
	f.restart()
	sweep()
	got := scheduled()
	if len(got) != 2 || got["U4af4980629"].Status != StatusPending || got["U5555"].Status != StatusPending {
		t.Fatalf("after send_at: %+v", got)
	}
	hanako := got["U4af4980629"]
	if want := idempotencyKey("campaign.spring", "0", hanako.Customer); hanako.Key != want || !hanako.CreatedAt.Equal(springSendAt) {
		t.Fatalf("the scheduled message's key %s at %v, want %s at send_at", hanako.Key, hanako.CreatedAt, want)
	}
	if !strings.Contains(hanako.Text, "SPR-") || greetings() != 2 {
		t.Fatalf("the scheduled message %q carries no code, or the greeting went again (%d)", hanako.Text, greetings())
	}

	// Jiro enters afterwards: both messages on entry.
	f.clock.Set(springSendAt.Add(time.Hour))
	f.ingest(strings.NewReplacer("pos-2", "pos-3", "line-2", "line-3", "5555-6666", "7777-8888", "M-2002", "M-2003", "U5555", "U7777").Replace(taro))
	if got := scheduled(); len(got) != 3 || got["U7777"].Key == "" || greetings() != 3 {
		t.Fatalf("Jiro entered after send_at: scheduled %+v, %d greetings", got, greetings())
	}
	sweep()
	if err := f.eng.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.deliveries() {
		if strings.Contains(d.Text, "春のセール:") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d scheduled messages delivered, want 3", n)
	}
}

// Rules pushed after a message's send_at send it at once to the audience: the next sweep,
// which new rules start, finds it due.
func TestScheduledCampaignMessageAlreadyPast(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, func(b *rules.Bundle) { b.Campaigns[0].Messages = nil }))
	f.clock.Set(springSendAt.Add(48 * time.Hour))
	f.ingest(purchase)
	f.ingest(follow)
	if _, err := f.eng.PushBundle(ctx, scheduledSpring(t), "test"); err != nil {
		t.Fatal(err)
	}
	f.sweep()
	n := 0
	for _, it := range f.outbox() {
		if it.Name == "campaign.spring" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d campaign messages after rules with a past send_at, want both", n)
	}
	if next := nextSendAt(f.eng.prog.Load(), f.clock.Now()); !next.IsZero() {
		t.Fatalf("a past send_at wakes the sweep at %v", next)
	}
}

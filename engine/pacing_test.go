package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

// A provider's sends are paced at its send_rate, whatever queued them.
func TestSendsArePaced(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, func(b *rules.Bundle) {
		b.Triggers = append(b.Triggers, rules.Trigger{Name: "hello", On: "follow",
			Actions: []rules.Action{{Type: "send", Message: &rules.Message{Via: "sandbox.line", Template: "ようこそ"}}}})
		b.Delivery.FrequencyCaps = nil
		b.Delivery.SendRates = []rules.SendRate{{Provider: "sandbox.line", PerSecond: 20}}
	}))
	var evs []string
	for i := range 8 {
		evs = append(evs, fmt.Sprintf(`{"id": "f-%d", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U%04d"}}`, i, i))
	}
	f.ingest("[" + strings.Join(evs, ",") + "]")
	start := time.Now()
	if err := f.eng.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if n := len(f.deliveries()); n != 8 {
		t.Fatalf("%d deliveries, want 8", n)
	}
	// 20 a second with a burst of 2: the last of 8 goes out after 6 × 50 ms at the earliest.
	if took < 280*time.Millisecond {
		t.Fatalf("8 sends at 20 a second took %s", took)
	}
}

// A system that asks to wait (429 with Retry-After) holds every send through its provider.
func TestPacerHold(t *testing.T) {
	var ps pacers
	p := ps.get("line.oa", 0)
	p.hold(150 * time.Millisecond)
	start := time.Now()
	if err := ps.get("line.oa", 0).wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 140*time.Millisecond {
		t.Fatalf("a send went out %s after the system asked to wait 150 ms", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.hold(time.Hour)
	cancel()
	if err := p.wait(ctx); err == nil {
		t.Fatal("a cancelled wait returned no error")
	}
}

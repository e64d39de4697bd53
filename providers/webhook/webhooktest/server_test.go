package webhooktest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/webhook"
)

func TestTakesEachMessageOnceAndRefusesReplays(t *testing.T) {
	srv := New()
	defer srv.Close()
	clock := time.Now()
	p := &webhook.Provider{Now: func() time.Time { return clock }}
	if ds := p.Configure(context.Background(), providers.ConfigureRequest{Name: "webhook.tablet",
		Config: map[string]any{"url": srv.URL, "secret": srv.Secret, "address": "member"}}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	defer p.Close()
	req := providers.SendRequest{Name: "trigger.pickup_ready", To: "M-1001", Customer: "cus_1", Text: "order O-1", IdempotencyKey: "k1"}
	if res := p.Send(context.Background(), req); res.Diagnostics.HasErrors() || res.ID != "msg-1" || res.Duplicate {
		t.Fatalf("first send: %+v %v", res, res.Diagnostics.Err())
	}
	// Musubi's own retry, signed afresh: a duplicate, known by its id.
	clock = clock.Add(2 * time.Second)
	if res := p.Send(context.Background(), req); res.Diagnostics.HasErrors() || !res.Duplicate {
		t.Fatalf("the same message again: %+v %v", res, res.Diagnostics.Err())
	}
	status, answer, err := srv.Replay(1)
	if err != nil || status != http.StatusConflict || !strings.Contains(answer, "a replay: message k1") {
		t.Errorf("the first request posted again: %d %s %v", status, answer, err)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].To != "M-1001" || got[0].Text != "order O-1" {
		t.Errorf("messages %+v, want the one", got)
	}
	forged, _ := http.Post(srv.URL, "application/json", strings.NewReader(`{"id":"k2"}`))
	forged.Body.Close()
	if forged.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unsigned request: %d", forged.StatusCode)
	}
	if r := srv.Refused(); len(r) != 2 || !strings.HasPrefix(r[0], "409 the request was accepted already") ||
		r[1] != "401 the request carries no signature" {
		t.Errorf("refused %q", r)
	}
}

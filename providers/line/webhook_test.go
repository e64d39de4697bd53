package line

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/line/linetest"
)

// A webhook call and its signature computed outside Go, with
//
//	printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
const (
	vectorSecret    = "f3a1c9e2b7d84e6a9c0b1d2e3f405162"
	vectorSignature = "luqltZiBm3XEqVKw5Mo8/XFZTgTI/3SjGSwYGUkB8es="
	vectorBody      = `{"destination":"U0123456789abcdef0123456789abcdef","events":[` +
		`{"type":"follow","mode":"active","timestamp":1772323200000,"webhookEventId":"01JNB7Z5Q4X6T0Y3V8K2M9P1RS","deliveryContext":{"isRedelivery":false},"source":{"type":"user","userId":"U00000000000000000000000000000001"},"replyToken":"r1","follow":{"isUnblocked":true}},` +
		`{"type":"message","mode":"active","timestamp":1772323201000,"webhookEventId":"01JNB7Z5Q4X6T0Y3V8K2M9P1RT","deliveryContext":{"isRedelivery":false},"source":{"type":"user","userId":"U00000000000000000000000000000001"},"replyToken":"r2","message":{"id":"1","type":"text","text":"hi"}},` +
		`{"type":"unfollow","mode":"active","timestamp":1772323202000,"webhookEventId":"01JNB7Z5Q4X6T0Y3V8K2M9P1RV","deliveryContext":{"isRedelivery":true},"source":{"type":"user","userId":"U00000000000000000000000000000002"}}]}`
)

func receiver(t testing.TB, secret string) *Provider {
	t.Helper()
	p := New()
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "line.oa",
		Config: map[string]any{"channel_token": "t", "channel_secret": secret}}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

func receive(p *Provider, body, sig string) providers.WebhookResponse {
	h := http.Header{}
	if sig != "" {
		h.Set("X-Line-Signature", sig)
	}
	return p.ReceiveWebhook(context.Background(), providers.WebhookRequest{URL: "https://musubi.example/v1/webhooks/line.oa", Header: h, Body: []byte(body)})
}

// hmacBase64 signs independently of the signature package, as a sender outside Musubi would.
func hmacBase64(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestWebhookKnownSignature(t *testing.T) {
	t.Parallel()
	if got := hmacBase64(vectorSecret, vectorBody); got != vectorSignature {
		t.Fatalf("the vector does not hold: %s", got)
	}
	r := receive(receiver(t, vectorSecret), vectorBody, vectorSignature)
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	want := []providers.InboundEvent{
		{ID: "01JNB7Z5Q4X6T0Y3V8K2M9P1RS", Type: "follow", Time: time.UnixMilli(1772323200000).UTC(), Channel: "line",
			Record: map[string]any{"userId": "U00000000000000000000000000000001"},
			Data:   map[string]any{"account": "U0123456789abcdef0123456789abcdef", "unblocked": true}},
		{ID: "01JNB7Z5Q4X6T0Y3V8K2M9P1RV", Type: "unfollow", Time: time.UnixMilli(1772323202000).UTC(), Channel: "line",
			Record: map[string]any{"userId": "U00000000000000000000000000000002"},
			Data:   map[string]any{"account": "U0123456789abcdef0123456789abcdef"}},
	}
	if len(r.Events) != len(want) {
		t.Fatalf("%d events, want %d (the message event is skipped): %+v", len(r.Events), len(want), r.Events)
	}
	for i, w := range want {
		g := r.Events[i]
		if g.ID != w.ID || g.Type != w.Type || !g.Time.Equal(w.Time) || g.Channel != w.Channel ||
			g.Record["userId"] != w.Record["userId"] || g.Data["account"] != w.Data["account"] || g.Data["unblocked"] != w.Data["unblocked"] {
			t.Errorf("event %d = %+v, want %+v", i, g, w)
		}
	}
}

// What the contract server signs, the provider accepts; both sides compute the HMAC apart.
func TestWebhookFromContractServer(t *testing.T) {
	t.Parallel()
	srv := linetest.NewServer()
	defer srv.Close()
	body, sig := srv.Webhook(linetest.FollowEvent(user(7), false), linetest.UnfollowEvent(user(8)))
	if sig != hmacBase64(srv.Secret, string(body)) {
		t.Fatal("the contract server's signature differs from an independent HMAC")
	}
	r := receive(receiver(t, srv.Secret), string(body), sig)
	if err := r.Diagnostics.Err(); err != nil || len(r.Events) != 2 {
		t.Fatalf("%v, %d events", err, len(r.Events))
	}
	if r.Events[0].Data["unblocked"] != false || r.Events[0].Data["account"] != srv.BotUserID() {
		t.Fatalf("follow data %v", r.Events[0].Data)
	}
}

func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	p := receiver(t, vectorSecret)
	sign := func(body string) string { return hmacBase64(vectorSecret, body) }
	cases := []struct {
		name, body, sig string
		code            providers.ErrorCode
	}{
		{"no signature", vectorBody, "", providers.ErrAuth},
		{"another secret", vectorBody, hmacBase64("another", vectorBody), providers.ErrAuth},
		{"body changed after signing", strings.Replace(vectorBody, `"isUnblocked":true`, `"isUnblocked":false`, 1), vectorSignature, providers.ErrAuth},
		{"not base64", vectorBody, "%%%", providers.ErrAuth},
		{"not JSON", "{", sign("{"), providers.ErrInvalid},
		{"follow without a user", `{"events":[{"type":"follow","webhookEventId":"e1","source":{"type":"group","groupId":"C1"}}]}`,
			sign(`{"events":[{"type":"follow","webhookEventId":"e1","source":{"type":"group","groupId":"C1"}}]}`), providers.ErrInvalid},
		{"unfollow without an event ID", `{"events":[{"type":"unfollow","source":{"type":"user","userId":"U1"}}]}`,
			sign(`{"events":[{"type":"unfollow","source":{"type":"user","userId":"U1"}}]}`), providers.ErrInvalid},
	}
	for _, c := range cases {
		r := receive(p, c.body, c.sig)
		if got := providers.CodeOf(r.Diagnostics.Err()); got != c.code || len(r.Events) != 0 {
			t.Errorf("%s: %v with %d events, want %s and none", c.name, r.Diagnostics.Err(), len(r.Events), c.code)
		}
	}
	// LINE's connection check: no events, signed.
	if r := receive(p, `{"destination":"U1","events":[]}`, sign(`{"destination":"U1","events":[]}`)); r.Diagnostics.HasErrors() || len(r.Events) != 0 {
		t.Errorf("an empty call: %v", r.Diagnostics.Err())
	}
	if r := receive(receiver(t, ""), vectorBody, vectorSignature); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrAuth ||
		!strings.Contains(r.Diagnostics.Err().Error(), "channel_secret") {
		t.Errorf("no channel secret: %v, want auth naming channel_secret", r.Diagnostics.Err())
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(vectorBody))
	f.Add([]byte(`{"events":[{"type":"follow","webhookEventId":"e","source":{"userId":"U1"},"follow":null}]}`))
	f.Add([]byte(`{"events":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseWebhook(body)
		if err != nil && events != nil {
			t.Fatal("events returned with an error")
		}
		for _, e := range events {
			if e.ID == "" || e.Record["userId"] == "" || (e.Type != "follow" && e.Type != "unfollow") {
				t.Fatalf("event without an ID or user, or of an unknown type: %+v", e)
			}
		}
	})
}

// LINE signs the body, which carries each event's webhookEventId; a redelivery
// (deliveryContext.isRedelivery) keeps the ID, so the engine drops it whatever its headers.
func TestWebhookRedeliveryKeepsTheEventID(t *testing.T) {
	t.Parallel()
	p := receiver(t, vectorSecret)
	again := strings.ReplaceAll(vectorBody, `"isRedelivery":false`, `"isRedelivery":true`)
	first, redelivered := receive(p, vectorBody, vectorSignature), receive(p, again, hmacBase64(vectorSecret, again))
	if len(first.Events) != 2 || len(redelivered.Events) != 2 {
		t.Fatalf("%d and %d events", len(first.Events), len(redelivered.Events))
	}
	for i := range first.Events {
		if first.Events[i].ID != redelivered.Events[i].ID {
			t.Errorf("event %d redelivered as %q, first %q", i, redelivered.Events[i].ID, first.Events[i].ID)
		}
	}
}

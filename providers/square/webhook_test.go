package square_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/signature"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
)

// receiver creates a webhook subscription through the provider, then configures a provider
// with the signature key Square's console would show, as an operator does.
func receiver(t *testing.T) (*square.Provider, *squaretest.Server, string) {
	t.Helper()
	p, srv := configure(t, nil)
	subID := create(t, p, providers.KindSubscription, providers.Attrs{"source": "pos", "topics": []string{"purchase", "account.linked"}}, "k")
	key, _ := srv.SignatureKey(subID)
	p2 := &square.Provider{}
	r := p2.Configure(context.Background(), providers.ConfigureRequest{Name: "square.store", Config: map[string]any{
		"token": srv.Token, "base_url": srv.URL, "webhook_url": webhookURL, "webhook_signature_key": key}})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return p2, srv, subID
}

func payment(id, status string) map[string]any {
	return map[string]any{"payment": map[string]any{
		"id": id, "status": status, "order_id": "ORD1", "customer_id": "CUST1", "location_id": "L1",
		"created_at": "2027-03-05T10:15:00.000Z", "amount_money": map[string]any{"amount": 3200, "currency": "JPY"},
		"application_details": map[string]any{"square_product": "SQUARE_POS"},
	}}
}

func TestWebhookPurchase(t *testing.T) {
	t.Parallel()
	p, srv, sub := receiver(t)
	ctx := context.Background()
	body, h, u, err := srv.Notification(sub, "payment.updated", "evt-1", payment("PAY1", "COMPLETED"))
	if err != nil {
		t.Fatal(err)
	}
	r := p.ReceiveWebhook(ctx, providers.WebhookRequest{URL: u, Header: h, Body: body})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 1 {
		t.Fatalf("%d events, want 1", len(r.Events))
	}
	ev := r.Events[0]
	if ev.Type != "purchase" || ev.Channel != "pos" || ev.ID != "payment:PAY1" || ev.Data["total"] != int64(3200) ||
		ev.Data["currency"] != "JPY" || ev.Data["order_id"] != "ORD1" || ev.Record["customer_id"] != "CUST1" || ev.Time.IsZero() ||
		ev.StoreID != "L1" {
		t.Fatalf("event %+v", ev)
	}

	// The same payment reported again (created COMPLETED, later a refund changes it) is the
	// same purchase, whatever the event_id.
	body, h, u, _ = srv.Notification(sub, "payment.created", "evt-2", payment("PAY1", "COMPLETED"))
	if again := p.ReceiveWebhook(ctx, providers.WebhookRequest{URL: u, Header: h, Body: body}); len(again.Events) != 1 || again.Events[0].ID != ev.ID {
		t.Fatalf("a second report of one payment: %+v", again.Events)
	}
	// A payment not yet completed is no purchase.
	body, h, u, _ = srv.Notification(sub, "payment.created", "evt-3", payment("PAY2", "APPROVED"))
	if r := p.ReceiveWebhook(ctx, providers.WebhookRequest{URL: u, Header: h, Body: body}); len(r.Events) != 0 || r.Diagnostics.HasErrors() {
		t.Fatalf("an approved payment: %+v %v", r.Events, r.Diagnostics.Err())
	}
}

func TestWebhookCustomer(t *testing.T) {
	t.Parallel()
	p, srv, sub := receiver(t)
	body, h, u, err := srv.Notification(sub, "customer.created", "evt-9", map[string]any{"customer": map[string]any{
		"id": "CUST1", "phone_number": "+81-90-1234-5678", "email_address": "hana@example.jp", "created_at": "2027-03-01T09:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	r := p.ReceiveWebhook(context.Background(), providers.WebhookRequest{URL: u, Header: h, Body: body})
	if err := r.Diagnostics.Err(); err != nil || len(r.Events) != 1 {
		t.Fatalf("%v %v", r.Events, err)
	}
	ev := r.Events[0]
	if ev.ID != "evt-9" || ev.Type != "account.linked" || ev.Record["customer_id"] != "CUST1" ||
		ev.Record["phone_number"] != "+81-90-1234-5678" || ev.Record["email_address"] != "hana@example.jp" {
		t.Fatalf("event %+v", ev)
	}
}

func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	p, srv, sub := receiver(t)
	ctx := context.Background()
	body, h, u, _ := srv.Notification(sub, "payment.updated", "evt-1", payment("PAY1", "COMPLETED"))
	tampered := []byte(strings.Replace(string(body), "3200", "1", 1))
	for _, tc := range []struct {
		name   string
		req    providers.WebhookRequest
		code   providers.ErrorCode
		substr string
	}{
		{"body changed", providers.WebhookRequest{URL: u, Header: h, Body: tampered}, providers.ErrAuth, "does not match"},
		{"no signature", providers.WebhookRequest{URL: u, Header: http.Header{}, Body: body}, providers.ErrAuth, "no signature"},
		{"not JSON", signed(t, srv, sub, []byte("not json")), providers.ErrInvalid, "not a Square notification"},
		{"no event_id", signed(t, srv, sub, []byte(`{"type":"payment.updated"}`)), providers.ErrInvalid, "event_id"},
	} {
		r := p.ReceiveWebhook(ctx, tc.req)
		if err := r.Diagnostics.Err(); providers.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.substr) || len(r.Events) != 0 {
			t.Errorf("%s: %v (%d events), want %s mentioning %q", tc.name, err, len(r.Events), tc.code, tc.substr)
		}
	}
	// Signed for another URL (a proxy rewrote it, or the subscription points elsewhere).
	h2 := http.Header{}
	key, _ := srv.SignatureKey(sub)
	h2.Set(signature.SquareHeader, signature.SignSquare(key, "https://other.example/hook", body))
	if r := p.ReceiveWebhook(ctx, providers.WebhookRequest{URL: u, Header: h2, Body: body}); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrAuth {
		t.Errorf("signed for another URL: %v", r.Diagnostics.Err())
	}
	// Without a signature key nothing is accepted.
	unkeyed, _ := configure(t, nil)
	if r := unkeyed.ReceiveWebhook(ctx, providers.WebhookRequest{URL: u, Header: h, Body: body}); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrAuth ||
		!strings.Contains(r.Diagnostics.Err().Error(), "webhook_signature_key") {
		t.Errorf("no signature key configured: %v", r.Diagnostics.Err())
	}
}

func signed(t *testing.T, srv *squaretest.Server, sub string, body []byte) providers.WebhookRequest {
	key, _ := srv.SignatureKey(sub)
	h := http.Header{}
	h.Set(signature.SquareHeader, signature.SignSquare(key, webhookURL, body))
	return providers.WebhookRequest{URL: webhookURL, Header: h, Body: body}
}

func TestParseNotificationSkips(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"type":"order.updated","event_id":"e","data":{"object":{"order_updated":{"order_id":"O","state":"COMPLETED"}}}}`,
		`{"type":"payment.updated","event_id":"e","data":{"object":{"payment":{"id":"P","status":"COMPLETED","amount_money":{"amount":5,"currency":"JPY"}}}}}`,
		`{"type":"inventory.count.updated","event_id":"e","data":{}}`,
	} {
		evs, err := square.ParseNotification([]byte(body))
		if err != nil || len(evs) != 0 {
			t.Errorf("%s: %v %v, want no events", body, evs, err)
		}
	}
	evs, err := square.ParseNotification([]byte(`{"type":"payment.updated","event_id":"e","data":{"object":{"payment":{"id":"P","status":"COMPLETED",` +
		`"buyer_email_address":"a@example.com","amount_money":{"amount":5,"currency":"USD"},"application_details":{"square_product":"ONLINE_STORE"}}}}}`))
	if err != nil || len(evs) != 1 || evs[0].Channel != "ec" || evs[0].Record["buyer_email_address"] != "a@example.com" {
		t.Fatalf("a Square Online payment: %+v %v", evs, err)
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(`{"type":"payment.updated","event_id":"e","data":{"object":{"payment":{"id":"P","status":"COMPLETED","customer_id":"C","amount_money":{"amount":5,"currency":"JPY"}}}}}`))
	f.Add([]byte(`{"type":"customer.created","event_id":"e","data":{"object":{"customer":{"id":"C","phone_number":"+8190"}}}}`))
	f.Add([]byte(`{"type":"payment.updated","event_id":"e","data":{"object":{"payment":null}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := square.ParseNotification(body)
		providertest.CheckParsed(t, evs, err)
	})
}

// With webhook_url set, the signature is checked against that URL, not the one called (a
// proxy may rewrite it), so the called URL's ?source=, which says where the engine files the
// events, each source with its own record of event IDs, is not covered: a signed
// notification posted again under another source would count twice. The called URL must
// name the source the signed one names.
func TestWebhookSourceMustBeTheSignedOne(t *testing.T) {
	t.Parallel()
	p, srv, sub := receiver(t)
	req := notification(t, srv, sub, "payment.updated", "evt-1", payment("PAY1", "COMPLETED"))
	signed := req.URL
	for _, called := range []string{signed + "?source=store", signed + "?source=", "https://musubi.internal/v1/webhooks/square.store?source=pos",
		"http://10.0.0.7:8080/hooks/square"} {
		req.URL = called
		r := p.ReceiveWebhook(context.Background(), req)
		err := r.Diagnostics.Err()
		if strings.Contains(called, "source") && (providers.CodeOf(err) != providers.ErrAuth || len(r.Events) != 0 || !strings.Contains(err.Error(), "source")) {
			t.Errorf("posted to %s: %v (%d events), want auth naming the source", called, err, len(r.Events))
		}
		// A proxy that rewrites the host and path, keeping the query, is fine.
		if !strings.Contains(called, "source") && (err != nil || len(r.Events) != 1) {
			t.Errorf("through a proxy to %s: %v (%d events)", called, err, len(r.Events))
		}
	}
}

// notification is a request of the notification Square would make of an event.
func notification(t *testing.T, srv *squaretest.Server, sub, typ, eventID string, data map[string]any) providers.WebhookRequest {
	t.Helper()
	body, h, u, err := srv.Notification(sub, typ, eventID, data)
	if err != nil {
		t.Fatal(err)
	}
	return providers.WebhookRequest{URL: u, Header: h, Body: body}
}

package shopify_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/signature"
)

// A delivery as Shopify makes it, with its signature computed outside Go (Python's hmac over
// the exact bytes), so the check is tested against a real value, not against itself.
const (
	vectorSecret = "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"
	vectorBody   = `{"id":820982911946154508,"email":"hana@example.jp","created_at":"2027-03-05T10:15:00+09:00","currency":"JPY","total_price":"3200","source_name":"web","cart_token":"c1-7a8b","customer":{"id":115310627314723954,"email":"hana@example.jp","phone":"+819012345678"},"line_items":[{"sku":"TEE-S","name":"Tee - S","price":"1600","quantity":2}],"discount_codes":[{"code":"SPR-ABCD-EFGH"}]}`
	vectorHMAC   = "yM/73xZzQ2Kk/x1yQ8C5z4GABWi/hyS02cPamFeaTvM="
)

func receiver(t *testing.T, secret string) *shopify.Provider {
	t.Helper()
	p := &shopify.Provider{}
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: "shopify.jp", Config: map[string]any{
		"shop": "musubi-test.myshopify.com", "token": "shpat_x", "client_secret": secret}})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

func delivery(topic, hmac string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(signature.ShopifyHeader, hmac)
	h.Set(shopify.TopicHeader, topic)
	h.Set(shopify.ShopHeader, "musubi-test.myshopify.com")
	h.Set(shopify.WebhookIDHeader, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
	h.Set(shopify.TriggeredAtHeader, "2027-03-05T01:15:01.123Z")
	return h
}

func TestWebhookKnownSignature(t *testing.T) {
	t.Parallel()
	p := receiver(t, vectorSecret)
	r := p.ReceiveWebhook(context.Background(), providers.WebhookRequest{Header: delivery("orders/create", vectorHMAC), Body: []byte(vectorBody)})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 1 {
		t.Fatalf("%d events, want 1", len(r.Events))
	}
	ev := r.Events[0]
	items, _ := ev.Data["items"].([]any)
	if ev.ID != "order:820982911946154508" || ev.Type != "purchase" || ev.Channel != "ec" ||
		ev.Data["total"] != int64(3200) || ev.Data["currency"] != "JPY" || ev.Data["order_id"] != "820982911946154508" ||
		ev.Record["customer_id"] != "115310627314723954" || ev.Record["email"] != "hana@example.jp" ||
		ev.Record["phone"] != "+819012345678" || ev.Record["cart_token"] != "c1-7a8b" || len(items) != 1 ||
		!ev.Time.Equal(time.Date(2027, 3, 5, 1, 15, 0, 0, time.UTC)) {
		t.Fatalf("event %+v", ev)
	}
	if codes, _ := ev.Data["coupon_codes"].([]any); len(codes) != 1 || codes[0] != "SPR-ABCD-EFGH" {
		t.Fatalf("coupon codes %v", ev.Data["coupon_codes"])
	}
	// The same signature, made the way the contract server signs.
	if got := signature.SignShopify(vectorSecret, []byte(vectorBody)); got != vectorHMAC {
		t.Fatalf("SignShopify = %s, want %s", got, vectorHMAC)
	}
}

func TestWebhookRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := receiver(t, vectorSecret)
	body := []byte(vectorBody)
	altered := []byte(strings.Replace(vectorBody, `"3200"`, `"1"`, 1))
	otherShop := delivery("orders/create", vectorHMAC)
	otherShop.Set(shopify.ShopHeader, "someone-else.myshopify.com")
	noID := delivery("orders/create", vectorHMAC)
	noID.Del(shopify.WebhookIDHeader)
	for _, tc := range []struct {
		name   string
		h      http.Header
		body   []byte
		code   providers.ErrorCode
		substr string
	}{
		{"altered body", delivery("orders/create", vectorHMAC), altered, providers.ErrAuth, "does not match"},
		{"forged signature", delivery("orders/create", signature.SignShopify("not-the-secret", body)), body, providers.ErrAuth, "does not match"},
		{"signature of the hex digest", delivery("orders/create", "c8cffbdf167343"), body, providers.ErrAuth, "does not match"},
		{"no signature", delivery("orders/create", ""), body, providers.ErrAuth, "no signature"},
		{"another shop", otherShop, body, providers.ErrAuth, "someone-else.myshopify.com"},
		{"no webhook ID", noID, body, providers.ErrInvalid, shopify.WebhookIDHeader},
		{"not JSON", delivery("orders/create", signature.SignShopify(vectorSecret, []byte("nope"))), []byte("nope"), providers.ErrInvalid, "not a Shopify order"},
	} {
		r := p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: tc.h, Body: tc.body})
		if err := r.Diagnostics.Err(); providers.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.substr) || len(r.Events) != 0 {
			t.Errorf("%s: %v (%d events), want %s mentioning %q", tc.name, err, len(r.Events), tc.code, tc.substr)
		}
	}
	// Without a client secret nothing is accepted, and the secret is never in a message.
	unkeyed := receiver(t, "")
	r := unkeyed.ReceiveWebhook(ctx, providers.WebhookRequest{Header: delivery("orders/create", vectorHMAC), Body: body})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrAuth || !strings.Contains(err.Error(), "client_secret") {
		t.Errorf("no secret configured: %v", err)
	}
	r = p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: delivery("orders/create", "x"), Body: body})
	if strings.Contains(r.Diagnostics.Err().Error(), vectorSecret) {
		t.Error("the secret is in the message")
	}
}

// End to end: subscriptions made through the provider, a delivery the contract server signs
// with the app's secret, and the events it gives.
func TestWebhookThroughTheContractServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	create(t, p, providers.KindSubscription, providers.Attrs{"source": "ec", "topics": []string{"purchase", "account.linked", "cart.updated"}}, "s", nil)
	for _, tc := range []struct {
		topic, id string
		payload   map[string]any
		check     func(ev providers.InboundEvent) bool
	}{
		{"CUSTOMERS_CREATE", "customer:706405506930370084@2027-03-01T09:00:00-05:00", map[string]any{"id": 706405506930370084, "email": "bob@example.com", "phone": "+13125551212", "created_at": "2027-03-01T09:00:00-05:00"},
			func(ev providers.InboundEvent) bool {
				return ev.Type == "account.linked" && ev.Record["customer_id"] == "706405506930370084" && ev.Record["email"] == "bob@example.com" && ev.Data["account"] == "shopify"
			}},
		{"CARTS_UPDATE", "cart:eeafa272cebfd4b22385bc4b645e762c@2027-03-05T10:00:00+09:00", map[string]any{"id": "eeafa272cebfd4b22385bc4b645e762c", "token": "eeafa272cebfd4b22385bc4b645e762c", "updated_at": "2027-03-05T10:00:00+09:00",
			"line_items": []any{
				map[string]any{"sku": "TEE-S", "title": "Tee", "price": "1400", "line_price": "2800", "quantity": 2},
				map[string]any{"sku": "CAP", "title": "Cap", "price": "150", "line_price": "150", "quantity": 1},
			}},
			func(ev providers.InboundEvent) bool {
				cart, _ := ev.Data["cart"].(map[string]any)
				return ev.Type == "cart.updated" && ev.Record["cart_token"] == "eeafa272cebfd4b22385bc4b645e762c" &&
					cart["total"] == int64(2950) && cart["currency"] == "JPY" && cart["item_count"] == int64(3)
			}},
		{"ORDERS_CREATE", "order:1", map[string]any{"id": 1, "email": "a@example.com", "currency": "JPY", "total_price": "2950", "source_name": "pos", "created_at": "2027-03-05T10:05:00+09:00"},
			func(ev providers.InboundEvent) bool {
				return ev.Type == "purchase" && ev.Channel == "pos" && ev.Data["total"] == int64(2950)
			}},
	} {
		body, h, uri, err := srv.Webhook(tc.topic, tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(uri, webhookURL+"?") {
			t.Fatalf("delivered to %s", uri)
		}
		r := p.ReceiveWebhook(ctx, providers.WebhookRequest{URL: uri, Header: h, Body: body})
		if err := r.Diagnostics.Err(); err != nil || len(r.Events) != 1 || !tc.check(r.Events[0]) || r.Events[0].ID != tc.id {
			t.Errorf("%s: %+v %v", tc.topic, r.Events, err)
		}
	}
	if _, _, _, err := srv.Webhook("APP_UNINSTALLED", map[string]any{}); err == nil {
		t.Error("a delivery of a topic nobody subscribed to")
	}
}

func TestParseWebhookSkips(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ topic, body string }{
		{"products/update", `{"id":1}`},
		{"orders/create", `{"id":1,"currency":"JPY","total_price":"100"}`}, // nobody to tie it to
	} {
		evs, err := shopify.ParseWebhook(tc.topic, time.Time{}, "JPY", []byte(tc.body))
		if err != nil || len(evs) != 0 {
			t.Errorf("%s %s: %v %v, want no events", tc.topic, tc.body, evs, err)
		}
	}
	if _, err := shopify.ParseWebhook("orders/create", time.Time{}, "", []byte(`{"id":1,"email":"a@b.c","currency":"USD","total_price":"x"}`)); err == nil {
		t.Error("an order with a bad total was accepted")
	}
}

// An order rung up on Shopify POS is a pos purchase at its location.
func TestParseWebhookPOSOrder(t *testing.T) {
	t.Parallel()
	evs, err := shopify.ParseWebhook("orders/create", time.Time{}, "JPY",
		[]byte(`{"id":7,"email":"a@b.jp","currency":"JPY","total_price":"1500","source_name":"pos","location_id":655441491}`))
	if err != nil || len(evs) != 1 || evs[0].Channel != "pos" || evs[0].StoreID != "655441491" {
		t.Fatalf("%+v %v", evs, err)
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add("orders/create", []byte(vectorBody))
	f.Add("customers/update", []byte(`{"id":5,"email":"a@b.c"}`))
	f.Add("carts/update", []byte(`{"token":"t","line_items":[{"price":"1.5","line_price":"3","quantity":2}]}`))
	f.Add("orders/create", []byte(`[]`))
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		evs, err := shopify.ParseWebhook(topic, time.Time{}, "USD", body)
		providertest.CheckParsed(t, evs, err)
	})
}

// Shopify signs the body only: X-Shopify-Webhook-Id and X-Shopify-Topic are not covered, so
// anyone holding one signed delivery can post it again under new headers. Each event is
// named by what the body says, so the replay is the same event, which the engine drops;
// a later version of the same customer or cart is another event.
func TestWebhookReplayUnderANewIDIsTheSameEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	receive := func(topic, body string) providers.InboundEvent {
		t.Helper()
		h := srv.WebhookHeaders(srv.Secret, topic, []byte(body)) // a fresh webhook ID each time
		r := p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: h, Body: []byte(body)})
		if err := r.Diagnostics.Err(); err != nil || len(r.Events) != 1 {
			t.Fatalf("%s: %v, %d events", topic, err, len(r.Events))
		}
		return r.Events[0]
	}
	for _, tc := range []struct{ topic, body, later string }{
		{"orders/create", vectorBody, ""},
		{"customers/update", `{"id":706405506930370084,"email":"bob@example.com","updated_at":"2027-03-01T09:00:00-05:00"}`,
			`{"id":706405506930370084,"email":"bob@example.net","updated_at":"2027-03-02T09:00:00-05:00"}`},
		{"carts/update", `{"id":"eeafa272","token":"eeafa272","updated_at":"2027-03-05T10:00:00+09:00","line_items":[]}`,
			`{"id":"eeafa272","token":"eeafa272","updated_at":"2027-03-05T10:01:00+09:00","line_items":[]}`},
	} {
		first, replay := receive(tc.topic, tc.body), receive(tc.topic, tc.body)
		if first.ID != replay.ID {
			t.Errorf("%s replayed under a new webhook ID: event %q, then %q", tc.topic, first.ID, replay.ID)
		}
		if tc.later != "" {
			if later := receive(tc.topic, tc.later); later.ID == first.ID {
				t.Errorf("%s: a later version has the same event ID %q", tc.topic, later.ID)
			}
		}
	}
}

// X-Shopify-Topic is not signed either: a topic that does not fit the body is refused, so a
// signed order cannot be passed off as a customer (linking the order's ID as an account) or
// as a cart.
func TestWebhookTopicMustFitTheBody(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	customer := `{"id":706405506930370084,"email":"bob@example.com","updated_at":"2027-03-01T09:00:00-05:00"}`
	cart := `{"id":"eeafa272","token":"eeafa272","updated_at":"2027-03-05T10:00:00+09:00","line_items":[]}`
	for _, tc := range []struct{ topic, body, substr string }{
		{"customers/update", vectorBody, "the body is an order"},
		{"customers/create", vectorBody, "the body is an order"},
		{"carts/update", vectorBody, "the body is an order"},
		{"orders/create", customer, "the body is not an order"},
		{"orders/create", cart, "the body is a cart"},
		{"customers/update", cart, "the body is a cart"},
	} {
		h := srv.WebhookHeaders(srv.Secret, tc.topic, []byte(tc.body))
		r := p.ReceiveWebhook(ctx, providers.WebhookRequest{Header: h, Body: []byte(tc.body)})
		if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrInvalid || len(r.Events) != 0 ||
			!strings.Contains(err.Error(), tc.substr) || !strings.Contains(err.Error(), tc.topic) {
			t.Errorf("%s with %.30s…: %v (%d events), want invalid naming the topic and %q", tc.topic, tc.body, err, len(r.Events), tc.substr)
		}
	}
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/signature"
	"github.com/musubi-hq/musubi/providers/square"
)

const replaySecret = "shpss_0123456789abcdef0123456789abcdef"

// A signed Shopify order, as the quickstart's ec source would take it.
const replayOrder = `{"id":820982911946154508,"email":"hana@example.jp","created_at":"2027-02-16T10:00:00+09:00","currency":"JPY",` +
	`"total_price":"3200","source_name":"web","customer":{"id":115310627314723954,"email":"hana@example.jp"},` +
	`"line_items":[{"sku":"TEE-S","name":"Tee - S","price":"1600","quantity":2}]}`

// postShopify posts body to the engine's webhook route as Shopify would, under a webhook ID
// and topic of the caller's choosing (neither is signed), and returns the status and answer.
func postShopify(t *testing.T, srv *httptest.Server, topic, webhookID, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/webhooks/sandbox.ec", strings.NewReader(body))
	req.Header = http.Header{
		signature.ShopifyHeader: {signature.SignShopify(replaySecret, []byte(body))},
		shopify.TopicHeader:     {topic},
		shopify.ShopHeader:      {"musubi-test.myshopify.com"},
		shopify.WebhookIDHeader: {webhookID},
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// One signed order posted three times under fresh webhook IDs is one purchase, and the
// same body relabelled as a customer update links no account: through the engine's route,
// with the Shopify provider as the ec source's receiver.
func TestShopifyWebhookReplayThroughTheEngine(t *testing.T) {
	p := &shopify.Provider{}
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.ec", Config: map[string]any{
		"shop": "musubi-test.myshopify.com", "token": "shpat_x", "client_secret": replaySecret}}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	e, srv := webhookEngine(t, nil, map[string]providers.WebhookReceiver{"sandbox.ec": p})
	for i := range 3 {
		status, body := postShopify(t, srv, "orders/create", fmt.Sprintf("b54557e4-bdd9-4b37-8a5f-%012d", i), replayOrder)
		var out struct{ Results []Result }
		if err := json.Unmarshal([]byte(body), &out); status != 200 || err != nil || len(out.Results) != 1 {
			t.Fatalf("delivery %d: %d %s", i, status, body)
		}
		if dup := out.Results[0].Duplicate; dup != (i > 0) {
			t.Errorf("delivery %d under a new webhook ID: duplicate %v, want %v", i, dup, i > 0)
		}
	}
	status, body := postShopify(t, srv, "customers/update", "b54557e4-bdd9-4b37-8a5f-999999999999", replayOrder)
	if status != http.StatusBadRequest || !strings.Contains(body, "customers/update") {
		t.Errorf("the order relabelled as a customer update: %d %s, want 400 naming the topic", status, body)
	}
	c, err := e.Customer(context.Background(), "email:hana@example.jp")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Traits["spend_90d"]); got != "3200" {
		t.Errorf("spend_90d = %s, want 3200: the order counted more than once", got)
	}
	var accounts []string
	for _, id := range c.Identifiers {
		if id.Type == "ec_id" {
			accounts = append(accounts, id.Value)
		}
	}
	if len(accounts) != 1 || accounts[0] != "115310627314723954" {
		t.Errorf("EC accounts %v, want only the customer's", accounts)
	}
}

// A Square provider with webhook_url set checks signatures against that URL, so the ?source=
// of the URL called is not signed: a notification signed for the pos source, posted again to
// another source of the same provider (which keeps its own record of event IDs), is refused.
func TestSquareWebhookUnderAnotherSourceThroughTheEngine(t *testing.T) {
	const key, hook = "sq-signature-key-0123456789", "https://musubi.example/v1/webhooks/sandbox.pos?source=pos"
	p := &square.Provider{}
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.pos", Config: map[string]any{
		"token": "EAAAtoken", "webhook_url": hook, "webhook_signature_key": key}}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	_, srv := webhookEngine(t, func(b *rules.Bundle) {
		b.Sources = append(b.Sources, rules.Source{Name: "store", Provider: "sandbox.pos", Identifiers: map[string]string{"phone": "phone_number"}})
	}, map[string]providers.WebhookReceiver{"sandbox.pos": p})
	body := `{"merchant_id":"M1","type":"customer.created","event_id":"evt-9","created_at":"2027-02-16T01:00:00Z",` +
		`"data":{"type":"customer","id":"CUST1","object":{"customer":{"id":"CUST1","phone_number":"+81-90-1234-5678"}}}}`
	signed := http.Header{signature.SquareHeader: {signature.SignSquare(key, hook, []byte(body))}}
	for _, c := range []webhookCase{
		{name: "signed for pos", path: "/v1/webhooks/sandbox.pos?source=pos", status: 200, want: `"customer":"c_`},
		{name: "again", path: "/v1/webhooks/sandbox.pos?source=pos", status: 200, want: `"duplicate":true`},
		{name: "to another source", path: "/v1/webhooks/sandbox.pos?source=store", status: 401, want: "source"},
	} {
		c.body, c.header = body, signed
		c.run(t, srv)
	}
}

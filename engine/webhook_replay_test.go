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

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/signature"
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

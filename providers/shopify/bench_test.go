package shopify_test

import (
	"context"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
)

// BenchmarkCoupons refreshes 250 coupons (the planner's batch size) against the contract
// server: five nodes queries of up to 60 discounts, and the mapping back to attributes; and
// creates a coupon: the code lookup and one discountCodeBasicCreate. The client's waits for
// the throttle bucket move the server's clock instead of sleeping.
func BenchmarkCoupons(b *testing.B) {
	p, _ := configure(b, nil)
	providertest.BenchCoupons(b, p, spring)
}

// BenchmarkReceiveWebhook verifies and translates one order delivery, the engine's hot path
// for online purchases.
func BenchmarkReceiveWebhook(b *testing.B) {
	p := &shopify.Provider{}
	p.Configure(context.Background(), providers.ConfigureRequest{Name: "shopify.jp", Config: map[string]any{
		"shop": "musubi-test.myshopify.com", "token": "shpat_x", "client_secret": vectorSecret}})
	req := providers.WebhookRequest{Header: delivery("orders/create", vectorHMAC), Body: []byte(vectorBody)}
	ctx := context.Background()
	for b.Loop() {
		if r := p.ReceiveWebhook(ctx, req); len(r.Events) != 1 {
			b.Fatal(r.Diagnostics.Err())
		}
	}
}

package shopify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify"
)

// BenchmarkReadBatch refreshes 250 coupons (the planner's batch size) against the contract
// server: five nodes queries of up to 60 discounts, and the mapping back to attributes. The
// client's waits for the throttle bucket move the server's clock instead of sleeping.
func BenchmarkReadBatch(b *testing.B) {
	p, _ := configure(b, nil)
	ctx := context.Background()
	reqs := make([]providers.ReadRequest, providers.MaxReadBatch)
	for i := range reqs {
		r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: spring(), IdempotencyKey: fmt.Sprint("k", i)})
		if err := r.Diagnostics.Err(); err != nil {
			b.Fatal(err)
		}
		reqs[i] = providers.ReadRequest{Kind: providers.KindCoupon, ID: r.ID, Prior: spring()}
	}
	b.ResetTimer()
	for b.Loop() {
		for _, r := range p.ReadBatch(ctx, reqs) {
			if !r.Found {
				b.Fatal(r.Diagnostics.Err())
			}
		}
	}
}

// BenchmarkCreateCoupon creates a coupon: the code lookup and one discountCodeBasicCreate.
func BenchmarkCreateCoupon(b *testing.B) {
	p, _ := configure(b, nil)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: spring(), IdempotencyKey: fmt.Sprint("k", i)})
		if r.Diagnostics.HasErrors() {
			b.Fatal(r.Diagnostics.Err())
		}
	}
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

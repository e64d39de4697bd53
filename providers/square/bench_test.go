package square_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/square"
)

// BenchmarkReadBatch refreshes 250 coupons (the planner's batch size) against the contract
// server: one batch retrieve and the mapping back to attributes.
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
				b.Fatal("not found")
			}
		}
	}
}

// BenchmarkCreateCoupon creates a coupon: one batch upsert of three objects.
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

// BenchmarkReceiveWebhook verifies and translates one payment notification, the engine's
// hot path for store purchases.
func BenchmarkReceiveWebhook(b *testing.B) {
	p, srv := configure(b, nil)
	ctx := context.Background()
	sub := p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription,
		Attributes: providers.Attrs{"source": "pos", "topics": []string{"purchase"}, "endpoint": webhookURL}, IdempotencyKey: "k"})
	key, _ := srv.SignatureKey(sub.ID)
	recv := &square.Provider{}
	recv.Configure(ctx, providers.ConfigureRequest{Name: "square.store", Config: map[string]any{
		"token": srv.Token, "webhook_url": webhookURL, "webhook_signature_key": key}})
	body, h, u, err := srv.Notification(sub.ID, "payment.updated", "evt", payment("PAY1", "COMPLETED"))
	if err != nil {
		b.Fatal(err)
	}
	req := providers.WebhookRequest{URL: u, Header: h, Body: body}
	for b.Loop() {
		if r := recv.ReceiveWebhook(ctx, req); len(r.Events) != 1 {
			b.Fatal(r.Diagnostics.Err())
		}
	}
}

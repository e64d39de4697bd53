package square_test

import (
	"context"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/square"
)

// BenchmarkCoupons refreshes 250 coupons (the planner's batch size) against the contract
// server: one batch retrieve and the mapping back to attributes; and creates a coupon: one
// batch upsert of three objects.
func BenchmarkCoupons(b *testing.B) {
	p, _ := configure(b, nil)
	providertest.BenchCoupons(b, p, spring)
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

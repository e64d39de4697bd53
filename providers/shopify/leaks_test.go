package shopify_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
)

// Credentials the shop does not know: the provider must keep these to itself too.
const refusedToken, refusedSecret = "shpat_secret-token-that-must-not-leak", "shpss_client-secret-that-must-not-leak"

// The credentials never show in attributes, errors or logs, whatever fails: a refused token,
// an unreachable shop, a forged webhook.
// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "shopify",
		Config: func(*testing.T) map[string]any {
			return map[string]any{"shop": "musubi-test.myshopify.com", "token": refusedToken, "client_secret": refusedSecret,
				"webhook_url": webhookURL}
		},
		New:     providertest.Fresh(configure, nil),
		Refused: providertest.Fresh(configure, map[string]any{"token": refusedToken, "client_secret": refusedSecret}),
		Gone:    providertest.Gone(configure, nil),
		Client:  func(p providers.Provider) *http.Client { return p.(*shopify.Provider).Client().HTTP },
		Secrets: func(t *testing.T, p providers.Provider) []string {
			srv := servers.Of(p)
			return []string{refusedToken, refusedSecret, srv.Token, srv.Secret}
		},
		Cases: []providertest.Case{couponCase, audienceCouponCase, poolCase, audienceCase, subscriptionCase},
		// A webhook signed with the app's secret, and the same one forged.
		Exercise: func(t *testing.T, p providers.Provider) []any {
			ctx := context.Background()
			sub := p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: "leak-webhook",
				Attributes: providers.Attrs{"source": "ec", "topics": []string{"purchase"}}})
			if sub.Diagnostics.HasErrors() {
				return []any{sub} // a shop that refuses the token, or is gone, sends none
			}
			body, h, _, err := servers.Of(p).Webhook("ORDERS_CREATE", map[string]any{"id": 1, "email": "a@b.c", "currency": "JPY", "total_price": "1"})
			if err != nil {
				t.Fatal(err)
			}
			wr := p.(providers.WebhookReceiver)
			signed := wr.ReceiveWebhook(ctx, providers.WebhookRequest{Header: h, Body: body})
			h.Set("X-Shopify-Hmac-Sha256", "forged")
			return []any{sub, signed, wr.ReceiveWebhook(ctx, providers.WebhookRequest{Header: h, Body: body})}
		},
	})
	if n := found.Codes[providers.ErrAuth]; n < 8 {
		t.Errorf("only %d calls failed as auth; the check does not exercise what it means to", n)
	}
}

package shopify_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// The credentials never show in attributes, errors or logs, whatever fails: a refused token,
// an unreachable shop, a forged webhook.
// Not parallel: it captures the process's default logger.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	const token, secret = "shpat_secret-token-that-must-not-leak", "shpss_client-secret-that-must-not-leak"
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	good, srv := configure(t, map[string]any{"client_secret": secret})
	var all []string
	collect := func(v ...any) { all = append(all, fmt.Sprintf("%+v", v)) }
	// What a working provider stores and returns.
	for _, c := range []struct {
		k providers.Kind
		a providers.Attrs
	}{
		{providers.KindCoupon, spring()},
		{providers.KindAudience, providers.Attrs{"segment": "loyal_store"}},
		{providers.KindSubscription, providers.Attrs{"source": "ec", "topics": []string{"purchase"}}},
	} {
		r := good.Create(ctx, providers.CreateRequest{Kind: c.k, Attributes: c.a, IdempotencyKey: "k"})
		collect(r, good.Read(ctx, providers.ReadRequest{Kind: c.k, ID: r.ID}))
	}
	body, h, _, _ := srv.Webhook("ORDERS_CREATE", map[string]any{"id": 1, "email": "a@b.c", "currency": "JPY", "total_price": "1"})
	collect(good.ReceiveWebhook(ctx, providers.WebhookRequest{Header: h, Body: body}))
	h.Set("X-Shopify-Hmac-Sha256", "forged")
	collect(good.ReceiveWebhook(ctx, providers.WebhookRequest{Header: h, Body: body}))

	// A provider whose token the shop refuses, then whose shop is gone.
	bad, _ := configure(t, map[string]any{"token": token, "client_secret": secret})
	auth := 0
	for _, k := range []providers.Kind{providers.KindCoupon, providers.KindCodePool, providers.KindAudience, providers.KindSubscription} {
		for _, ds := range []providers.Diagnostics{
			bad.Create(ctx, providers.CreateRequest{Kind: k, Attributes: spring(), IdempotencyKey: "k", Refs: map[string]string{"coupon": "gid://shopify/DiscountCodeNode/1"}}).Diagnostics,
			bad.Read(ctx, providers.ReadRequest{Kind: k, ID: "gid://shopify/DiscountCodeNode/1"}).Diagnostics,
			bad.Read(ctx, providers.ReadRequest{Kind: k, IdempotencyKey: "k"}).Diagnostics,
			bad.Update(ctx, providers.UpdateRequest{Kind: k, ID: "x", Planned: spring()}).Diagnostics,
			bad.Delete(ctx, providers.DeleteRequest{Kind: k, ID: "gid://shopify/Segment/1"}).Diagnostics,
			bad.Import(ctx, providers.ImportRequest{Kind: k, ID: "gid://shopify/Segment/1"}).Diagnostics,
		} {
			collect(ds.Err(), ds)
			if providers.CodeOf(ds.Err()) == providers.ErrAuth {
				auth++
			}
		}
	}
	collect(bad.ReceiveWebhook(ctx, providers.WebhookRequest{Header: http.Header{}, Body: []byte(`{}`)}))
	srv.Close()
	collect(good.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: spring(), IdempotencyKey: "k2"}))
	collect(good.Schema(ctx))

	text := strings.Join(all, "\n") + logs.String()
	for _, s := range []string{token, secret, srv.Token, srv.Secret} {
		if strings.Contains(text, s) {
			t.Fatalf("a credential leaked:\n%s", text)
		}
	}
	if auth < 8 {
		t.Fatalf("only %d calls failed as auth; the test does not exercise what it means to", auth)
	}
}

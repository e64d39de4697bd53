package square_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/square"
)

// Each create's key is kept to the length its endpoint takes; a longer one becomes a hash,
// the same on every retry, so a retried create still replays.
func TestIdempotencyKeysFitEachCreate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 200)
	for _, max := range []int{square.MaxCatalogKey, square.MaxGroupKey, square.MaxSubscriptionKey} {
		if k := square.IdempotencyKey(long[:max], max); k != long[:max] {
			t.Errorf("a key of %d characters, the most the endpoint takes, became %q", max, k)
		}
		k := square.IdempotencyKey(long+"x", max)
		if len(k) > max || k != square.IdempotencyKey(long+"x", max) || k == square.IdempotencyKey(long+"y", max) {
			t.Errorf("a key over %d characters became %q", max, k)
		}
	}
	if k := square.IdempotencyKey("", square.MaxCatalogKey); k == "" {
		t.Error("an empty key is sent empty; the batch upsert needs one")
	}

	p, srv := configure(t, nil)
	c := p.Client()
	ctx := context.Background()
	sub := square.WebhookSubscription{Name: "musubi pos 0123456789abcdef", EventTypes: []string{"payment.created"},
		NotificationURL: "https://rules.example.jp/v1/webhooks/square.store"}
	first, err := c.CreateWebhookSubscription(ctx, long[:100], sub)
	if err != nil {
		t.Fatalf("a subscription created with a 100-character key: %v", err)
	}
	again, err := c.CreateWebhookSubscription(ctx, long[:100], sub)
	if err != nil || again.ID != first.ID {
		t.Fatalf("the retry made %v (%v), the first %s", again, err, first.ID)
	}
	if n := len(srv.IDs(providers.KindSubscription)); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}
}

func TestAPIVersionSetting(t *testing.T) {
	t.Parallel()
	var got []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Square-Version"))
		w.Write([]byte(`{"group":{"id":"G","name":"n"}}`))
	}))
	defer hs.Close()
	for _, v := range []string{"", "2026-09-16"} {
		p := &square.Provider{}
		cfg := map[string]any{"token": "t", "base_url": hs.URL, "api_version": v}
		if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "square.store", Config: cfg}).Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Client().CustomerGroup(context.Background(), "G"); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != square.APIVersion || got[1] != "2026-09-16" {
		t.Fatalf("Square-Version sent: %v", got)
	}
	for _, bad := range []string{"2026-13-01", "2026-07", "latest"} {
		r := (&square.Provider{}).Configure(context.Background(), providers.ConfigureRequest{Name: "square.store",
			Config: map[string]any{"token": "t", "api_version": bad}})
		if len(r.Diagnostics) != 1 || r.Diagnostics[0].Attribute != "api_version" {
			t.Errorf("api_version %q: %v", bad, r.Diagnostics.Err())
		}
	}
}

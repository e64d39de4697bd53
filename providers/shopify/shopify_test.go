package shopify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
)

const webhookURL = "https://musubi.example/v1/webhooks/shopify.jp"

// servers keeps each provider's contract server.
var servers providertest.Fixtures[*shopifytest.Server]

// configure returns a provider of a fresh contract server, configured as a programme would.
// The client never really waits: a wait moves the server's clock instead, so the throttle
// bucket restores as it would have.
func configure(t testing.TB, extra map[string]any) (*shopify.Provider, *shopifytest.Server) {
	t.Helper()
	srv := shopifytest.New()
	t.Cleanup(srv.Close)
	p := &shopify.Provider{}
	providertest.Configure(t, p, "shopify.jp", map[string]any{"shop": srv.Shop, "token": srv.Token, "api_url": srv.URL,
		"webhook_url": webhookURL, "client_secret": srv.Secret}, extra, "token", "client_secret")
	p.Client().Sleep = func(_ context.Context, d time.Duration) error { srv.Advance(d); return nil }
	servers.Keep(t, p, srv)
	return p, srv
}

// attempts is how many calls one failing operation makes: the client repeats what may
// succeed later, but never a create after a server failure, which may have made the object.
func attempts(op string, status int, lose bool) int {
	switch {
	case status == 429:
		return shopify.DefaultMaxAttempts
	case op == "create" && (lose || status >= 500):
		return 1
	case lose || status >= 500:
		return shopify.DefaultMaxAttempts
	}
	return 1
}

func harness() providertest.Harness {
	return providertest.WithBackstage(providertest.Harness{New: providertest.Fresh(configure, nil)}, &servers, attempts)
}

// spring is a coupon whose codes come from a pool: it has no code of its own. (Shopify codes
// are unique in a shop, and the suite creates several coupons of one case side by side; the
// shared code has tests of its own.)
func spring() providers.Attrs {
	return providers.Attrs{"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(3000), "per_customer": int64(1), "usage_limit": int64(500),
		"starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00",
		"timezone": "Asia/Tokyo", "combines_with": []string{"product", "shipping"}}
}

var couponCase = providertest.Case{
	Kind:       providers.KindCoupon,
	Attrs:      spring(),
	Update:     providers.Attrs{"percent": 15.0, "title": "Spring 15% off", "usage_limit": int64(0), "ends_at": "", "combines_with": []string{"order"}},
	DriftAttr:  "percent",
	DriftValue: "40",
	Invalid: map[string]providers.Attrs{
		"percent":       {"percent": 120.0},
		"ends_at":       {"ends_at": "2027-02-01T00:00:00+09:00"},
		"timezone":      {"timezone": "Mars/Olympus"},
		"title":         {"title": strings.Repeat("x", 240)},
		"per_customer":  {"per_customer": int64(2)},
		"combines_with": {"combines_with": []string{"everything"}},
		"code":          {"code": "TWO WORDS"},
		"currency":      {"currency": "yen"},
	},
}

var audienceCouponCase = providertest.Case{
	Kind: providers.KindCoupon,
	Attrs: providers.Attrs{"title": "Regulars ¥500 off", "discount_type": "amount", "amount": int64(500), "currency": "JPY",
		"audience": "loyal_store", "timezone": "Asia/Tokyo", "starts_at": "2027-04-01T10:00:00+09:00"},
	Refs:       providertest.WithAudience,
	Update:     providers.Attrs{"amount": int64(800), "min_total": int64(5000)},
	DriftAttr:  "audience",
	DriftValue: "",
	Invalid: map[string]providers.Attrs{
		"amount":   {"amount": int64(-5)},
		"audience": {"audience": "not a segment"},
	},
}

// withCoupon creates the coupon whose discount the pool's codes go to.
func withCoupon(t *testing.T, p providers.Provider) map[string]string {
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: spring(), IdempotencyKey: t.Name() + "-coupon"})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"coupon": r.ID}
}

func poolAttrs() providers.Attrs {
	return providers.Attrs{"coupon": "campaign.spring.coupon[shopify.jp]", "pattern": "SPR-####-####",
		"charset": "ABCDEFGHJKMNPQRSTUVWXYZ23456789", "count": int64(300), "seed": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
}

var poolCase = providertest.Case{
	Kind:       providers.KindCodePool,
	Attrs:      poolAttrs(),
	Refs:       withCoupon,
	Update:     providers.Attrs{"count": int64(420)},
	Replace:    providers.Attrs{"pattern": "SPX-#####"},
	DriftAttr:  "count",
	DriftValue: "120",
	Invalid: map[string]providers.Attrs{
		"pattern": {"pattern": "NOHASH"},
		"charset": {"charset": "A"},
		"count":   {"count": int64(shopify.MaxPoolCodes + 1)},
	},
}

var audienceCase = shopifyAudience()

// shopifyAudience is the shared audience case but for its replace: Shopify changes a
// segment's query in place.
func shopifyAudience() providertest.Case {
	c := providertest.AudienceCase("edited in the admin", map[string]providers.Attrs{"segment": {"segment": "two words"}})
	c.Replace = nil
	return c
}

var subscriptionCase = providertest.Case{
	Kind: providers.KindSubscription,
	// follow is not a Shopify event: Validate warns, Plan drops it.
	Attrs:      providers.Attrs{"source": "ec", "topics": []string{"purchase", "account.linked", "cart.updated", "follow"}},
	Update:     providers.Attrs{"topics": []string{"purchase"}},
	DriftAttr:  "endpoint",
	DriftValue: "https://elsewhere.example/hook",
	Invalid: map[string]providers.Attrs{
		"topics":   {"topics": []string{"follow"}},
		"endpoint": {"endpoint": "http://musubi.example/hook"},
		"source":   {"source": "two words"},
	},
}

func TestConformance(t *testing.T) {
	t.Parallel()
	h := harness()
	h.Cases = []providertest.Case{couponCase, audienceCouponCase, poolCase, audienceCase, subscriptionCase}
	providertest.Run(t, h)
}

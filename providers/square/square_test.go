package square_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
)

const webhookURL = "https://musubi.example/v1/webhooks/square.store"

// servers keeps each provider's contract server.
var servers providertest.Fixtures[*squaretest.Server]

func noSleep(context.Context, time.Duration) error { return nil }

// configure returns a provider of a fresh contract server, configured as a programme would,
// that never really waits between retries.
func configure(t testing.TB, extra map[string]any) (*square.Provider, *squaretest.Server) {
	t.Helper()
	srv := squaretest.New()
	t.Cleanup(srv.Close)
	p := &square.Provider{}
	providertest.Configure(t, p, "square.store", map[string]any{"token": srv.Token, "base_url": srv.URL, "timezone": "Asia/Tokyo",
		"webhook_url": webhookURL}, extra, "token", "webhook_signature_key")
	p.Client().Sleep = noSleep
	servers.Keep(t, p, srv)
	return p, srv
}

// attempts is how many calls one failing operation makes: the client retries what may
// succeed later.
func attempts(_ string, status int, lose bool) int {
	if lose || status == 429 || status >= 500 {
		return square.DefaultMaxAttempts
	}
	return 1
}

func harness() providertest.Harness {
	return providertest.WithBackstage(providertest.Harness{New: providertest.Fresh(configure, nil)}, &servers, attempts)
}

func spring() providers.Attrs {
	return providers.Attrs{"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(3000), "starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00",
		"timezone": "Asia/Tokyo"}
}

var couponCase = providertest.Case{
	Kind:       providers.KindCoupon,
	Attrs:      spring(),
	Update:     providers.Attrs{"percent": 15.0, "title": "Spring 15% off"},
	DriftAttr:  "percent",
	DriftValue: "40",
	Invalid: map[string]providers.Attrs{
		"percent":       {"percent": 120.0},
		"ends_at":       {"ends_at": "2027-02-01T00:00:00+09:00"},
		"timezone":      {"timezone": "Mars/Olympus"},
		"title":         {"title": strings.Repeat("x", 256)},
		"code":          {"code": "SPRING10"},
		"per_customer":  {"per_customer": int64(1)},
		"usage_limit":   {"usage_limit": int64(500)},
		"combines_with": {"combines_with": []string{"order"}},
	},
}

var audienceCouponCase = providertest.Case{
	Kind: providers.KindCoupon,
	Attrs: providers.Attrs{"title": "Regulars 15% off", "discount_type": "percent", "percent": 15.0, "currency": "JPY",
		"min_total": int64(3000), "audience": "loyal_store", "timezone": "Asia/Tokyo"},
	Refs:       providertest.WithAudience,
	Update:     providers.Attrs{"min_total": int64(5000)},
	DriftAttr:  "min_total",
	DriftValue: "4000",
	Invalid: map[string]providers.Attrs{
		"min_total": {"min_total": int64(-5)},
		"audience":  {"audience": "not a segment"},
		// Square would take it off every item.
		"amount": {"discount_type": "amount", "amount": int64(500), "percent": 0.0},
	},
}

// A coupon limited to some of the seller's locations: each of its objects is present there
// only, the seller narrowing the pricing rule in the Dashboard reads back as drift, and an
// update moves it in place.
var storesCouponCase = providertest.Case{
	Kind: providers.KindCoupon,
	Attrs: providers.Attrs{"title": "Shibuya 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(1000), "stores": []string{"L1", "L2"}, "timezone": "Asia/Tokyo"},
	Update:     providers.Attrs{"stores": []string{"L2", "L3"}},
	DriftAttr:  "stores",
	DriftValue: "L1",
	Invalid: map[string]providers.Attrs{
		"stores": {"stores": []string{"L 1"}},
	},
}

var audienceCase = providertest.AudienceCase("edited in the dashboard", map[string]providers.Attrs{"segment": {"segment": ""}})

var subscriptionCase = providertest.Case{
	Kind: providers.KindSubscription,
	// cart.updated is not a Square event: Validate warns, Plan drops it.
	Attrs:      providers.Attrs{"source": "pos", "topics": []string{"purchase", "account.linked", "cart.updated"}},
	Update:     providers.Attrs{"topics": []string{"purchase"}},
	Replace:    providers.Attrs{"source": "store"},
	DriftAttr:  "endpoint",
	DriftValue: "https://elsewhere.example/hook",
	Invalid: map[string]providers.Attrs{
		"topics":   {"topics": []string{"cart.updated"}},
		"endpoint": {"endpoint": "http://musubi.example/hook"},
		"source":   {"source": "two words"},
	},
}

func TestConformance(t *testing.T) {
	t.Parallel()
	h := harness()
	h.Cases = []providertest.Case{couponCase, audienceCouponCase, storesCouponCase, audienceCase, subscriptionCase}
	providertest.Run(t, h)
}

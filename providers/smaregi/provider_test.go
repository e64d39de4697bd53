package smaregi

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
)

// fakeClock is the clock of a test's client and contract server: sleeping advances it, so
// throttling and backoff are exercised without waiting.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  time.Duration
	sleeps int
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept += d
	c.sleeps++
	c.mu.Unlock()
	return ctx.Err()
}

// fixture is a provider configured against its own contract server.
type fixture struct {
	p     *Provider
	srv   *smaregitest.Server
	clock *fakeClock
}

// servers finds the contract server behind a provider, for the suite's tamper hooks.
var servers sync.Map // *Provider → *fixture

func newFixture(t testing.TB, opts smaregitest.Options, config map[string]any) *fixture {
	t.Helper()
	clock := newClock()
	opts.Now = clock.Now
	srv := smaregitest.New(opts)
	t.Cleanup(srv.Close)
	p := &Provider{now: clock.Now, sleep: clock.Sleep, httpClient: srv.Client()}
	providertest.Configure(t, p, "smaregi.store", map[string]any{
		"contract_id": srv.ContractID(), "client_id": srv.ClientID(), "client_secret": srv.ClientSecret(),
		"api_url": srv.URL, "id_url": srv.URL,
	}, config, "client_secret")
	f := &fixture{p: p, srv: srv, clock: clock}
	servers.Store(p, f)
	t.Cleanup(func() { servers.Delete(p) })
	return f
}

// quiet turns the contract server's rate limits off: the suite counts injected failures
// exactly, and a throttled attempt would consume one of them.
var quiet = smaregitest.Options{ReadsPerSecond: -1, WritesPerSecond: -1}

func fixtureOf(t *testing.T, p providers.Provider) *fixture {
	f, ok := servers.Load(p)
	if !ok {
		t.Fatal("the provider has no contract server")
	}
	return f.(*fixture)
}

// apiField is the coupon field holding a canonical attribute, for tampering.
var apiField = map[string]string{
	"title": "couponName", "percent": "awardValue", "amount": "awardValue", "min_total": "minTargetPrice",
	"code": "serialNumber", "starts_at": "startDate", "ends_at": "endDate",
}

// attempts is how many calls a client makes of an op failing with status: the token refresh
// repeats a 401 once; 429 is repeated on every call, 5xx on every call but a create.
func attempts(op string, status int) int {
	switch {
	case status == 401:
		return 2
	case status == 429, status >= 500 && op != "create":
		return DefaultMaxAttempts
	}
	return 1
}

func harness() providertest.Harness {
	return providertest.Harness{
		New: func(t *testing.T) providers.Provider { return newFixture(t, quiet, nil).p },
		Tamper: func(t *testing.T, p providers.Provider, _ providers.Kind, id, attr string, value any) {
			field, ok := apiField[attr]
			if !ok {
				t.Fatalf("no API field holds %s", attr)
			}
			if err := fixtureOf(t, p).srv.SetField(id, field, fmt.Sprint(value)); err != nil {
				t.Fatal(err)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, _ providers.Kind, id string) {
			if err := fixtureOf(t, p).srv.Remove(id); err != nil {
				t.Fatal(err)
			}
		},
		Fail: func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			srv := fixtureOf(t, p).srv
			var err error
			if lose {
				err = srv.Lose(op, 1)
			} else {
				err = srv.Fail(op, status, attempts(op, status))
			}
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

func percentCoupon() providers.Attrs {
	return providers.Attrs{"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(3000), "starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00",
		"timezone": "Asia/Tokyo"}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	h := harness()
	invalid := map[string]providers.Attrs{
		"per_customer":  {"per_customer": int64(1)},
		"usage_limit":   {"usage_limit": int64(500)},
		"combines_with": {"combines_with": []string{"order"}},
		"audience":      {"audience": "loyal_store"},
		"stores":        {"stores": []string{"1", "2"}},
		"percent":       {"percent": 120.0},
		"currency":      {"currency": "USD"},
		"code":          {"code": "spring sale!"},
		"timezone":      {"timezone": "Mars/Olympus"},
		"starts_at":     {"starts_at": "2027-03-01T10:00:00+09:00"},
		"ends_at":       {"ends_at": "2027-03-31T18:00:00+09:00"},
		"discount_type": {"discount_type": DiscountGift},
		"title":         {"title": ""},
	}
	amount := percentCoupon()
	delete(amount, "percent")
	amount["discount_type"], amount["amount"], amount["title"] = "amount", int64(500), "¥500 off"
	h.Cases = []providertest.Case{{
		Kind:       providers.KindCoupon,
		Attrs:      percentCoupon(),
		Update:     providers.Attrs{"percent": 15.0, "title": "Spring 15% off", "min_total": int64(5000), "ends_at": "2027-04-15T23:59:59+09:00"},
		Replace:    providers.Attrs{"code": "SPRING15"},
		DriftAttr:  "percent",
		DriftValue: "40",
		Invalid:    invalid,
	}, {
		Kind:       providers.KindCoupon,
		Attrs:      amount,
		Update:     providers.Attrs{"amount": int64(800), "discount_type": "amount"},
		Replace:    providers.Attrs{"code": "YEN500"},
		DriftAttr:  "min_total",
		DriftValue: "9999",
		Invalid:    map[string]providers.Attrs{"amount": {"amount": int64(-5)}},
	}}
	providertest.Run(t, h)
}

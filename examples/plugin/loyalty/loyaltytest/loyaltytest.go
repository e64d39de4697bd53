// Package loyaltytest holds the conformance cases of the example loyalty provider, shared by
// its in-process test and the plugin host's test, which runs the same cases through gRPC.
package loyaltytest

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// Program is the provider block name the harness configures.
const Program = "loyalty.app"

// Harness returns the conformance harness. open returns a provider configured with
// Config{"path": path} and name Program, however it runs.
func Harness(open func(t *testing.T, path string) providers.Provider) providertest.Harness {
	var stores sync.Map // provider → *loyalty.Store behind it
	store := func(t *testing.T, p providers.Provider) *loyalty.Store {
		s, ok := stores.Load(p)
		if !ok {
			t.Fatal("the provider was not made by the harness")
		}
		return s.(*loyalty.Store)
	}
	return providertest.Harness{
		New: func(t *testing.T) providers.Provider {
			path := filepath.Join(t.TempDir(), "loyalty.json")
			p := open(t, path)
			stores.Store(p, loyalty.OpenStore(path))
			return p
		},
		Cases: []providertest.Case{Coupon, CodePool},
		Tamper: func(t *testing.T, p providers.Provider, _ providers.Kind, id, attr string, value any) {
			if err := store(t, p).SetAttribute(id, attr, value); err != nil {
				t.Fatal(err)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, _ providers.Kind, id string) {
			if err := store(t, p).Remove(id); err != nil {
				t.Fatal(err)
			}
		},
		Fail: func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			if err := store(t, p).AddFault(loyalty.Fault{Program: Program, Op: op, Status: status, Lose: lose}); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// CouponAttrs are a valid coupon's attributes.
func CouponAttrs() providers.Attrs {
	return providers.Attrs{"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(3000), "per_customer": int64(1), "starts_at": "2027-03-01T00:00:00+09:00",
		"ends_at": "2027-03-31T23:59:59+09:00", "timezone": "Asia/Tokyo", "combines_with": []string{"order", "shipping"}}
}

// Coupon is the coupon case.
var Coupon = providertest.Case{
	Kind:       providers.KindCoupon,
	Attrs:      CouponAttrs(),
	Update:     providers.Attrs{"percent": 15.0, "title": "Spring 15% off", "combines_with": []string{"order"}},
	Replace:    providers.Attrs{"code": "SPRING15"},
	DriftAttr:  "percent",
	DriftValue: 40.0,
	Invalid: map[string]providers.Attrs{
		"percent": {"percent": 120.0},
		"ends_at": {"ends_at": "2027-02-01T00:00:00+09:00"},
		"code":    {"code": "spring sale!"},
		"title":   {"title": strings.Repeat("x", 101)},
	},
}

// CodePool is the code pool case; its coupon is created first.
var CodePool = providertest.Case{
	Kind: providers.KindCodePool,
	Attrs: providers.Attrs{"coupon": "campaign.spring.coupon[loyalty.app]", "pattern": "SPR-####-####",
		"charset": "ABCDEFGHJKMNPQRSTUVWXYZ23456789", "count": int64(50), "seed": "00ff"},
	Refs: func(t *testing.T, p providers.Provider) map[string]string {
		r := p.Create(t.Context(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: CouponAttrs(), IdempotencyKey: t.Name() + "-coupon"})
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"coupon": r.ID}
	},
	Update:     providers.Attrs{"count": int64(80)},
	Replace:    providers.Attrs{"pattern": "SPR-######"},
	DriftAttr:  "count",
	DriftValue: int64(10),
	Invalid: map[string]providers.Attrs{
		"count":   {"count": int64(20_000)},
		"pattern": {"pattern": "SPRING"},
	},
}

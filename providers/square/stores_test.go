package square_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
)

// discountAt prices a ¥1,000 order at a location with the seller's pricing rules applied and
// returns what came off.
func discountAt(t *testing.T, srv *squaretest.Server, location string) int64 {
	t.Helper()
	status, body := raw(t, srv, http.MethodPost, "/v2/orders/calculate", map[string]any{"order": map[string]any{
		"location_id": location, "pricing_options": map[string]any{"auto_apply_discounts": true},
		"line_items": []any{map[string]any{"quantity": "1", "base_price_money": map[string]any{"amount": 1000, "currency": "JPY"}}}}})
	var out struct {
		Order struct {
			TotalDiscountMoney struct{ Amount int64 } `json:"total_discount_money"`
		} `json:"order"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || status != http.StatusOK {
		t.Fatalf("calculate at %s: %d %s", location, status, body)
	}
	return out.Order.TotalDiscountMoney.Amount
}

// A coupon limited to some stores lands as catalog objects present at those locations only,
// as the server keeps them, and Square applies it there and nowhere else. Moving it moves
// every object in place; dropping the limit makes it work everywhere again.
func TestCouponWorksAtItsStoresOnly(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	ctx := context.Background()
	attrs := providers.Attrs{"title": "Shibuya 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(500), "stores": []string{"L2"}, "timezone": "Asia/Tokyo"}
	id := create(t, p, providers.KindCoupon, attrs, "k")

	// What the server holds, not what the client says it sent.
	for _, typ := range []string{"DISCOUNT", "PRODUCT_SET", "PRICING_RULE"} {
		if !hasLine(srv.Objects(), typ+" ", " locations=L2 ") {
			t.Errorf("the server holds no %s present at L2 only:\n%s", typ, strings.Join(srv.Objects(), "\n"))
		}
	}
	if off := discountAt(t, srv, "L2"); off != 100 {
		t.Errorf("at its store the coupon took ¥%d off ¥1,000, want ¥100", off)
	}
	for _, other := range []string{"L1", "L3"} {
		if off := discountAt(t, srv, other); off != 0 {
			t.Errorf("at %s, not one of its stores, the coupon took ¥%d off", other, off)
		}
	}
	if got := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id}).Attributes.Strings("stores"); !slices.Equal(got, []string{"L2"}) {
		t.Errorf("stores read back as %v", got)
	}

	// Moved to L1 and L3, in place: the same pricing rule.
	prior := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id}).Attributes
	planned := with(attrs, "stores", []string{"L1", "L3"})
	u := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: prior, Planned: planned})
	if err := u.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if off := discountAt(t, srv, "L2"); off != 0 {
		t.Errorf("after the move, L2 still took ¥%d off", off)
	}
	if off := discountAt(t, srv, "L3"); off != 100 {
		t.Errorf("after the move, L3 took ¥%d off, want ¥100", off)
	}

	// No stores: every location again, including those the seller opens later.
	prior = u.Attributes
	unlimited := attrs.Clone()
	delete(unlimited, "stores")
	if err := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: prior, Planned: unlimited}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if hasLine(srv.Objects(), "locations=") {
		t.Errorf("objects still limited to some locations:\n%s", strings.Join(srv.Objects(), "\n"))
	}
	for _, l := range []string{"L1", "L2", "L3"} {
		if off := discountAt(t, srv, l); off != 100 {
			t.Errorf("at %s the unlimited coupon took ¥%d off", l, off)
		}
	}
	if a := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id}).Attributes; a["stores"] != nil {
		t.Errorf("an unlimited coupon reads back stores %v", a["stores"])
	}
}

// Square refuses a location the seller does not have, and the coupon is not made.
func TestCouponAtAnUnknownLocationIsRefused(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, IdempotencyKey: "k",
		Attributes: providers.Attrs{"title": "Osaka", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
			"stores": []string{"L9"}, "timezone": "Asia/Tokyo"}})
	if err := r.Diagnostics.Err(); err == nil || !strings.Contains(err.Error(), "location L9 is not a location of this seller") {
		t.Fatalf("create at L9: %v", err)
	}
	if len(srv.Objects()) != 0 {
		t.Errorf("the refused batch left objects: %v", srv.Objects())
	}
}

// Presence Musubi does not write reads back so that it differs from any stores planned.
func TestPresenceSetInTheDashboardReadsAsDrift(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	ctx := context.Background()
	id := create(t, p, providers.KindCoupon, providers.Attrs{"title": "Shibuya", "discount_type": "percent", "percent": 10.0,
		"currency": "JPY", "min_total": int64(500), "stores": []string{"L1", "L2"}, "timezone": "Asia/Tokyo"}, "k")
	read := func() []string {
		t.Helper()
		r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id})
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		return r.Attributes.Strings("stores")
	}
	// The rule moved to L3, where its discount is not: the coupon works nowhere.
	if err := srv.Tamper(providers.KindCoupon, id, "stores", "L3"); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []string{"(none)"}) {
		t.Errorf("a coupon present nowhere reads back stores %v", got)
	}
	if off := discountAt(t, srv, "L3"); off != 0 {
		t.Errorf("a rule whose discount is not at L3 took ¥%d off there", off)
	}
}

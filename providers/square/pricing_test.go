package square_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
)

// calculate prices an order at the contract server with the seller's pricing rules applied,
// returning the order's total discount.
func calculate(t *testing.T, srv *squaretest.Server, lines ...[2]int64) int64 {
	t.Helper()
	var items []map[string]any
	for _, l := range lines {
		items = append(items, map[string]any{"quantity": strconv.FormatInt(l[0], 10),
			"base_price_money": map[string]any{"amount": l[1], "currency": "JPY"}})
	}
	status, body := raw(t, srv, http.MethodPost, "/v2/orders/calculate", map[string]any{"order": map[string]any{
		"location_id": "L1", "line_items": items, "pricing_options": map[string]any{"auto_apply_discounts": true}}})
	var out struct {
		Order struct {
			TotalDiscountMoney struct{ Amount int64 } `json:"total_discount_money"`
		} `json:"order"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || status != http.StatusOK {
		t.Fatalf("calculate: %d %s", status, body)
	}
	return out.Order.TotalDiscountMoney.Amount
}

// A coupon's pricing rule matches every product, and Square takes its discount off each
// matched item: a percentage comes to the same percentage of the order, a fixed amount would
// come off every item. So percent off lands on Square and amount off is refused.
func TestCouponComesOffTheOrderAsSquareApplies(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	ctx := context.Background()
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, IdempotencyKey: "k",
		Attributes: providers.Attrs{"title": "Spring", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
			"min_total": int64(3000), "timezone": "Asia/Tokyo"}})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	// Two items at ¥1,000 and one at ¥1,000: 10% of ¥3,000 once.
	if off := calculate(t, srv, [2]int64{2, 1000}, [2]int64{1, 1000}); off != 300 {
		t.Fatalf("10%% off a ¥3,000 order took ¥%d", off)
	}
	if off := calculate(t, srv, [2]int64{2, 1000}); off != 0 {
		t.Fatalf("an order under min_total got ¥%d off", off)
	}
	// Were the discount ¥500 off, Square would take it off each of the three items.
	if err := srv.Tamper(providers.KindCoupon, r.ID, "amount", "500"); err != nil {
		t.Fatal(err)
	}
	if off := calculate(t, srv, [2]int64{2, 1000}, [2]int64{1, 1000}); off != 1500 {
		t.Fatalf("a FIXED_AMOUNT rule of ¥500 over three items took ¥%d, want ¥500 off each", off)
	}
	// Such an edit in the Dashboard reads back as drift from the percent planned.
	if a := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: r.ID}).Attributes; a.String("discount_type") != "amount" || a.Int("amount") != 500 {
		t.Fatalf("read back %v", a)
	}
	ds := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCoupon, Attributes: providers.Attrs{
		"title": "¥500 off", "discount_type": "amount", "amount": int64(500), "currency": "JPY"}}).Diagnostics
	if len(ds) != 1 || ds[0].Attribute != "amount" || !strings.Contains(ds[0].Detail, "each matched item") {
		t.Fatalf("an amount off on Square: %v", ds.Err())
	}
}

// A purchase counts what the customer paid for the goods: amount_money, without the tip
// that total_money adds.
func TestPurchaseTotalLeavesOutTheTip(t *testing.T) {
	t.Parallel()
	body := `{"type":"payment.updated","event_id":"e1","created_at":"2027-03-05T10:15:00Z","data":{"type":"payment","id":"P1","object":{"payment":{
		"id":"P1","status":"COMPLETED","customer_id":"C1","amount_money":{"amount":3000,"currency":"JPY"},
		"tip_money":{"amount":300,"currency":"JPY"},"total_money":{"amount":3300,"currency":"JPY"}}}}}`
	evs, err := square.ParseNotification([]byte(body))
	if err != nil || len(evs) != 1 || evs[0].Data["total"] != int64(3000) {
		t.Fatalf("events %+v, %v", evs, err)
	}
}

// A coupon limited to its audience applies to the orders of the segment's customer group
// only.
func TestAudienceCouponAppliesToTheGroupsCustomers(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	ctx := context.Background()
	aud := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "a",
		Attributes: providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}})
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, IdempotencyKey: "k", Refs: map[string]string{"audience": aud.ID},
		Attributes: providers.Attrs{"title": "Regulars", "percent": 20.0, "audience": "loyal_store", "timezone": "Asia/Tokyo"}})
	if err := errors.Join(aud.Diagnostics.Err(), r.Diagnostics.Err()); err != nil {
		t.Fatal(err)
	}
	order := func(customer string) string {
		_, body := raw(t, srv, http.MethodPost, "/v2/orders/calculate", map[string]any{"order": map[string]any{
			"location_id": "L1", "customer_id": customer, "pricing_options": map[string]any{"auto_apply_discounts": true},
			"line_items": []any{map[string]any{"quantity": "1", "base_price_money": map[string]any{"amount": 1000, "currency": "JPY"}}}}})
		return body
	}
	srv.AddToGroup("C-member", aud.ID)
	if !strings.Contains(order("C-member"), `"total_money":{"amount":800`) || !strings.Contains(order("C-other"), `"total_money":{"amount":1000`) {
		t.Fatalf("member: %s\nother: %s", order("C-member"), order("C-other"))
	}
}

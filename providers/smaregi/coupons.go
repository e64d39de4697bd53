package smaregi

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Award types of a Smaregi coupon (特典タイプ).
const (
	AwardAmount  = "1" // 値引: a fixed amount off, in yen
	AwardPercent = "2" // 割引: a percentage off
	AwardProduct = "3" // 商品付与: a product granted, set through the coupon's products
)

// Coupon is a Smaregi POS coupon as the API sends and receives it. Every value is a string,
// as the API has it. Dates are days (YYYY-MM-DD) in the contract's time zone.
type Coupon struct {
	CouponID       string `json:"couponId,omitempty"`
	CouponName     string `json:"couponName"`
	CouponDivision string `json:"couponDivision,omitempty"` // 0 normal, 1 giftee
	SerialNumber   string `json:"serialNumber"`
	Summary        string `json:"summary,omitempty"`
	AwardType      string `json:"awardType"`
	AwardValue     string `json:"awardValue"`
	// ApplyConditionDivision is 0 (always applies) or 1 (only with a target product in the basket).
	ApplyConditionDivision string `json:"applyConditionDivision"`
	MinTargetPrice         string `json:"minTargetPrice,omitempty"`
	MaxTargetPrice         string `json:"maxTargetPrice,omitempty"`
	StartDate              string `json:"startDate,omitempty"`
	EndDate                string `json:"endDate,omitempty"`
	InsDateTime            string `json:"insDateTime,omitempty"`
	UpdDateTime            string `json:"updDateTime,omitempty"`
}

// CouponPatch is a partial update: only the fields present are sent; a nil value clears an
// optional field (JSON null).
type CouponPatch map[string]*string

// Set sets a field.
func (p CouponPatch) Set(field, value string) { p[field] = &value }

// SetOrClear sets a field, or clears it when value is empty.
func (p CouponPatch) SetOrClear(field, value string) {
	if value == "" {
		p[field] = nil
		return
	}
	p.Set(field, value)
}

// ListCoupons returns one page of coupons (page from 1, limit 1 to MaxPageSize).
func (c *Client) ListCoupons(ctx context.Context, page, limit int) ([]Coupon, error) {
	if err := checkPage(page, limit); err != nil {
		return nil, err
	}
	var out []Coupon
	q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}
	return out, c.call(ctx, http.MethodGet, "/coupons", q, nil, &out)
}

// EachCoupon calls fn for every coupon of the contract, a page of MaxPageSize at a time,
// until fn returns false.
func (c *Client) EachCoupon(ctx context.Context, fn func(Coupon) bool) error {
	for page := 1; ; page++ {
		cs, err := c.ListCoupons(ctx, page, MaxPageSize)
		if err != nil {
			return err
		}
		for _, cp := range cs {
			if !fn(cp) {
				return nil
			}
		}
		if len(cs) < MaxPageSize {
			return nil
		}
	}
}

// GetCoupon returns one coupon.
func (c *Client) GetCoupon(ctx context.Context, id string) (*Coupon, error) {
	var out Coupon
	if err := c.call(ctx, http.MethodGet, "/coupons/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateCoupon registers a coupon. The API takes no idempotency key: callers look up before
// they create (see Provider.Create).
func (c *Client) CreateCoupon(ctx context.Context, cp Coupon) (*Coupon, error) {
	cp.CouponID, cp.InsDateTime, cp.UpdDateTime = "", "", ""
	var out Coupon
	if err := c.call(ctx, http.MethodPost, "/coupons", nil, cp, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateCoupon changes the fields of a coupon that the patch names and returns the coupon
// as it now is (read again when the answer carries no coupon).
func (c *Client) UpdateCoupon(ctx context.Context, id string, patch CouponPatch) (*Coupon, error) {
	var out Coupon
	if err := c.call(ctx, http.MethodPatch, "/coupons/"+url.PathEscape(id), nil, patch, &out); err != nil {
		return nil, err
	}
	if out.CouponID == "" {
		return c.GetCoupon(ctx, id)
	}
	return &out, nil
}

// DeleteCoupon deletes a coupon.
func (c *Client) DeleteCoupon(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/coupons/"+url.PathEscape(id), nil, nil, nil)
}

func checkPage(page, limit int) error {
	if page < 1 {
		return fmt.Errorf("page %d: pages start at 1", page)
	}
	if limit < 1 || limit > MaxPageSize {
		return fmt.Errorf("limit %d: a page holds 1 to %d items", limit, MaxPageSize)
	}
	return nil
}

// pageQuery is the query of a list call's page (0 means the first) and its size (0 means
// MaxPageSize).
func pageQuery(page, limit int) (url.Values, error) {
	page, limit = cmp.Or(page, 1), cmp.Or(limit, MaxPageSize)
	if err := checkPage(page, limit); err != nil {
		return nil, err
	}
	return url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(limit)}}, nil
}

package shopify

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

const discountGIDPrefix = "gid://shopify/DiscountCodeNode/"

// combineClasses maps canonical discount classes to DiscountCombinesWith's fields.
var combineClasses = []struct{ class, field string }{
	{"order", "orderDiscounts"},
	{"product", "productDiscounts"},
	{"shipping", "shippingDiscounts"},
}

func checkCoupon(a providers.Attrs, bad func(attr, format string, args ...any)) {
	if t := a.String("title"); strings.TrimSpace(t) == "" {
		bad("title", "a coupon needs a title; Shopify lists discounts by it")
	} else if n := utf8.RuneCountInString(t); n > maxTitle {
		bad("title", "the title is %d characters; Shopify takes 255, of which Musubi's marker uses %d, so at most %d", n, markerSuffixLen, maxTitle)
	}
	providers.CheckOffer(a, "Shopify", bad)
	if c := a.String("code"); c != "" {
		switch {
		case len(c) > maxCode:
			bad("code", "the code is %d characters; Shopify takes at most %d", len(c), maxCode)
		case strings.ContainsAny(c, " \t\r\n"):
			bad("code", "code %q contains white space; a customer could not type it at checkout", c)
		case isPlaceholderCode(c):
			bad("code", "code %q has the form of the placeholder codes Musubi gives coupons whose codes come from a pool", c)
		}
	}
	switch n := a.Int("per_customer"); {
	case n < 0:
		bad("per_customer", "per_customer is %d; it cannot be negative", n)
	case n > 1:
		bad("per_customer", "Shopify limits a customer to one use of a code discount (appliesOncePerCustomer) or to none; %d uses per customer cannot be expressed", n)
	}
	if n := a.Int("usage_limit"); n < 0 || n > maxInt32 {
		bad("usage_limit", "usage_limit is %d; Shopify takes 1 to %d, or none", n, maxInt32)
	}
	for _, c := range a.Strings("combines_with") {
		if !slices.ContainsFunc(combineClasses, func(x struct{ class, field string }) bool { return x.class == c }) {
			bad("combines_with", "%q is not a discount class; Shopify combines with order, product and shipping discounts", c)
		}
	}
}

// checkCurrency refuses amounts in another currency than the shop's: Shopify reads a
// discount's amounts in the shop's currency.
func checkCurrency(a providers.Attrs, shop *Shop) error {
	cur := a.String("currency")
	if (a.Int("amount") == 0 && a.Int("min_total") == 0) || shop == nil || cur == shop.CurrencyCode {
		return nil
	}
	return invalid("currency", "the coupon's amounts are in %s, but the shop's currency is %s, in which Shopify holds every discount's amounts", cur, shop.CurrencyCode)
}

// couponInput builds the DiscountCodeBasicInput of a coupon. On an update (update true)
// cleared fields are sent as null, so Shopify clears them too.
func couponInput(a providers.Attrs, marker, code string, segments, remove []string, update bool) map[string]any {
	in := map[string]any{
		"title":                  marked(a.String("title"), marker),
		"appliesOncePerCustomer": a.Int("per_customer") == 1,
		"customerGets": map[string]any{
			"value": couponValue(a),
			"items": map[string]any{"all": true},
		},
	}
	opt := func(k string, v any, set bool) {
		if set {
			in[k] = v
		} else if update {
			in[k] = nil
		}
	}
	if code != "" {
		in["code"] = code
	}
	if t := a.Time("starts_at"); !t.IsZero() {
		in["startsAt"] = t.UTC().Format(time.RFC3339)
	}
	ends := a.Time("ends_at")
	opt("endsAt", ends.UTC().Format(time.RFC3339), !ends.IsZero())
	opt("usageLimit", a.Int("usage_limit"), a.Int("usage_limit") > 0)
	opt("minimumRequirement", map[string]any{"subtotal": map[string]any{
		"greaterThanOrEqualToSubtotal": formatMinor(a.Int("min_total"), a.String("currency"))}}, a.Int("min_total") > 0)
	cw := map[string]any{}
	for _, c := range combineClasses {
		cw[c.field] = slices.Contains(a.Strings("combines_with"), c.class)
	}
	in["combinesWith"] = cw
	if len(segments) == 0 {
		in["context"] = map[string]any{"all": "ALL"}
	} else {
		cs := map[string]any{"add": segments}
		if len(remove) > 0 {
			cs["remove"] = remove
		}
		in["context"] = map[string]any{"customerSegments": cs}
	}
	return in
}

func couponValue(a providers.Attrs) map[string]any {
	if a.String("discount_type") == "amount" {
		return map[string]any{"discountAmount": map[string]any{
			"amount": formatMinor(a.Int("amount"), a.String("currency")), "appliesOnEachItem": false}}
	}
	return map[string]any{"percentage": a.Float("percent") / 100}
}

// couponAttrs reads a coupon's attributes from its discount. Shopify holds instants, not the
// zone a campaign is planned in, and no currency for a percentage without a minimum: those
// come from prior, the attributes the coupon was written with, else from the shop.
func couponAttrs(d *Discount, prior providers.Attrs, shop *Shop) providers.Attrs {
	cd := &d.CodeDiscount
	a := providers.Attrs{}
	set := func(k string, v any) {
		if !providers.IsZero(v) {
			a[k] = v
		}
	}
	title, _, _ := parseMarked(cd.Title)
	set("title", title)
	var currency string
	v := cd.CustomerGets.Value
	switch v.Typename {
	case "DiscountPercentage":
		a["discount_type"] = "percent"
		set("percent", math.Round(v.Percentage*100*1e6)/1e6)
	case "DiscountAmount":
		a["discount_type"] = "amount"
		if v.Amount != nil {
			currency = v.Amount.CurrencyCode
			if n, err := RoundMinor(v.Amount.Amount, currency); err == nil {
				set("amount", n)
			}
		}
	default:
		set("discount_type", strings.ToLower(strings.TrimPrefix(v.Typename, "Discount")))
	}
	if m := cd.MinimumRequirement; m != nil && m.GreaterThanOrEqualToSubtotal != nil {
		if currency == "" {
			currency = m.GreaterThanOrEqualToSubtotal.CurrencyCode
		}
		if n, err := RoundMinor(m.GreaterThanOrEqualToSubtotal.Amount, m.GreaterThanOrEqualToSubtotal.CurrencyCode); err == nil {
			set("min_total", n)
		}
	}
	if currency == "" {
		currency = prior.String("currency")
	}
	tz := prior.String("timezone")
	if shop != nil {
		if currency == "" {
			currency = shop.CurrencyCode
		}
		if tz == "" {
			tz = shop.IanaTimezone
		}
	}
	set("currency", currency)
	set("timezone", tz)
	loc := zoneOf(tz)
	if code := d.Code(); !isPlaceholderCode(code) {
		set("code", code)
	}
	if cd.AppliesOncePerCustomer {
		a["per_customer"] = int64(1)
	}
	if cd.UsageLimit != nil {
		set("usage_limit", *cd.UsageLimit)
	}
	if t, err := time.Parse(time.RFC3339, cd.StartsAt); err == nil {
		a["starts_at"] = t.In(loc).Format(time.RFC3339)
	}
	if cd.EndsAt != nil {
		if t, err := time.Parse(time.RFC3339, *cd.EndsAt); err == nil {
			a["ends_at"] = t.In(loc).Format(time.RFC3339)
		}
	}
	var cw []string
	for _, c := range combineClasses {
		if cd.CombinesWith.flag(c.field) {
			cw = append(cw, c.class)
		}
	}
	set("combines_with", cw)
	switch cd.Context.Typename {
	case "DiscountCustomerSegments":
		var names []string
		for _, sg := range cd.Context.Segments {
			if seg, ok := parseSegmentQuery(sg.Query); ok {
				names = append(names, seg)
			} else {
				names = append(names, sg.Name) // not Musubi's segment: shown as another audience
			}
		}
		set("audience", strings.Join(names, ","))
	case "DiscountCustomers":
		set("audience", "(chosen customers)") // limited to customers picked in the admin
	}
	return a
}

// needShop says whether reading a coupon without the shop's settings could miss a value.
func needShop(prior providers.Attrs) bool {
	return prior.String("timezone") == "" || prior.String("currency") == ""
}

// lookupCode finds the discount holding a code, and says whether a create with this
// idempotency key made it: a placeholder code is derived from the key, and a shared code's
// discount carries the key's marker in its title.
func (p *Provider) lookupCode(ctx context.Context, code, key string) (*Discount, bool, error) {
	d, err := p.client.DiscountByCode(ctx, code)
	if d == nil || err != nil {
		return nil, false, err
	}
	if code == placeholderCode(key) {
		return d, true, nil
	}
	_, marker, ok := parseMarked(d.CodeDiscount.Title)
	return d, ok && marker == markerOf(key), nil
}

// findCoupon finds the discount a create with this key made. With the code it is one
// lookup; without it (a read by key alone) the placeholder code is tried, then a search for
// the key's marker in discount titles.
func (p *Provider) findCoupon(ctx context.Context, code, key string) (*Discount, error) {
	if code == "" {
		code = placeholderCode(key)
	}
	d, ours, err := p.lookupCode(ctx, code, key)
	if err != nil || ours {
		return d, err
	}
	if d != nil {
		return nil, nil // the code belongs to another discount
	}
	found, err := p.client.SearchDiscounts(ctx, "title:"+searchTerm("musubi "+markerOf(key)))
	if err != nil {
		return nil, err
	}
	for _, d := range found {
		if _, m, ok := parseMarked(d.CodeDiscount.Title); ok && m == markerOf(key) {
			return d, nil
		}
	}
	return nil, nil
}

func (p *Provider) createCoupon(ctx context.Context, req providers.CreateRequest) (string, providers.Attrs, error) {
	a := req.Attributes
	shop, err := p.shopSettings(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := checkCurrency(a, shop); err != nil {
		return "", nil, err
	}
	code := a.String("code")
	if code == "" {
		code = placeholderCode(req.IdempotencyKey)
	}
	// Look the code up first: a create whose answer was lost made the discount already.
	existing, ours, err := p.lookupCode(ctx, code, req.IdempotencyKey)
	if err != nil {
		return "", nil, err
	}
	if existing != nil && !ours {
		title, _, _ := parseMarked(existing.CodeDiscount.Title)
		e := conflict("code %s is already used by discount %s (%q); Shopify codes are unique in a shop, whatever their case", code, existing.ID, title)
		e.(*Error).attr = "code"
		return "", nil, e
	}
	segments, err := p.segmentIDs(ctx, a.String("audience"), req.Refs)
	if err != nil {
		return "", nil, err
	}
	if existing != nil {
		live := couponAttrs(existing, a, shop)
		if len(providers.Diff(providers.KindCoupon, a, live)) == 0 {
			return existing.ID, live, nil
		}
		d, err := p.client.UpdateDiscount(ctx, existing.ID, couponInput(a, markerOf(req.IdempotencyKey), "", segments, liveSegments(existing, segments), true))
		if err != nil {
			return "", nil, partial(err, "coupon "+existing.ID)
		}
		return d.ID, couponAttrs(d, a, shop), nil
	}
	d, err := p.client.CreateDiscount(ctx, couponInput(a, markerOf(req.IdempotencyKey), code, segments, nil, false))
	if err != nil {
		return "", nil, err
	}
	if d == nil {
		return "", nil, apiError(providers.ErrUnavailable, 0, "", "%s: the answer holds no discount", opCreateDiscount.name)
	}
	return d.ID, couponAttrs(d, a, shop), nil
}

// liveSegments lists the segment IDs a discount is limited to that keep is without.
func liveSegments(d *Discount, keep []string) []string {
	if d.CodeDiscount.Context.Typename != "DiscountCustomerSegments" {
		return nil
	}
	var out []string
	for _, sg := range d.CodeDiscount.Context.Segments {
		if !slices.Contains(keep, sg.ID) {
			out = append(out, sg.ID)
		}
	}
	return out
}

// segmentIDs finds the Shopify segment of a coupon's audience: the ID the planner resolved,
// or the segment whose query selects the audience's tag.
func (p *Provider) segmentIDs(ctx context.Context, segment string, refs map[string]string) ([]string, error) {
	if segment == "" {
		return nil, nil
	}
	if id := refs["audience"]; id != "" {
		return []string{id}, nil
	}
	sg, err := p.tagSegment(ctx, segment)
	if err != nil {
		return nil, err
	}
	if sg == nil {
		e := notFound("no Shopify segment selects the customers of segment %q; a coupon limited to its audience needs the segment's audience on this provider first", segment)
		e.(*Error).attr = "audience"
		return nil, e
	}
	return []string{sg.ID}, nil
}

// readCoupons answers the coupon requests at idx with nodes queries.
func (p *Provider) readCoupons(ctx context.Context, reqs []providers.ReadRequest, idx []int, out []providers.ReadResponse) {
	if len(idx) == 0 {
		return
	}
	var ids []string
	var shop *Shop
	var err error
	for _, i := range idx {
		// Shopify refuses a whole nodes query over one malformed ID: such an ID names no
		// discount, and is not asked for.
		if strings.HasPrefix(reqs[i].ID, discountGIDPrefix) {
			ids = append(ids, reqs[i].ID)
		}
		if shop == nil && err == nil && needShop(reqs[i].Prior) {
			shop, err = p.shopSettings(ctx)
		}
	}
	var found map[string]*Discount
	if err == nil {
		found, err = p.client.Discounts(ctx, ids)
	}
	for _, i := range idx {
		if err != nil {
			out[i].Diagnostics = p.failure("read failed", err)
			continue
		}
		d := found[reqs[i].ID]
		if d == nil || d.CodeDiscount.Typename != "DiscountCodeBasic" {
			out[i] = providers.ReadResponse{}
			continue
		}
		out[i] = providers.ReadResponse{Found: true, ID: d.ID, Attributes: couponAttrs(d, reqs[i].Prior, shop)}
	}
}

// updateCoupon rewrites the discount, unless it changed in Shopify since the plan.
func (p *Provider) updateCoupon(ctx context.Context, req providers.UpdateRequest) (providers.Attrs, error) {
	shop, err := p.shopSettings(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkCurrency(req.Planned, shop); err != nil {
		return nil, err
	}
	d, err := p.client.Discount(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if d == nil || d.CodeDiscount.Typename != "DiscountCodeBasic" {
		return nil, notFound("coupon %s (a code discount) no longer exists in Shopify", req.ID)
	}
	live := couponAttrs(d, req.Prior, shop)
	if err := changedSince(providers.KindCoupon, "coupon", req.ID, req.Prior, live); err != nil {
		return nil, err
	}
	_, marker, ok := parseMarked(d.CodeDiscount.Title)
	if !ok {
		marker = markerOf(req.ID)
	}
	code := req.Planned.String("code")
	if code == "" {
		code = d.Code()
		if !isPlaceholderCode(code) {
			code = placeholderCode(req.ID) // the shared code is withdrawn; the pool's codes stay
		}
	}
	if code == d.Code() {
		code = ""
	}
	var segments []string
	if seg := req.Planned.String("audience"); seg != "" && seg == live.String("audience") {
		for _, sg := range d.CodeDiscount.Context.Segments {
			segments = append(segments, sg.ID)
		}
	} else if segments, err = p.segmentIDs(ctx, seg, req.Refs); err != nil {
		return nil, err
	}
	nd, err := p.client.UpdateDiscount(ctx, req.ID, couponInput(req.Planned, marker, code, segments, liveSegments(d, segments), true))
	if err != nil {
		return nil, err
	}
	if nd == nil {
		return nil, apiError(providers.ErrUnavailable, 0, "", "%s: the answer holds no discount", opUpdateDiscount.name)
	}
	return couponAttrs(nd, req.Planned, shop), nil
}

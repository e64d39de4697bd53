package square

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Temporary IDs of a coupon's objects in the upsert that creates them.
const (
	tmpDiscount = "#musubi-discount"
	tmpProducts = "#musubi-products"
	tmpRule     = "#musubi-rule"
)

// Square writes validity as a local date and a local time of day.
const (
	dateLayout  = "2006-01-02"
	clockLayout = "15:04:05"
)

// coupon is the catalog objects of one coupon; discount and products are nil when someone
// deleted them in Square.
type coupon struct{ rule, discount, products *CatalogObject }

// index maps catalog objects by ID.
func index(lists ...[]CatalogObject) map[string]*CatalogObject {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	idx := make(map[string]*CatalogObject, n)
	for _, l := range lists {
		for i := range l {
			if !l[i].IsDeleted {
				idx[l[i].ID] = &l[i]
			}
		}
	}
	return idx
}

// couponOf finds the coupon whose pricing rule is ruleID.
func couponOf(ruleID string, idx map[string]*CatalogObject) (coupon, bool) {
	rule := idx[ruleID]
	if rule == nil || rule.Type != TypePricingRule || rule.PricingRuleData == nil {
		return coupon{}, false
	}
	c := coupon{rule: rule}
	if d := idx[rule.PricingRuleData.DiscountID]; d != nil && d.Type == TypeDiscount && d.DiscountData != nil {
		c.discount = d
	}
	if ps := idx[rule.PricingRuleData.MatchProductsID]; ps != nil && ps.Type == TypeProductSet && ps.ProductSetData != nil {
		c.products = ps
	}
	return c, true
}

// stores are the locations the coupon works at, sorted: those where its pricing rule, discount
// and product set are all present, nil when that is every location. Presence Musubi does not
// write reads back so that it shows as drift: an object present everywhere but some locations
// as "-ID" for each of them, a coupon present nowhere as noStores.
func (c coupon) stores() []string {
	var only, absent []string
	limited := false
	for _, o := range []*CatalogObject{c.rule, c.discount, c.products} {
		switch {
		case o == nil:
		case o.AtAllLocations():
			absent = append(absent, o.AbsentAtLocationIDs...)
		case !limited:
			limited, only = true, slices.Clone(o.PresentAtLocationIDs)
		default:
			only = slices.DeleteFunc(only, func(id string) bool { return !slices.Contains(o.PresentAtLocationIDs, id) })
		}
	}
	if !limited {
		if len(absent) == 0 {
			return nil
		}
		out := make([]string, 0, len(absent))
		for _, id := range absent {
			out = append(out, "-"+id)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	only = slices.DeleteFunc(only, func(id string) bool { return slices.Contains(absent, id) })
	if len(only) == 0 {
		return []string{noStores}
	}
	slices.Sort(only)
	return slices.Compact(only)
}

// noStores is how a coupon present at no location reads back.
const noStores = "(none)"

// marker is the idempotency marker the coupon's product set carries.
func (c coupon) marker() string {
	if c.products != nil {
		if m, ok := strings.CutPrefix(c.products.ProductSetData.Name, "musubi "); ok && len(m) == markerLen {
			return m
		}
	}
	return markerOf(c.rule.ID)
}

// zoneFor is where Square reads a coupon's dates: the seller's configured zone, else the
// zone the campaign is planned in.
func (p *Provider) zoneFor(a providers.Attrs) *time.Location {
	if p.loc != nil {
		return p.loc
	}
	if tz := a.String("timezone"); tz != "" {
		if l, err := providers.Location(tz); err == nil {
			return l
		}
	}
	return time.UTC
}

// couponObjects builds the objects of a coupon from its attributes; cur holds the objects
// as read, whose IDs and versions an update must carry.
func (p *Provider) couponObjects(a providers.Attrs, marker, groupID string, cur coupon) []CatalogObject {
	title := a.String("title")
	disc := CatalogObject{Type: TypeDiscount, ID: tmpDiscount, DiscountData: &CatalogDiscount{Name: title}}
	// Only a percentage: check refuses an amount off, which Square would take off each item.
	disc.DiscountData.DiscountType = FixedPercentage
	disc.DiscountData.Percentage = strconv.FormatFloat(a.Float("percent"), 'f', -1, 64)
	prods := CatalogObject{Type: TypeProductSet, ID: tmpProducts,
		ProductSetData: &CatalogProductSet{Name: productSetName(marker), AllProducts: true}}
	rule := CatalogObject{Type: TypePricingRule, ID: tmpRule, PricingRuleData: &CatalogPricingRule{Name: title}}
	stores := a.Strings("stores")
	for _, o := range []struct{ to, from *CatalogObject }{{&disc, cur.discount}, {&prods, cur.products}, {&rule, cur.rule}} {
		if o.from != nil {
			o.to.ID, o.to.Version = o.from.ID, o.from.Version
		}
		// Each object is where the coupon works: a rule applies at a location only when it,
		// its discount and its product set are all present there. An update rewrites the
		// whole object, so a coupon no longer limited is present everywhere again.
		all := len(stores) == 0
		o.to.PresentAtAllLocations = &all
		if !all {
			o.to.PresentAtLocationIDs = slices.Clone(stores)
		}
	}
	r := rule.PricingRuleData
	r.DiscountID, r.MatchProductsID = disc.ID, prods.ID
	loc := p.zoneFor(a)
	r.ValidFromDate, r.ValidFromLocalTime = localDateTime(a.String("starts_at"), loc)
	r.ValidUntilDate, r.ValidUntilLocalTime = localDateTime(a.String("ends_at"), loc)
	if m := a.Int("min_total"); m > 0 {
		r.MinimumOrderSubtotalMoney = &Money{Amount: m, Currency: a.String("currency")}
	}
	if groupID != "" {
		r.CustomerGroupIDsAny = []string{groupID}
	}
	return []CatalogObject{disc, prods, rule}
}

func localDateTime(s string, loc *time.Location) (date, clock string) {
	t, err := time.Parse(time.RFC3339, s)
	if s == "" || err != nil {
		return "", ""
	}
	t = t.In(loc)
	return t.Format(dateLayout), t.Format(clockLayout)
}

// instant reads a local date and time back; a missing time is the start (or end) of the day.
func instant(date, clock, dflt string, loc *time.Location) string {
	if date == "" {
		return ""
	}
	if clock == "" {
		clock = dflt
	}
	t, err := time.ParseInLocation(dateLayout+" "+clockLayout, date+" "+clock, loc)
	if err != nil {
		return "" // not a value Musubi wrote: shown as drift, repaired by the next apply
	}
	return t.Format(time.RFC3339)
}

// couponAttrs reads a coupon's attributes from its objects. Square holds no time zone, and no
// currency for a percent discount without a minimum; those come from prior, the attributes
// the coupon was written with.
func (p *Provider) couponAttrs(c coupon, segments map[string]string, prior providers.Attrs) providers.Attrs {
	a := providers.Attrs{}
	set := func(k string, v any) {
		if !providers.IsZero(v) {
			a[k] = v
		}
	}
	if c.discount != nil {
		d := c.discount.DiscountData
		set("title", d.Name)
		switch d.DiscountType {
		case FixedPercentage:
			a["discount_type"] = "percent"
			if f, err := strconv.ParseFloat(d.Percentage, 64); err == nil {
				set("percent", f)
			}
		case FixedAmount:
			a["discount_type"] = "amount"
			if d.AmountMoney != nil {
				set("amount", d.AmountMoney.Amount)
				set("currency", d.AmountMoney.Currency)
			}
		default:
			set("discount_type", strings.ToLower(d.DiscountType))
		}
	}
	r := c.rule.PricingRuleData
	if m := r.MinimumOrderSubtotalMoney; m != nil {
		set("min_total", m.Amount)
		if _, ok := a["currency"]; !ok {
			set("currency", m.Currency)
		}
	}
	loc := p.zoneFor(prior)
	set("starts_at", instant(r.ValidFromDate, r.ValidFromLocalTime, "00:00:00", loc))
	set("ends_at", instant(r.ValidUntilDate, r.ValidUntilLocalTime, "23:59:59", loc))
	var audience []string
	for _, id := range r.CustomerGroupIDsAny {
		audience = append(audience, segments[id])
	}
	set("audience", strings.Join(audience, ","))
	if stores := c.stores(); stores != nil {
		a["stores"] = stores
	}
	if _, ok := a["currency"]; !ok {
		set("currency", prior.String("currency"))
	}
	tz := prior.String("timezone")
	if tz == "" {
		tz = p.zoneName
	}
	set("timezone", tz)
	return a
}

// segmentsOf reads the customer groups the pricing rules of resp name, and returns the
// segment each mirrors (its raw name when Musubi did not name it, "" when it is gone).
func (p *Provider) segmentsOf(ctx context.Context, resp *RetrieveResponse) (map[string]string, error) {
	out := map[string]string{}
	for _, o := range resp.Objects {
		if o.PricingRuleData == nil {
			continue
		}
		for _, id := range o.PricingRuleData.CustomerGroupIDsAny {
			if _, done := out[id]; done {
				continue
			}
			g, err := p.client.CustomerGroup(ctx, id)
			if err != nil {
				return nil, err
			}
			out[id] = ""
			if g != nil {
				seg, _, _, ok := parseGroupName(g.Name)
				if !ok {
					seg = g.Name
				}
				out[id] = seg
			}
		}
	}
	return out, nil
}

// audienceGroup finds the customer group that mirrors a coupon's audience segment: the ID
// the planner resolved, or the group Musubi named after the segment.
func (p *Provider) audienceGroup(ctx context.Context, segment string, refs map[string]string) (string, error) {
	if segment == "" {
		return "", nil
	}
	if id := refs["audience"]; id != "" {
		return id, nil
	}
	id, err := p.segmentGroup(ctx, segment)
	if err == nil && id == "" {
		err = &Error{API: &providers.APIError{Code: providers.ErrNotFound,
			Message: fmt.Sprintf("no Square customer group mirrors segment %q; a coupon limited to its audience needs the segment's audience on this provider first", segment)},
			Details: []ErrorDetail{{Field: "customer_group_ids_any"}}}
	}
	return id, err
}

func (p *Provider) couponResponse(id string, idx map[string]*CatalogObject, segments map[string]string, prior providers.Attrs) providers.ReadResponse {
	c, ok := couponOf(id, idx)
	if !ok {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: id, Attributes: p.couponAttrs(c, segments, prior)}
}

func (p *Provider) createCoupon(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	segment := req.Attributes.String("audience")
	groupID, err := p.audienceGroup(ctx, segment, req.Refs)
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.failure("create failed", err)}
	}
	objs := p.couponObjects(req.Attributes, markerOf(req.IdempotencyKey), groupID, coupon{})
	resp, err := p.client.BatchUpsert(ctx, req.IdempotencyKey, []CatalogObjectBatch{{Objects: objs}})
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.failure("create failed", err)}
	}
	ruleID := ""
	for _, m := range resp.IDMappings {
		if m.ClientObjectID == tmpRule {
			ruleID = m.ObjectID
		}
	}
	c, ok := couponOf(ruleID, index(resp.Objects))
	if !ok {
		return providers.CreateResponse{Diagnostics: p.failure("create failed", &Error{API: &providers.APIError{
			Code: providers.ErrUnavailable, Message: "the batch upsert answer holds no pricing rule for " + tmpRule}})}
	}
	return providers.CreateResponse{ID: c.rule.ID, Attributes: p.couponAttrs(c, map[string]string{groupID: segment}, req.Attributes)}
}

func (p *Provider) readCoupon(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	_, attrs, err := p.liveCoupon(ctx, req.ID, req.Prior)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return providers.ReadResponse{}
	}
	if err != nil {
		return providers.ReadResponse{Diagnostics: p.failure("read failed", err)}
	}
	return providers.ReadResponse{Found: true, ID: req.ID, Attributes: attrs}
}

// findCoupon finds the pricing rule of the coupon whose product set carries marker. Square
// cannot search product sets by name, so it lists them: this runs only after a create whose
// answer was lost.
func (p *Provider) findCoupon(ctx context.Context, marker string) (string, error) {
	name := productSetName(marker)
	setID := ""
	ruleOf := map[string]string{} // product set ID → pricing rule ID
	err := p.client.ListCatalog(ctx, []string{TypeProductSet, TypePricingRule}, func(o CatalogObject) bool {
		switch {
		case o.ProductSetData != nil && o.ProductSetData.Name == name:
			setID = o.ID
		case o.PricingRuleData != nil:
			ruleOf[o.PricingRuleData.MatchProductsID] = o.ID
		}
		return setID == "" || ruleOf[setID] == ""
	})
	if err != nil || setID == "" {
		return "", err
	}
	return ruleOf[setID], nil
}

// updateCoupon rewrites the coupon's objects at the versions it read. It refuses when the
// coupon changed in Square since the plan, or changes between its read and its write.
func (p *Provider) updateCoupon(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	fail := func(err error) providers.UpdateResponse {
		return providers.UpdateResponse{Diagnostics: p.failure("update failed", err)}
	}
	cur, live, err := p.liveCoupon(ctx, req.ID, req.Prior)
	if err != nil {
		return fail(err)
	}
	if req.Prior != nil {
		if changed := providers.Diff(providers.KindCoupon, req.Prior, live); len(changed) > 0 {
			return fail(conflict("coupon %s changed in Square since it was planned (%s); nothing was overwritten: plan again to see the change",
				req.ID, providers.DescribeChanges(changed, live)))
		}
	}
	groupID := ""
	if seg := req.Planned.String("audience"); seg != "" {
		if seg == live.String("audience") && len(cur.rule.PricingRuleData.CustomerGroupIDsAny) == 1 {
			groupID = cur.rule.PricingRuleData.CustomerGroupIDsAny[0]
		} else if groupID, err = p.audienceGroup(ctx, seg, req.Refs); err != nil {
			return fail(err)
		}
	}
	objs := p.couponObjects(req.Planned, cur.marker(), groupID, cur)
	// The key is derived from the write itself, versions included: a retry of this exact
	// write replays, while any other write gets a key of its own.
	body, _ := json.Marshal(objs)
	up, err := p.client.BatchUpsert(ctx, "musubi-update-"+hashHex(string(body), 32), []CatalogObjectBatch{{Objects: objs}})
	if providers.CodeOf(err) == providers.ErrConflict {
		detail := "it changed in Square between Musubi's read and its write"
		if _, now, rerr := p.liveCoupon(ctx, req.ID, req.Prior); rerr == nil {
			if changed := providers.Diff(providers.KindCoupon, live, now); len(changed) > 0 {
				detail += " (" + providers.DescribeChanges(changed, now) + ")"
			}
		}
		return fail(conflict("coupon %s was not updated: %s; nothing was overwritten: plan again to see the change", req.ID, detail))
	}
	if err != nil {
		return fail(err)
	}
	c, ok := couponOf(req.ID, index(up.Objects))
	if !ok {
		return fail(&Error{API: &providers.APIError{Code: providers.ErrUnavailable, Message: "the batch upsert answer holds no pricing rule " + req.ID}})
	}
	return providers.UpdateResponse{Attributes: p.couponAttrs(c, map[string]string{groupID: req.Planned.String("audience")}, req.Planned)}
}

// liveCoupon reads a coupon's objects and attributes; a missing coupon is a not_found error.
func (p *Provider) liveCoupon(ctx context.Context, id string, prior providers.Attrs) (coupon, providers.Attrs, error) {
	resp, err := p.client.RetrieveObject(ctx, id)
	if err != nil {
		return coupon{}, nil, err
	}
	if resp == nil {
		return coupon{}, nil, notFound("coupon %s (a pricing rule) no longer exists in Square", id)
	}
	c, ok := couponOf(id, index(resp.Objects, resp.RelatedObjects))
	if !ok {
		return coupon{}, nil, notFound("%s is not a pricing rule", id)
	}
	segments, err := p.segmentsOf(ctx, resp)
	if err != nil {
		return coupon{}, nil, err
	}
	return c, p.couponAttrs(c, segments, prior), nil
}

func (p *Provider) deleteCoupon(ctx context.Context, id string) error {
	resp, err := p.client.RetrieveObject(ctx, id)
	if err != nil || resp == nil {
		return err
	}
	c, ok := couponOf(id, index(resp.Objects, resp.RelatedObjects))
	if !ok {
		return nil
	}
	ids := []string{c.rule.ID}
	for _, o := range []*CatalogObject{c.discount, c.products} {
		if o != nil {
			ids = append(ids, o.ID)
		}
	}
	_, err = p.client.BatchDelete(ctx, ids)
	return err
}

package shopifytest

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The shop's objects, and how each looks through the API.

type discount struct {
	id          int64
	title       string
	startsAt    time.Time
	endsAt      *time.Time
	usageLimit  *int64
	once        bool
	combines    map[string]bool // orderDiscounts, productDiscounts, shippingDiscounts
	context     string          // all, customers or segments
	segments    []int64
	customers   []string
	percentage  *float64
	amount      string // decimal, when the value is an amount
	eachItem    bool
	minSubtotal string // decimal, "" for none
	codes       []*redeemCode
	metafields  []*metafield
	created     time.Time
	updated     time.Time
}

type redeemCode struct {
	id       int64
	code     string
	discount *discount
}

type metafield struct {
	id        int64
	namespace string
	key       string
	typ       string
	value     string
}

type segment struct {
	id      int64
	name    string
	query   string
	created time.Time
	edited  time.Time
}

type customer struct {
	id    int64
	email string
	tags  []string
}

func customerObject(c *customer) map[string]any {
	tags := make([]any, len(c.tags))
	for i, t := range c.tags {
		tags[i] = t
	}
	return map[string]any{"__typename": "Customer", "id": gid("Customer", c.id), "email": c.email, "tags": tags}
}

type webhook struct {
	id      int64
	topic   string
	uri     string
	format  string
	created time.Time
	updated time.Time
}

type bulkCreation struct {
	id        int64
	discount  *discount
	requested []string
	results   []bulkResult
	polls     int
}

type bulkResult struct {
	code   string
	redeem *redeemCode
	errors []map[string]any
}

type job struct {
	id    int64
	polls int
	run   func()
}

func gid(typ string, id int64) string { return fmt.Sprintf("gid://shopify/%s/%d", typ, id) }

// parseGID reads "gid://shopify/TYPE/N".
func parseGID(s string) (typ string, id int64, ok bool) {
	rest, found := strings.CutPrefix(s, "gid://shopify/")
	if !found {
		return "", 0, false
	}
	typ, num, found := strings.Cut(rest, "/")
	if !found {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return typ, n, true
}

// discountByGID finds a code discount by its DiscountCodeNode ID, or by an ID of one of
// types when given.
func (s *Server) discountByGID(v any, types ...string) *discount {
	if len(types) == 0 {
		types = []string{"DiscountCodeNode"}
	}
	str, _ := v.(string)
	typ, id, ok := parseGID(str)
	if !ok || !slices.Contains(types, typ) {
		return nil
	}
	return s.discounts[id]
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) status(d *discount) string {
	switch {
	case s.clock().Before(d.startsAt):
		return "SCHEDULED"
	case d.endsAt != nil && !s.clock().Before(*d.endsAt):
		return "EXPIRED"
	}
	return "ACTIVE"
}

func (s *Server) money(amount string) map[string]any {
	return map[string]any{"__typename": "MoneyV2", "amount": amount, "currencyCode": s.Currency}
}

// discountNode is a code discount as the API shows it.
func (s *Server) discountNode(d *discount) map[string]any {
	var endsAt, usageLimit, minimum any
	if d.endsAt != nil {
		endsAt = rfc3339(*d.endsAt)
	}
	if d.usageLimit != nil {
		usageLimit = *d.usageLimit
	}
	if d.minSubtotal != "" {
		minimum = map[string]any{"__typename": "DiscountMinimumSubtotal", "greaterThanOrEqualToSubtotal": s.money(d.minSubtotal)}
	}
	var value map[string]any
	if d.percentage != nil {
		value = map[string]any{"__typename": "DiscountPercentage", "percentage": *d.percentage}
	} else {
		value = map[string]any{"__typename": "DiscountAmount", "amount": s.money(d.amount), "appliesOnEachItem": d.eachItem}
	}
	var context map[string]any
	switch d.context {
	case "segments":
		var segs []any
		for _, id := range d.segments {
			if sg := s.segments[id]; sg != nil {
				segs = append(segs, s.segmentObject(sg))
			}
		}
		context = map[string]any{"__typename": "DiscountCustomerSegments", "segments": segs}
	case "customers":
		var cs []any
		for _, c := range d.customers {
			cs = append(cs, map[string]any{"__typename": "Customer", "id": c})
		}
		context = map[string]any{"__typename": "DiscountCustomers", "customers": cs}
	default:
		context = map[string]any{"__typename": "DiscountBuyerSelectionAll", "all": "ALL"}
	}
	codes := make([]any, len(d.codes))
	for i, c := range d.codes {
		codes[i] = redeemObject(c)
	}
	basic := map[string]any{
		"__typename": "DiscountCodeBasic", "title": d.title, "status": s.status(d), "summary": d.title,
		"startsAt": rfc3339(d.startsAt), "endsAt": endsAt, "createdAt": rfc3339(d.created), "updatedAt": rfc3339(d.updated),
		"usageLimit": usageLimit, "appliesOncePerCustomer": d.once, "asyncUsageCount": 0,
		"codesCount": map[string]any{"__typename": "Count", "count": len(d.codes), "precision": "EXACT"},
		"codes":      resolver(func(args map[string]any) any { return connection("DiscountRedeemCodeConnection", codes, args) }),
		"combinesWith": map[string]any{"__typename": "DiscountCombinesWith",
			"orderDiscounts": d.combines["orderDiscounts"], "productDiscounts": d.combines["productDiscounts"],
			"shippingDiscounts": d.combines["shippingDiscounts"]},
		"context": context,
		"customerGets": map[string]any{"__typename": "DiscountCustomerGets", "value": value,
			"items": map[string]any{"__typename": "AllDiscountItems", "allItems": true}},
		"minimumRequirement": minimum,
	}
	node := map[string]any{"__typename": "DiscountCodeNode", "id": gid("DiscountCodeNode", d.id), "codeDiscount": basic}
	node["metafield"] = resolver(func(args map[string]any) any {
		ns, _ := args["namespace"].(string)
		key, _ := args["key"].(string)
		for _, m := range d.metafields {
			if m.namespace == ns && m.key == key {
				return metafieldObject(m)
			}
		}
		return nil
	})
	node["metafields"] = resolver(func(args map[string]any) any {
		ns, _ := args["namespace"].(string)
		var out []any
		for _, m := range d.metafields {
			if ns == "" || m.namespace == ns {
				out = append(out, metafieldObject(m))
			}
		}
		return connection("MetafieldConnection", out, args)
	})
	return node
}

// anyDiscountNode is a code discount as a DiscountNode, which wraps any discount: its
// discount is the DiscountCodeNode's codeDiscount, its ID the one the create returned.
func (s *Server) anyDiscountNode(d *discount) map[string]any {
	node := s.discountNode(d)
	node["__typename"], node["discount"] = "DiscountNode", node["codeDiscount"]
	delete(node, "codeDiscount")
	return node
}

func redeemObject(c *redeemCode) map[string]any {
	return map[string]any{"__typename": "DiscountRedeemCode", "id": gid("DiscountRedeemCode", c.id), "code": c.code, "asyncUsageCount": 0}
}

func metafieldObject(m *metafield) map[string]any {
	return map[string]any{"__typename": "Metafield", "id": gid("Metafield", m.id), "namespace": m.namespace,
		"key": m.key, "value": m.value, "type": m.typ}
}

func (s *Server) segmentObject(sg *segment) map[string]any {
	return map[string]any{"__typename": "Segment", "id": gid("Segment", sg.id), "name": sg.name, "query": sg.query,
		"creationDate": rfc3339(sg.created), "lastEditDate": rfc3339(sg.edited)}
}

func webhookObject(wh *webhook) map[string]any {
	return map[string]any{"__typename": "WebhookSubscription", "id": gid("WebhookSubscription", wh.id), "topic": wh.topic,
		"uri": wh.uri, "format": wh.format, "createdAt": rfc3339(wh.created), "updatedAt": rfc3339(wh.updated)}
}

func (s *Server) bulkObject(b *bulkCreation, done bool) map[string]any {
	imported, failed := 0, 0
	var codes []any
	for _, r := range b.results {
		var redeem any
		if r.redeem != nil {
			imported++
			redeem = redeemObject(r.redeem)
		} else {
			failed++
		}
		errs := make([]any, len(r.errors))
		for i, e := range r.errors {
			errs[i] = e
		}
		codes = append(codes, map[string]any{"__typename": "DiscountRedeemCodeBulkCreationCode", "code": r.code,
			"discountRedeemCode": redeem, "errors": errs})
	}
	var node any
	if b.discount != nil && s.discounts[b.discount.id] == b.discount {
		node = s.discountNode(b.discount)
	}
	return map[string]any{"__typename": "DiscountRedeemCodeBulkCreation", "id": gid("DiscountRedeemCodeBulkCreation", b.id),
		"done": done, "codesCount": len(b.requested), "importedCount": imported, "failedCount": failed,
		"codes": resolver(func(args map[string]any) any {
			return connection("DiscountRedeemCodeBulkCreationCodeConnection", codes, args)
		}),
		"discountCode": node}
}

// connection serves one page of a list: cursors are positions.
func connection(typ string, items []any, args map[string]any) map[string]any {
	start := 0
	if after, ok := args["after"].(string); ok && after != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "cursor:"))
		if err == nil && n >= 0 {
			start = n + 1
		}
	}
	n, _ := asInt(args["first"])
	if n == 0 {
		n, _ = asInt(args["last"])
	}
	start = min(start, len(items))
	end := min(start+int(n), len(items))
	page := items[start:end]
	if page == nil {
		page = []any{}
	}
	var endCursor any
	if end > start {
		endCursor = fmt.Sprintf("cursor:%d", end-1)
	}
	return map[string]any{"__typename": typ, "nodes": page,
		"pageInfo": map[string]any{"__typename": "PageInfo", "hasNextPage": end < len(items), "endCursor": endCursor}}
}

// addCode registers a code on a discount, or says why it cannot be.
func (s *Server) addCode(d *discount, code string) (*redeemCode, map[string]any) {
	if msg := codeProblem(code); msg != "" {
		return nil, map[string]any{"__typename": "DiscountUserError", "field": []any{"code"}, "code": "INVALID", "message": msg}
	}
	if _, taken := s.codes[strings.ToLower(code)]; taken {
		return nil, map[string]any{"__typename": "DiscountUserError", "field": []any{"code"}, "code": "TAKEN",
			"message": "Code must be unique. Please try a different code."}
	}
	c := &redeemCode{id: s.nextID(), code: code, discount: d}
	d.codes = append(d.codes, c)
	s.codes[strings.ToLower(code)] = c
	return c, nil
}

func codeProblem(code string) string {
	switch {
	case strings.TrimSpace(code) == "":
		return "Code can't be blank"
	case len(code) > 255:
		return "Code is too long (maximum is 255 characters)"
	case strings.ContainsAny(code, "\n\r\t") || strings.TrimSpace(code) != code:
		return "Code can't contain line breaks, tabs or surrounding spaces"
	}
	return ""
}

func (s *Server) removeCode(c *redeemCode) {
	d := c.discount
	d.codes = slices.DeleteFunc(d.codes, func(x *redeemCode) bool { return x == c })
	delete(s.codes, strings.ToLower(c.code))
}

func (s *Server) deleteDiscount(d *discount) {
	for _, c := range d.codes {
		delete(s.codes, strings.ToLower(c.code))
	}
	delete(s.discounts, d.id)
}

// parseDecimal reads a decimal string exactly.
func parseDecimal(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// formatDecimal writes a decimal as Shopify does: at least one decimal place.
func formatDecimal(r *big.Rat) string {
	s := r.FloatString(6)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

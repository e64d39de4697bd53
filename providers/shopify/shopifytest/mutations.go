package shopifytest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// mutate runs one root field of a mutation. Refused values are userErrors in the payload,
// with HTTP 200, as Shopify reports them.
func (s *Server) mutate(name string, args map[string]any) (any, *gqlError) {
	switch name {
	case "discountCodeBasicCreate":
		return s.createDiscount(args), nil
	case "discountCodeBasicUpdate":
		return s.updateDiscount(args), nil
	case "discountCodeDelete":
		d := s.discountByGID(args["id"])
		if d == nil {
			return payload("DiscountCodeDeletePayload", "deletedCodeDiscountId", nil, discountError([]string{"id"}, "INVALID", "Code discount does not exist")), nil
		}
		s.deleteDiscount(d)
		return payload("DiscountCodeDeletePayload", "deletedCodeDiscountId", gid("DiscountCodeNode", d.id)), nil
	case "discountRedeemCodeBulkAdd":
		return s.bulkAdd(args), nil
	case "discountCodeRedeemCodeBulkDelete":
		return s.bulkDelete(args), nil
	case "metafieldsSet":
		return s.metafieldsSet(args), nil
	case "metafieldsDelete":
		return s.metafieldsDelete(args), nil
	case "segmentCreate", "segmentUpdate":
		return s.saveSegment(name, args), nil
	case "segmentDelete":
		str, _ := args["id"].(string)
		typ, id, ok := parseGID(str)
		if !ok || typ != "Segment" || s.segments[id] == nil {
			return payload("SegmentDeletePayload", "deletedSegmentId", nil, userError([]string{"id"}, "Segment does not exist")), nil
		}
		delete(s.segments, id)
		return payload("SegmentDeletePayload", "deletedSegmentId", str), nil
	case "tagsAdd", "tagsRemove":
		return s.tags(name, args), nil
	case "webhookSubscriptionCreate", "webhookSubscriptionUpdate":
		return s.saveWebhook(name, args), nil
	case "webhookSubscriptionDelete":
		str, _ := args["id"].(string)
		typ, id, ok := parseGID(str)
		if !ok || typ != "WebhookSubscription" || s.webhooks[id] == nil {
			return payload("WebhookSubscriptionDeletePayload", "deletedWebhookSubscriptionId", nil,
				userError([]string{"id"}, "Webhook subscription does not exist")), nil
		}
		delete(s.webhooks, id)
		return payload("WebhookSubscriptionDeletePayload", "deletedWebhookSubscriptionId", str), nil
	}
	return nil, errorf("undefinedField", "Field '%s' doesn't exist on type 'Mutation'", name)
}

func payload(typ, field string, value any, errs ...map[string]any) map[string]any {
	list := make([]any, len(errs))
	for i, e := range errs {
		list[i] = e
	}
	return map[string]any{"__typename": typ, field: value, "userErrors": list}
}

func fieldPath(path []string) []any {
	out := make([]any, len(path))
	for i, p := range path {
		out[i] = p
	}
	return out
}

func discountError(path []string, code, msg string) map[string]any {
	return map[string]any{"__typename": "DiscountUserError", "field": fieldPath(path), "code": code, "message": msg, "extraInfo": nil}
}

func userError(path []string, msg string) map[string]any {
	return map[string]any{"__typename": "UserError", "field": fieldPath(path), "message": msg}
}

func (s *Server) createDiscount(args map[string]any) map[string]any {
	in, _ := args["basicCodeDiscount"].(map[string]any)
	const typ = "DiscountCodeBasicCreatePayload"
	var errs []map[string]any
	bad := func(field, code, msg string) {
		errs = append(errs, discountError([]string{"basicCodeDiscount", field}, code, msg))
	}
	for _, req := range []string{"title", "code", "startsAt", "customerGets"} {
		if in[req] == nil {
			bad(req, "BLANK", fmt.Sprintf("%s can't be blank", req))
		}
	}
	if in["context"] == nil && in["customerSelection"] == nil {
		bad("context", "BLANK", "Context can't be blank")
	}
	if cg, ok := in["customerGets"].(map[string]any); ok {
		for _, req := range []string{"value", "items"} {
			if cg[req] == nil {
				errs = append(errs, discountError([]string{"basicCodeDiscount", "customerGets", req}, "BLANK", fmt.Sprintf("Customer gets %s can't be blank", req)))
			}
		}
	}
	if len(errs) > 0 {
		return payload(typ, "codeDiscountNode", nil, errs...)
	}
	d := &discount{id: s.nextID(), combines: map[string]bool{}, context: "all", created: s.clock(), updated: s.clock()}
	if errs := s.applyDiscount(d, in); len(errs) > 0 {
		return payload(typ, "codeDiscountNode", nil, errs...)
	}
	code, _ := in["code"].(string)
	if _, ue := s.addCode(d, code); ue != nil {
		ue["field"] = fieldPath([]string{"basicCodeDiscount", "code"})
		return payload(typ, "codeDiscountNode", nil, ue)
	}
	s.discounts[d.id] = d
	return payload(typ, "codeDiscountNode", s.discountNode(d))
}

func (s *Server) updateDiscount(args map[string]any) map[string]any {
	const typ = "DiscountCodeBasicUpdatePayload"
	d := s.discountByGID(args["id"])
	if d == nil {
		return payload(typ, "codeDiscountNode", nil, discountError([]string{"id"}, "INVALID", "Code discount does not exist"))
	}
	in, _ := args["basicCodeDiscount"].(map[string]any)
	next := *d
	next.combines = maps.Clone(d.combines)
	next.segments = slices.Clone(d.segments)
	if errs := s.applyDiscount(&next, in); len(errs) > 0 {
		return payload(typ, "codeDiscountNode", nil, errs...)
	}
	if code, ok := in["code"].(string); ok && len(d.codes) > 0 && !strings.EqualFold(code, d.codes[0].code) {
		if msg := codeProblem(code); msg != "" {
			return payload(typ, "codeDiscountNode", nil, discountError([]string{"basicCodeDiscount", "code"}, "INVALID", msg))
		}
		if _, taken := s.codes[strings.ToLower(code)]; taken {
			return payload(typ, "codeDiscountNode", nil, discountError([]string{"basicCodeDiscount", "code"}, "TAKEN",
				"Code must be unique. Please try a different code."))
		}
		first := d.codes[0]
		delete(s.codes, strings.ToLower(first.code))
		first.code = code
		s.codes[strings.ToLower(code)] = first
	}
	next.updated = s.clock()
	*d = next
	return payload(typ, "codeDiscountNode", s.discountNode(d))
}

// applyDiscount writes the fields present in a DiscountCodeBasicInput; a field given as null
// is cleared.
func (s *Server) applyDiscount(d *discount, in map[string]any) []map[string]any {
	var errs []map[string]any
	bad := func(path []string, code, format string, args ...any) {
		errs = append(errs, discountError(append([]string{"basicCodeDiscount"}, path...), code, fmt.Sprintf(format, args...)))
	}
	if v, ok := in["title"]; ok {
		t, _ := v.(string)
		switch {
		case strings.TrimSpace(t) == "":
			bad([]string{"title"}, "BLANK", "Title can't be blank")
		case utf8.RuneCountInString(t) > 255:
			bad([]string{"title"}, "TOO_LONG", "Title is too long (maximum is 255 characters)")
		default:
			d.title = t
		}
	}
	if v, ok := in["startsAt"]; ok {
		if t, err := time.Parse(time.RFC3339, fmt.Sprint(v)); err == nil {
			d.startsAt = t
		} else {
			bad([]string{"startsAt"}, "BLANK", "Starts at can't be blank")
		}
	}
	if v, ok := in["endsAt"]; ok {
		if v == nil {
			d.endsAt = nil
		} else if t, err := time.Parse(time.RFC3339, fmt.Sprint(v)); err == nil {
			d.endsAt = &t
		}
	}
	if d.endsAt != nil && !d.endsAt.After(d.startsAt) {
		bad([]string{"endsAt"}, "INVALID", "Ends at needs to be after starts_at")
	}
	if v, ok := in["usageLimit"]; ok {
		if v == nil {
			d.usageLimit = nil
		} else if n, _ := asInt(v); n < 1 {
			bad([]string{"usageLimit"}, "GREATER_THAN", "Usage limit must be greater than 0")
		} else {
			d.usageLimit = &n
		}
	}
	if v, ok := in["appliesOncePerCustomer"]; ok {
		d.once, _ = v.(bool)
	}
	if v, ok := in["combinesWith"].(map[string]any); ok {
		for _, k := range []string{"orderDiscounts", "productDiscounts", "shippingDiscounts"} {
			if b, ok := v[k].(bool); ok {
				d.combines[k] = b
			}
		}
	}
	if v, ok := in["customerGets"].(map[string]any); ok {
		if items, ok := v["items"].(map[string]any); ok && items["all"] != true {
			bad([]string{"customerGets", "items"}, "INVALID", "this contract server takes items {all: true} only")
		}
		if value, ok := v["value"].(map[string]any); ok {
			pct, hasPct := value["percentage"]
			amt, hasAmt := value["discountAmount"].(map[string]any)
			switch {
			case hasPct && hasAmt, !hasPct && !hasAmt:
				bad([]string{"customerGets", "value"}, "INVALID", "Value must be exactly one of percentage or discountAmount")
			case hasPct:
				f, _ := asFloat(pct)
				if f <= 0 || f > 1 {
					bad([]string{"customerGets", "value", "percentage"}, "VALUE_OUTSIDE_RANGE", "Percentage must be between 0 and 1, not %v", f)
				} else {
					d.percentage, d.amount = &f, ""
				}
			default:
				r, ok := parseDecimal(fmt.Sprint(amt["amount"]))
				if !ok || r.Sign() <= 0 {
					bad([]string{"customerGets", "value", "discountAmount", "amount"}, "GREATER_THAN", "Amount must be greater than 0")
				} else {
					d.percentage, d.amount = nil, formatDecimal(r)
					d.eachItem, _ = amt["appliesOnEachItem"].(bool)
				}
			}
		}
	}
	if v, ok := in["minimumRequirement"]; ok {
		m, _ := v.(map[string]any)
		sub, _ := m["subtotal"].(map[string]any)
		switch {
		case v == nil:
			d.minSubtotal = ""
		case m["quantity"] != nil:
			bad([]string{"minimumRequirement", "quantity"}, "INVALID", "this contract server takes a subtotal requirement only")
		case sub != nil:
			r, ok := parseDecimal(fmt.Sprint(sub["greaterThanOrEqualToSubtotal"]))
			if !ok || r.Sign() <= 0 {
				bad([]string{"minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal"}, "GREATER_THAN", "Minimum subtotal must be greater than 0")
			} else {
				d.minSubtotal = formatDecimal(r)
			}
		default:
			d.minSubtotal = ""
		}
	}
	if in["context"] != nil && in["customerSelection"] != nil {
		bad([]string{"context"}, "INVALID", "Only one of context or customerSelection can be given")
	} else if v, ok := in["context"].(map[string]any); ok {
		errs = append(errs, s.applyContext(d, v)...)
	} else if in["customerSelection"] != nil {
		bad([]string{"customerSelection"}, "INVALID", "customerSelection is deprecated in this version; use context")
	}
	return errs
}

func (s *Server) applyContext(d *discount, v map[string]any) []map[string]any {
	set := 0
	for _, k := range []string{"all", "customers", "customerSegments"} {
		if v[k] != nil {
			set++
		}
	}
	if set != 1 {
		return []map[string]any{discountError([]string{"basicCodeDiscount", "context"}, "INVALID", "Context must set exactly one of all, customers or customerSegments")}
	}
	switch {
	case v["all"] != nil:
		d.context, d.segments, d.customers = "all", nil, nil
	case v["customerSegments"] != nil:
		cs, _ := v["customerSegments"].(map[string]any)
		if d.context != "segments" {
			d.segments = nil
		}
		for _, x := range asList(cs["remove"]) {
			_, id, _ := parseGID(fmt.Sprint(x))
			d.segments = slices.DeleteFunc(d.segments, func(s int64) bool { return s == id })
		}
		for _, x := range asList(cs["add"]) {
			typ, id, ok := parseGID(fmt.Sprint(x))
			if !ok || typ != "Segment" || s.segments[id] == nil {
				return []map[string]any{discountError([]string{"basicCodeDiscount", "context", "customerSegments", "add"}, "INVALID",
					fmt.Sprintf("Customer segment %v does not exist", x))}
			}
			if !slices.Contains(d.segments, id) {
				d.segments = append(d.segments, id)
			}
		}
		if len(d.segments) == 0 {
			return []map[string]any{discountError([]string{"basicCodeDiscount", "context", "customerSegments"}, "BLANK", "Customer segments can't be empty")}
		}
		d.context, d.customers = "segments", nil
	default:
		cs, _ := v["customers"].(map[string]any)
		d.context, d.segments, d.customers = "customers", nil, nil
		for _, x := range asList(cs["add"]) {
			d.customers = append(d.customers, fmt.Sprint(x))
		}
	}
	return nil
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func (s *Server) bulkAdd(args map[string]any) map[string]any {
	const typ = "DiscountRedeemCodeBulkAddPayload"
	d := s.discountByGID(args["discountId"])
	if d == nil {
		return payload(typ, "bulkCreation", nil, discountError([]string{"discountId"}, "INVALID", "Code discount does not exist"))
	}
	list := asList(args["codes"])
	switch {
	case len(list) == 0:
		return payload(typ, "bulkCreation", nil, discountError([]string{"codes"}, "BLANK", "Codes can't be blank"))
	case len(list) > MaxBulkCodes:
		return payload(typ, "bulkCreation", nil, discountError([]string{"codes"}, "TOO_MANY_ARGUMENTS",
			fmt.Sprintf("Codes exceeds the maximum of %d codes per request (got %d)", MaxBulkCodes, len(list))))
	}
	b := &bulkCreation{id: s.nextID(), discount: d}
	for _, c := range list {
		m, _ := c.(map[string]any)
		code, _ := m["code"].(string)
		b.requested = append(b.requested, code)
	}
	s.bulks[b.id] = b
	return payload(typ, "bulkCreation", s.bulkObject(b, false))
}

func (s *Server) bulkDelete(args map[string]any) map[string]any {
	const typ = "DiscountCodeRedeemCodeBulkDeletePayload"
	d := s.discountByGID(args["discountId"])
	if d == nil {
		return payload(typ, "job", nil, discountError([]string{"discountId"}, "INVALID", "Code discount does not exist"))
	}
	given := 0
	for _, k := range []string{"ids", "search", "savedSearchId"} {
		if args[k] != nil {
			given++
		}
	}
	if given != 1 {
		return payload(typ, "job", nil, discountError(nil, "TOO_MANY_ARGUMENTS", "Only one of ids, search or savedSearchId is allowed"))
	}
	ids := asList(args["ids"])
	if args["ids"] == nil {
		return payload(typ, "job", nil, discountError([]string{"ids"}, "INVALID", "this contract server deletes by ids only"))
	}
	if len(ids) > MaxBulkCodes {
		return payload(typ, "job", nil, discountError([]string{"ids"}, "TOO_MANY_ARGUMENTS",
			fmt.Sprintf("Ids exceeds the maximum of %d per request (got %d)", MaxBulkCodes, len(ids))))
	}
	want := map[int64]bool{}
	for _, x := range ids {
		t, id, ok := parseGID(fmt.Sprint(x))
		if !ok || t != "DiscountRedeemCode" {
			return payload(typ, "job", nil, discountError([]string{"ids"}, "INVALID", fmt.Sprintf("Invalid redeem code ID %v", x)))
		}
		want[id] = true
	}
	j := &job{id: s.nextID()}
	j.run = func() {
		for _, c := range slices.Clone(d.codes) {
			if want[c.id] {
				s.removeCode(c)
			}
		}
		d.updated = s.clock()
	}
	s.jobs[j.id] = j
	return payload(typ, "job", map[string]any{"__typename": "Job", "id": gid("Job", j.id), "done": false})
}

var metafieldKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{2,64}$`)

func (s *Server) metafieldsSet(args map[string]any) map[string]any {
	const typ = "MetafieldsSetPayload"
	list := asList(args["metafields"])
	mfError := func(i int, field, code, msg string) map[string]any {
		return payload(typ, "metafields", nil, map[string]any{"__typename": "MetafieldsSetUserError",
			"field": fieldPath([]string{"metafields", fmt.Sprint(i), field}), "code": code, "message": msg, "elementIndex": i})
	}
	if len(list) == 0 || len(list) > 25 {
		return payload(typ, "metafields", nil, map[string]any{"__typename": "MetafieldsSetUserError",
			"field": fieldPath([]string{"metafields"}), "code": "LESS_THAN_OR_EQUAL_TO",
			"message": "Exceeded the maximum metafields input limit of 25.", "elementIndex": nil})
	}
	type write struct {
		d  *discount
		mf metafield
	}
	var writes []write
	for i, x := range list {
		m, _ := x.(map[string]any)
		d := s.discountByGID(m["ownerId"])
		ns, _ := m["namespace"].(string)
		key, _ := m["key"].(string)
		mtype, _ := m["type"].(string)
		value, _ := m["value"].(string)
		switch {
		case d == nil:
			return mfError(i, "ownerId", "INVALID", "Owner does not exist")
		case ns == "" || len(ns) > 255:
			return mfError(i, "namespace", "INVALID", "Namespace must be 1 to 255 characters")
		case !metafieldKeyRE.MatchString(key):
			return mfError(i, "key", "INVALID", "Key must be 2 to 64 of a-z, A-Z, 0-9, _ and -")
		case mtype == "":
			existing := slices.IndexFunc(d.metafields, func(e *metafield) bool { return e.namespace == ns && e.key == key })
			if existing < 0 {
				return mfError(i, "type", "BLANK", "Type can't be blank")
			}
			mtype = d.metafields[existing].typ
		}
		if mtype == "json" && !json.Valid([]byte(value)) {
			return mfError(i, "value", "INVALID_VALUE", "Value is invalid JSON")
		}
		writes = append(writes, write{d, metafield{namespace: ns, key: key, typ: mtype, value: value}})
	}
	var out []any
	for _, w := range writes {
		i := slices.IndexFunc(w.d.metafields, func(e *metafield) bool { return e.namespace == w.mf.namespace && e.key == w.mf.key })
		mf := w.mf
		if i >= 0 {
			mf.id = w.d.metafields[i].id
			w.d.metafields[i] = &mf
		} else {
			mf.id = s.nextID()
			w.d.metafields = append(w.d.metafields, &mf)
		}
		w.d.updated = s.clock()
		out = append(out, metafieldObject(&mf))
	}
	return payload(typ, "metafields", out)
}

func (s *Server) metafieldsDelete(args map[string]any) map[string]any {
	var out []any
	for _, x := range asList(args["metafields"]) {
		m, _ := x.(map[string]any)
		d := s.discountByGID(m["ownerId"])
		ns, _ := m["namespace"].(string)
		key, _ := m["key"].(string)
		if d == nil {
			out = append(out, nil)
			continue
		}
		n := len(d.metafields)
		d.metafields = slices.DeleteFunc(d.metafields, func(e *metafield) bool { return e.namespace == ns && e.key == key })
		if len(d.metafields) == n {
			out = append(out, nil)
			continue
		}
		out = append(out, map[string]any{"__typename": "MetafieldIdentifier", "ownerId": m["ownerId"], "namespace": ns, "key": key})
	}
	return payload("MetafieldsDeletePayload", "deletedMetafields", out)
}

// segmentQueryRE accepts the ShopifyQL conditions the server understands: one or more
// ATTRIBUTE OPERATOR VALUE joined by AND or OR.
var segmentQueryRE = regexp.MustCompile(`^(customer_tags|email_subscription_status|amount_spent|number_of_orders|last_order_date|customer_email_domain|customer_account_status) (CONTAINS|NOT CONTAINS|=|!=|>=|<=|>|<) ('[^']*'|[0-9.]+|[A-Z_]+)( (AND|OR) .+)?$`)

func validSegmentQuery(q string) bool {
	for q != "" {
		m := segmentQueryRE.FindStringSubmatch(q)
		if m == nil {
			return false
		}
		q = strings.TrimPrefix(strings.TrimPrefix(m[4], " AND "), " OR ")
	}
	return true
}

func (s *Server) saveSegment(name string, args map[string]any) map[string]any {
	typ := "SegmentCreatePayload"
	sg := &segment{id: s.nextID(), created: s.clock()}
	if name == "segmentUpdate" {
		typ = "SegmentUpdatePayload"
		str, _ := args["id"].(string)
		t, id, ok := parseGID(str)
		if !ok || t != "Segment" || s.segments[id] == nil {
			return payload(typ, "segment", nil, userError([]string{"id"}, "Segment does not exist"))
		}
		cp := *s.segments[id]
		sg = &cp
	}
	if v, ok := args["name"].(string); ok || name == "segmentCreate" {
		switch {
		case strings.TrimSpace(v) == "":
			return payload(typ, "segment", nil, userError([]string{"name"}, "Name can't be blank"))
		case utf8.RuneCountInString(v) > 255:
			return payload(typ, "segment", nil, userError([]string{"name"}, "Name is too long (maximum is 255 characters)"))
		}
		for _, other := range s.segments {
			if other.id != sg.id && strings.EqualFold(other.name, v) {
				return payload(typ, "segment", nil, userError([]string{"name"}, "Name has already been taken"))
			}
		}
		sg.name = v
	}
	if v, ok := args["query"].(string); ok || name == "segmentCreate" {
		if !validSegmentQuery(v) {
			return payload(typ, "segment", nil, userError([]string{"query"}, fmt.Sprintf("Query %q is invalid: syntax error", v)))
		}
		sg.query = v
	}
	sg.edited = s.clock()
	s.segments[sg.id] = sg
	return payload(typ, "segment", s.segmentObject(sg))
}

func (s *Server) saveWebhook(name string, args map[string]any) map[string]any {
	typ := "WebhookSubscriptionCreatePayload"
	wh := &webhook{id: s.nextID(), format: "JSON", created: s.clock()}
	if name == "webhookSubscriptionUpdate" {
		typ = "WebhookSubscriptionUpdatePayload"
		str, _ := args["id"].(string)
		t, id, ok := parseGID(str)
		if !ok || t != "WebhookSubscription" || s.webhooks[id] == nil {
			return payload(typ, "webhookSubscription", nil, userError([]string{"id"}, "Webhook subscription does not exist"))
		}
		cp := *s.webhooks[id]
		wh = &cp
	} else {
		wh.topic, _ = args["topic"].(string)
	}
	in, _ := args["webhookSubscription"].(map[string]any)
	if f, ok := in["format"].(string); ok {
		wh.format = f
	}
	if v, ok := in["uri"].(string); ok || name == "webhookSubscriptionCreate" {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return payload(typ, "webhookSubscription", nil, userError([]string{"webhookSubscription", "uri"},
				fmt.Sprintf("Address is invalid: %q is not an https URL", v)))
		}
		wh.uri = v
	}
	for _, other := range s.webhooks {
		if other.id != wh.id && other.topic == wh.topic && other.uri == wh.uri {
			return payload(typ, "webhookSubscription", nil, userError([]string{"webhookSubscription", "uri"},
				"Address for this topic has already been taken"))
		}
	}
	wh.updated = s.clock()
	s.webhooks[wh.id] = wh
	return payload(typ, "webhookSubscription", webhookObject(wh))
}

// tags adds tags to a customer or removes them. Tags are unique per customer, whatever their
// case, at most 255 characters each, and a customer holds at most 250.
func (s *Server) tags(name string, args map[string]any) map[string]any {
	typ := "TagsAddPayload"
	if name == "tagsRemove" {
		typ = "TagsRemovePayload"
	}
	str, _ := args["id"].(string)
	t, id, ok := parseGID(str)
	c := s.customers[id]
	if !ok || t != "Customer" || c == nil {
		return payload(typ, "node", nil, userError([]string{"id"}, "Node does not exist"))
	}
	var tags []string
	for _, x := range asList(args["tags"]) {
		tag := strings.TrimSpace(fmt.Sprint(x))
		if tag == "" || utf8.RuneCountInString(tag) > 255 {
			return payload(typ, "node", nil, userError([]string{"tags"}, fmt.Sprintf("Tag %q must be 1 to 255 characters", tag)))
		}
		tags = append(tags, tag)
	}
	next := slices.Clone(c.tags)
	for _, tag := range tags {
		i := slices.IndexFunc(next, func(x string) bool { return strings.EqualFold(x, tag) })
		switch {
		case name == "tagsAdd" && i < 0:
			next = append(next, tag)
		case name == "tagsRemove" && i >= 0:
			next = slices.Delete(next, i, i+1)
		}
	}
	if len(next) > 250 {
		return payload(typ, "node", nil, userError([]string{"tags"}, "A customer can have at most 250 tags"))
	}
	c.tags = next
	return payload(typ, "node", customerObject(c))
}

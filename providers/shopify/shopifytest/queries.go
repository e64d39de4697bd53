package shopifytest

import (
	"slices"
	"strings"
)

// query resolves one root field of a query.
func (s *Server) query(name string, args map[string]any) (any, *gqlError) {
	switch name {
	case "shop":
		return map[string]any{"__typename": "Shop", "currencyCode": s.Currency, "ianaTimezone": s.Timezone,
			"myshopifyDomain": s.Shop, "name": strings.TrimSuffix(s.Shop, ".myshopify.com")}, nil
	case "nodes":
		ids, _ := args["ids"].([]any)
		if len(ids) > MaxNodes {
			return nil, errorf("MAX_INPUT_SIZE_EXCEEDED", "The input array size of %d is greater than the maximum allowed of %d.", len(ids), MaxNodes)
		}
		out := make([]any, len(ids))
		for i, v := range ids {
			str, _ := v.(string)
			typ, id, ok := parseGID(str)
			if !ok {
				return nil, errorf("argumentLiteralsIncompatible", "Invalid global id '%s'", str)
			}
			out[i] = s.node(typ, id)
		}
		return out, nil
	case "codeDiscountNode":
		if d := s.discountByGID(args["id"]); d != nil {
			return s.discountNode(d), nil
		}
		return nil, nil
	case "discountNode":
		// Shopify looks a DiscountNode up by the ID of the node it wraps too.
		if d := s.discountByGID(args["id"], "DiscountNode", "DiscountCodeNode"); d != nil {
			return s.anyDiscountNode(d), nil
		}
		return nil, nil
	case "codeDiscountNodeByCode":
		code, _ := args["code"].(string)
		if c := s.codes[strings.ToLower(code)]; c != nil {
			return s.discountNode(c.discount), nil
		}
		return nil, nil
	case "codeDiscountNodes":
		return connection("DiscountCodeNodeConnection", s.search(args, s.discountNode), args), nil
	case "discountNodes":
		return connection("DiscountNodeConnection", s.search(args, s.anyDiscountNode), args), nil
	case "discountRedeemCodeBulkCreation":
		str, _ := args["id"].(string)
		typ, id, ok := parseGID(str)
		b := s.bulks[id]
		if !ok || typ != "DiscountRedeemCodeBulkCreation" || b == nil {
			return nil, nil
		}
		b.polls++
		if b.polls == 1 {
			s.runBulk(b)
			return s.bulkObject(b, false), nil
		}
		return s.bulkObject(b, true), nil
	case "segments":
		var out []any
		for _, id := range sortedIDs(s.segments) {
			out = append(out, s.segmentObject(s.segments[id]))
		}
		return connection("SegmentConnection", out, args), nil
	case "segment":
		str, _ := args["id"].(string)
		if typ, id, ok := parseGID(str); ok && typ == "Segment" && s.segments[id] != nil {
			return s.segmentObject(s.segments[id]), nil
		}
		return nil, nil
	case "webhookSubscriptions":
		topics, _ := args["topics"].([]any)
		uri, _ := args["uri"].(string)
		var out []any
		for _, id := range sortedIDs(s.webhooks) {
			wh := s.webhooks[id]
			if (len(topics) == 0 || slices.Contains(topics, any(wh.topic))) && (uri == "" || uri == wh.uri) {
				out = append(out, webhookObject(wh))
			}
		}
		return connection("WebhookSubscriptionConnection", out, args), nil
	case "customer":
		str, _ := args["id"].(string)
		if typ, id, ok := parseGID(str); ok && typ == "Customer" && s.customers[id] != nil {
			return customerObject(s.customers[id]), nil
		}
		return nil, nil
	case "job":
		str, _ := args["id"].(string)
		typ, id, ok := parseGID(str)
		j := s.jobs[id]
		if !ok || typ != "Job" || j == nil {
			return nil, nil
		}
		j.polls++
		if j.polls == 1 {
			j.run()
		}
		return map[string]any{"__typename": "Job", "id": gid("Job", j.id), "done": j.polls > 1}, nil
	}
	return nil, errorf("undefinedField", "Field '%s' doesn't exist on type 'QueryRoot'", name)
}

func (s *Server) node(typ string, id int64) any {
	switch typ {
	case "DiscountCodeNode":
		if d := s.discounts[id]; d != nil {
			return s.discountNode(d)
		}
	case "DiscountNode":
		if d := s.discounts[id]; d != nil {
			return s.anyDiscountNode(d)
		}
	case "Segment":
		if sg := s.segments[id]; sg != nil {
			return s.segmentObject(sg)
		}
	case "WebhookSubscription":
		if wh := s.webhooks[id]; wh != nil {
			return webhookObject(wh)
		}
	case "Customer":
		if c := s.customers[id]; c != nil {
			return customerObject(c)
		}
	}
	return nil
}

// search lists the discounts matching a query argument, each as node makes it.
func (s *Server) search(args map[string]any, node func(*discount) map[string]any) []any {
	q, _ := args["query"].(string)
	var out []any
	for _, id := range sortedIDs(s.discounts) {
		if d := s.discounts[id]; matchesSearch(d, q) {
			out = append(out, node(d))
		}
	}
	return out
}

// matchesSearch applies Shopify's search syntax as far as the provider uses it: terms
// (optionally title:TERM, code:TERM or method:code|automatic, quoted or not) that must all
// match, case-insensitively. Every discount the server holds is a code discount.
func matchesSearch(d *discount, q string) bool {
	for _, term := range searchTerms(q) {
		field, value, hasField := strings.Cut(term, ":")
		if !hasField {
			field, value = "", term
		}
		value = strings.ToLower(strings.Trim(value, `"'`))
		title := strings.Contains(strings.ToLower(d.title), value)
		code := slices.ContainsFunc(d.codes, func(c *redeemCode) bool { return strings.EqualFold(c.code, value) })
		switch field {
		case "title":
			if !title {
				return false
			}
		case "code":
			if !code {
				return false
			}
		case "method":
			if !slices.Contains(strings.Split(value, ","), "code") {
				return false
			}
		case "":
			if !title && !code {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// searchTerms splits a search query on spaces outside quotes.
func searchTerms(q string) []string {
	var terms []string
	var b strings.Builder
	quote := rune(0)
	for _, r := range q {
		switch {
		case quote != 0 && r == quote:
			quote = 0
			b.WriteRune(r)
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
			b.WriteRune(r)
		case quote == 0 && r == ' ':
			if b.Len() > 0 {
				terms = append(terms, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		terms = append(terms, b.String())
	}
	return terms
}

// runBulk imports a bulk creation's codes, each refused on its own if invalid or taken.
func (s *Server) runBulk(b *bulkCreation) {
	d := b.discount
	alive := d != nil && s.discounts[d.id] == d
	for _, code := range b.requested {
		r := bulkResult{code: code}
		switch {
		case !alive:
			r.errors = []map[string]any{{"__typename": "DiscountUserError", "field": []any{"discountId"}, "code": "INVALID", "message": "Discount does not exist"}}
		default:
			c, ue := s.addCode(d, code)
			if ue != nil {
				r.errors = []map[string]any{ue}
			}
			r.redeem = c
		}
		b.results = append(b.results, r)
	}
	if alive {
		d.updated = s.clock()
	}
}

package squaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/signature"
)

// How Musubi names what it makes, which the admin keeps when it edits a name: a customer group
// is "SEGMENT: DESCRIPTION [musubi MARKER]" (the segment alone without a description), a
// webhook subscription "musubi SOURCE MARKER"; a marker is 16 hex digits. The server states
// these itself rather than asking the client, so a client that changes them fails here.
var (
	groupNameRE        = regexp.MustCompile(`^(.*) \[musubi ([0-9a-f]{16})\]$`)
	subscriptionNameRE = regexp.MustCompile(`^musubi (\S+) ([0-9a-f]{16})$`)
)

// admin is what the server's Admin does to the seller's objects, as someone in Square's
// dashboard would, bumping the versions of what it changes. A coupon's ID is its pricing
// rule's. Coupons take title, percent, amount, min_total, starts_at and ends_at (written as
// the wall-clock date and time of the value), and audience (a customer group ID); audiences
// take segment and description; subscriptions take endpoint, source, topics (Square event
// types, comma-separated) and enabled. Removing a coupon deletes its pricing rule with its
// discount and product set.
func (s *Server) admin() *contracttest.Admin {
	return &contracttest.Admin{Vendor: "Square", Lock: &s.mu, Kinds: map[providers.Kind]contracttest.Kind{
		providers.KindCoupon:       {IDs: s.ruleIDs, Tamper: s.tamperCoupon, Remove: s.removeCoupon},
		providers.KindAudience:     {IDs: func() []string { return sortedKeys(s.groups) }, Tamper: s.tamperGroup, Remove: s.removeGroup},
		providers.KindSubscription: {IDs: func() []string { return sortedKeys(s.subs) }, Tamper: s.tamperSubscription, Remove: s.removeSubscription},
	}}
}

func (s *Server) tamperGroup(id, attr, str string) error {
	g := s.groups[id]
	if g == nil {
		return fmt.Errorf("no customer group %s", id)
	}
	m := groupNameRE.FindStringSubmatch(g.Name)
	if m == nil {
		return fmt.Errorf("customer group %s (%q) was not named by Musubi", id, g.Name)
	}
	seg, desc, _ := strings.Cut(m[1], ": ")
	switch attr {
	case "segment":
		seg = str
	case "description":
		desc = str
	default:
		return fmt.Errorf("a customer group holds no %s", attr)
	}
	if desc != "" {
		seg += ": " + desc
	}
	g.Name, g.UpdatedAt = seg+" [musubi "+m[2]+"]", s.now()
	return nil
}

func (s *Server) tamperSubscription(id, attr, str string) error {
	sub := s.subs[id]
	if sub == nil {
		return fmt.Errorf("no webhook subscription %s", id)
	}
	switch attr {
	case "endpoint":
		sub.NotificationURL = str
	case "source":
		marker := ""
		if m := subscriptionNameRE.FindStringSubmatch(sub.Name); m != nil {
			marker = m[2]
		}
		sub.Name = "musubi " + str + " " + marker
	case "topics":
		sub.EventTypes = strings.Split(str, ",")
	case "enabled":
		b := str == "true"
		sub.Enabled = &b
	default:
		return fmt.Errorf("a webhook subscription holds no %s", attr)
	}
	sub.UpdatedAt = s.now()
	return nil
}

func (s *Server) tamperCoupon(id, attr, str string) error {
	rule := s.catalog[id]
	if rule == nil || rule.PricingRuleData == nil {
		return fmt.Errorf("no pricing rule %s", id)
	}
	pr := rule.PricingRuleData
	disc := s.catalog[pr.DiscountID]
	changed := rule
	needDiscount := func() error {
		if disc == nil || disc.DiscountData == nil {
			return fmt.Errorf("pricing rule %s has no discount", id)
		}
		changed = disc
		return nil
	}
	num := func() (int64, error) {
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s takes an integer, not %q", attr, str)
		}
		return n, nil
	}
	switch attr {
	case "title", "percent", "amount":
		if err := needDiscount(); err != nil {
			return err
		}
		d := disc.DiscountData
		switch attr {
		case "title":
			d.Name = str
		case "percent":
			d.DiscountType, d.Percentage, d.AmountMoney = "FIXED_PERCENTAGE", str, nil
		default:
			n, err := num()
			if err != nil {
				return err
			}
			d.DiscountType, d.Percentage, d.AmountMoney = "FIXED_AMOUNT", "", &money{Amount: n, Currency: s.Currency}
		}
	case "min_total":
		n, err := num()
		if err != nil {
			return err
		}
		pr.MinimumOrderSubtotalMoney = &money{Amount: n, Currency: s.Currency}
	case "starts_at", "ends_at":
		t, err := time.Parse(time.RFC3339, str)
		if err != nil {
			return fmt.Errorf("%s takes an RFC 3339 time, not %q", attr, str)
		}
		date, clock := t.Format("2006-01-02"), t.Format("15:04:05")
		if attr == "starts_at" {
			pr.ValidFromDate, pr.ValidFromLocalTime = date, clock
		} else {
			pr.ValidUntilDate, pr.ValidUntilLocalTime = date, clock
		}
	case "audience":
		pr.CustomerGroupIDsAny = nil
		if str != "" {
			pr.CustomerGroupIDsAny = []string{str}
		}
	case "stores":
		// The pricing rule's locations, as the seller sets an automatic discount's in the
		// Dashboard: comma-separated IDs, or "" for every location.
		all := str == ""
		rule.PresentAtAllLocations, rule.PresentAtLocationIDs, rule.AbsentAtLocationIDs = &all, nil, nil
		if !all {
			rule.PresentAtLocationIDs = strings.Split(str, ",")
		}
	default:
		return fmt.Errorf("the contract server cannot change a coupon's %s", attr)
	}
	changed.Version, changed.UpdatedAt = s.nextVersion(), s.now()
	return nil
}

func (s *Server) removeCoupon(id string) error {
	rule := s.catalog[id]
	if rule == nil || rule.PricingRuleData == nil {
		return fmt.Errorf("no pricing rule %s", id)
	}
	delete(s.catalog, rule.PricingRuleData.DiscountID)
	delete(s.catalog, rule.PricingRuleData.MatchProductsID)
	delete(s.catalog, id)
	return nil
}

func (s *Server) removeGroup(id string) error {
	if s.groups[id] == nil {
		return fmt.Errorf("no customer group %s", id)
	}
	s.dropGroup(id)
	return nil
}

func (s *Server) removeSubscription(id string) error {
	if s.subs[id] == nil {
		return fmt.Errorf("no webhook subscription %s", id)
	}
	delete(s.subs, id)
	return nil
}

// Objects describes everything the server holds, one sorted line per object:
// "DISCOUNT <id> ...", "PRODUCT_SET <id> ...", "PRICING_RULE <id> ...", "GROUP <id> ...",
// "SUBSCRIPTION <id> ...".
func (s *Server) Objects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range s.catalog {
		line := o.Type + " " + o.ID
		if o.PresentAtAllLocations != nil && !*o.PresentAtAllLocations {
			line += " locations=" + strings.Join(o.PresentAtLocationIDs, ",")
		}
		if len(o.AbsentAtLocationIDs) > 0 {
			line += " absent=" + strings.Join(o.AbsentAtLocationIDs, ",")
		}
		switch {
		case o.DiscountData != nil:
			d := o.DiscountData
			line += fmt.Sprintf(" name=%q type=%s", d.Name, d.DiscountType)
			if d.Percentage != "" {
				line += " percentage=" + d.Percentage
			}
			if d.AmountMoney != nil {
				line += fmt.Sprintf(" amount=%d%s", d.AmountMoney.Amount, d.AmountMoney.Currency)
			}
		case o.ProductSetData != nil:
			line += fmt.Sprintf(" name=%q all_products=%v", o.ProductSetData.Name, o.ProductSetData.AllProducts)
		case o.PricingRuleData != nil:
			pr := o.PricingRuleData
			line += fmt.Sprintf(" name=%q valid=%s_%s..%s_%s", pr.Name, pr.ValidFromDate, pr.ValidFromLocalTime, pr.ValidUntilDate, pr.ValidUntilLocalTime)
			if m := pr.MinimumOrderSubtotalMoney; m != nil {
				line += fmt.Sprintf(" minimum=%d%s", m.Amount, m.Currency)
			}
			if len(pr.CustomerGroupIDsAny) > 0 {
				line += " groups=" + strings.Join(pr.CustomerGroupIDsAny, ",")
			}
		}
		out = append(out, line)
	}
	for _, g := range s.groups {
		out = append(out, fmt.Sprintf("GROUP %s name=%q", g.ID, g.Name))
	}
	for _, sub := range s.subs {
		out = append(out, fmt.Sprintf("SUBSCRIPTION %s name=%q enabled=%v event_types=%s url=%s",
			sub.ID, sub.Name, sub.Enabled == nil || *sub.Enabled, strings.Join(sub.EventTypes, ","), sub.NotificationURL))
	}
	sort.Strings(out)
	return out
}

// SignatureKey returns the signature key of a webhook subscription, as the Developer Console
// shows it.
func (s *Server) SignatureKey(subscriptionID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subs[subscriptionID]
	if sub == nil {
		return "", false
	}
	return sub.SignatureKey, true
}

// Notification builds the notification Square would post for an event to a subscription:
// the body, its headers (signature included) and the URL it goes to. object is the
// notification's data.object, e.g. {"payment": {...}}.
func (s *Server) Notification(subscriptionID, eventType, eventID string, object map[string]any) ([]byte, http.Header, string, error) {
	s.mu.Lock()
	sub := s.subs[subscriptionID]
	s.mu.Unlock()
	if sub == nil {
		return nil, nil, "", fmt.Errorf("no webhook subscription %s", subscriptionID)
	}
	if !contains(sub.EventTypes, eventType) {
		return nil, nil, "", fmt.Errorf("subscription %s does not receive %s", subscriptionID, eventType)
	}
	dataType, dataID := "", ""
	for k, v := range object {
		dataType = k
		if m, ok := v.(map[string]any); ok {
			dataID, _ = m["id"].(string)
		}
	}
	body, err := json.Marshal(map[string]any{
		"merchant_id": "ML0CONTRACT", "type": eventType, "event_id": eventID,
		"created_at": s.now(), "data": map[string]any{"type": dataType, "id": dataID, "object": object},
	})
	if err != nil {
		return nil, nil, "", err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(signature.SquareHeader, signature.SignSquare(sub.SignatureKey, sub.NotificationURL, body))
	return body, h, sub.NotificationURL, nil
}

// ruleIDs lists the pricing rules: the coupons' IDs.
func (s *Server) ruleIDs() []string {
	var out []string
	for id, o := range s.catalog {
		if o.Type == "PRICING_RULE" {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

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
	"github.com/musubi-hq/musubi/providers/signature"
)

// How Musubi names what it makes, which Tamper keeps when it edits a name: a customer group
// is "SEGMENT: DESCRIPTION [musubi MARKER]" (the segment alone without a description), a
// webhook subscription "musubi SOURCE MARKER"; a marker is 16 hex digits. The server states
// these itself rather than asking the client, so a client that changes them fails here.
var (
	groupNameRE        = regexp.MustCompile(`^(.*) \[musubi ([0-9a-f]{16})\]$`)
	subscriptionNameRE = regexp.MustCompile(`^musubi (\S+) ([0-9a-f]{16})$`)
)

// Tamper changes one canonical attribute of a resource behind the provider's back, as
// someone in Square's dashboard would, and bumps the versions of what it changed. The ID is
// the resource's (a pricing rule's for a coupon). Coupons take title, percent, amount,
// min_total, starts_at and ends_at (written as the wall-clock date and time of the value),
// and audience (a customer group ID); audiences take segment and description; subscriptions
// take endpoint, source, topics (Square event types, comma-separated) and enabled.
func (s *Server) Tamper(kind providers.Kind, id, attr string, value any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	str := fmt.Sprint(value)
	if list, ok := value.([]string); ok {
		str = strings.Join(list, ",")
	}
	switch kind {
	case providers.KindCoupon:
		return s.tamperCoupon(id, attr, str)
	case providers.KindAudience:
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
	case providers.KindSubscription:
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
	return fmt.Errorf("Square holds no %s", kind)
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
	default:
		return fmt.Errorf("the contract server cannot change a coupon's %s", attr)
	}
	changed.Version, changed.UpdatedAt = s.nextVersion(), s.now()
	return nil
}

// Remove deletes a resource behind the provider's back: a coupon's pricing rule with its
// discount and product set, a customer group, or a webhook subscription.
func (s *Server) Remove(kind providers.Kind, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case providers.KindCoupon:
		rule := s.catalog[id]
		if rule == nil || rule.PricingRuleData == nil {
			return fmt.Errorf("no pricing rule %s", id)
		}
		delete(s.catalog, rule.PricingRuleData.DiscountID)
		delete(s.catalog, rule.PricingRuleData.MatchProductsID)
		delete(s.catalog, id)
	case providers.KindAudience:
		if s.groups[id] == nil {
			return fmt.Errorf("no customer group %s", id)
		}
		delete(s.groups, id)
	case providers.KindSubscription:
		if s.subs[id] == nil {
			return fmt.Errorf("no webhook subscription %s", id)
		}
		delete(s.subs, id)
	default:
		return fmt.Errorf("Square holds no %s", kind)
	}
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

// IDs lists the resource IDs of a kind the server holds, sorted: the pricing rules of
// coupons, customer groups, webhook subscriptions.
func (s *Server) IDs(kind providers.Kind) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	switch kind {
	case providers.KindCoupon:
		for id, o := range s.catalog {
			if o.Type == "PRICING_RULE" {
				out = append(out, id)
			}
		}
	case providers.KindAudience:
		for id := range s.groups {
			out = append(out, id)
		}
	case providers.KindSubscription:
		for id := range s.subs {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

package squaretest

import (
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// CalculateOrder prices an order without creating it. With
// pricing_options.auto_apply_discounts the server applies the seller's pricing rules as
// Square documents them:
//
//   - a rule applies at the order's location when the rule, its discount and its product set
//     are all present there (present_at_all_locations, present_at_location_ids,
//     absent_at_location_ids);
//   - a rule applies while today is within its valid dates, to a customer of one of its
//     customer groups when it names any, and to an order whose subtotal before discounts
//     reaches minimum_order_subtotal_money;
//   - its product set matches line items (every one with all_products, those of
//     product_ids_any otherwise), and the rule's discount comes off "the price of all
//     matched items": Square applies pricing-rule discounts at line-item scope;
//   - FIXED_PERCENTAGE takes the percentage off each matched line, rounded half up to the
//     minor unit; FIXED_AMOUNT takes the amount off the price of each matched item, that is
//     once per unit of every matched line (at most the line's price), not once per order.
//
// Time periods, exclude sets and quantity bounds are not modelled: a rule using them
// applies to nothing here.

type orderRequest struct {
	Order struct {
		LocationID     string      `json:"location_id"`
		CustomerID     string      `json:"customer_id,omitempty"`
		LineItems      []*lineItem `json:"line_items,omitempty"`
		PricingOptions *struct {
			AutoApplyDiscounts bool `json:"auto_apply_discounts,omitempty"`
			AutoApplyTaxes     bool `json:"auto_apply_taxes,omitempty"`
		} `json:"pricing_options,omitempty"`
	} `json:"order"`
}

type lineItem struct {
	UID              string            `json:"uid,omitempty"`
	Name             string            `json:"name,omitempty"`
	Quantity         string            `json:"quantity"`
	CatalogObjectID  string            `json:"catalog_object_id,omitempty"`
	BasePriceMoney   *money            `json:"base_price_money,omitempty"`
	AppliedDiscounts []appliedDiscount `json:"applied_discounts,omitempty"`
	GrossSalesMoney  *money            `json:"gross_sales_money,omitempty"`
	TotalDiscount    *money            `json:"total_discount_money,omitempty"`
	TotalMoney       *money            `json:"total_money,omitempty"`
}

type appliedDiscount struct {
	UID          string `json:"uid"`
	DiscountUID  string `json:"discount_uid"`
	AppliedMoney money  `json:"applied_money"`
}

type orderDiscount struct {
	UID             string `json:"uid"`
	CatalogObjectID string `json:"catalog_object_id"`
	Name            string `json:"name,omitempty"`
	Type            string `json:"type"`
	Percentage      string `json:"percentage,omitempty"`
	AmountMoney     *money `json:"amount_money,omitempty"`
	AppliedMoney    money  `json:"applied_money"`
	Scope           string `json:"scope"`
	PricingRuleID   string `json:"pricing_rule_id"`
}

func (s *Server) calculateOrder(r *http.Request) (any, error) {
	var req orderRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	o := req.Order
	if o.LocationID == "" {
		return nil, invalid("MISSING_REQUIRED_PARAMETER", "order.location_id", "order.location_id is required")
	}
	var gross int64
	qty := make([]int64, len(o.LineItems))
	for i, li := range o.LineItems {
		f := "order.line_items[" + strconv.Itoa(i) + "]"
		n, err := strconv.ParseInt(li.Quantity, 10, 64)
		if err != nil || n < 1 {
			return nil, invalid("INVALID_VALUE", f+".quantity", "quantity %q must be a whole number of at least 1", li.Quantity)
		}
		if li.BasePriceMoney == nil {
			return nil, invalid("MISSING_REQUIRED_PARAMETER", f+".base_price_money", "a line item needs base_price_money")
		}
		if err := s.checkMoney(f+".base_price_money", li.BasePriceMoney, false); err != nil {
			return nil, err
		}
		if li.UID == "" {
			li.UID = "line-" + strconv.Itoa(i)
		}
		qty[i] = n
		gross += n * li.BasePriceMoney.Amount
	}
	off := make([]int64, len(o.LineItems))
	var discounts []orderDiscount
	if o.PricingOptions != nil && o.PricingOptions.AutoApplyDiscounts {
		for _, id := range sortedKeys(s.catalog) {
			rule := s.catalog[id]
			if rule.IsDeleted || rule.PricingRuleData == nil || !s.ruleApplies(rule.PricingRuleData, o.CustomerID, gross) {
				continue
			}
			disc, set := s.catalog[rule.PricingRuleData.DiscountID], s.catalog[rule.PricingRuleData.MatchProductsID]
			if disc == nil || disc.DiscountData == nil || set == nil || set.ProductSetData == nil {
				continue
			}
			// Catalog objects exist only at the locations they are present at: a rule applies
			// at the order's location when it, its discount and its product set are there.
			if !rule.presentAt(o.LocationID) || !disc.presentAt(o.LocationID) || !set.presentAt(o.LocationID) {
				continue
			}
			od := orderDiscount{UID: "discount-" + strconv.Itoa(len(discounts)), CatalogObjectID: disc.ID, Name: disc.DiscountData.Name,
				Type: disc.DiscountData.DiscountType, Percentage: disc.DiscountData.Percentage, AmountMoney: disc.DiscountData.AmountMoney,
				AppliedMoney: money{Currency: s.Currency}, Scope: "LINE_ITEM", PricingRuleID: rule.ID}
			for i, li := range o.LineItems {
				if !matches(set.ProductSetData, li) {
					continue
				}
				line := qty[i]*li.BasePriceMoney.Amount - off[i]
				amt := min(lineDiscount(disc.DiscountData, qty[i], qty[i]*li.BasePriceMoney.Amount), line)
				if amt <= 0 {
					continue
				}
				off[i] += amt
				od.AppliedMoney.Amount += amt
				li.AppliedDiscounts = append(li.AppliedDiscounts, appliedDiscount{UID: od.UID + "-" + li.UID, DiscountUID: od.UID,
					AppliedMoney: money{Amount: amt, Currency: s.Currency}})
			}
			if od.AppliedMoney.Amount > 0 {
				discounts = append(discounts, od)
			}
		}
	}
	var total, totalOff int64
	for i, li := range o.LineItems {
		g := qty[i] * li.BasePriceMoney.Amount
		li.GrossSalesMoney = &money{Amount: g, Currency: s.Currency}
		li.TotalDiscount = &money{Amount: off[i], Currency: s.Currency}
		li.TotalMoney = &money{Amount: g - off[i], Currency: s.Currency}
		total, totalOff = total+g-off[i], totalOff+off[i]
	}
	return map[string]any{"order": map[string]any{
		"location_id": o.LocationID, "customer_id": o.CustomerID, "line_items": o.LineItems, "discounts": discounts,
		"total_discount_money": money{Amount: totalOff, Currency: s.Currency},
		"total_money":          money{Amount: total, Currency: s.Currency},
		"state":                "OPEN",
	}}, nil
}

// ruleApplies says whether a pricing rule is in effect for an order today.
func (s *Server) ruleApplies(pr *pricingRuleData, customerID string, gross int64) bool {
	today := time.Now().UTC().Format(time.DateOnly)
	switch {
	case len(pr.TimePeriodIDs) > 0 || pr.ExcludeProductsID != "":
		return false
	case pr.ValidFromDate != "" && today < pr.ValidFromDate, pr.ValidUntilDate != "" && today > pr.ValidUntilDate:
		return false
	case pr.MinimumOrderSubtotalMoney != nil && gross < pr.MinimumOrderSubtotalMoney.Amount:
		return false
	case len(pr.CustomerGroupIDsAny) > 0:
		return slices.ContainsFunc(pr.CustomerGroupIDsAny, func(g string) bool { return slices.Contains(s.members[g], customerID) })
	}
	return true
}

func matches(ps *productSetData, li *lineItem) bool {
	switch {
	case ps.QuantityExact > 0 || ps.QuantityMin > 0 || ps.QuantityMax > 0:
		return false
	case ps.AllProducts:
		return true
	}
	return li.CatalogObjectID != "" && slices.Contains(ps.ProductIDsAny, li.CatalogObjectID)
}

// lineDiscount is what a discount takes off a matched line of n items worth gross.
func lineDiscount(d *discountData, n, gross int64) int64 {
	switch d.DiscountType {
	case "FIXED_PERCENTAGE":
		pct, ok := new(big.Rat).SetString(d.Percentage)
		if !ok {
			return 0
		}
		v := new(big.Rat).Mul(pct, big.NewRat(gross, 100))
		v.Add(v, big.NewRat(1, 2))
		return new(big.Int).Quo(v.Num(), v.Denom()).Int64()
	case "FIXED_AMOUNT":
		if d.AmountMoney == nil {
			return 0
		}
		return n * d.AmountMoney.Amount
	}
	return 0
}

// AddToGroup puts a customer profile into a customer group, as the seller would in the
// Customer Directory; pricing rules limited to the group then apply to the customer's orders.
func (s *Server) AddToGroup(customerID, groupID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[groupID] = append(s.members[groupID], customerID)
}

package providers

import (
	"regexp"
	"time"
)

// NameRE is what block names (segments, identity sources) look like in attributes.
var NameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// DiscountType is a coupon's discount_type, or the one its values imply when it names none:
// amount when it has an amount, else percent.
func DiscountType(a Attrs) string {
	switch {
	case a.String("discount_type") != "":
		return a.String("discount_type")
	case a.Int("amount") != 0:
		return "amount"
	}
	return "percent"
}

// WithDiscountType returns a coupon's attributes with the discount type they imply filled in
// when they name none, as Plan does; a copy when it changes them.
func WithDiscountType(a Attrs) Attrs {
	if a.String("discount_type") != "" {
		return a
	}
	out := a.Clone()
	if out == nil {
		out = Attrs{}
	}
	out["discount_type"] = DiscountType(a)
	return out
}

// CheckOffer checks the attributes of a coupon's offer the same way for every system: the
// discount type with its percent or amount, the currency, the minimum total, the validity
// window and its zone, and an audience that names a segment. system names the remote system
// in messages ("Square"); bad reports a problem with an attribute. Providers add their own
// limits (title length, codes, usage limits) around it.
func CheckOffer(a Attrs, system string, bad func(attr, format string, args ...any)) {
	switch a.String("discount_type") {
	case "percent", "":
		if pc := a.Float("percent"); pc <= 0 || pc > 100 {
			bad("percent", "percent is %v; %s takes above 0 and at most 100", pc, system)
		}
		if a.Int("amount") != 0 {
			bad("amount", "a percent discount has no amount")
		}
	case "amount":
		if a.Int("amount") <= 0 {
			bad("amount", "amount must be above 0")
		}
		if a.Float("percent") != 0 {
			bad("percent", "an amount discount has no percent")
		}
	default:
		bad("discount_type", "discount_type is %q; %s discounts are a percent or an amount off", a.String("discount_type"), system)
	}
	cur := a.String("currency")
	if (a.Int("amount") != 0 || a.Int("min_total") != 0) && cur == "" {
		bad("currency", "amounts need a currency")
	}
	if cur != "" && !currencyRE.MatchString(cur) {
		bad("currency", "currency %q is not an ISO 4217 code", cur)
	}
	if a.Int("min_total") < 0 {
		bad("min_total", "min_total is %d; it cannot be negative", a.Int("min_total"))
	}
	for _, n := range []string{"starts_at", "ends_at"} {
		if s := a.String(n); s != "" {
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				bad(n, "%s %q is not an RFC 3339 time", n, s)
			}
		}
	}
	if s, e := a.Time("starts_at"), a.Time("ends_at"); !s.IsZero() && !e.IsZero() && !e.After(s) {
		bad("ends_at", "the coupon ends (%s) before it starts (%s)", e.Format(time.RFC3339), s.Format(time.RFC3339))
	}
	if tz := a.String("timezone"); tz != "" {
		if _, err := Location(tz); err != nil {
			bad("timezone", "unknown time zone %q", tz)
		}
	}
	if s := a.String("audience"); s != "" && !NameRE.MatchString(s) {
		bad("audience", "audience %q must be a segment name", s)
	}
}

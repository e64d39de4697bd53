package smaregi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Currency is the only currency Smaregi coupon amounts are in.
const Currency = "JPY"

// DefaultTimezone is the zone of a Smaregi contract unless configured otherwise: coupon start
// and end dates are days in it.
const DefaultTimezone = "Asia/Tokyo"

// DiscountGift is the discount_type Read reports for a coupon that grants a product (award
// type 3). Musubi reads such coupons but does not create them: the granted products are coupon
// products, a separate resource.
const DiscountGift = "gift"

const dateLayout = "2006-01-02"

// The marker Musubi keeps in a coupon's summary: "musubi:<key hash>:<time zone>". The API takes
// no idempotency key, so the hash of the create's key, stored on the coupon, is how a retried
// create and a read by key find the coupon; the zone is the campaign's, which Smaregi's
// day-based dates cannot hold.
const markerPrefix = "musubi:"

// keyHash is the first 64 bits of SHA-256 of an idempotency key, in hex.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// derivedSerial is the serial number of a coupon declared without a code: the API requires
// one, and deriving it from the key hash lets Read report the code as unset.
func derivedSerial(hash string) string { return "MSB" + strings.ToUpper(hash) }

func marker(hash, tz string) string { return markerPrefix + hash + ":" + tz }

var hashRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// parseMarker reads the marker from a summary; a summary edited by hand yields ok=false.
func parseMarker(summary string) (hash, tz string, ok bool) {
	rest, found := strings.CutPrefix(summary, markerPrefix)
	if !found {
		return "", "", false
	}
	hash, tz, found = strings.Cut(rest, ":")
	if !found || !hashRE.MatchString(hash) || tz == "" {
		return "", "", false
	}
	return hash, tz, true
}

// formatPercent writes a percentage as the API's decimal string: 10 → "10", 12.5 → "12.5".
func formatPercent(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

// toCoupon converts planned attributes to the coupon the API stores.
func (p *Provider) toCoupon(a providers.Attrs, hash string) Coupon {
	c := Coupon{
		CouponName:             a.String("title"),
		SerialNumber:           a.String("code"),
		Summary:                marker(hash, p.zoneOf(a)),
		ApplyConditionDivision: "0",
	}
	if c.SerialNumber == "" {
		c.SerialNumber = derivedSerial(hash)
	}
	c.AwardType, c.AwardValue = award(a)
	if n := a.Int("min_total"); n > 0 {
		c.MinTargetPrice = strconv.FormatInt(n, 10)
	}
	c.StartDate, c.EndDate = p.days(a)
	return c
}

func award(a providers.Attrs) (awardType, value string) {
	if a.String("discount_type") == "amount" {
		return AwardAmount, strconv.FormatInt(a.Int("amount"), 10)
	}
	return AwardPercent, formatPercent(a.Float("percent"))
}

// days converts the validity window to the contract's days: the start day, and the last day
// the coupon is valid (an end at midnight ends the day before).
func (p *Provider) days(a providers.Attrs) (start, end string) {
	if t := a.Time("starts_at"); !t.IsZero() {
		start = t.In(p.zone).Format(dateLayout)
	}
	if t := a.Time("ends_at"); !t.IsZero() {
		t = t.In(p.zone)
		if isMidnight(t) {
			t = t.AddDate(0, 0, -1)
		}
		end = t.Format(dateLayout)
	}
	return start, end
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

func isLastSecond(t time.Time) bool {
	return t.Hour() == 23 && t.Minute() == 59 && t.Second() == 59 && t.Nanosecond() == 0
}

// zoneOf returns the campaign's zone, or the contract's when the attributes name none.
func (p *Provider) zoneOf(a providers.Attrs) string {
	if tz := a.String("timezone"); tz != "" {
		return tz
	}
	return p.zoneName
}

// patchFor is the update that makes a coupon hold planned attributes. The serial number is
// not in it: a new code replaces the coupon.
func (p *Provider) patchFor(a providers.Attrs) CouponPatch {
	patch := CouponPatch{}
	patch.Set("couponName", a.String("title"))
	at, av := award(a)
	patch.Set("awardType", at)
	patch.Set("awardValue", av)
	min := ""
	if n := a.Int("min_total"); n > 0 {
		min = strconv.FormatInt(n, 10)
	}
	patch.SetOrClear("minTargetPrice", min)
	start, end := p.days(a)
	patch.SetOrClear("startDate", start)
	patch.SetOrClear("endDate", end)
	return patch
}

// fromCoupon converts a coupon to canonical attributes, reading back everything Musubi
// manages, so edits made in the Smaregi admin show as drift.
func (p *Provider) fromCoupon(c *Coupon) providers.Attrs {
	hash, tz, marked := parseMarker(c.Summary)
	loc, err := providers.Location(tz)
	if !marked || err != nil {
		tz, loc = p.zoneName, p.zone
	}
	a := providers.Attrs{"title": c.CouponName, "currency": Currency, "timezone": tz}
	switch c.AwardType {
	case AwardPercent:
		a["discount_type"] = "percent"
		if f, err := strconv.ParseFloat(c.AwardValue, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			a["percent"] = f
		}
	case AwardAmount:
		a["discount_type"] = "amount"
		if n, ok := parseYen(c.AwardValue); ok {
			a["amount"] = n
		}
	case AwardProduct:
		a["discount_type"] = DiscountGift
	default:
		a["discount_type"] = "award type " + c.AwardType
	}
	if n, ok := parseYen(c.MinTargetPrice); ok && n > 0 {
		a["min_total"] = n
	}
	if !(marked && c.SerialNumber == derivedSerial(hash)) {
		a["code"] = c.SerialNumber
	}
	if d, ok := p.parseDay(c.StartDate); ok {
		a["starts_at"] = d.In(loc).Format(time.RFC3339)
	}
	if d, ok := p.parseDay(c.EndDate); ok {
		a["ends_at"] = time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, p.zone).In(loc).Format(time.RFC3339)
	}
	for k, v := range a {
		if providers.IsZero(v) {
			delete(a, k)
		}
	}
	return a
}

// parseYen reads a whole amount of yen; "3000.00" is accepted as the API may format decimals.
func parseYen(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// parseDay reads a coupon date as the start of that day in the contract's zone. A date-time
// is accepted too, and taken as its day.
func (p *Provider) parseDay(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.ParseInLocation(dateLayout, s, p.zone); err == nil {
		return t, true
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, p.zone); err == nil {
			t = t.In(p.zone)
			return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, p.zone), true
		}
	}
	return time.Time{}, false
}

// fieldAttr maps the API's coupon fields to the canonical attributes they hold, so a refused
// field is reported at the line of the configuration that set it.
var fieldAttr = map[string]string{
	"couponName": "title", "serialNumber": "code", "awardType": "discount_type",
	"minTargetPrice": "min_total", "startDate": "starts_at", "endDate": "ends_at",
}

// attrOfField returns the canonical attribute of an API field ("" when none).
func attrOfField(field string, a providers.Attrs) string {
	if field == "awardValue" {
		if a.String("discount_type") == "amount" {
			return "amount"
		}
		return "percent"
	}
	return fieldAttr[field]
}

// describe is a short form of a coupon for messages.
func describe(c *Coupon) string {
	return fmt.Sprintf("coupon %s (%q, serial number %s)", c.CouponID, c.CouponName, c.SerialNumber)
}

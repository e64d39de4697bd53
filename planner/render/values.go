// Package render shows plans: as text for people at a terminal, as JSON for machines, and as
// Markdown for a pull-request comment. Values are written the way a marketing team reads
// them: ¥3,000 rather than 3000, 10% rather than 10.
package render

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// esc escapes control characters in text from files, providers and live systems; every
// string a text or Markdown plan shows from them goes through it or through quote.
func esc(v any) string {
	if s, ok := v.(fmt.Stringer); ok { // an address, parsed from a state or plan file
		return lang.EscapeControls(s.String())
	}
	return lang.EscapeControls(fmt.Sprint(v))
}

// attrOrder lists attributes in the order people read a kind, most telling first.
var attrOrder = map[providers.Kind][]string{
	providers.KindCoupon: {"title", "discount_type", "percent", "amount", "currency", "min_total", "code", "per_customer",
		"usage_limit", "starts_at", "ends_at", "timezone", "combines_with", "audience"},
	providers.KindCodePool:     {"count", "pattern", "charset", "coupon"},
	providers.KindAudience:     {"segment", "description"},
	providers.KindMessage:      {"name", "subject", "template", "variants", "audience"},
	providers.KindSubscription: {"source", "topics", "endpoint"},
	providers.KindRules:        {"summary", "bundle_hash"},
}

// orderedAttrs returns the names present in any of the attribute sets, in reading order,
// without private or write-only ones.
func orderedAttrs(k providers.Kind, sets ...providers.Attrs) []string {
	present := map[string]bool{}
	for _, s := range sets {
		for n := range s {
			present[n] = true
		}
	}
	ks, _ := providers.SchemaOf(k)
	hidden := func(n string) bool {
		if ks == nil {
			return false
		}
		a, ok := ks.Attribute(n)
		return ok && (a.Private || a.WriteOnly)
	}
	var out []string
	for _, n := range attrOrder[k] {
		if present[n] && !hidden(n) {
			out = append(out, n)
			delete(present, n)
		}
	}
	var rest []string
	for n := range present {
		if !hidden(n) {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// value formats one attribute value for reading. attrs supplies context (the currency).
func value(k providers.Kind, name string, v any, attrs providers.Attrs) string {
	if providers.IsZero(v) {
		switch name {
		case "per_customer", "usage_limit":
			return "no limit"
		}
		return "(none)"
	}
	switch name {
	case "amount", "min_total":
		if n, ok := v.(int64); ok && k == providers.KindCoupon {
			return esc(lang.FormatMoney(n, attrs.String("currency")))
		}
	case "percent":
		if f, ok := v.(float64); ok {
			return strconv.FormatFloat(f, 'f', -1, 64) + "%"
		}
	case "starts_at", "ends_at":
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return t.Format("2006-01-02 15:04 -07:00")
			}
		}
	case "count":
		if n, ok := v.(int64); ok && k == providers.KindCodePool {
			return groupDigits(n) + " codes"
		}
	}
	switch x := v.(type) {
	case string:
		return quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]string:
		keys := make([]string, 0, len(x))
		for key := range x {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, key := range keys {
			parts[i] = esc(key) + " = " + quote(x[key])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return esc(fmt.Sprint(v))
}

// quote writes a string quoted on one line; long texts (message templates) are shortened.
func quote(s string) string {
	lines := strings.Count(strings.TrimRight(s, "\n"), "\n") + 1
	one := strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "⏎")
	r := []rune(one)
	if len(r) > 60 {
		one = string(r[:57]) + "…"
	}
	q := strconv.Quote(one)
	if lines > 1 {
		q += fmt.Sprintf(" (%d lines)", lines)
	}
	return q
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// what names an instance for people: "coupon on sandbox.ec".
func what(c *plans.Change) string {
	return fmt.Sprintf("%s on %s", kindWord(c.Kind), esc(c.Provider))
}

func kindWord(k providers.Kind) string { return strings.ReplaceAll(string(k), "_", " ") }

// oneLine summarises what an instance is, for Markdown and short listings.
func oneLine(k providers.Kind, a providers.Attrs) string {
	var parts []string
	switch k {
	case providers.KindCoupon:
		if a.String("discount_type") == "amount" {
			parts = append(parts, value(k, "amount", a["amount"], a)+" off")
		} else {
			parts = append(parts, value(k, "percent", a["percent"], a)+" off")
		}
		if n := a.Int("min_total"); n > 0 {
			parts = append(parts, "min "+lang.FormatMoney(n, a.String("currency")))
		}
		if code := a.String("code"); code != "" {
			parts = append(parts, "code "+code)
		}
		if n := a.Int("per_customer"); n > 0 {
			parts = append(parts, fmt.Sprintf("%d per customer", n))
		}
		from, until := a.Time("starts_at"), a.Time("ends_at")
		if !from.IsZero() || !until.IsZero() {
			parts = append(parts, fmt.Sprintf("%s → %s", dateOr(from, "now"), dateOr(until, "no end")))
		}
	case providers.KindCodePool:
		parts = append(parts, fmt.Sprintf("%s codes %s", groupDigits(a.Int("count")), a.String("pattern")))
	case providers.KindAudience:
		parts = append(parts, "members of segment "+a.String("segment"))
	case providers.KindMessage:
		parts = append(parts, quote(a.String("template")))
	case providers.KindSubscription:
		parts = append(parts, strings.Join(a.Strings("topics"), ", "))
	case providers.KindRules:
		parts = append(parts, a.String("summary"))
	}
	return esc(strings.Join(parts, ", "))
}

func dateOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Format("2006-01-02")
}

package identity

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limit caps how many values of one identifier type a customer may hold (merge protection:
// a customer has one member number, one EC account).
type Limit struct {
	Max    int           // at least 1
	Window time.Duration // only values attached within this window count; 0: ever
}

// Rules are the identity block of a rule bundle: how identifiers tie into one customer.
type Rules struct {
	// Priority lists identifier types, strongest first. Types it does not list rank after it,
	// alphabetically.
	Priority []string
	// Limits caps the values of a type a customer holds; a type without one is unlimited.
	Limits map[string]Limit
	// BlockedValues are values never used for matching, per type (shared devices, test
	// accounts); they are normalised before comparing.
	BlockedValues map[string][]string
	// BlockedPatterns are expressions a normalised value must not match, per type.
	BlockedPatterns map[string][]*regexp.Regexp
	// DefaultCountry (ISO 3166 alpha-2) reads national phone numbers: JP turns 090-1234-5678
	// into +819012345678.
	DefaultCountry string
}

// Built-in bounds, beside the rules.
const (
	maxValueLen    = 1024 // bytes of one identifier value
	maxTypeLen     = 64   // bytes of an identifier type
	maxTypes       = 1 << 16
	maxPerCustomer = 1000 // identifiers one customer holds (Segment Unify's cap)
	MaxPerEvent    = 256  // identifiers one event carries
)

// Validate reports rules the graph cannot apply: duplicate or empty priority entries, limits
// below 1 or with a negative window, nil patterns and a default country without a known
// calling code.
func (r *Rules) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range r.Priority {
		switch {
		case t == "":
			errs = append(errs, fmt.Errorf("priority[%d]: empty identifier type", i))
		case seen[t]:
			errs = append(errs, fmt.Errorf("priority: %q appears twice", t))
		}
		seen[t] = true
	}
	for _, t := range slices.Sorted(maps.Keys(r.Limits)) {
		l := r.Limits[t]
		if l.Max < 1 {
			errs = append(errs, fmt.Errorf("limit %q: max is %d; it must be at least 1", t, l.Max))
		}
		if l.Window < 0 {
			errs = append(errs, fmt.Errorf("limit %q: negative window %s", t, l.Window))
		}
	}
	for _, t := range slices.Sorted(maps.Keys(r.BlockedPatterns)) {
		for i, p := range r.BlockedPatterns[t] {
			if p == nil {
				errs = append(errs, fmt.Errorf("blocked %q: pattern %d is nil", t, i))
			}
		}
	}
	if r.DefaultCountry != "" && countryByISO(r.DefaultCountry) == nil {
		errs = append(errs, fmt.Errorf("default country %q: no calling code known for it; known: %s",
			r.DefaultCountry, strings.Join(knownCountries(), ", ")))
	}
	return errors.Join(errs...)
}

// clone copies the rules deeply, so a caller changing its maps later changes nothing here.
func (r Rules) clone() *Rules {
	c := &Rules{Priority: slices.Clone(r.Priority), DefaultCountry: r.DefaultCountry,
		Limits: maps.Clone(r.Limits), BlockedValues: map[string][]string{}, BlockedPatterns: map[string][]*regexp.Regexp{}}
	for t, vs := range r.BlockedValues {
		c.BlockedValues[t] = slices.Clone(vs)
	}
	for t, ps := range r.BlockedPatterns {
		c.BlockedPatterns[t] = slices.DeleteFunc(slices.Clone(ps), func(p *regexp.Regexp) bool { return p == nil })
	}
	return c
}

// typeRule is what the rules say about one identifier type.
type typeRule struct {
	rank     int32
	limit    Limit // Max 0: unlimited
	blocked  map[string]struct{}
	patterns []*regexp.Regexp
}

// compiled are rules prepared for resolution: per-type lookups and normalised blocked values.
type compiled struct {
	pub      *Rules
	byType   map[string]*typeRule
	unlisted *typeRule
	limited  bool // some type has a limit
}

func compile(r Rules) *compiled {
	pub := r.clone()
	c := &compiled{pub: pub, byType: map[string]*typeRule{}, unlisted: &typeRule{rank: int32(min(len(pub.Priority), math.MaxInt32-2))}}
	get := func(t string) *typeRule {
		tr := c.byType[t]
		if tr == nil {
			tr = &typeRule{rank: c.unlisted.rank}
			c.byType[t] = tr
		}
		return tr
	}
	for i, t := range pub.Priority {
		if _, dup := c.byType[t]; !dup {
			get(t).rank = int32(i)
		}
	}
	for t, l := range pub.Limits {
		if l.Max >= 1 {
			get(t).limit = l
			c.limited = true
		}
	}
	for t, vs := range pub.BlockedValues {
		tr := get(t)
		if tr.blocked == nil {
			tr.blocked = map[string]struct{}{}
		}
		for _, v := range vs {
			if n, err := pub.Normalize(t, v); err == nil {
				tr.blocked[n] = struct{}{}
			}
			tr.blocked[strings.TrimSpace(v)] = struct{}{}
		}
	}
	for t, ps := range pub.BlockedPatterns {
		if len(ps) > 0 {
			get(t).patterns = ps
		}
	}
	return c
}

// rule returns the rule of a type.
func (c *compiled) rule(typ string) *typeRule {
	if tr := c.byType[typ]; tr != nil {
		return tr
	}
	return c.unlisted
}

// limitReason says why an identifier was dropped for a limit.
func limitReason(typ string, count int, l Limit) string {
	if typ == "" {
		return fmt.Sprintf("limit: the customer would hold %d identifiers (max %d)", count, maxPerCustomer)
	}
	if l.Window > 0 {
		return fmt.Sprintf("limit: the customer would hold %d %s values attached within %s (max %d)", count, typ, l.Window, l.Max)
	}
	return fmt.Sprintf("limit: the customer would hold %d %s values (max %d)", count, typ, l.Max)
}

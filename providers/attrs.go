package providers

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
)

// Attrs holds a resource's attribute values by canonical name, in the Go types listed on Type.
// A missing attribute and its zero value mean the same: "not set".
type Attrs map[string]any

// Clone returns a copy safe to modify.
func (a Attrs) Clone() Attrs {
	if a == nil {
		return nil
	}
	out := make(Attrs, len(a))
	for k, v := range a {
		switch x := v.(type) {
		case []string:
			out[k] = slices.Clone(x)
		case map[string]string:
			m := make(map[string]string, len(x))
			for mk, mv := range x {
				m[mk] = mv
			}
			out[k] = m
		default:
			out[k] = v
		}
	}
	return out
}

// String returns a string attribute, or "".
func (a Attrs) String(name string) string { s, _ := a[name].(string); return s }

// Int returns an int attribute, or 0.
func (a Attrs) Int(name string) int64 { n, _ := a[name].(int64); return n }

// Float returns a float attribute, or 0.
func (a Attrs) Float(name string) float64 { f, _ := a[name].(float64); return f }

// Bool returns a bool attribute, or false.
func (a Attrs) Bool(name string) bool { b, _ := a[name].(bool); return b }

// Strings returns a list attribute, or nil.
func (a Attrs) Strings(name string) []string { s, _ := a[name].([]string); return s }

// StringMap returns a map attribute, or nil.
func (a Attrs) StringMap(name string) map[string]string {
	m, _ := a[name].(map[string]string)
	return m
}

// Time returns a time attribute, or the zero time.
func (a Attrs) Time(name string) time.Time {
	t, _ := time.Parse(time.RFC3339, a.String(name))
	return t
}

// IsZero reports whether a value is its type's zero value (unset).
func IsZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case int64:
		return x == 0
	case float64:
		return x == 0
	case bool:
		return !x
	case []string:
		return len(x) == 0
	case map[string]string:
		return len(x) == 0
	}
	return false
}

// Equal reports whether two values of an attribute are the same. Times compare as instants,
// so "2027-03-01T00:00:00+09:00" equals "2027-02-28T15:00:00Z".
func Equal(t Type, a, b any) bool {
	// Most values compared are a state's and a live object's or the configuration's, the same
	// more often than not: two equal scalars are equal whatever the attribute's type (two
	// equal times are one instant, and two equal strings that are not times DeepEqual), and
	// so need neither the zero checks nor parsing.
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok && x == y {
			return true
		}
	case int64:
		if y, ok := b.(int64); ok && x == y {
			return true
		}
	case bool:
		if y, ok := b.(bool); ok && x == y {
			return true
		}
	}
	if IsZero(a) && IsZero(b) {
		return true
	}
	switch t {
	case Time:
		ta, ea := time.Parse(time.RFC3339, sprint(a))
		tb, eb := time.Parse(time.RFC3339, sprint(b))
		if ea == nil && eb == nil {
			return ta.Equal(tb)
		}
	case Float:
		fa, oka := a.(float64)
		fb, okb := b.(float64)
		if oka && okb {
			return math.Abs(fa-fb) < 1e-9
		}
	}
	return reflect.DeepEqual(a, b)
}

// sprint is fmt.Sprint, without its work for a string.
func sprint(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Normalize converts JSON-decoded values (float64 numbers, []any lists, map[string]any maps)
// to the Go types of the kind's schema, and drops zero values, so attributes read back from
// state, plan files or a plugin compare equal to freshly built ones.
func Normalize(k Kind, in map[string]any) (Attrs, error) {
	ks, err := SchemaOf(k)
	if err != nil {
		return nil, err
	}
	out := make(Attrs, len(in))
	for name, v := range in {
		as, ok := ks.Attribute(name)
		if !ok {
			return nil, fmt.Errorf("%s has no attribute %q", k, name)
		}
		nv, err := normalizeValue(as.Type, v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", k, name, err)
		}
		if !IsZero(nv) {
			out[as.Name] = nv // the schema's own copy of the name, which a decoder's buffer does not hold
		}
	}
	return out, nil
}

func normalizeValue(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case String, Ref:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Time:
		switch x := v.(type) {
		case string:
			if x == "" {
				return "", nil
			}
			if _, err := time.Parse(time.RFC3339, x); err != nil {
				return nil, fmt.Errorf("want an RFC 3339 time, got %q", x)
			}
			return x, nil
		case time.Time:
			return x.Format(time.RFC3339), nil
		}
	case Int:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case float64:
			if x == math.Trunc(x) {
				return int64(x), nil
			}
		case json.Number:
			return x.Int64()
		}
	case Float:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case json.Number:
			return x.Float64()
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Strings:
		if x, ok := v.([]string); ok {
			return slices.Clone(x), nil
		}
		if list, ok := v.([]any); ok {
			out := make([]string, len(list))
			for i, e := range list {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("element %d is %T, want a string", i, e)
				}
				out[i] = s
			}
			return out, nil
		}
	case StringMap:
		if m, ok := v.(map[string]string); ok {
			return m, nil
		}
		if m, ok := v.(map[string]any); ok {
			out := make(map[string]string, len(m))
			for k, e := range m {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("key %q is %T, want a string", k, e)
				}
				out[k] = s
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("want %s, got %T", t, v)
}

// DescribeChanges lists changed attributes with their live values, for a message saying
// what changed in a system behind Musubi's back: "percent is now 40, ends_at is now unset".
func DescribeChanges(changed []string, live Attrs) string {
	parts := make([]string, len(changed))
	for i, a := range changed {
		if v, ok := live[a]; ok {
			parts[i] = fmt.Sprintf("%s is now %v", a, v)
		} else {
			parts[i] = a + " is now unset"
		}
	}
	return strings.Join(parts, ", ")
}

// UnmarshalAttrs decodes attributes stored as JSON and normalizes them to the kind's types.
// It reads with go-json, which decodes a map[string]any as encoding/json does (numbers as
// float64) in about half the time: a refresh of a large programme reads thousands.
//
// The decoded map is normalized in place rather than copied into another: a refresh reads
// each live object only to compare it.
func UnmarshalAttrs(k Kind, data []byte) (Attrs, error) {
	var raw map[string]any
	if err := gojson.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	ks, err := SchemaOf(k)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return Attrs{}, nil
	}
	for name, v := range raw {
		as, ok := ks.Attribute(name)
		if !ok {
			return nil, fmt.Errorf("%s has no attribute %q", k, name)
		}
		nv, err := normalizeValue(as.Type, v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", k, name, err)
		}
		if IsZero(nv) {
			delete(raw, name)
		} else {
			raw[name] = nv
		}
	}
	return raw, nil
}

// Diff lists the attributes whose values differ between a and b, sorted.
func Diff(k Kind, a, b Attrs) []string {
	ks, err := SchemaOf(k)
	if err != nil {
		return nil
	}
	var out []string
	for _, as := range ks.Attributes {
		if as.WriteOnly {
			continue
		}
		if !Equal(as.Type, a[as.Name], b[as.Name]) {
			out = append(out, as.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Decode fills a struct with json tags from the attributes, for providers that prefer typed
// views of a kind.
func (a Attrs) Decode(v any) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

var locations sync.Map // zone name -> *time.Location

// Location loads an IANA time zone once per process: time.LoadLocation reads the zone file
// on every call, which shows on plans of thousands of coupons.
func Location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

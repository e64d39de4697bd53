package lang

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// ObjectType is a CEL object type declared by Musubi: the unified customer profile, each event
// type, and the per-configuration trait and segment objects. Values of these types are plain
// map[string]any at run time, so the engine can build them from JSON without reflection; a field
// that is absent reads as its zero value, as protobuf fields do, and has() reports presence.
type ObjectType struct {
	name   string
	doc    string
	fields []Field
	byName map[string]*types.FieldType
	index  map[string]int // position in fields
	celTyp *types.Type
}

// Membership is the run-time form of an object of boolean fields that holds only the true
// ones, such as the segments a customer is in: every field is set, and one absent is false. It
// lets the engine hand a profile's membership to CEL as it is, instead of building a map of
// every segment for every event.
type Membership map[string]bool

// Fields is an object value that gives its fields one at a time, by their index in the object
// type's declaration (Fields()), instead of as a map built in advance: the engine's customer,
// whose traits and identifiers are worked out only when a rule reads them. A field that is not
// there (ok false) reads as its zero value, and has() is false for it. Map is the whole object
// as plain maps, for what reads it whole (a template printing customer.traits, or cel-go
// evaluating what the native programs leave to it); it should be built once per value.
type Fields interface {
	Field(i int) (v any, ok bool)
	Map() map[string]any
}

// Field is one field of an ObjectType.
type Field struct {
	Name string
	Type *types.Type
	Doc  string
	// Object is set when Type is itself a Musubi object type, so nested values can be coerced.
	Object *ObjectType
	// Elem is set when Type is a list of Musubi objects.
	Elem *ObjectType
	// Bounds, on a whole-number field, is the range a value must fall in.
	Bounds *Bounds
}

// Bounds are a whole-number field's sane range. Incoming money and counts are held to one,
// so a forged 9223372036854775807 cannot wrap a trait's sum over a window negative.
type Bounds struct {
	Min, Max int64
	// Unit names what the number counts, for the error ("minor units").
	Unit string
}

// MaxMoney is the largest amount an event may carry, in minor units: a trillion yen, ten
// billion dollars in cents. Nine million of them still sum within an int64.
const MaxMoney = 1_000_000_000_000

var (
	// MoneyBounds hold amounts in minor units: never negative, at most MaxMoney.
	MoneyBounds = &Bounds{Min: 0, Max: MaxMoney, Unit: "minor units"}
	// CountBounds hold counts of units or uses.
	CountBounds = &Bounds{Min: 0, Max: 1_000_000_000, Unit: "units"}
)

// Timestamps an event carries must fall in [minTime, maxTime): a zero time (0001-01-01) or
// one centuries away is a bug or a forgery, and would wreck windows and schedules.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CheckTime refuses a time outside the range events may carry.
func CheckTime(t time.Time, path string) error {
	if t.Before(minTime) || !t.Before(maxTime) {
		return fmt.Errorf("%s: %s is out of range (%d to %d)", path, t.Format(time.RFC3339), minTime.Year(), maxTime.Year()-1)
	}
	return nil
}

var (
	_ ref.Type                   = (*ObjectType)(nil)
	_ types.StructTypeDescriptor = (*ObjectType)(nil)
)

// NewObjectType declares an object type with the given fields.
func NewObjectType(name, doc string, fields ...Field) *ObjectType {
	t := &ObjectType{name: name, doc: doc, byName: make(map[string]*types.FieldType, len(fields)), index: make(map[string]int, len(fields))}
	t.celTyp = types.NewObjectType(name, traits.FieldTesterType|traits.IndexerType)
	for _, f := range fields {
		t.addField(f)
	}
	return t
}

// objectField is what the native programs read a field of an ObjectType by, without going
// through its FieldType's functions: they find it from the FieldType cel-go's provider gives.
type objectField struct {
	name  string
	index int
	zero  any
}

var objectFields sync.Map // *types.FieldType → *objectField

func (t *ObjectType) addField(f Field) {
	name, index := f.Name, len(t.fields)
	zero := zeroValue(f)
	t.fields = append(t.fields, f)
	t.index[name] = index
	ft := &types.FieldType{
		Type: f.Type,
		IsSet: func(target any) bool {
			switch x := target.(type) {
			case Membership:
				return true
			case Fields:
				_, ok := x.Field(index)
				return ok
			}
			m, ok := target.(map[string]any)
			if !ok {
				return false
			}
			_, ok = m[name]
			return ok
		},
		GetFrom: func(target any) (any, error) {
			switch x := target.(type) {
			case Membership:
				return x[name], nil
			case Fields:
				if v, ok := x.Field(index); ok && v != nil {
					return v, nil
				}
				return zero, nil
			}
			m, ok := target.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: value is %T, not an object", t.name, target)
			}
			if v, ok := m[name]; ok && v != nil {
				return v, nil
			}
			return zero, nil
		},
	}
	t.byName[name] = ft
	objectFields.Store(ft, &objectField{name: name, index: index, zero: zero})
}

// Record is a value of an object type held by field index (Fields): an event, whose fields
// rules read one by one, many times over, without a map lookup each.
type Record struct {
	t     *ObjectType
	vals  []any
	set   []bool
	whole map[string]any
}

var _ Fields = (*Record)(nil)

// Field implements Fields.
func (r *Record) Field(i int) (any, bool) { return r.vals[i], r.set[i] }

// Get is the named field's value, nil when it is not set.
func (r *Record) Get(name string) any {
	if i, ok := r.t.index[name]; ok {
		return r.vals[i]
	}
	return nil
}

// Set sets a field of the record's type; it reports false for a name the type does not have.
func (r *Record) Set(name string, v any) bool {
	i, ok := r.t.index[name]
	if ok {
		r.vals[i], r.set[i], r.whole = v, true, nil
	}
	return ok
}

// Map implements Fields: the fields that are set.
func (r *Record) Map() map[string]any {
	if r.whole == nil {
		r.whole = make(map[string]any, len(r.vals))
		for i, f := range r.t.fields {
			if r.set[i] {
				r.whole[f.Name] = r.vals[i]
			}
		}
	}
	return r.whole
}

// CoerceRecord checks v against the type as Coerce does and gives it as a Record.
func (t *ObjectType) CoerceRecord(v any, path string) (*Record, error) {
	r := &Record{t: t, vals: make([]any, len(t.fields)), set: make([]bool, len(t.fields))}
	err := t.coerceEach(v, path, func(i int, cv any) { r.vals[i], r.set[i] = cv, true })
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Obj returns a field whose type is the object type o.
func (o *ObjectType) Obj(name, doc string) Field {
	return Field{Name: name, Type: o.celTyp, Doc: doc, Object: o}
}

// ListOf returns a field holding a list of o.
func (o *ObjectType) ListOf(name, doc string) Field {
	return Field{Name: name, Type: types.NewListType(o.celTyp), Doc: doc, Elem: o}
}

// Name returns the qualified CEL type name.
func (t *ObjectType) Name() string { return t.name }

// Doc returns the type's description.
func (t *ObjectType) Doc() string { return t.doc }

// Fields returns the declared fields in declaration order.
func (t *ObjectType) Fields() []Field { return t.fields }

// CELType returns the type for declarations.
func (t *ObjectType) CELType() *types.Type { return t.celTyp }

// HasTrait implements ref.Type.
func (t *ObjectType) HasTrait(trait int) bool {
	return trait&(traits.FieldTesterType|traits.IndexerType) == trait
}

// TypeName implements ref.Type.
func (t *ObjectType) TypeName() string { return t.name }

// ReflectType implements types.StructTypeDescriptor; the values are maps, not Go structs.
func (t *ObjectType) ReflectType() reflect.Type { return nil }

// FieldNames implements types.StructTypeDescriptor.
func (t *ObjectType) FieldNames() []string {
	names := make([]string, len(t.fields))
	for i, f := range t.fields {
		names[i] = f.Name
	}
	return names
}

// FindFieldType implements types.StructTypeDescriptor.
func (t *ObjectType) FindFieldType(name string) (*types.FieldType, bool) {
	ft, ok := t.byName[name]
	return ft, ok
}

// NewValue implements types.StructTypeDescriptor: object literals build the same map form.
func (t *ObjectType) NewValue(adapter types.Adapter, fields map[string]ref.Val) ref.Val {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		if _, ok := t.byName[k]; !ok {
			return types.NewErr("no such field %q on %s", k, t.name)
		}
		m[k] = v.Value()
	}
	return adapter.NativeToValue(m)
}

// Adapt implements types.StructTypeDescriptor.
func (t *ObjectType) Adapt(adapter types.Adapter, value any) ref.Val {
	return adapter.NativeToValue(value)
}

func zeroValue(f Field) any {
	switch {
	case f.Object != nil:
		return map[string]any{}
	}
	switch f.Type.Kind() {
	case types.IntKind:
		return int64(0)
	case types.UintKind:
		return uint64(0)
	case types.DoubleKind:
		return float64(0)
	case types.StringKind:
		return ""
	case types.BoolKind:
		return false
	case types.BytesKind:
		return []byte{}
	case types.ListKind:
		return []any{}
	case types.MapKind:
		return map[string]any{}
	case types.TimestampKind:
		return time.Unix(0, 0).UTC()
	case types.DurationKind:
		return time.Duration(0)
	}
	return nil
}

// Coerce checks a JSON-decoded value against the type and converts it to the run-time form:
// integers become int64, RFC 3339 strings become time.Time, durations become time.Duration.
// Unknown fields are refused so a misspelt field in an event is an error, not a silent zero.
// The path names the place of any error, e.g. "event.cart.items[2].price".
func (t *ObjectType) Coerce(v any, path string) (map[string]any, error) {
	out := map[string]any{}
	if err := t.coerceEach(v, path, func(i int, cv any) { out[t.fields[i].Name] = cv }); err != nil {
		return nil, err
	}
	return out, nil
}

// coerceEach checks v, an object of the type's fields, and gives each field's coerced value
// by the field's index.
func (t *ObjectType) coerceEach(v any, path string, set func(i int, cv any)) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object, got %s", path, jsonKind(v))
	}
	for k, fv := range m {
		i, ok := t.index[k]
		if !ok {
			return fmt.Errorf("%s: unknown field %q%s", path, k, didYouMean(k, t.FieldNames()))
		}
		cv, err := coerceField(t.fields[i], fv, path+"."+k)
		if err != nil {
			return err
		}
		set(i, cv)
	}
	return nil
}

func coerceField(f Field, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if f.Object != nil {
		return f.Object.Coerce(v, path)
	}
	if f.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: want a list, got %s", path, jsonKind(v))
		}
		out := make([]any, len(list))
		for i, e := range list {
			ce, err := f.Elem.Coerce(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	}
	cv, err := coerceValue(f.Type, v, path)
	if n, ok := cv.(int64); ok && f.Bounds != nil && (n < f.Bounds.Min || n > f.Bounds.Max) {
		return nil, fmt.Errorf("%s: %d is out of range (%d to %d %s)", path, n, f.Bounds.Min, f.Bounds.Max, f.Bounds.Unit)
	}
	return cv, err
}

func coerceValue(t *types.Type, v any, path string) (any, error) {
	switch t.Kind() {
	case types.DynKind, types.AnyKind:
		return v, nil
	case types.IntKind:
		switch n := v.(type) {
		case float64:
			if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
				return nil, fmt.Errorf("%s: want a whole number, got %v", path, n)
			}
			return int64(n), nil
		case int64:
			return n, nil
		case int:
			return int64(n), nil
		}
	case types.DoubleKind:
		switch n := v.(type) {
		case float64:
			return n, nil
		case int64:
			return float64(n), nil
		case int:
			return float64(n), nil
		}
	case types.StringKind:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case types.BoolKind:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case types.TimestampKind:
		switch s := v.(type) {
		case string:
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, fmt.Errorf("%s: want an RFC 3339 time such as 2027-03-01T10:00:00+09:00, got %q", path, s)
			}
			return ts, CheckTime(ts, path)
		case time.Time:
			return s, CheckTime(s, path)
		}
	case types.DurationKind:
		switch s := v.(type) {
		case string:
			d, err := ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
			return d, nil
		case time.Duration:
			return s, nil
		}
	case types.ListKind:
		list, ok := v.([]any)
		if !ok {
			break
		}
		et := t.Parameters()[0]
		out := make([]any, len(list))
		for i, e := range list {
			ce, err := coerceValue(et, e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = ce
		}
		return out, nil
	case types.MapKind:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		vt := t.Parameters()[1]
		out := make(map[string]any, len(m))
		for k, e := range m {
			ce, err := coerceValue(vt, e, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = ce
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want %s, got %s", path, typeLabel(t), jsonKind(v))
}

func typeLabel(t *types.Type) string {
	switch t.Kind() {
	case types.IntKind:
		return "a whole number"
	case types.DoubleKind:
		return "a number"
	case types.StringKind:
		return "a string"
	case types.BoolKind:
		return "true or false"
	case types.TimestampKind:
		return "an RFC 3339 time"
	case types.DurationKind:
		return "a duration such as \"90d\""
	case types.ListKind:
		return "a list"
	case types.MapKind:
		return "an object"
	}
	return t.String()
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// describe renders the type as documentation lines ("field: type — doc").
func (t *ObjectType) describe() string {
	var b strings.Builder
	for _, f := range t.fields {
		fmt.Fprintf(&b, "  %-16s %-28s %s\n", f.Name, celTypeString(f.Type), f.Doc)
	}
	return b.String()
}

func celTypeString(t *types.Type) string {
	switch t.Kind() {
	case types.ListKind:
		return "list(" + celTypeString(t.Parameters()[0]) + ")"
	case types.MapKind:
		return "map(" + celTypeString(t.Parameters()[0]) + ", " + celTypeString(t.Parameters()[1]) + ")"
	case types.TimestampKind:
		return "timestamp"
	case types.DurationKind:
		return "duration"
	}
	return t.String()
}

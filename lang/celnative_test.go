package lang

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"github.com/hashicorp/hcl/v2"
)

// nativeSeeds are conditions of the shapes rules are written in, and the corners of CEL's
// semantics the native programs must keep: errors inside && and ||, absent fields and keys,
// presence tests, mixed numeric types, overflow, constant conversions and musubi's functions.
var nativeSeeds = []string{
	"customer.traits.visits >= 3 && customer.consent.line",
	"customer.traits.spend >= 5000.0 || customer.traits.visits > 10",
	"customer.traits.visits < 3000 && 3000 - customer.traits.visits <= 200",
	"customer.segments.vip && !customer.segments.lapsed",
	"customer.traits.last_store == 'store-3'",
	"dyn(customer.traits.visits) == 2.0 && customer.traits.visits < 2.5 && 2u <= customer.traits.visits",
	"customer.traits.visits * 4611686018427387904 > 0",
	"customer.traits.visits / (customer.traits.visits - customer.traits.visits) > 0 || true",
	"customer.traits.visits % 0 == 1 && false",
	"customer.attributes.vip == true",
	"customer.attributes.tier == 'gold' || customer.attributes.tier == 'silver'",
	"has(customer.attributes.vip) && customer.attributes.vip == true",
	"has(customer.traits.visits)",
	"has(customer.location)",
	"has(event.cart)",
	"customer.identifiers.email == customer.emails",
	"customer.tone in ['formal', 'casual']",
	"customer.traits.visits in [1, 2.0, 3u]",
	"dyn(customer.traits.spend) in [1, 2]",
	"customer.traits.visits in []",
	"size(customer.emails) > 0 && customer.id.startsWith('u-')",
	"customer.id.contains('-') ? customer.traits.visits : -1",
	"(customer.traits.visits > 1 ? customer.location : geo.point(1.0, 2.0)).lat > 10.0",
	"timestamp('2027-01-01T00:00:00Z') < now",
	"now - customer.last_seen > days(30)",
	"days_between(customer.first_seen, now) >= 7",
	"in_hours(now, '21:00', '09:00', 'Asia/Tokyo')",
	"geo.distance_km(customer.location, geo.point(35.0, 139.0)) < 5.0",
	"event.cart.total < 2000 && 2000 - event.cart.total <= 200",
	"event.cart.total - 1 > 0.5",
	"event.store_id == 'store-1' && event.channel == 'pos'",
	"event.cart.total != 0 && has(event.cart.items)",
	"-customer.traits.visits < 0 && !(customer.traits.visits == 0)",
	"customer.locale.startsWith('ja') == customer.locale.endsWith('JP')",
	"customer.attributes.count + 1 > 2",
	"customer.attributes.nested.deep == 'x'",
	"string(customer.traits.visits) == '3'",
	"int(customer.traits.spend) >= 100",
	"dyn(customer.traits.visits) == 3.0",
	"customer.traits.visits > 1 && " + strings.Repeat("(", 40) + "true" + strings.Repeat(")", 40),
	"customer.emails.exists(e, e.endsWith('.jp'))",
	"customer.emails[0] == 'a@example.com'",
	"dyn(customer.consent) == {'line': true}",
	"dyn(customer.traits).visits == 3",
}

// nativeInputs are the variables every seed is evaluated with: a full profile, an empty one,
// absent and null fields, values of unexpected types, an event with and without its object.
func nativeInputs() []map[string]any {
	now := types.Timestamp{Time: time.Date(2026, 12, 1, 22, 30, 0, 0, time.UTC)}
	full := map[string]any{
		"id": "u-1", "emails": []any{"a@example.com"}, "phones": []any{"+81900000000"},
		"identifiers": map[string]any{"email": []any{"a@example.com"}},
		"consent":     map[string]any{"line": true},
		"traits":      map[string]any{"visits": int64(3), "spend": 120.5, "last_store": "store-3"},
		"segments":    Membership{"vip": true},
		"attributes":  map[string]any{"vip": true, "tier": "gold", "count": float64(2), "nested": map[string]any{"deep": "x"}},
		"locale":      "ja-JP", "tone": "formal",
		"location":   map[string]any{"lat": 35.01, "lng": 139.0},
		"first_seen": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "last_seen": time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	}
	odd := map[string]any{
		"id": "x", "traits": map[string]any{"visits": 7.5, "spend": int64(math.MaxInt64), "last_store": nil},
		"segments":   map[string]any{"vip": "yes"},
		"attributes": map[string]any{"vip": "true", "count": "2", "nested": []any{1}},
		"consent":    map[string]any{},
		"location":   "here",
	}
	overflow := map[string]any{"traits": map[string]any{"visits": int64(math.MinInt64)}, "attributes": map[string]any{}}
	event := map[string]any{"type": "cart.updated", "store_id": "store-1", "kind": "beacon",
		"cart": map[string]any{"total": int64(1850)}, "location": map[string]any{"lat": 1.5}}
	var out []map[string]any
	for _, c := range []map[string]any{full, {}, odd, overflow} {
		for _, ev := range []map[string]any{event, {}, {"cart": nil, "location": 3}, {"cart": map[string]any{"total": 1850.5}}} {
			out = append(out, map[string]any{"customer": c, "event": ev, "now": now})
		}
	}
	return out
}

var nativeCustomer *ObjectType // the customer type of nativeSchema's environment

func nativeSchema(t testing.TB) *cel.Env {
	schema, err := NewSchema([]TraitField{{Name: "visits", Type: cel.IntType}, {Name: "spend", Type: cel.DoubleType}, {Name: "last_store", Type: cel.StringType}},
		[]string{"vip", "lapsed"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := schema.Trigger("cart.updated")
	if err != nil {
		t.Fatal(err)
	}
	nativeCustomer = schema.Customer
	return env
}

// asFields is a map read through lang.Fields, as the engine hands CEL its customer: nested
// objects are Fields too.
type asFields struct {
	t *ObjectType
	m map[string]any
}

func (f asFields) Field(i int) (any, bool) {
	fd := f.t.Fields()[i]
	v, ok := f.m[fd.Name]
	if m, isMap := v.(map[string]any); isMap && fd.Object != nil {
		return asFields{fd.Object, m}, ok
	}
	return v, ok
}

func (f asFields) Map() map[string]any { return f.m }

// asRecord is an event of nativeSchema's trigger environment as a Record, as the engine
// holds events.
func asRecord(m map[string]any) *Record {
	et, _ := LookupEventType("cart.updated")
	r := &Record{t: et.Type, vals: make([]any, len(et.Type.fields)), set: make([]bool, len(et.Type.fields))}
	for k, v := range m {
		r.Set(k, v)
	}
	return r
}

// checkNativeAgrees compiles cond; when it has a native program, both evaluations of every
// input must agree: the same value, or both an error.
func checkNativeAgrees(t *testing.T, env *cel.Env, cond string) (native bool) {
	site := celSite{rng: hcl.Range{Filename: "x.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}}
	e, diags := compileCEL(env, CtxTrigger, cond, site, nil, DefaultCELCostLimit, nil)
	if diags.HasErrors() || e == nil {
		return false
	}
	prg, err := e.Program()
	if err != nil || e.plan.native == nil {
		return false
	}
	for i, in := range nativeInputs() {
		want, _, wantErr := prg.Eval(in)
		fields := map[string]any{"customer": asFields{nativeCustomer, in["customer"].(map[string]any)}, "event": asRecord(in["event"].(map[string]any)), "now": in["now"]}
		for _, how := range []string{"native", "native with Fields", "Eval with Fields"} {
			var got ref.Val
			var gotErr error
			switch how {
			case "native":
				got, gotErr = evalNative(e.plan.native, activation(t, in))
			case "native with Fields":
				got, gotErr = evalNative(e.plan.native, activation(t, fields))
			default: // the native program, or cel-go when it leaves the input to it
				got, gotErr = e.Eval(activation(t, fields))
			}
			if gotErr == error(errUnsupported) {
				continue // left to cel-go at run time
			}
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("%q, input %d, %s: cel-go gives %v (%v), got %v (%v)", cond, i, how, want, wantErr, got, gotErr)
			}
			if wantErr == nil && !sameVal(want, got) {
				t.Fatalf("%q, input %d, %s: cel-go gives %v (%T), got %v (%T)", cond, i, how, want, want, got, got)
			}
		}
	}
	return true
}

func activation(t testing.TB, vars map[string]any) interpreter.Activation {
	act, err := interpreter.NewActivation(vars)
	if err != nil {
		t.Fatal(err)
	}
	return act
}

func sameVal(a, b ref.Val) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Equal(b) == types.True {
		return true
	}
	return fmt.Sprint(a.Value()) == fmt.Sprint(b.Value()) // NaN is not equal to itself
}

func TestNativeAgreesWithCEL(t *testing.T) {
	env := nativeSchema(t)
	native := map[string]bool{}
	for _, cond := range nativeSeeds {
		native[cond] = checkNativeAgrees(t, env, cond)
	}
	// The shapes rules are mostly written in are compiled; what needs cost tracking (a
	// comprehension, a string search, comparing lists), indexes or builds a map is left to
	// cel-go.
	for _, cond := range nativeSeeds {
		left := strings.Contains(cond, "exists") || strings.Contains(cond, "[0]") ||
			strings.Contains(cond, "contains") || strings.Contains(cond, "identifiers") ||
			strings.Contains(cond, "{")
		if native[cond] == left {
			t.Errorf("%q: native %v", cond, native[cond])
		}
	}
}

// TestNativeFallsBackOnOddInput: a value of a shape the native program does not read (a map
// of another Go type under a map-typed field) is evaluated by cel-go, with its answer.
func TestNativeFallsBackOnOddInput(t *testing.T) {
	env := nativeSchema(t)
	site := celSite{rng: hcl.Range{Filename: "x.hcl"}}
	e, diags := compileCEL(env, CtxTrigger, "customer.attributes.tier == 'gold'", site, cel.BoolType, DefaultCELCostLimit, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	in := map[string]any{"customer": map[string]any{"attributes": map[string]string{"tier": "gold"}}}
	ok, err := e.EvalBool(activation(t, in))
	if err != nil || !ok {
		t.Fatalf("got %v, %v; want true", ok, err)
	}
	if e.plan.native == nil {
		t.Fatal("the condition has no native program")
	}
}

func FuzzNativeAgrees(f *testing.F) {
	for _, s := range append(append([]string{}, nativeSeeds...), validCELSeeds...) {
		f.Add(s)
	}
	env := nativeSchema(f)
	f.Fuzz(func(t *testing.T, cond string) {
		checkNativeAgrees(t, env, cond)
	})
}

// BenchmarkEvalNative and BenchmarkEvalCEL evaluate one segment-like and one trigger-like
// condition per op.
func BenchmarkEvalNative(b *testing.B) { benchEval(b, true) }
func BenchmarkEvalCEL(b *testing.B)    { benchEval(b, false) }

func benchEval(b *testing.B, native bool) {
	env := nativeSchema(b)
	site := celSite{rng: hcl.Range{Filename: "x.hcl"}}
	var exprs []*Expr
	for _, cond := range []string{"customer.traits.visits >= 3 && customer.consent.line", "event.cart.total < 2000 && 2000 - event.cart.total <= 200"} {
		e, diags := compileCEL(env, CtxTrigger, cond, site, cel.BoolType, DefaultCELCostLimit, nil)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		if _, err := e.Program(); err != nil {
			b.Fatal(err)
		}
		if !native {
			e.plan.native = nil
		}
		exprs = append(exprs, e)
	}
	act := activation(b, nativeInputs()[0])
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range exprs {
			if _, err := e.EvalBool(act); err != nil {
				b.Fatal(err)
			}
		}
	}
}

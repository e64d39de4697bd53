package lang

import (
	"testing"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
)

// A condition's event part is its top-level conjuncts that read the event and nothing else.
func TestEventPart(t *testing.T) {
	schema, err := NewSchema([]TraitField{{Name: "visits", Type: cel.IntType}}, []string{"vip"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := schema.Trigger("purchase")
	if err != nil {
		t.Fatal(err)
	}
	site := celSite{rng: hcl.Range{Filename: "x.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}}
	for _, c := range []struct {
		cond, want string
		rest       string // what remains when the event part is true; "-" when only the whole says
	}{
		{"event.total > 1000 && customer.traits.visits >= 2", "(event.total > 1000)", "(customer.traits.visits >= 2)"},
		{"customer.segments.vip && event.store_id == 'shibuya' && event.total >= 500", "(event.store_id == \"shibuya\") && (event.total >= 500)", "(customer.segments.vip)"},
		{"event.total > 1000", "(event.total > 1000)", ""},
		{"event.items.exists(i, i.sku == 'x') && event.total > 5 && customer.consent.line", "(event.total > 5)", "-"}, // a macro is not written back
		{"event.total > 1000 || customer.traits.visits >= 2", "", "-"},                                                // not a conjunction
		{"event.time < now && customer.segments.vip", "", "-"},                                                        // now is not the event
		{"customer.traits.visits >= 2 && customer.segments.vip", "", "-"},                                             // no event at all
		{"(event.total > 1000 && customer.segments.vip) && event.channel == 'pos'", "(event.total > 1000) && (event.channel == \"pos\")", "(customer.segments.vip)"},
	} {
		e, diags := compileCEL(env, CtxTrigger, c.cond, site, cel.BoolType, 10000, nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", c.cond, diags.Error())
		}
		event, rest, split := e.SplitEventPart()
		if event != c.want || split != (c.rest != "-") || split && rest != c.rest {
			t.Errorf("%s: split into %q and %q (%v), want %q and %q", c.cond, event, rest, split, c.want, c.rest)
		}
	}
}

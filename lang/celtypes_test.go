package lang

import (
	"testing"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
)

// A Membership reads as an object of every segment: the ones it holds are true, the others
// false, and every one is set, as an object with each segment's value would be.
func TestMembershipReadsAsEverySegment(t *testing.T) {
	schema, err := NewSchema([]TraitField{{Name: "visits", Type: cel.IntType}}, []string{"vip", "lapsed"})
	if err != nil {
		t.Fatal(err)
	}
	site := celSite{rng: hcl.Range{Filename: "x.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}}
	for _, c := range []struct {
		expr string
		want bool
	}{
		{"customer.segments.vip", true},
		{"customer.segments.lapsed", false},
		{"!customer.segments.lapsed && customer.segments.vip", true},
		{"has(customer.segments.lapsed) && has(customer.segments.vip)", true},
	} {
		e, diags := compileCEL(schema.Segment(), CtxSegment, c.expr, site, cel.BoolType, 1000, nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", c.expr, diags.Error())
		}
		got, err := e.EvalBool(map[string]any{"customer": map[string]any{"segments": Membership{"vip": true}}})
		if err != nil || got != c.want {
			t.Errorf("%s = %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
}

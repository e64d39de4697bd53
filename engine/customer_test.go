package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang"
)

// The customer's value reads, field by field, what its whole map holds: every expression
// gives the same answer on the lazy value as on the map cel-go is handed.
func TestCustomerValueReadsAsItsMap(t *testing.T) {
	prog, e := benchRules(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	res, err := e.graph.Resolve([]identity.ID{{Type: "phone", Value: "+819000000001"}, {Type: "email", Value: "a@example.com"}, {Type: "email", Value: "b@example.com"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	prof := newProfile(res.Customer, now.Add(-48*time.Hour))
	prof.Consent = map[string]bool{"line": true, "email": false}
	prof.Attributes = map[string]any{"tone": "formal", "locale": 3.0, "location": map[string]any{"lat": 35.0, "lng": 139.0}, "vip": true}
	evs, err := DecodeEvents([]byte(`{"id": "x", "type": "purchase", "identifiers": {"phone": "+819000000001"}, "channel": "pos", "store_id": "store-3", "data": {"total": 4200}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := evs[0].validate(prog, now); err != nil {
		t.Fatal(err)
	}
	e.updateTraits(prog, prof, evs[0], now)
	prof.Segments = segmentsOf("seg_01")

	exprs := []string{
		"customer.id", "customer.identifiers", "customer.emails", "customer.phones", "customer.consent.line",
		"customer.consent.email", "has(customer.consent.sms)", "customer.traits.purchases_90d", "customer.traits.spend_90d",
		"customer.traits.last_store", "customer.traits.carts_7d", "has(customer.traits.carts_7d)", "has(customer.traits.spend_90d)",
		"customer.segments.seg_01", "customer.segments.seg_02", "customer.attributes", "customer.tone", "customer.locale",
		"has(customer.locale)", "has(customer.location)", "customer.location.lat", "customer.first_seen", "customer.last_seen",
		"customer.emails.exists(e, e.startsWith('b'))", "customer.traits", "customer.location", "dyn(customer).id",
		"customer.identifiers.email[1]", "geo.distance_km(customer.location, geo.point(35.0, 139.0))",
	}
	for _, src := range exprs {
		x, err := lang.CompileExpr(prog.Schema.Segment(), lang.CtxSegment, "test", src, nil, lang.DefaultCELCostLimit)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		lazy := e.customerValue(prog, prof, now)
		got, err := x.Eval(newCELVars(lazy, nil, now))
		if err != nil {
			t.Fatalf("%s on the customer's value: %v", src, err)
		}
		whole := e.customerValue(prog, prof, now).Map()
		want, err := x.Eval(map[string]any{"customer": whole, "now": now})
		if err != nil {
			t.Fatalf("%s on its map: %v", src, err)
		}
		if fmt.Sprint(got.Value()) != fmt.Sprint(want.Value()) {
			t.Errorf("%s: the customer's value gives %v, its map %v", src, got.Value(), want.Value())
		}
	}
	// What the map holds is what the fields are: traits only where there is state, the
	// attributes the customer type has fields for taken out when of the field's type.
	m := e.customerValue(prog, prof, now).Map()
	if _, ok := m["traits"].(map[string]any)["carts_7d"]; ok {
		t.Error("a trait without state is in the map")
	}
	if _, ok := m["locale"]; ok {
		t.Error("a locale that is not a string is a field")
	}
	if attrs := m["attributes"].(map[string]any); attrs["tone"] != nil || attrs["locale"] != 3.0 || attrs["vip"] != true {
		t.Errorf("attributes: %v", attrs)
	}
}

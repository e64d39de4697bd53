package providers

import (
	"fmt"
	"sort"
)

// Kind is a canonical resource kind: what domain blocks expand into and providers implement.
type Kind string

// The canonical kinds.
const (
	KindCoupon       Kind = "coupon"
	KindCodePool     Kind = "code_pool"
	KindAudience     Kind = "audience"
	KindMessage      Kind = "message"
	KindSubscription Kind = "subscription"
	KindRules        Kind = "rules"
)

// EngineType is the provider type of Musubi's own rules engine, which holds the rules kind:
// the planner gives every provider of this type the programme's rule bundle.
const EngineType = "engine"

// Type is the type of an attribute value. In Attrs the Go types are: string for String, Time
// (RFC 3339) and Ref; int64 for Int; float64 for Float; bool for Bool; []string for Strings;
// map[string]string for StringMap.
type Type string

// Attribute types.
const (
	String    Type = "string"
	Int       Type = "int"
	Float     Type = "float"
	Bool      Type = "bool"
	Time      Type = "time"
	Strings   Type = "list(string)"
	StringMap Type = "map(string)"
	// Ref holds the address of another resource instance; at apply time the provider receives
	// that resource's ID in the request's Refs.
	Ref Type = "ref"
)

// AttributeSchema describes one canonical attribute.
type AttributeSchema struct {
	Name        string
	Type        Type
	Description string
	// Private attributes are kept in state but never shown in plans (a code pool's seed).
	Private bool
	// WriteOnly attributes are sent to the provider but never stored; a companion attribute
	// (such as a hash) carries the diff.
	WriteOnly bool
}

// KindSchema is the canonical definition of a kind.
type KindSchema struct {
	Kind        Kind
	Description string
	Attributes  []AttributeSchema
	byName      map[string]AttributeSchema
}

// Attribute returns the schema of one attribute.
func (k *KindSchema) Attribute(name string) (AttributeSchema, bool) {
	a, ok := k.byName[name]
	return a, ok
}

var kinds = map[Kind]*KindSchema{}

func defineKind(k Kind, desc string, attrs ...AttributeSchema) {
	ks := &KindSchema{Kind: k, Description: desc, Attributes: attrs, byName: map[string]AttributeSchema{}}
	for _, a := range attrs {
		ks.byName[a.Name] = a
	}
	kinds[k] = ks
}

// SchemaOf returns the canonical schema of a kind.
func SchemaOf(k Kind) (*KindSchema, error) {
	ks, ok := kinds[k]
	if !ok {
		return nil, fmt.Errorf("unknown resource kind %q", k)
	}
	return ks, nil
}

// AllKinds lists the canonical kinds, sorted.
func AllKinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func init() {
	defineKind(KindCoupon, "A discount offer that must work at a checkout: EC code discount, POS pricing rule or coupon.",
		AttributeSchema{Name: "title", Type: String, Description: "title shown to staff and customers"},
		AttributeSchema{Name: "discount_type", Type: String, Description: "percent or amount"},
		AttributeSchema{Name: "percent", Type: Float, Description: "percentage off, for discount_type percent"},
		AttributeSchema{Name: "amount", Type: Int, Description: "amount off in minor units, for discount_type amount"},
		AttributeSchema{Name: "currency", Type: String, Description: "ISO 4217 code of amount and min_total"},
		AttributeSchema{Name: "min_total", Type: Int, Description: "minimum order subtotal in minor units"},
		AttributeSchema{Name: "code", Type: String, Description: "the shared code; empty when the coupon uses a code pool"},
		AttributeSchema{Name: "per_customer", Type: Int, Description: "uses per customer; 0 is no limit"},
		AttributeSchema{Name: "usage_limit", Type: Int, Description: "uses in all; 0 is no limit"},
		AttributeSchema{Name: "starts_at", Type: Time, Description: "start of validity"},
		AttributeSchema{Name: "ends_at", Type: Time, Description: "end of validity"},
		AttributeSchema{Name: "timezone", Type: String, Description: "IANA zone the campaign is planned in"},
		AttributeSchema{Name: "combines_with", Type: Strings, Description: "discount classes it stacks with: order, product, shipping"},
		AttributeSchema{Name: "audience", Type: String, Description: "segment the coupon is restricted to; empty for everyone"},
		AttributeSchema{Name: "stores", Type: Strings, Description: "IDs of the stores (locations) it may be redeemed at, sorted; empty for every store"},
	)
	defineKind(KindCodePool, "A set of unique single-use codes attached to a coupon.",
		AttributeSchema{Name: "coupon", Type: Ref, Description: "the coupon the codes redeem"},
		AttributeSchema{Name: "pattern", Type: String, Description: "code pattern; # is one random character"},
		AttributeSchema{Name: "charset", Type: String, Description: "characters a # may become"},
		AttributeSchema{Name: "count", Type: Int, Description: "number of codes"},
		AttributeSchema{Name: "seed", Type: String, Private: true, Description: "seed of the code generator, so every channel gets the same codes"},
	)
	defineKind(KindAudience, "A list of customers a channel can message: LINE audience group, email list, customer group.",
		AttributeSchema{Name: "segment", Type: String, Description: "segment whose members the engine keeps in sync"},
		AttributeSchema{Name: "description", Type: String, Description: "description shown in the system"},
	)
	defineKind(KindMessage, "A message template a channel sends: campaign broadcast or triggered message.",
		AttributeSchema{Name: "name", Type: String, Description: "what sends it, e.g. campaign.spring"},
		AttributeSchema{Name: "template", Type: String, Description: "text with {{ CEL }} placeholders"},
		AttributeSchema{Name: "subject", Type: String, Description: "email subject template"},
		AttributeSchema{Name: "variants", Type: StringMap, Description: "alternative templates by variant name"},
		AttributeSchema{Name: "audience", Type: Ref, Description: "audience a broadcast goes to; empty for triggered messages"},
	)
	defineKind(KindSubscription, "A webhook subscription that sends a system's events to the engine.",
		AttributeSchema{Name: "source", Type: String, Description: "identity source the events belong to"},
		AttributeSchema{Name: "topics", Type: Strings, Description: "event types to deliver"},
		AttributeSchema{Name: "endpoint", Type: String, Description: "URL the events are posted to"},
	)
	defineKind(KindRules, "The engine's active rule bundle: identity rules, traits, segments and triggers.",
		AttributeSchema{Name: "bundle_hash", Type: String, Description: "SHA-256 of the bundle"},
		AttributeSchema{Name: "summary", Type: String, Description: "what the bundle holds"},
		AttributeSchema{Name: "bundle", Type: String, WriteOnly: true, Description: "the compiled bundle"},
	)
}

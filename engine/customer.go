package engine

import (
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang"
)

// customerVal is the CEL value of `customer` for a profile, as lang.Fields: each field is
// worked out when a rule first reads it. A rule reads a trait or two of the customer's dozen
// fields, and building them all as maps for every event cost more than the rules that read
// them. Values are as of the read: the processor makes one for each event, after the event's
// traits are updated, and the membership it reads is the profile's own, which the segments
// evaluated before it have moved.
type customerVal struct {
	e     *Engine
	prog  *program
	p     *Profile
	now   time.Time
	kinds []customerField // prog.customerFields
	names []string

	ids    map[string]any // identifiers by type, each a []any; nil until read
	idList []identity.ID  // the graph's identifiers of the customer, for firstIdentifier; nil until read
	traits *traitsVal
	attrs  map[string]any // the attributes without the fields of their own; nil until read
	whole  map[string]any // Map, once made
}

var _ lang.Fields = (*customerVal)(nil)

// customerField names the fields of the customer type, by their index in it.
type customerField int

const (
	cfUnknown customerField = iota
	cfID
	cfIdentifiers
	cfEmails
	cfPhones
	cfConsent
	cfTraits
	cfSegments
	cfAttributes
	cfAttrString // home_city, previous_city, locale, timezone, tone: a string attribute
	cfLocation
	cfFirstSeen
	cfLastSeen
)

var customerFieldNames = map[string]customerField{
	"id": cfID, "identifiers": cfIdentifiers, "emails": cfEmails, "phones": cfPhones, "consent": cfConsent,
	"traits": cfTraits, "segments": cfSegments, "attributes": cfAttributes, "home_city": cfAttrString, "previous_city": cfAttrString,
	"locale": cfAttrString, "timezone": cfAttrString, "tone": cfAttrString, "location": cfLocation,
	"first_seen": cfFirstSeen, "last_seen": cfLastSeen,
}

// customerFields is the field of each index of the program's customer type, and its name.
func (p *program) customerFields() ([]customerField, []string) {
	p.fieldsOnce.Do(func() {
		if p.Schema == nil {
			return
		}
		for _, f := range p.Schema.Customer.Fields() {
			p.custFields = append(p.custFields, customerFieldNames[f.Name])
			p.custNames = append(p.custNames, f.Name)
		}
	})
	return p.custFields, p.custNames
}

// Field implements lang.Fields.
func (c *customerVal) Field(i int) (any, bool) {
	kinds, names := c.kinds, c.names
	if i < 0 || i >= len(kinds) {
		return nil, false
	}
	p := c.p
	switch kinds[i] {
	case cfID:
		return p.ID, true
	case cfIdentifiers:
		return c.identifiers(), true
	case cfEmails:
		// The same list as identifiers.email: CEL never changes a list in place.
		l, _ := c.identifiers()["email"].([]any)
		return l, true
	case cfPhones:
		l, _ := c.identifiers()["phone"].([]any)
		return l, true
	case cfConsent:
		consent := make(map[string]any, len(p.Consent))
		for k, v := range p.Consent {
			consent[k] = v
		}
		return consent, true
	case cfTraits:
		if c.traits == nil {
			c.traits = &traitsVal{c: c}
		}
		return c.traits, true
	case cfSegments:
		return segmentFields{&p.Segments, c.prog.segmentLayout()}, true
	case cfAttributes:
		return c.attributes(), true
	case cfAttrString:
		s, ok := p.Attributes[names[i]].(string)
		return s, ok
	case cfLocation:
		m, ok := p.Attributes["location"].(map[string]any)
		return m, ok
	case cfFirstSeen:
		return p.FirstSeen, true
	case cfLastSeen:
		return p.LastSeen, true
	}
	return nil, false
}

// Map implements lang.Fields: every field there, traits as a map.
func (c *customerVal) Map() map[string]any {
	if c.whole != nil {
		return c.whole
	}
	m := make(map[string]any, len(c.names))
	for i, name := range c.names {
		if v, ok := c.Field(i); ok {
			if f, isFields := v.(lang.Fields); isFields {
				v = f.Map()
			}
			m[name] = v
		}
	}
	c.whole = m
	return m
}

// identifiers are the customer's identifier values by type, in the identity graph's order.
func (c *customerVal) identifiers() map[string]any {
	if c.ids == nil {
		if c.e.graphReady != nil {
			<-c.e.graphReady // an estimate reads profiles while the graph is rebuilt
		}
		c.ids = map[string]any{}
		for _, id := range c.e.graph.Identifiers(c.p.ID) {
			l, _ := c.ids[id.Type].([]any)
			c.ids[id.Type] = append(l, id.Value)
		}
	}
	return c.ids
}

// firstIdentifier is the customer's first identifier of the type, in the identity graph's
// order: identifiers()[typ][0], without making the map of them all when no rule has.
func (c *customerVal) firstIdentifier(typ string) string {
	if c.ids != nil {
		l, _ := c.ids[typ].([]any)
		if len(l) == 0 {
			return ""
		}
		v, _ := l[0].(string)
		return v
	}
	if c.idList == nil {
		if c.e.graphReady != nil {
			<-c.e.graphReady
		}
		c.idList = c.e.graph.Identifiers(c.p.ID)
		if c.idList == nil {
			c.idList = []identity.ID{}
		}
	}
	for _, id := range c.idList {
		if id.Type == typ {
			return id.Value
		}
	}
	return ""
}

// attributes are the profile's attributes but those the customer type has fields for, when
// they are of the field's type.
func (c *customerVal) attributes() map[string]any {
	if c.attrs == nil {
		c.attrs = map[string]any{}
		for k, v := range c.p.Attributes {
			switch k {
			case "home_city", "previous_city", "locale", "timezone", "tone":
				if _, ok := v.(string); ok {
					continue
				}
			case "location":
				if _, ok := v.(map[string]any); ok {
					continue
				}
			}
			c.attrs[k] = v
		}
	}
	return c.attrs
}

// traitsVal is the value of customer.traits: the traits the profile has state for, each
// folded from its buckets when first read. The trait type's fields are the program's traits,
// in order.
type traitsVal struct {
	c     *customerVal
	vals  []any
	state []uint8 // per trait: 0 not read yet, 1 the profile has no state for it, 2 read
}

// Field implements lang.Fields.
func (t *traitsVal) Field(i int) (any, bool) {
	c := t.c
	if i < 0 || i >= len(c.prog.Traits) {
		return nil, false
	}
	if t.state == nil {
		t.vals, t.state = make([]any, len(c.prog.Traits)), make([]uint8, len(c.prog.Traits))
	}
	if t.state[i] == 0 {
		tr := c.prog.Traits[i]
		t.state[i] = 1
		if s := c.p.Traits[tr.Name]; s != nil {
			t.vals[i], t.state[i] = s.value(tr, c.now), 2
		}
	}
	return t.vals[i], t.state[i] == 2
}

// Map implements lang.Fields.
func (t *traitsVal) Map() map[string]any {
	m := make(map[string]any, len(t.c.prog.Traits))
	for i, tr := range t.c.prog.Traits {
		if v, ok := t.Field(i); ok {
			m[tr.Name] = v
		}
	}
	return m
}

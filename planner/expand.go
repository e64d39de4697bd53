package planner

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// Desired is a resource instance the configuration asks for.
type Desired struct {
	Addr  addrs.Instance
	Attrs providers.Attrs
	// Refs maps ref-typed attributes to the instances they name.
	Refs map[string]addrs.Instance
	// Range is the declaring block; AttrRanges points at where each canonical attribute is
	// written, for plan-time errors. Read it with AttrRange.
	Range      hcl.Range
	AttrRanges map[string]hcl.Range
	// campaign, when set, is the campaign a coupon or code pool comes from; AttrRange finds
	// its attributes in the campaign's ranges (couponAttrRanges) instead of a map per campaign.
	campaign *lang.Campaign
}

// AttrRange returns where a canonical attribute is written, or false when the configuration
// does not say.
func (d *Desired) AttrRange(name string) (hcl.Range, bool) {
	if d.campaign == nil {
		r, ok := d.AttrRanges[name]
		return r, ok
	}
	key, ok := couponAttrRanges[name]
	if !ok {
		return hcl.Range{}, false
	}
	if r, ok := d.campaign.AttrRanges.Get(key); ok {
		return r, true
	}
	return d.campaign.AttrRanges.Get("coupon")
}

// Deps lists the instances this one needs to exist first, sorted; nil for none.
func (d *Desired) Deps() []addrs.Instance {
	if len(d.Refs) == 0 {
		return nil
	}
	out := make([]addrs.Instance, 0, len(d.Refs))
	for _, r := range d.Refs {
		out = append(out, r)
	}
	slices.SortFunc(out, addrs.Compare)
	return out
}

// couponAttrRanges maps canonical coupon attributes to the campaign's attribute keys.
var couponAttrRanges = map[string]string{
	"title": "coupon.title", "percent": "coupon.percent", "amount": "coupon.amount", "currency": "coupon.currency",
	"min_total": "coupon.min_total", "code": "coupon.code", "combines_with": "coupon.combines_with",
	"audience": "coupon.audience_only", "per_customer": "coupon", "usage_limit": "coupon",
	"starts_at": "coupon", "ends_at": "coupon", "timezone": "coupon", "discount_type": "coupon",
	"stores": "coupon.stores",
}

// Capabilities is what expanding needs to know of the configured providers; a Host has it.
type Capabilities interface {
	// Codeless reports whether a provider's coupons take no codes (providers.KindSupport.Codeless).
	Codeless(provider string) bool
	// Topics lists the event types a provider's webhooks deliver (providers.KindSupport.Topics),
	// nil when it does not say.
	Topics(provider string) []string
	// Subscribes reports whether a provider manages the subscription kind: its system is told
	// by API where to send events. Other sources' events arrive without one: a webhook set in
	// the system's own console, or posts to the engine.
	Subscribes(provider string) bool
	// Sends reports whether a provider delivers messages: a providers.Sender that addresses
	// customers by some identifier type.
	Sends(provider string) bool
	// Manages reports whether a provider manages a kind.
	Manages(provider string, k providers.Kind) bool
}

// Expand turns the configuration's domain blocks into resource instances: a campaign's coupon
// becomes one coupon per channel, its codes one code pool per channel, its messages one
// message per messaging provider plus the audience it goes to, each identity source a webhook
// subscription. prior supplies values that must stay stable, such as a code pool's seed.
// caps is nil when no provider is known: every channel then takes codes, every source is
// asked for what the rules use, and every messaging provider keeps its messages.
func Expand(cfg *lang.Config, prior *states.State, caps Capabilities) []*Desired {
	out, _ := expand(cfg, prior, caps)
	return out
}

// expand is Expand, and lists the messages sent through pure senders, which become no
// resource: nothing is kept on the receiver, and the engine sends them from the rule bundle.
func expand(cfg *lang.Config, prior *states.State, caps Capabilities) ([]*Desired, []*plans.Send) {
	var out []*Desired
	var sends []*plans.Send
	seen := map[string]*Desired{}
	seeds := map[string]string{} // code seed per campaign: pools and the rule bundle share it
	pools := &poolSeeds{prior: prior}
	add := func(d *Desired) *Desired {
		key := d.Addr.String()
		if existing, ok := seen[key]; ok {
			return existing
		}
		seen[key] = d
		out = append(out, d)
		return d
	}
	prov := func(r lang.ProviderRef) addrs.Provider { return addrs.Provider{Type: r.Type, Name: r.Name} }
	// A pure sender sends and keeps no messages (a webhook): no audience or message is
	// planned on it, since the engine picks the recipients and renders every text itself.
	pure := func(via lang.ProviderRef) bool {
		return caps != nil && caps.Sends(via.String()) && !caps.Manages(via.String(), providers.KindMessage)
	}

	audienceFor := func(segment string, via lang.ProviderRef) addrs.Instance {
		s := cfg.Segments[segment]
		a := addrs.Instance{Block: addrs.Block{Type: "segment", Name: segment}, Kind: providers.KindAudience, Provider: prov(via)}
		attrs := providers.Attrs{"segment": segment}
		if s != nil && s.Description != "" {
			attrs["description"] = s.Description
		}
		var rng hcl.Range
		if s != nil {
			rng = s.Range
		}
		add(&Desired{Addr: a, Attrs: attrs, Range: rng})
		return a
	}

	for _, name := range slices.Sorted(maps.Keys(cfg.Campaigns)) {
		c := cfg.Campaigns[name]
		block := addrs.Block{Type: "campaign", Name: name}
		if cu := c.Coupon; cu != nil {
			seed := pools.seed(block, cu)
			seeds[name] = seed
			// The channels' coupons share one map of attributes, nobody changes it (diff
			// gives providers a copy); one that differs gets its own copy first.
			attrs := couponAttrs(c)
			shared := false
			for _, ch := range c.Channels {
				ca := addrs.Instance{Block: block, Kind: providers.KindCoupon, Provider: prov(ch)}
				// A coupon that stays as it is recorded, down to each value's type, takes the
				// state's map instead: a large programme then holds one map per coupon, not
				// the state's and the configuration's.
				if r := findPrior(prior, ca); !shared && r != nil && sameAttrs(r.Attributes, attrs) {
					attrs, shared = r.Attributes, true
				}
				d := add(&Desired{Addr: ca, Attrs: attrs, Range: c.Range, campaign: c})
				byAudience := c.Audience != "" && caps != nil && caps.Codeless(ch.String())
				if byAudience || (cu.AudienceOnly && c.Audience != "") {
					d.Attrs = attrs.Clone()
					// The coupon is limited to the audience, which must exist on the channel first.
					d.Attrs["audience"] = c.Audience
					d.Refs = map[string]addrs.Instance{"audience": audienceFor(c.Audience, ch)}
				}
				if byAudience {
					delete(d.Attrs, "code")
					continue
				}
				if cu.Codes != nil {
					add(&Desired{
						Addr: addrs.Instance{Block: block, Kind: providers.KindCodePool, Provider: prov(ch)},
						Attrs: providers.Attrs{
							"coupon": ca.String(), "pattern": cu.Codes.Pattern, "charset": cu.Codes.Charset,
							"count": int64(cu.Codes.Count), "seed": seed,
						},
						Refs:     map[string]addrs.Instance{"coupon": ca},
						Range:    c.Range,
						campaign: c,
					})
				}
			}
		}
		pureIndex := map[addrs.Provider]int{}
		for _, m := range c.Messages {
			if pure(m.Via) {
				sends = append(sends, pureSend(block, prov(m.Via), pureIndex, m))
				continue
			}
			aud := audienceFor(c.Audience, m.Via)
			d := messageDesired(addrs.Instance{Block: block, Kind: providers.KindMessage, Provider: prov(m.Via)}, "campaign."+name, m)
			d.Attrs["audience"] = aud.String()
			d.Refs = map[string]addrs.Instance{"audience": aud}
			add(d)
		}
	}

	for _, d := range exportedAudiences(cfg) {
		add(d)
	}

	for _, name := range slices.Sorted(maps.Keys(cfg.Triggers)) {
		t := cfg.Triggers[name]
		block := addrs.Block{Type: "trigger", Name: name}
		perProvider := map[addrs.Provider]int{}
		for _, a := range t.Actions {
			if a.Message == nil {
				continue
			}
			p := prov(a.Message.Via)
			if pure(a.Message.Via) {
				sends = append(sends, pureSend(block, p, perProvider, a.Message))
				continue
			}
			idx := perProvider[p]
			perProvider[p]++
			add(messageDesired(addrs.Instance{Block: block, Kind: providers.KindMessage, Provider: p, Index: idx}, "trigger."+name, a.Message))
		}
	}

	used := usedEventTypes(cfg)
	for _, name := range slices.Sorted(maps.Keys(cfg.IdentitySources)) {
		s := cfg.IdentitySources[name]
		events := s.Events
		if len(events) == 0 {
			var delivers []string
			if caps != nil {
				delivers = caps.Topics(prov(s.Provider).String())
			}
			events = defaultTopics(used, delivers)
		}
		if len(events) == 0 || caps != nil && !caps.Subscribes(prov(s.Provider).String()) {
			continue
		}
		add(&Desired{
			Addr:  addrs.Instance{Block: addrs.Block{Type: "identity_source", Name: name}, Kind: providers.KindSubscription, Provider: prov(s.Provider)},
			Attrs: providers.Attrs{"source": name, "topics": slices.Clone(events)},
			Range: s.Range,
		})
	}
	if b := rules.FromConfig(cfg, seeds); b != nil {
		// The engine keeps in step exactly the audiences planned here, including those a
		// codeless channel's coupon needs, which the configuration alone does not tell.
		b.Audiences = nil
		for _, d := range out {
			if d.Addr.Kind == providers.KindAudience {
				b.Audiences = append(b.Audiences, rules.Audience{Segment: d.Addr.Block.Name, Provider: d.Addr.Provider.String()})
			}
		}
		slices.SortFunc(b.Audiences, func(x, y rules.Audience) int {
			return cmp.Or(strings.Compare(x.Segment, y.Segment), strings.Compare(x.Provider, y.Provider))
		})
		enc := b.Encode()
		for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
			pb := cfg.Providers[name]
			if pb.Ref.Type != providers.EngineType {
				continue
			}
			add(&Desired{
				Addr:  addrs.Instance{Block: addrs.Block{Type: "musubi", Name: "rules"}, Kind: providers.KindRules, Provider: prov(pb.Ref)},
				Attrs: providers.Attrs{"bundle": string(enc), "bundle_hash": rules.Hash(enc), "summary": b.Summary()},
				Range: pb.Range,
			})
		}
	}
	addrs.Sort(out, func(d *Desired) addrs.Instance { return d.Addr })
	// By block and provider as changes are, and in the order written within them.
	slices.SortStableFunc(sends, func(a, b *plans.Send) int {
		return addrs.Compare(addrs.Instance{Block: a.Block, Provider: a.Provider}, addrs.Instance{Block: b.Block, Provider: b.Provider})
	})
	return out, sends
}

// pureSend is a message through a pure sender, numbered per block and provider as messages
// are in addresses.
func pureSend(block addrs.Block, p addrs.Provider, index map[addrs.Provider]int, m *lang.Message) *plans.Send {
	s := &plans.Send{Block: block, Provider: p, Index: index[p]}
	index[p]++
	s.Template, s.Subject, s.Variants = messageTexts(m)
	return s
}

// exportedAudiences expands each audience_export into an audience of its segment on every
// provider it names. The instance is the one a campaign messaging the segment through that
// provider uses, so a segment has one audience per provider however many blocks ask for it.
// A provider that cannot hold an audience is refused when planning, at the export's `to`.
func exportedAudiences(cfg *lang.Config) []*Desired {
	var out []*Desired
	for _, name := range slices.Sorted(maps.Keys(cfg.AudienceExports)) {
		e := cfg.AudienceExports[name]
		attrs := providers.Attrs{"segment": e.Segment}
		if s := cfg.Segments[e.Segment]; s != nil && s.Description != "" {
			attrs["description"] = s.Description
		}
		for _, to := range e.To {
			out = append(out, &Desired{
				Addr:  addrs.Instance{Block: addrs.Block{Type: "segment", Name: e.Segment}, Kind: providers.KindAudience, Provider: addrs.Provider{Type: to.Type, Name: to.Name}},
				Attrs: attrs.Clone(), Range: e.ToRange,
			})
		}
	}
	return out
}

func couponAttrs(c *lang.Campaign) providers.Attrs {
	cu := c.Coupon
	a := providers.Attrs{
		"title":    cu.Title,
		"currency": cu.Currency,
		"timezone": cu.Timezone,
	}
	if cu.Percent > 0 {
		a["discount_type"] = "percent"
		a["percent"] = cu.Percent
	} else {
		a["discount_type"] = "amount"
		a["amount"] = cu.Amount
	}
	set := func(k string, v any) {
		if !providers.IsZero(v) {
			a[k] = v
		}
	}
	set("min_total", cu.MinTotal)
	set("code", cu.Code)
	set("per_customer", int64(cu.PerCustomer))
	set("usage_limit", int64(cu.TotalLimit))
	if loc, err := providers.Location(cu.Timezone); err == nil {
		if !cu.ValidFrom.IsZero() {
			a["starts_at"] = cu.ValidFrom.In(loc).Format(time.RFC3339)
		}
		if !cu.ValidUntil.IsZero() {
			a["ends_at"] = cu.ValidUntil.In(loc).Format(time.RFC3339)
		}
	}
	if len(cu.CombinesWith) > 0 {
		cw := slices.Clone(cu.CombinesWith)
		slices.Sort(cw)
		a["combines_with"] = cw
	}
	if cu.AudienceOnly {
		a["audience"] = c.Audience
	}
	if len(cu.Stores) > 0 {
		stores := slices.Clone(cu.Stores)
		slices.Sort(stores)
		a["stores"] = stores
	}
	return a
}

// poolSeeds keeps each campaign's code seed stable across plans, so every channel and every
// later apply generates the same codes; a new pattern or charset starts a new seed. The
// state's code pools are gathered by campaign once, not looked through for every campaign.
type poolSeeds struct {
	prior *states.State
	pools map[addrs.Block][]*states.Resource // in the state's order
}

func (p *poolSeeds) seed(block addrs.Block, cu *lang.Coupon) string {
	if cu.Codes == nil {
		return ""
	}
	if p.prior != nil {
		if p.pools == nil {
			p.pools = map[addrs.Block][]*states.Resource{}
			for _, r := range p.prior.Resources() {
				if r.Kind == providers.KindCodePool {
					p.pools[r.Address.Block] = append(p.pools[r.Address.Block], r)
				}
			}
		}
		for _, r := range p.pools[block] {
			if r.Attributes.String("pattern") == cu.Codes.Pattern &&
				r.Attributes.String("charset") == cu.Codes.Charset && r.Attributes.String("seed") != "" {
				return r.Attributes.String("seed")
			}
		}
	}
	return providers.NewKey()
}

// findPrior is the state's resource at addr, if there is a state.
func findPrior(prior *states.State, addr addrs.Instance) *states.Resource {
	if prior == nil {
		return nil
	}
	return prior.Find(addr)
}

func messageDesired(a addrs.Instance, name string, m *lang.Message) *Desired {
	attrs := providers.Attrs{"name": name}
	template, subject, variants := messageTexts(m)
	if m.Template != nil {
		attrs["template"] = template
	}
	if m.Subject != nil {
		attrs["subject"] = subject
	}
	if len(m.Variants) > 0 {
		attrs["variants"] = variants
	}
	return &Desired{Addr: a, Attrs: attrs, Range: m.Range,
		AttrRanges: map[string]hcl.Range{"template": m.Range, "subject": m.Range, "name": m.Range}}
}

// messageTexts returns a message's template, subject and variant templates by name, as written.
func messageTexts(m *lang.Message) (template, subject string, variants map[string]string) {
	if m.Template != nil {
		template = m.Template.Source
	}
	if m.Subject != nil {
		subject = m.Subject.Source
	}
	if len(m.Variants) > 0 {
		variants = map[string]string{}
		for _, mv := range m.Variants {
			if mv.Template != nil {
				variants[mv.Name] = mv.Template.Source
			}
		}
	}
	return template, subject, variants
}

// defaultTopics are the topics of an identity source that does not list its events: of the
// events its system delivers, those the rules use and those the engine reads by itself
// (lang.ProfileEventTypes), so a LINE source gets its follows without a rule on them, and a
// POS source is not asked for carts it never sends. When the provider does not say what it
// delivers, they are the events the rules use, and the provider keeps what it can.
func defaultTopics(used, delivers []string) []string {
	if delivers == nil {
		return used
	}
	var out []string
	for _, t := range delivers {
		if slices.Contains(used, t) || slices.Contains(lang.ProfileEventTypes, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// usedEventTypes lists the event types the programme listens to, for webhook topics.
func usedEventTypes(cfg *lang.Config) []string {
	set := map[string]bool{}
	for _, t := range cfg.Triggers {
		if t.On != "" && !strings.HasPrefix(t.On, "segment.") && !strings.HasPrefix(t.On, lang.CustomEventPrefix) {
			set[t.On] = true
		}
	}
	for _, t := range cfg.Traits {
		if t.On != "" {
			set[t.On] = true
		}
	}
	if set["coupon.redeemed"] {
		set["purchase"] = true // the engine finds most redemptions in purchases carrying codes
	}
	return slices.Sorted(maps.Keys(set))
}

package lang

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// This file decodes each block type of the language.

var (
	musubiSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "currency"}, {Name: "timezone"}, {Name: "cel_cost_limit"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "backend", LabelNames: []string{"type"}}, {Type: "delivery"}},
	}
	deliverySchema = &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "quiet_hours"}, {Type: "frequency_cap", LabelNames: []string{"channel"}},
			{Type: "send_rate", LabelNames: []string{"provider"}}},
	}
	sendRateSchema   = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "per_second", Required: true}}}
	quietHoursSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "from", Required: true}, {Name: "until", Required: true}, {Name: "timezone"},
	}}
	frequencyCapSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "max", Required: true}, {Name: "per", Required: true},
	}}
	variableSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
	}
	validationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "error_message", Required: true},
	}}
	outputSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "value", Required: true}, {Name: "description"}, {Name: "sensitive"},
	}}
	identitySourceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "provider", Required: true}, {Name: "identifiers", Required: true}, {Name: "events"},
	}}
	identitySchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "priority", Required: true}, {Name: "default_country"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "limit", LabelNames: []string{"identifier"}},
			{Type: "blocked", LabelNames: []string{"identifier"}},
		},
	}
	limitSchema   = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "max", Required: true}, {Name: "window"}}}
	blockedSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "values"}, {Name: "pattern"}, {Name: "patterns"}}}
	traitSchema   = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "on", Required: true}, {Name: "where"}, {Name: "window"}, {Name: "aggregate", Required: true}, {Name: "value"},
	}}
	segmentSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "description"},
	}}
	audienceExportSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "segment", Required: true}, {Name: "to", Required: true},
	}}
	campaignSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: "audience"}, {Name: "channels"}, {Name: "referral"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "coupon"}, {Type: "message"}},
	}
	couponSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "title"}, {Name: "percent"}, {Name: "amount"}, {Name: "currency"}, {Name: "min_total"},
			{Name: "code"}, {Name: "combines_with"}, {Name: "audience_only"}, {Name: "stores"}, {Name: "valid_for"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "codes"}, {Type: "limits"}, {Type: "valid"}},
	}
	codesSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "pattern", Required: true}, {Name: "count", Required: true}, {Name: "charset"},
	}}
	limitsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "per_customer"}, {Name: "total"}}}
	validSchema  = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "from", Required: true}, {Name: "until", Required: true}, {Name: "timezone"},
	}}
	messageSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "via", Required: true}, {Name: "template", Required: true}, {Name: "subject"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "variant", LabelNames: []string{"name"}}},
	}
	// A campaign's message may wait for a set time; a trigger's goes out when it fires.
	campaignMessageSchema = &hcl.BodySchema{
		Attributes: append(slices.Clone(messageSchema.Attributes), hcl.AttributeSchema{Name: "send_at"}, hcl.AttributeSchema{Name: "timezone"}),
		Blocks:     messageSchema.Blocks,
	}
	// A trigger's send is a message with a recipient.
	sendSchema = &hcl.BodySchema{
		Attributes: append(slices.Clone(messageSchema.Attributes), hcl.AttributeSchema{Name: "to"}, hcl.AttributeSchema{Name: "delay"}, hcl.AttributeSchema{Name: "at"}),
		Blocks:     messageSchema.Blocks,
	}
	variantSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "when", Required: true}, {Name: "template", Required: true}, {Name: "subject"},
	}}
	triggerSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "on", Required: true}, {Name: "condition"}, {Name: "cooldown"},
			{Name: "delay"}, {Name: "at"}, {Name: "recheck"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "action", LabelNames: []string{"type"}}, {Type: "wait"}},
	}
	waitSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "for", Required: true}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "unless"}},
	}
	unlessSchema      = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "on", Required: true}, {Name: "condition"}}}
	issueCouponSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "campaign", Required: true}, {Name: "via"}, {Name: "template"}, {Name: "subject"}, {Name: "to"},
			{Name: "delay"}, {Name: "at"}, {Name: "valid_until"}},
		Blocks: []hcl.BlockHeaderSchema{{Type: "variant", LabelNames: []string{"name"}}},
	}
	emitSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "event", Required: true}, {Name: "data"}, {Name: "to"},
		{Name: "delay"}, {Name: "at"}}}
	answerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "template", Required: true}, {Name: "delay"}, {Name: "at"}}}
	policySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true}, {Name: "message", Required: true}, {Name: "applies_to"}, {Name: "severity"},
	}}
)

// DefaultCodeCharset leaves out characters people misread on a receipt (0/O, 1/I/L).
const DefaultCodeCharset = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

func (l *loader) decodeSettings() {
	s := &l.cfg.Settings
	s.Currency, s.Timezone, s.CELCostLimit = "JPY", "Asia/Tokyo", DefaultCELCostLimit
	blocks := l.blocksOf("musubi")
	if len(blocks) == 0 {
		return
	}
	b := blocks[0]
	s.Range = b.DefRange
	c := l.content(b.Body, musubiSchema)
	if a := c.Attributes["currency"]; a != nil {
		if v, ok := l.str(a, ""); ok {
			if _, err := MinorUnits(0, v); err != nil {
				l.errorf(a.Expr.Range().Ptr(), "Invalid currency", "%v.", err)
			} else {
				s.Currency = strings.ToUpper(v)
			}
		}
	}
	if a := c.Attributes["timezone"]; a != nil {
		if name, _, ok := l.zone(a, "", ""); ok {
			s.Timezone = name
		}
	}
	if a := c.Attributes["cel_cost_limit"]; a != nil {
		if n, ok := l.integer(a, "", 1); ok {
			s.CELCostLimit = uint64(n)
		}
	}
	for _, bb := range c.Blocks {
		switch bb.Type {
		case "backend":
			if s.Backend != nil {
				l.errorf(bb.DefRange.Ptr(), "Duplicate backend", "Only one backend block is allowed; the first is at %s.", fmtRange(s.Backend.Range))
				continue
			}
			attrs, diags := bb.Body.JustAttributes()
			l.diags = append(l.diags, diags...)
			s.Backend = &Backend{Type: bb.Labels[0], Config: map[string]cty.Value{}, Range: bb.DefRange}
			l.backendAttrs = attrs
		case "delivery":
			l.decodeDelivery(bb)
		}
	}
}

// decodeBackend evaluates the backend's settings once variables and locals are known, so one
// programme can keep a state per environment: path = "state/${var.environment}.json". The
// settings are not recorded anywhere, so a value read with env() may be used as it is.
func (l *loader) decodeBackend() {
	be := l.cfg.Settings.Backend
	for name, a := range l.backendAttrs {
		if v, ok := l.evalExpr(a.Expr, ""); ok {
			be.Config[name], _ = v.UnmarkDeep()
		}
	}
}

func (l *loader) decodeDelivery(b *hcl.Block) {
	d := &l.cfg.Settings.Delivery
	c := l.content(b.Body, deliverySchema)
	for _, bb := range c.Blocks {
		switch bb.Type {
		case "quiet_hours":
			qc := l.content(bb.Body, quietHoursSchema)
			q := &QuietHours{Range: bb.DefRange}
			ok := true
			for _, f := range []struct {
				name string
				dst  *string
			}{{"from", &q.From}, {"until", &q.Until}} {
				a := qc.Attributes[f.name]
				if a == nil {
					ok = false
					continue
				}
				v, good := l.str(a, "")
				if !good {
					ok = false
					continue
				}
				if _, err := parseClock(v); err != nil {
					l.errorf(a.Expr.Range().Ptr(), "Invalid time of day", "%s: %v.", f.name, err)
					ok = false
				}
				*f.dst = v
			}
			tz, _, good := l.zone(qc.Attributes["timezone"], "", l.cfg.Settings.Timezone)
			if ok && good {
				q.Timezone = tz
				d.QuietHours = q
			}
		case "frequency_cap":
			fc := l.content(bb.Body, frequencyCapSchema)
			cap := FrequencyCap{Channel: bb.Labels[0], Range: bb.DefRange}
			if a := fc.Attributes["max"]; a != nil {
				if n, ok := l.integer(a, "", 1); ok {
					cap.Max = int(n)
				}
			}
			if a := fc.Attributes["per"]; a != nil {
				if dur, ok := l.duration(a, ""); ok {
					cap.Per = dur
				}
			}
			if cap.Max > 0 && cap.Per > 0 {
				d.FrequencyCaps = append(d.FrequencyCaps, cap)
			}
		case "send_rate":
			sc := l.content(bb.Body, sendRateSchema)
			r := SendRate{Provider: bb.Labels[0], Range: bb.DefRange}
			if typ, name, ok := strings.Cut(r.Provider, "."); !ok || typ == "" || name == "" {
				l.errorf(bb.LabelRanges[0].Ptr(), "Invalid send rate", "The label names one provider as TYPE.NAME, such as \"line.oa\".")
				continue
			}
			if a := sc.Attributes["per_second"]; a != nil {
				f, ok := l.number(a, "")
				if !ok {
					continue
				}
				if f <= 0 {
					l.errorf(a.Expr.Range().Ptr(), "Invalid send rate", "per_second is how many messages a second may go out, above 0: 20, or 0.5 for one every 2 seconds.")
					continue
				}
				r.PerSecond = f
				d.SendRates = append(d.SendRates, r)
			}
		}
	}
}

// checkSendRates makes sure each send_rate names a configured provider.
func (l *loader) checkSendRates() {
	for _, r := range l.cfg.Settings.Delivery.SendRates {
		if l.cfg.Providers[r.Provider] == nil {
			l.errorf(r.Range.Ptr(), "Unknown provider", "send_rate names provider %q, which is not configured%s",
				r.Provider, didYouMean(r.Provider, slices.Sorted(maps.Keys(l.cfg.Providers))))
		}
	}
}

func (l *loader) decodeVariables() {
	for _, b := range l.blocksOf("variable") {
		name := b.Labels[0]
		if _, dup := l.cfg.Variables[name]; dup {
			continue
		}
		c := l.content(b.Body, variableSchema)
		v := &Variable{Name: name, Type: cty.DynamicPseudoType, Range: b.DefRange}
		if a := c.Attributes["type"]; a != nil {
			t, diags := typeexpr.TypeConstraint(a.Expr)
			l.diags = append(l.diags, diags...)
			if !diags.HasErrors() {
				v.Type = t
			}
		}
		if a := c.Attributes["description"]; a != nil {
			v.Description, _ = l.str(a, "")
		}
		if a := c.Attributes["sensitive"]; a != nil {
			v.Sensitive, _ = l.boolean(a, "")
		}
		if a := c.Attributes["default"]; a != nil {
			if len(a.Expr.Variables()) > 0 {
				l.errorf(a.Expr.Range().Ptr(), "Variables not allowed", "A variable's default must be a literal value.")
			} else if dv, diags := a.Expr.Value(nil); diags.HasErrors() {
				l.diags = append(l.diags, diags...)
			} else if cv, err := convertVar(dv, v.Type); err != nil {
				l.errorf(a.Expr.Range().Ptr(), "Invalid default value", "The default of var.%s does not match its type: %v.", name, err)
			} else {
				v.Default = cv
			}
		}
		for _, vb := range c.Blocks {
			vc := l.content(vb.Body, validationSchema)
			if vc.Attributes["condition"] == nil || vc.Attributes["error_message"] == nil {
				continue
			}
			msg, _ := l.str(vc.Attributes["error_message"], "")
			v.Validations = append(v.Validations, VariableValidation{Condition: vc.Attributes["condition"].Expr, ErrorMessage: msg})
		}
		l.cfg.Variables[name] = v
	}
	l.assignVariables()
}

func (l *loader) decodeLocals() {
	exprs := map[string]*hcl.Attribute{}
	for _, b := range l.blocksOf("locals") {
		attrs, _ := b.Body.JustAttributes() // diagnostics reported by declare
		for _, a := range attrsInOrder(attrs) {
			if name := nfc(a.Name); exprs[name] == nil {
				exprs[name] = a
			}
		}
	}
	// Record references first so the evaluation order (and any cycle) is known.
	for name, a := range exprs {
		for _, t := range a.Expr.Variables() {
			if t.RootName() == "local" {
				if r, diags := l.resolveTraversal(t); !diags.HasErrors() {
					l.cfg.Graph.AddEdge("local."+name, r.Addr(), r.Range)
				}
			}
		}
	}
	inCycle := map[string]bool{}
	for _, c := range l.cfg.Graph.Cycles() {
		for _, n := range c {
			inCycle[n] = true
		}
	}
	values := map[string]cty.Value{}
	for _, addr := range l.cfg.Graph.TopoOrder() {
		name, isLocal := strings.CutPrefix(addr, "local.")
		if !isLocal || exprs[name] == nil {
			continue
		}
		a := exprs[name]
		val := cty.DynamicVal
		if !inCycle[addr] {
			l.ctx.Variables["local"] = cty.ObjectVal(values)
			if v, ok := l.evalExpr(a.Expr, addr); ok {
				val = v
			}
		}
		values[name] = val
		l.cfg.Locals[name] = &Local{Name: name, Expr: a.Expr, Value: val, Range: a.NameRange}
	}
	l.ctx.Variables["local"] = cty.ObjectVal(values)
}

func (l *loader) decodeBlocks() {
	for _, b := range l.blocks {
		switch b.Type {
		case "provider":
			l.decodeProvider(b)
		case "output":
			l.decodeOutput(b)
		case "identity_source":
			l.decodeIdentitySource(b)
		case "trait":
			l.decodeTrait(b)
		case "segment":
			l.decodeSegment(b)
		case "audience_export":
			l.decodeAudienceExport(b)
		case "campaign":
			l.decodeCampaign(b)
		case "trigger":
			l.decodeTrigger(b)
		case "policy":
			l.decodePolicy(b)
		}
	}
	// The identity block refers to identifier types the sources declare, so it comes last.
	if bs := l.blocksOf("identity"); len(bs) > 0 {
		l.decodeIdentity(bs[0])
	}
}

func (l *loader) decodeProvider(b *hcl.Block) {
	ref := ProviderRef{Type: b.Labels[0], Name: b.Labels[1]}
	addr := "provider." + ref.String()
	if !hclsyntax.ValidIdentifier(ref.Type) {
		l.errorf(b.LabelRanges[0].Ptr(), "Invalid provider type", "%q is not a valid provider type.", ref.Type)
	}
	attrs, diags := b.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	p := &Provider{Ref: ref, Source: "builtin/" + ref.Type, Config: map[string]cty.Value{}, Sensitive: map[string]bool{},
		AttrRanges: map[string]hcl.Range{}, Range: b.DefRange}
	for name, a := range attrs {
		p.AttrRanges[name] = a.Expr.Range()
		if name == "source" {
			if s, ok := l.str(a, addr); ok {
				p.Source = s
			}
			continue
		}
		v, ok := l.evalExpr(a.Expr, addr)
		if !ok {
			continue
		}
		if isSensitive(v) {
			p.Sensitive[name] = true
		}
		// A value from an environment variable that is not set stays unknown: the provider
		// block is checked without it (LoadOptions.DeferEnv).
		v, _ = v.UnmarkDeep()
		p.Config[name] = v
	}
	l.cfg.Providers[ref.String()] = p
}

func (l *loader) decodeOutput(b *hcl.Block) {
	name := b.Labels[0]
	c := l.content(b.Body, outputSchema)
	o := &Output{Name: name, Range: b.DefRange}
	if a := c.Attributes["description"]; a != nil {
		o.Description, _ = l.str(a, "")
	}
	if a := c.Attributes["sensitive"]; a != nil {
		o.Sensitive, _ = l.boolean(a, "")
	}
	if a := c.Attributes["value"]; a != nil {
		if v, ok := l.evalExpr(a.Expr, "output."+name); ok {
			if isSensitive(v) && !o.Sensitive {
				l.errorf(a.Expr.Range().Ptr(), "Output refers to sensitive values",
					"output %q shows a sensitive value; declare it with sensitive = true to keep it hidden.", name)
			}
			o.Value, _ = v.UnmarkDeep()
		}
	}
	l.cfg.Outputs[name] = o
}

func (l *loader) decodeIdentitySource(b *hcl.Block) {
	name := b.Labels[0]
	addr := "identity_source." + name
	c := l.content(b.Body, identitySourceSchema)
	s := &IdentitySource{Name: name, Range: b.DefRange}
	if a := c.Attributes["provider"]; a != nil {
		s.Provider, _ = l.providerRef(a, addr)
	}
	if a := c.Attributes["identifiers"]; a != nil {
		if m, ok := l.stringMap(a, addr); ok {
			if len(m) == 0 {
				l.errorf(a.Expr.Range().Ptr(), "No identifiers", "An identity source must contribute at least one identifier, e.g. { email = \"email\" }.")
			}
			for k := range m {
				if !identifierName.MatchString(k) {
					l.errorf(a.Expr.Range().Ptr(), "Invalid identifier type", "%q: identifier types are lower-case words such as email, phone or line_user.", k)
				}
			}
			s.Identifiers = m
		}
	}
	if a := c.Attributes["events"]; a != nil {
		if evs, ok := l.strings(a, addr); ok {
			for _, e := range evs {
				l.checkEventType(e, a.Expr.Range())
			}
			s.Events = evs
		}
	}
	l.cfg.IdentitySources[name] = s
}

var identifierName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (l *loader) checkEventType(name string, rng hcl.Range) bool {
	if _, ok := LookupEventType(name); ok {
		return true
	}
	l.errorf(rng.Ptr(), "Unknown event type", "%q is not an event type%s Event types: %s, or custom.NAME for your own.",
		name, didYouMean(name, EventTypeNames()), strings.Join(EventTypeNames(), ", "))
	return false
}

func (l *loader) decodeIdentity(b *hcl.Block) {
	c := l.content(b.Body, identitySchema)
	id := &Identity{Limits: map[string]IdentityLimit{}, Blocked: map[string]*BlockedValues{}, DefaultCountry: "JP", Range: b.DefRange}
	known := map[string]bool{}
	for _, s := range l.cfg.IdentitySources {
		for k := range s.Identifiers {
			known[k] = true
		}
	}
	checkType := func(t string, rng hcl.Range) bool {
		if known[t] {
			return true
		}
		l.errorf(rng.Ptr(), "Unknown identifier type", "No identity_source contributes %q%s", t,
			didYouMean(t, slices.Sorted(maps.Keys(known))))
		return false
	}
	if a := c.Attributes["priority"]; a != nil {
		if p, ok := l.strings(a, "identity"); ok {
			seen := map[string]bool{}
			for _, t := range p {
				if seen[t] {
					l.errorf(a.Expr.Range().Ptr(), "Duplicate identifier type", "%q appears twice in priority.", t)
				}
				seen[t] = true
				checkType(t, a.Expr.Range())
			}
			for _, t := range slices.Sorted(maps.Keys(known)) {
				if !seen[t] {
					l.errorf(a.Expr.Range().Ptr(), "Identifier type missing from priority",
						"%q is contributed by an identity source but has no place in priority; add it so merges are deterministic.", t)
				}
			}
			id.Priority = p
		}
	}
	if a := c.Attributes["default_country"]; a != nil {
		if s, ok := l.str(a, "identity"); ok {
			if len(s) != 2 || strings.ToUpper(s) != s {
				l.errorf(a.Expr.Range().Ptr(), "Invalid country", "default_country is an ISO 3166 code such as JP; got %q.", s)
			}
			id.DefaultCountry = s
		}
	}
	for _, bb := range c.Blocks {
		t := bb.Labels[0]
		checkType(t, bb.LabelRanges[0])
		switch bb.Type {
		case "limit":
			lc := l.content(bb.Body, limitSchema)
			lim := IdentityLimit{Type: t, Range: bb.DefRange}
			if a := lc.Attributes["max"]; a != nil {
				if n, ok := l.integer(a, "identity", 1); ok {
					lim.Max = int(n)
				}
			}
			if a := lc.Attributes["window"]; a != nil {
				lim.Window, _ = l.duration(a, "identity")
			}
			if _, dup := id.Limits[t]; dup {
				l.errorf(bb.DefRange.Ptr(), "Duplicate limit", "%q has two limit blocks.", t)
			}
			id.Limits[t] = lim
		case "blocked":
			bc := l.content(bb.Body, blockedSchema)
			bv := id.Blocked[t]
			if bv == nil {
				bv = &BlockedValues{Type: t, Range: bb.DefRange}
				id.Blocked[t] = bv
			}
			if a := bc.Attributes["values"]; a != nil {
				if vs, ok := l.strings(a, "identity"); ok {
					bv.Values = append(bv.Values, vs...)
				}
			}
			var pats []string
			var patAttr *hcl.Attribute
			if a := bc.Attributes["pattern"]; a != nil {
				if p, ok := l.str(a, "identity"); ok {
					pats, patAttr = append(pats, p), a
				}
			}
			if a := bc.Attributes["patterns"]; a != nil {
				if ps, ok := l.strings(a, "identity"); ok {
					pats, patAttr = append(pats, ps...), a
				}
			}
			for _, p := range pats {
				re, err := regexp.Compile(p)
				if err != nil {
					l.errorf(patAttr.Expr.Range().Ptr(), "Invalid pattern", "%q is not a valid regular expression: %v.", p, err)
					continue
				}
				bv.Patterns = append(bv.Patterns, re)
			}
			if len(bv.Values) == 0 && len(bv.Patterns) == 0 && len(pats) == 0 {
				l.errorf(bb.DefRange.Ptr(), "Empty blocked block", "Give values = [...] or pattern = \"...\".")
			}
		}
	}
	l.cfg.Identity = id
}

func (l *loader) decodeTrait(b *hcl.Block) {
	name := b.Labels[0]
	addr := "trait." + name
	c := l.content(b.Body, traitSchema)
	t := &Trait{Name: name, Range: b.DefRange}
	l.cfg.Traits[name] = t
	if a := c.Attributes["on"]; a != nil {
		if on, ok := l.str(a, addr); ok && l.checkEventType(on, a.Expr.Range()) {
			t.On = on
		}
	}
	if a := c.Attributes["window"]; a != nil {
		t.Window, _ = l.duration(a, addr)
	}
	if a := c.Attributes["aggregate"]; a != nil {
		if s, ok := l.str(a, addr); ok {
			switch agg := Aggregate(s); agg {
			case AggCount, AggSum, AggMin, AggMax, AggLast, AggDistinct:
				t.Aggregate = agg
			default:
				l.errorf(a.Expr.Range().Ptr(), "Unknown aggregate", "%q is not an aggregate%s Use count, sum, min, max, last or distinct.",
					s, didYouMean(s, []string{"count", "sum", "min", "max", "last", "distinct"}))
			}
		}
	}
	if t.On == "" {
		return
	}
	env := func(s *Schema) (*cel.Env, error) { return s.Trait(t.On) }
	if a := c.Attributes["where"]; a != nil {
		l.cel(a, addr, CtxTrait, env, cel.BoolType, func(e *Expr) { t.Where = e })
	}
	a := c.Attributes["value"]
	switch {
	case t.Aggregate == AggCount && a != nil:
		l.errorf(a.Expr.Range().Ptr(), "Unexpected value", "A count trait counts events; it takes no value expression.")
	case t.Aggregate != AggCount && t.Aggregate != "" && a == nil:
		l.errorf(b.DefRange.Ptr(), "Missing value", "A %s trait needs value = \"<CEL expression over event>\".", t.Aggregate)
	case a != nil:
		l.cel(a, addr, CtxTrait, env, nil, func(e *Expr) { t.Value = e })
	}
}

func (l *loader) decodeSegment(b *hcl.Block) {
	name := b.Labels[0]
	addr := "segment." + name
	c := l.content(b.Body, segmentSchema)
	s := &Segment{Name: name, Range: b.DefRange}
	l.cfg.Segments[name] = s
	if a := c.Attributes["description"]; a != nil {
		s.Description, _ = l.str(a, addr)
	}
	if a := c.Attributes["condition"]; a != nil {
		l.cel(a, addr, CtxSegment, (*Schema).segmentEnv, cel.BoolType, func(e *Expr) { s.Condition = e })
	}
}

// decodeAudienceExport reads an audience_export block. Whether each provider can hold an
// audience is the planner's to say: the language does not know providers' kinds.
func (l *loader) decodeAudienceExport(b *hcl.Block) {
	name := b.Labels[0]
	addr := "audience_export." + name
	c := l.content(b.Body, audienceExportSchema)
	e := &AudienceExport{Name: name, Range: b.DefRange}
	l.cfg.AudienceExports[name] = e
	if a := c.Attributes["segment"]; a != nil {
		if r, ok := l.ref(a, addr, "segment"); ok {
			e.Segment = r.Name
		}
	}
	if a := c.Attributes["to"]; a != nil {
		e.ToRange = a.Expr.Range()
		if to, ok := l.providerRefs(a, addr); ok && len(to) == 0 {
			l.errorf(a.Expr.Range().Ptr(), "Missing providers", "to lists the providers the audience goes to, such as [provider.meta.ads].")
		} else {
			e.To = to
		}
	}
}

func (s *Schema) segmentEnv() (*cel.Env, error)  { return s.segment, nil }
func (s *Schema) campaignEnv() (*cel.Env, error) { return s.campaign, nil }

func (l *loader) decodeCampaign(b *hcl.Block) {
	name := b.Labels[0]
	addr := "campaign." + name
	c := l.content(b.Body, campaignSchema)
	cp := &Campaign{Name: name, Range: b.DefRange}
	l.cfg.Campaigns[name] = cp
	defer cp.AttrRanges.trim()
	for n, a := range c.Attributes {
		cp.AttrRanges.Set(n, a.Expr.Range())
	}
	if a := c.Attributes["description"]; a != nil {
		cp.Description, _ = l.str(a, addr)
	}
	if a := c.Attributes["audience"]; a != nil {
		if r, ok := l.ref(a, addr, "segment"); ok {
			cp.Audience = r.Name
		}
	}
	if a := c.Attributes["channels"]; a != nil {
		cp.Channels, _ = l.providerRefs(a, addr)
	}
	if a := c.Attributes["referral"]; a != nil {
		cp.Referral, _ = l.boolean(a, addr)
	}
	hasMessage := false
	sendAts := map[*Message]hcl.Range{} // where each scheduled message's send_at is written
	for _, bb := range c.Blocks {
		switch bb.Type {
		case "coupon":
			if cp.Coupon != nil {
				l.errorf(bb.DefRange.Ptr(), "Duplicate coupon", "A campaign has one coupon; the first is at %s.", fmtRange(cp.Coupon.Range))
				continue
			}
			cp.AttrRanges.Set("coupon", bb.DefRange)
			cp.Coupon = l.decodeCoupon(bb, cp, addr)
		case "message":
			hasMessage = true
			mc := l.content(bb.Body, campaignMessageSchema)
			if m := l.decodeMessage(mc, bb.DefRange, addr, CtxCampaign, (*Schema).campaignEnv); m != nil {
				if m.SendAt, _ = l.sendAt(mc, addr); !m.SendAt.IsZero() {
					sendAts[m] = mc.Attributes["send_at"].Expr.Range()
				}
				cp.Messages = append(cp.Messages, m)
			}
		}
	}
	l.checkSendAt(cp, sendAts)
	if cp.Coupon != nil && len(cp.Channels) == 0 && c.Attributes["channels"] == nil {
		l.errorf(b.DefRange.Ptr(), "Missing channels", "A campaign with a coupon needs channels = [provider.TYPE.NAME, …]: the EC and POS systems the coupon must work on.")
	}
	// The checks below look at what is written, not at what decoded: a block or reference with
	// an error of its own is reported once, not again as missing.
	if cp.Coupon == nil && !hasMessage {
		l.errorf(b.DefRange.Ptr(), "Empty campaign", "A campaign needs a coupon block, a message block, or both.")
	}
	if hasMessage && c.Attributes["audience"] == nil {
		l.errorf(b.DefRange.Ptr(), "Missing audience", "A campaign that sends messages needs audience = segment.NAME: who receives them.")
	}
	// A referral code tells whose friend used it: it must be the customer's own.
	if a := c.Attributes["referral"]; cp.Referral && cp.Coupon != nil && cp.Coupon.Code != "" {
		l.errorf(a.Expr.Range().Ptr(), "Referral with a shared code", "A referral campaign gives each customer a code of their own for their friends; it needs a codes { … } block of unique codes, not code = %q.", cp.Coupon.Code)
	} else if cp.Referral && !slices.ContainsFunc(c.Blocks, func(b *hcl.Block) bool { return b.Type == "coupon" }) {
		l.errorf(a.Expr.Range().Ptr(), "Referral without a coupon", "A referral campaign gives each customer a code of their own for their friends; add a coupon block with codes { … }.")
	}
}

// couponKeys are the names a coupon's attributes have among its campaign's, made once.
var couponKeys = func() map[string]string {
	m := map[string]string{}
	for _, a := range couponSchema.Attributes {
		m[a.Name] = "coupon." + a.Name
	}
	return m
}()

func (l *loader) decodeCoupon(b *hcl.Block, cp *Campaign, addr string) *Coupon {
	c := l.content(b.Body, couponSchema)
	cu := &Coupon{Title: cp.Name, Currency: l.cfg.Settings.Currency, Timezone: l.cfg.Settings.Timezone, Range: b.DefRange}
	for n, a := range c.Attributes {
		key, ok := couponKeys[n]
		if !ok {
			key = "coupon." + n
		}
		cp.AttrRanges.Set(key, a.Expr.Range())
	}
	if a := c.Attributes["title"]; a != nil {
		cu.Title, _ = l.str(a, addr)
	}
	if a := c.Attributes["currency"]; a != nil {
		if s, ok := l.str(a, addr); ok {
			if _, err := MinorUnits(0, s); err != nil {
				l.errorf(a.Expr.Range().Ptr(), "Invalid currency", "%v.", err)
			} else {
				cu.Currency = strings.ToUpper(s)
			}
		}
	}
	money := func(a *hcl.Attribute) (int64, bool) {
		f, ok := l.number(a, addr)
		if !ok {
			return 0, false
		}
		if f < 0 {
			l.errorf(a.Expr.Range().Ptr(), "Invalid amount", "%s must not be negative.", a.Name)
			return 0, false
		}
		n, err := MinorUnits(f, cu.Currency)
		if err != nil {
			l.errorf(a.Expr.Range().Ptr(), "Invalid amount", "%s: %v.", a.Name, err)
			return 0, false
		}
		return n, true
	}
	pa, aa := c.Attributes["percent"], c.Attributes["amount"]
	switch {
	case pa != nil && aa != nil:
		l.errorf(aa.Expr.Range().Ptr(), "Conflicting discount", "A coupon takes percent or amount off, not both.")
	case pa != nil:
		if f, ok := l.number(pa, addr); ok {
			if f <= 0 || f > 100 {
				l.errorf(pa.Expr.Range().Ptr(), "Invalid percent", "percent must be more than 0 and at most 100; got %v.", f)
			}
			cu.Percent = f
		}
	case aa != nil:
		if n, ok := money(aa); ok {
			if n == 0 {
				l.errorf(aa.Expr.Range().Ptr(), "Invalid amount", "amount must be more than 0.")
			}
			cu.Amount = n
		}
	default:
		l.errorf(b.DefRange.Ptr(), "Missing discount", "A coupon needs percent = N (percent off) or amount = N (amount off, in %s).", cu.Currency)
	}
	if a := c.Attributes["min_total"]; a != nil {
		cu.MinTotal, _ = money(a)
	}
	if a := c.Attributes["code"]; a != nil {
		if s, ok := l.str(a, addr); ok {
			if !couponCode.MatchString(s) {
				l.errorf(a.Expr.Range().Ptr(), "Invalid code", "%q: a code is 3 to 64 letters, digits, dashes or underscores.", s)
			}
			cu.Code = s
		}
	}
	if a := c.Attributes["audience_only"]; a != nil {
		cu.AudienceOnly, _ = l.boolean(a, addr)
		if _, set := cp.AttrRanges.Get("audience"); cu.AudienceOnly && !set {
			l.errorf(a.Expr.Range().Ptr(), "Missing audience", "audience_only restricts the coupon to the campaign's audience; set audience = segment.NAME.")
		}
	}
	if a := c.Attributes["combines_with"]; a != nil {
		if vs, ok := l.strings(a, addr); ok {
			for _, v := range vs {
				if !slices.Contains([]string{"order", "product", "shipping"}, v) {
					l.errorf(a.Expr.Range().Ptr(), "Invalid combines_with", "%q: a coupon combines with order, product or shipping discounts.", v)
				}
			}
			cu.CombinesWith = vs
		}
	}
	if a := c.Attributes["stores"]; a != nil {
		cu.Stores, _ = l.couponStores(a, addr)
	}
	if a := c.Attributes["valid_for"]; a != nil {
		if d, ok := l.duration(a, addr); ok {
			if d == 0 {
				l.errorf(a.Expr.Range().Ptr(), "Invalid duration", "valid_for must be longer than 0: how long each customer's code is good for after it is given.")
			}
			cu.ValidFor = d
		}
	}
	for _, bb := range c.Blocks {
		switch bb.Type {
		case "codes":
			cc := l.content(bb.Body, codesSchema)
			pool := &CodePool{Charset: DefaultCodeCharset}
			if a := cc.Attributes["charset"]; a != nil {
				pool.Charset, _ = l.str(a, addr)
			}
			if a := cc.Attributes["count"]; a != nil {
				if n, ok := l.integer(a, addr, 1); ok {
					pool.Count = int(n)
				}
			}
			if a := cc.Attributes["pattern"]; a != nil {
				if p, ok := l.str(a, addr); ok {
					pool.Pattern = p
					if err := checkCodePattern(p, pool.Charset, pool.Count); err != nil {
						l.errorf(a.Expr.Range().Ptr(), "Invalid code pattern", "%v.", err)
					}
				}
			}
			cu.Codes = pool
		case "limits":
			lc := l.content(bb.Body, limitsSchema)
			if a := lc.Attributes["per_customer"]; a != nil {
				if n, ok := l.integer(a, addr, 0); ok {
					cu.PerCustomer = int(n)
				}
			}
			if a := lc.Attributes["total"]; a != nil {
				if n, ok := l.integer(a, addr, 0); ok {
					cu.TotalLimit = int(n)
				}
			}
		case "valid":
			vc := l.content(bb.Body, validSchema)
			tz, loc, ok := l.zone(vc.Attributes["timezone"], addr, cu.Timezone)
			if !ok {
				continue
			}
			cu.Timezone = tz
			if a := vc.Attributes["from"]; a != nil {
				cu.ValidFrom, _ = l.timestamp(a, addr, loc)
			}
			if a := vc.Attributes["until"]; a != nil {
				cu.ValidUntil, _ = l.timestamp(a, addr, loc)
			}
			if !cu.ValidFrom.IsZero() && !cu.ValidUntil.IsZero() && !cu.ValidUntil.After(cu.ValidFrom) {
				l.errorf(bb.DefRange.Ptr(), "Invalid validity", "until (%s) must be after from (%s).",
					cu.ValidUntil.Format("2006-01-02 15:04 MST"), cu.ValidFrom.Format("2006-01-02 15:04 MST"))
			}
		}
	}
	// Whether a code is given is a matter of what is written: an invalid code has its own error.
	if c.Attributes["code"] != nil && cu.Codes != nil {
		l.errorf(b.DefRange.Ptr(), "Conflicting codes", "A coupon has one shared code or a codes block of unique codes, not both.")
	}
	if c.Attributes["code"] == nil && cu.Codes == nil {
		l.errorf(b.DefRange.Ptr(), "Missing code", "A coupon needs code = \"SHARED-CODE\" or a codes { pattern = \"XXX-####\" count = N } block.")
	}
	if cu.Codes != nil && cu.PerCustomer == 0 {
		cu.PerCustomer = 1
	}
	return cu
}

// sendAt reads a campaign message's send_at: a local time in the message's timezone (default
// musubi.timezone), or an RFC 3339 time with an offset. The time returned is in that zone,
// so a plan shows it as the campaign's team wrote it.
func (l *loader) sendAt(c *hcl.BodyContent, addr string) (time.Time, bool) {
	a, tza := c.Attributes["send_at"], c.Attributes["timezone"]
	if a == nil {
		if tza != nil {
			l.errorf(tza.Expr.Range().Ptr(), "Timezone without send_at", "A message's timezone is the zone of its send_at; set send_at = \"2026-12-24T10:00:00\" or remove timezone.")
		}
		return time.Time{}, false
	}
	_, loc, ok := l.zone(tza, addr, l.cfg.Settings.Timezone)
	s, good := l.str(a, addr)
	if !ok || !good {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.In(loc), true
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	hint := ""
	if _, err := time.Parse("2006-01-02", s); err == nil {
		hint = " A date alone is not enough: say the time of day it goes out."
	} else if why := timeProblem(s); why != "" {
		l.errorf(a.Expr.Range().Ptr(), "Invalid send_at", "send_at: %q is not a time: %s.", s, why)
		return time.Time{}, false
	}
	l.errorf(a.Expr.Range().Ptr(), "Invalid send_at",
		"send_at is when the message goes out: a local time such as \"2026-12-24T10:00:00\" (in %s), or an RFC 3339 time with an offset such as \"2026-12-24T10:00:00+09:00\"; got %q.%s",
		loc, s, hint)
	return time.Time{}, false
}

// checkSendAt refuses a scheduled message that could never go out: one set for after the
// campaign's coupon stops being valid, when the campaign no longer runs.
func (l *loader) checkSendAt(cp *Campaign, ranges map[*Message]hcl.Range) {
	if cp.Coupon == nil || cp.Coupon.ValidUntil.IsZero() {
		return
	}
	for _, m := range cp.Messages {
		if rng, ok := ranges[m]; ok && m.SendAt.After(cp.Coupon.ValidUntil) {
			l.errorf(rng.Ptr(), "Message after the campaign", "send_at (%s) is after the coupon's validity ends (%s): the campaign no longer runs then, and the message would never go out.",
				m.SendAt.Format("2006-01-02 15:04 MST"), cp.Coupon.ValidUntil.In(m.SendAt.Location()).Format("2006-01-02 15:04 MST"))
		}
	}
}

var couponCode = regexp.MustCompile(`^[A-Za-z0-9_-]{3,64}$`)

// couponStores reads a coupon's stores: the IDs of the stores or locations it may be redeemed
// at, as the channels' systems name them. They are sorted, and each is written once.
func (l *loader) couponStores(a *hcl.Attribute, addr string) ([]string, bool) {
	vs, ok := l.strings(a, addr)
	if !ok {
		return nil, false
	}
	if len(vs) == 0 {
		l.errorf(a.Expr.Range().Ptr(), "Invalid stores", "stores lists the stores the coupon may be redeemed at; leave it out for every store.")
		return nil, false
	}
	seen := map[string]bool{}
	for _, v := range vs {
		switch {
		case strings.TrimSpace(v) == "" || v != strings.TrimSpace(v):
			l.errorf(a.Expr.Range().Ptr(), "Invalid stores", "%q is not a store ID: IDs are written as the system shows them, without spaces around.", v)
			return nil, false
		case seen[v]:
			l.errorf(a.Expr.Range().Ptr(), "Invalid stores", "%q is listed twice.", v)
			return nil, false
		}
		seen[v] = true
	}
	slices.Sort(vs)
	return vs, true
}

// checkCodePattern makes sure a pattern has room for its codes, with a margin of 100x so that
// guessing a valid code stays hard and generation never runs out.
func checkCodePattern(pattern, charset string, count int) error {
	n := strings.Count(pattern, "#")
	if n == 0 {
		return fmt.Errorf("%q has no # placeholders; each # becomes one random character", pattern)
	}
	if !couponCode.MatchString(strings.ReplaceAll(pattern, "#", "A")) {
		return fmt.Errorf("%q: codes are 3 to 64 letters, digits, dashes or underscores", pattern)
	}
	if len(charset) < 2 {
		return fmt.Errorf("charset needs at least two characters")
	}
	space := 1.0
	for i := 0; i < n; i++ {
		space *= float64(len(charset))
	}
	if space < float64(count)*100 {
		return fmt.Errorf("%q allows %.0f codes, too few for %d: use more # so there are at least 100 possible codes per issued one", pattern, space, count)
	}
	return nil
}

func (l *loader) decodeMessage(c *hcl.BodyContent, rng hcl.Range, addr string, ctx Context, env func(*Schema) (*cel.Env, error)) *Message {
	m := &Message{Range: rng}
	a := c.Attributes["via"]
	if a == nil {
		return nil
	}
	var ok bool
	if m.Via, ok = l.providerRef(a, addr); !ok {
		return nil
	}
	if a := c.Attributes["template"]; a != nil {
		m.Template = l.template(a, addr, ctx, env)
	} else {
		l.errorf(rng.Ptr(), "Missing template", "Sending a message needs template = \"…\" (text with {{ CEL }} placeholders).")
	}
	if a := c.Attributes["subject"]; a != nil {
		m.Subject = l.template(a, addr, ctx, env)
	}
	for _, vb := range c.Blocks {
		vc := l.content(vb.Body, variantSchema)
		v := &MessageVariant{Name: vb.Labels[0], Range: vb.DefRange}
		if a := vc.Attributes["when"]; a != nil {
			l.cel(a, addr, ctx, env, cel.BoolType, func(e *Expr) { v.When = e })
		}
		if a := vc.Attributes["template"]; a != nil {
			v.Template = l.template(a, addr, ctx, env)
		}
		if a := vc.Attributes["subject"]; a != nil {
			v.Subject = l.template(a, addr, ctx, env)
		}
		m.Variants = append(m.Variants, v)
	}
	return m
}

func (l *loader) decodeTrigger(b *hcl.Block) {
	name := b.Labels[0]
	addr := "trigger." + name
	c := l.content(b.Body, triggerSchema)
	t := &Trigger{Name: name, Range: b.DefRange, Recheck: true}
	l.cfg.Triggers[name] = t
	if a := c.Attributes["on"]; a != nil {
		if on, ok := l.str(a, addr); ok && l.checkEventType(on, a.Expr.Range()) {
			t.On = on
		}
	}
	if a := c.Attributes["cooldown"]; a != nil {
		t.Cooldown, _ = l.duration(a, addr)
	}
	t.Timing = l.timing(c.Attributes, addr)
	if a := c.Attributes["recheck"]; a != nil {
		t.Recheck, _ = l.boolean(a, addr)
	}
	env := func(s *Schema) (*cel.Env, error) { return s.Trigger(t.On) }
	if t.On != "" {
		if a := c.Attributes["condition"]; a != nil {
			l.cel(a, addr, CtxTrigger, env, cel.BoolType, func(e *Expr) { t.Condition = e })
		}
	}
	actions := 0
	for _, ab := range c.Blocks {
		if ab.Type == "wait" {
			l.decodeWait(t, ab, addr)
			continue
		}
		actions++
		act := &Action{Type: ActionType(ab.Labels[0]), Range: ab.DefRange}
		var ac *hcl.BodyContent
		switch act.Type {
		case ActionSend:
			ac = l.content(ab.Body, sendSchema)
			act.To = l.recipient(ac.Attributes["to"], addr, t.On)
			if t.On != "" {
				act.Message = l.decodeMessage(ac, ab.DefRange, addr, CtxTrigger, env)
			}
		case ActionIssueCoupon:
			ac = l.content(ab.Body, issueCouponSchema)
			act.To = l.recipient(ac.Attributes["to"], addr, t.On)
			if a := ac.Attributes["campaign"]; a != nil {
				if r, ok := l.ref(a, addr, "campaign"); ok {
					act.Campaign = r.Name
				}
			}
			switch {
			case ac.Attributes["via"] != nil && t.On != "":
				act.Message = l.decodeMessage(ac, ab.DefRange, addr, CtxTrigger, env)
			case ac.Attributes["via"] == nil && ac.Attributes["template"] != nil && t.On != "":
				// No channel: the text carrying the code is the caller's answer (a receipt).
				act.Answer = l.template(ac.Attributes["template"], addr, CtxTrigger, env)
				if ac.Attributes["subject"] != nil || len(ac.Blocks) > 0 {
					l.errorf(ab.DefRange.Ptr(), "Missing via", "A subject or variants need via = provider.TYPE.NAME: the channel that delivers the code. Without via, the template is the answer to the caller.")
				}
			}
			if a := ac.Attributes["valid_until"]; a != nil && t.On != "" {
				l.cel(a, addr, CtxTrigger, env, cel.TimestampType, func(e *Expr) { act.ValidUntil = e })
			}
		case ActionEmit:
			ac = l.content(ab.Body, emitSchema)
			act.To = l.recipient(ac.Attributes["to"], addr, t.On)
			if a := ac.Attributes["event"]; a != nil {
				if ev, ok := l.str(a, addr); ok {
					if !strings.HasPrefix(ev, CustomEventPrefix) {
						l.errorf(a.Expr.Range().Ptr(), "Invalid event", "Triggers emit the programme's own events, named custom.NAME; got %q.", ev)
					}
					act.Event = ev
				}
			}
			if a := ac.Attributes["data"]; a != nil && t.On != "" {
				pairs, diags := hcl.ExprMap(a.Expr)
				if diags.HasErrors() {
					l.errorf(a.Expr.Range().Ptr(), "Invalid data", "data is a map of CEL expressions: { key = \"event.total\" }.")
				}
				act.Data = map[string]*Expr{}
				for _, p := range pairs {
					k, kd := p.Key.Value(nil)
					if kd.HasErrors() || k.Type() != cty.String {
						l.errorf(p.Key.Range().Ptr(), "Invalid key", "data keys are plain names.")
						continue
					}
					key := k.AsString()
					l.cel(&hcl.Attribute{Name: "data." + key, Expr: p.Value, Range: p.Value.Range()}, addr, CtxTrigger, env, nil,
						func(e *Expr) { act.Data[key] = e })
				}
			}
		case ActionAnswer:
			ac = l.content(ab.Body, answerSchema)
			if a := ac.Attributes["template"]; a != nil && t.On != "" {
				act.Answer = l.template(a, addr, CtxTrigger, env)
			}
		default:
			l.errorf(ab.LabelRanges[0].Ptr(), "Unknown action", "%q is not an action%s Actions: send, issue_coupon, emit, answer.",
				ab.Labels[0], didYouMean(ab.Labels[0], []string{"send", "issue_coupon", "emit", "answer"}))
			continue
		}
		act.Timing = l.timing(ac.Attributes, addr)
		t.Actions = append(t.Actions, act)
	}
	for _, act := range t.Actions {
		if act.Answer != nil && (act.Timing.Timed() || t.Wait != nil || t.Timing.Timed()) {
			l.errorf(act.Range.Ptr(), "Answer cannot wait", "An answer is returned to the caller that posted the event, so it runs at once: remove delay, at and wait, or send the text through a channel.")
		}
	}
	if actions == 0 {
		l.errorf(b.DefRange.Ptr(), "No actions", "A trigger needs at least one action block: send, issue_coupon, emit or answer.")
	}
	if t.Wait != nil && t.Delay > 0 {
		l.errorf(c.Attributes["delay"].Expr.Range().Ptr(), "Delay and wait", "A wait is a delay that a later event can cancel: set wait { for = ... } or delay, not both.")
	}
}

// timing reads the delay and at attributes of a trigger or an action.
func (l *loader) timing(attrs hcl.Attributes, addr string) Timing {
	var t Timing
	if a := attrs["delay"]; a != nil {
		t.Delay, _ = l.duration(a, addr)
	}
	if a := attrs["at"]; a != nil {
		if v, ok := l.str(a, addr); ok {
			if _, err := parseClock(v); err != nil {
				l.errorf(a.Expr.Range().Ptr(), "Invalid time of day", "at: %v, in the programme's time zone.", err)
			} else {
				t.At = v
			}
		}
	}
	return t
}

// decodeWait reads a trigger's wait block: how long, and the events that cancel it.
func (l *loader) decodeWait(t *Trigger, b *hcl.Block, addr string) {
	if t.Wait != nil {
		l.errorf(b.DefRange.Ptr(), "Duplicate wait", "A trigger has at most one wait block; list every cancelling event as an unless block in it.")
		return
	}
	c := l.content(b.Body, waitSchema)
	w := &Wait{Range: b.DefRange}
	t.Wait = w
	if a := c.Attributes["for"]; a != nil {
		if d, ok := l.duration(a, addr); ok {
			if d <= 0 {
				l.errorf(a.Expr.Range().Ptr(), "Invalid duration", "for: a wait lasts some time, such as \"3h\".")
			}
			w.For = d
		}
	}
	for _, ub := range c.Blocks {
		uc := l.content(ub.Body, unlessSchema)
		u := &Unless{Range: ub.DefRange}
		if a := uc.Attributes["on"]; a != nil {
			if on, ok := l.str(a, addr); ok && l.checkEventType(on, a.Expr.Range()) {
				u.On = on
			}
		}
		if a := uc.Attributes["condition"]; a != nil && u.On != "" && t.On != "" {
			on := u.On
			l.cel(a, addr, CtxUnless, func(s *Schema) (*cel.Env, error) { return s.Unless(t.On, on) }, cel.BoolType,
				func(e *Expr) { u.Condition = e })
		}
		w.Unless = append(w.Unless, u)
	}
}

// recipient reads an action's `to`: "" for the event's customer, or a recipient the trigger's
// event type carries (the owner of a redeemed code).
func (l *loader) recipient(a *hcl.Attribute, addr, on string) string {
	if a == nil {
		return ""
	}
	to, ok := l.str(a, addr)
	if !ok || to == RecipientCustomer || on == "" {
		return ""
	}
	et, _ := LookupEventType(on)
	if slices.Contains(et.Recipients, to) {
		return to
	}
	known := []string{RecipientCustomer, RecipientCodeOwner}
	if !slices.Contains(known, to) {
		l.errorf(a.Expr.Range().Ptr(), "Unknown recipient", "%q is not a recipient%s An action goes to %q (the event's customer, the default) or, on events naming another customer, to that customer: %q on coupon.redeemed.",
			to, didYouMean(to, known), RecipientCustomer, RecipientCodeOwner)
		return ""
	}
	var on2 []string
	for _, n := range EventTypeNames() {
		if e, _ := LookupEventType(n); slices.Contains(e.Recipients, to) {
			on2 = append(on2, n)
		}
	}
	l.errorf(a.Expr.Range().Ptr(), "Invalid recipient", "A %s event names no %s: to = %q is valid on %s only.", on, strings.ReplaceAll(to, "_", " "), to, strings.Join(on2, ", "))
	return ""
}

func (l *loader) decodePolicy(b *hcl.Block) {
	name := b.Labels[0]
	addr := "policy." + name
	c := l.content(b.Body, policySchema)
	p := &Policy{Name: name, AppliesTo: "campaign", Severity: "error", Range: b.DefRange}
	l.cfg.Policies[name] = p
	if a := c.Attributes["applies_to"]; a != nil {
		if s, ok := l.str(a, addr); ok {
			if s != "campaign" && s != "segment" && s != "trigger" {
				l.errorf(a.Expr.Range().Ptr(), "Invalid applies_to", "A policy applies to campaign, segment or trigger blocks; got %q.", s)
				return
			}
			p.AppliesTo = s
		}
	}
	if a := c.Attributes["severity"]; a != nil {
		if s, ok := l.str(a, addr); ok {
			if s != "error" && s != "warning" {
				l.errorf(a.Expr.Range().Ptr(), "Invalid severity", "severity is error (blocks apply) or warning (shown in the plan); got %q.", s)
			}
			p.Severity = s
		}
	}
	if a := c.Attributes["message"]; a != nil {
		p.Message, _ = l.str(a, addr)
	}
	if a := c.Attributes["condition"]; a != nil {
		kind := p.AppliesTo
		l.cel(a, addr, CtxPolicy, func(s *Schema) (*cel.Env, error) {
			e, _ := s.Policy(kind)
			return e, nil
		}, cel.BoolType, func(e *Expr) { p.Condition = e })
	}
}

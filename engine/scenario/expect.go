package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var (
	runExpectSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "fired"}, {Name: "not_fired"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "customer", LabelNames: []string{"name"}},
			{Type: "message"}, {Type: "code"}, {Type: "pending"},
		},
	}
	customerExpectSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "in"}, {Name: "not_in"}, {Name: "traits"}, {Name: "consent"}, {Name: "attributes"}, {Name: "pending"}, {Name: "known"},
	}}
	eventExpectSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "fired"}, {Name: "not_fired"}, {Name: "entered"}, {Name: "exited"}, {Name: "duplicate"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "answer"}},
	}
	decideExpectSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "fired"}, {Name: "not_fired"}, {Name: "in"}, {Name: "not_in"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "offer", LabelNames: []string{"campaign"}},
			{Type: "action"},
		},
	}
	offerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "eligible"}, {Name: "remaining"}, {Name: "reason"}}}
)

// matchFields are the filters of the blocks that count things (messages, codes, held steps,
// answers, a decision's actions), by block type.
var matchFields = map[string][]string{
	"message": {"customer", "trigger", "campaign", "via", "status", "contains", "count"},
	"code":    {"customer", "campaign", "count"},
	"pending": {"customer", "trigger", "count"},
	"answer":  {"type", "campaign", "via", "status", "contains", "count"},
	"action":  {"trigger", "type", "campaign", "via", "status", "contains", "count"},
}

// statuses are the statuses a message or an outcome may be expected to have.
var statuses = map[string][]string{
	"message": {"queued", "held", "suppressed", "dead", "sent"},
	"answer":  {"queued", "held", "suppressed", "unreachable", "issued", "answered", "emitted", "scheduled"},
	"action": {"would_send", "would_issue", "would_answer", "would_schedule", "would_emit", "queued", "held", "suppressed",
		"unreachable", "issued", "answered", "emitted", "scheduled"},
}

var actionTypes = []string{"send", "issue_coupon", "emit", "answer"}

// inOrder sorts checks as they are written, so they are checked and reported in that order.
func inOrder(checks []Check) []Check {
	slices.SortStableFunc(checks, func(a, b Check) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return checks
}

func (d *decoder) runExpect(b *hcl.Block, customers map[string]bool) []Check {
	content, ds := b.Body.Content(runExpectSchema)
	d.diags = append(d.diags, ds...)
	var out []Check
	out = append(out, d.firedChecks(content.Attributes, "fired in the run", func(st *state) []string { return st.fired })...)
	names := slices.Sorted(maps.Keys(customers))
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "customer":
			name := blk.Labels[0]
			if !customers[name] {
				d.ref(&hclLiteral{name, blk.LabelRanges[0]}, "customer", names)
				continue
			}
			out = append(out, d.customerChecks(blk, name)...)
		default:
			if m, ok := d.matcher(blk, names); ok {
				out = append(out, Check{Range: blk.DefRange, What: blk.Type, check: m.checkState})
			}
		}
	}
	return inOrder(out)
}

// hclLiteral is a label read as a string expression, so labels and attributes share ref.
type hclLiteral struct {
	s   string
	rng hcl.Range
}

func (l *hclLiteral) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return cty.StringVal(l.s), nil
}
func (l *hclLiteral) Variables() []hcl.Traversal { return nil }
func (l *hclLiteral) Range() hcl.Range           { return l.rng }
func (l *hclLiteral) StartRange() hcl.Range      { return l.rng }

// firedChecks are the checks of fired and not_fired over the triggers names returns.
func (d *decoder) firedChecks(attrs hcl.Attributes, where string, names func(*state) []string) []Check {
	var out []Check
	if a := attrs["fired"]; a != nil {
		for _, t := range d.refs(a, "trigger", d.known.Triggers) {
			out = append(out, Check{Range: a.Expr.Range(), What: "fired", check: func(st *state) (bool, string, string) {
				got := names(st)
				return slices.Contains(got, t), fmt.Sprintf("trigger %s %s", t, where), "fired: " + list(uniq(got))
			}})
		}
	}
	if a := attrs["not_fired"]; a != nil {
		for _, t := range d.refs(a, "trigger", d.known.Triggers) {
			out = append(out, Check{Range: a.Expr.Range(), What: "not_fired", check: func(st *state) (bool, string, string) {
				got := names(st)
				return !slices.Contains(got, t), fmt.Sprintf("trigger %s not %s", t, where), "fired: " + list(uniq(got))
			}})
		}
	}
	return out
}

func (d *decoder) customerChecks(b *hcl.Block, name string) []Check {
	content, ds := b.Body.Content(customerExpectSchema)
	d.diags = append(d.diags, ds...)
	var out []Check
	if a := content.Attributes["known"]; a != nil {
		if want, ok := d.boolean(a); ok {
			out = append(out, Check{Range: a.Expr.Range(), What: "customer.known", check: func(st *state) (bool, string, string) {
				v, err := st.customer(name)
				known := err == nil && v != nil
				got := "known to the engine"
				if !known {
					got = "unknown to the engine"
				}
				return known == want, fmt.Sprintf("customer %s %s", name, map[bool]string{true: "known to the engine", false: "unknown to the engine"}[want]), got
			}})
		}
	}
	segs := func(attr string, in bool) {
		a := content.Attributes[attr]
		if a == nil {
			return
		}
		for _, s := range d.refs(a, "segment", d.known.Segments) {
			out = append(out, Check{Range: a.Expr.Range(), What: "customer." + attr, check: func(st *state) (bool, string, string) {
				want := fmt.Sprintf("customer %s in segment %s", name, s)
				if !in {
					want = fmt.Sprintf("customer %s not in segment %s", name, s)
				}
				v, err := st.customer(name)
				if err != nil {
					return !in && isNoCustomer(err), want, err.Error()
				}
				return slices.Contains(v.Segments, s) == in, want, "segments: " + list(v.Segments)
			}})
		}
	}
	segs("in", true)
	segs("not_in", false)
	for _, field := range []string{"traits", "consent", "attributes"} {
		a := content.Attributes[field]
		if a == nil {
			continue
		}
		v := d.value(a.Expr)
		if v == cty.NilVal {
			continue
		}
		if !v.Type().IsObjectType() && !v.Type().IsMapType() {
			d.errorf(a.Expr.Range(), "Invalid value", "%s: want an object, such as { %s }.", field,
				map[string]string{"traits": "spend_90d = 3200", "consent": "line = true", "attributes": "home_city = \"Shibuya\""}[field])
			continue
		}
		vals := v.AsValueMap()
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			if field == "traits" && !slices.Contains(d.known.Traits, k) {
				d.ref(&hclLiteral{k, a.Expr.Range()}, "trait", d.known.Traits)
				continue
			}
			want := canonical(d.goValue(vals[k], a.Expr.Range()))
			out = append(out, Check{Range: a.Expr.Range(), What: "customer." + field, check: func(st *state) (bool, string, string) {
				exp := fmt.Sprintf("customer %s %s.%s = %s", name, strings.TrimSuffix(field, "s"), k, want)
				if field == "attributes" {
					exp = fmt.Sprintf("customer %s attribute %s = %s", name, k, want)
				}
				c, err := st.customer(name)
				if err != nil {
					return false, exp, err.Error()
				}
				var got any
				var has bool
				switch field {
				case "traits":
					got, has = c.Traits[k]
				case "consent":
					got, has = c.Consent[k]
					if !has {
						got, has = false, true // no word is no consent
					}
				case "attributes":
					got, has = c.Attributes[k]
				}
				if !has && field == "traits" {
					// A trait never set reads as its zero value, as in the rules' CEL.
					zero := zeroLike(want)
					return zero == want, exp, zero + " (never set)"
				}
				if !has {
					return false, exp, "not set"
				}
				g := canonical(got)
				return g == want, exp, g
			}})
		}
	}
	if a := content.Attributes["pending"]; a != nil {
		if n, ok := d.number(a); ok {
			out = append(out, Check{Range: a.Expr.Range(), What: "customer.pending", check: func(st *state) (bool, string, string) {
				exp := fmt.Sprintf("customer %s with %s pending", name, plural(int(n), "held step"))
				c, err := st.customer(name)
				if err != nil {
					return n == 0 && isNoCustomer(err), exp, err.Error()
				}
				var what []string
				for _, s := range c.Pending {
					what = append(what, fmt.Sprintf("trigger.%s at %s", s.Trigger, st.show(s.Due)))
				}
				got := plural(len(c.Pending), "held step")
				if len(what) > 0 {
					got += " (" + strings.Join(what, ", ") + ")"
				}
				return len(c.Pending) == int(n), exp, got
			}})
		}
	}
	return out
}

func (d *decoder) eventExpect(b *hcl.Block) []Check {
	content, ds := b.Body.Content(eventExpectSchema)
	d.diags = append(d.diags, ds...)
	out := d.firedChecks(content.Attributes, "fired by the event", func(st *state) []string { return st.result.Fired })
	moves := func(attr string, got func(st *state) []string) {
		a := content.Attributes[attr]
		if a == nil {
			return
		}
		for _, s := range d.refs(a, "segment", d.known.Segments) {
			out = append(out, Check{Range: a.Expr.Range(), What: attr, check: func(st *state) (bool, string, string) {
				g := got(st)
				return slices.Contains(g, s), fmt.Sprintf("the event to have %s segment %s", map[string]string{"entered": "the customer enter", "exited": "the customer leave"}[attr], s),
					attr + ": " + list(g)
			}})
		}
	}
	moves("entered", func(st *state) []string { return st.result.Entered })
	moves("exited", func(st *state) []string { return st.result.Exited })
	if a := content.Attributes["duplicate"]; a != nil {
		if want, ok := d.boolean(a); ok {
			out = append(out, Check{Range: a.Expr.Range(), What: "duplicate", check: func(st *state) (bool, string, string) {
				say := map[bool]string{true: "a duplicate", false: "not a duplicate"}
				return st.result.Duplicate == want, "the event " + say[want], say[st.result.Duplicate]
			}})
		}
	}
	for _, blk := range content.Blocks {
		if m, ok := d.matcher(blk, nil); ok {
			out = append(out, Check{Range: blk.DefRange, What: "answer", check: m.checkAnswers})
		}
	}
	return inOrder(out)
}

func (d *decoder) decideExpect(b *hcl.Block) []Check {
	content, ds := b.Body.Content(decideExpectSchema)
	d.diags = append(d.diags, ds...)
	out := d.firedChecks(content.Attributes, "to fire", func(st *state) []string {
		var fired []string
		for _, x := range st.decision.Decisions {
			if x.Fired {
				fired = append(fired, x.Trigger)
			}
		}
		return fired
	})
	// A decision's reasons say why a trigger would not fire: show them on a failure.
	for i := range out {
		c := out[i].check
		out[i].check = func(st *state) (bool, string, string) {
			ok, exp, got := c(st)
			var why []string
			for _, x := range st.decision.Decisions {
				if !x.Fired && x.Reason != "" {
					why = append(why, x.Trigger+": "+x.Reason)
				}
			}
			if !ok && len(why) > 0 {
				got += "; not firing: " + strings.Join(why, "; ")
			}
			return ok, exp, got
		}
	}
	for _, attr := range []string{"in", "not_in"} {
		a := content.Attributes[attr]
		if a == nil {
			continue
		}
		in := attr == "in"
		for _, s := range d.refs(a, "segment", d.known.Segments) {
			out = append(out, Check{Range: a.Expr.Range(), What: "decide." + attr, check: func(st *state) (bool, string, string) {
				want := "the customer in segment " + s
				if !in {
					want = "the customer not in segment " + s
				}
				return slices.Contains(st.decision.Segments, s) == in, want, "segments: " + list(st.decision.Segments)
			}})
		}
	}
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "offer":
			name := d.ref(&hclLiteral{blk.Labels[0], blk.LabelRanges[0]}, "campaign", d.known.Campaigns)
			oc, ds := blk.Body.Content(offerSchema)
			d.diags = append(d.diags, ds...)
			if name == "" {
				continue
			}
			out = append(out, d.offerChecks(name, blk, oc)...)
		case "action":
			if m, ok := d.matcher(blk, nil); ok {
				out = append(out, Check{Range: blk.DefRange, What: "action", check: m.checkDecision})
			}
		}
	}
	return inOrder(out)
}

func (d *decoder) offerChecks(name string, blk *hcl.Block, oc *hcl.BodyContent) []Check {
	var out []Check
	offer := func(st *state) (string, bool) {
		for _, o := range st.decision.Offers {
			if o.Campaign == name {
				got := "not eligible"
				if o.Eligible {
					got = "eligible"
				}
				if o.Remaining > 0 {
					got += fmt.Sprintf(", %d remaining", o.Remaining)
				}
				if o.Reason != "" {
					got += " (" + o.Reason + ")"
				}
				return got, true
			}
		}
		return "no offer for campaign " + name + " (it has no coupon)", false
	}
	if a := oc.Attributes["eligible"]; a != nil {
		if want, ok := d.boolean(a); ok {
			out = append(out, Check{Range: a.Expr.Range(), What: "offer.eligible", check: func(st *state) (bool, string, string) {
				got, found := offer(st)
				exp := "campaign " + name + " eligible"
				if !want {
					exp = "campaign " + name + " not eligible"
				}
				for _, o := range st.decision.Offers {
					if o.Campaign == name {
						return found && o.Eligible == want, exp, got
					}
				}
				return false, exp, got
			}})
		}
	}
	if a := oc.Attributes["remaining"]; a != nil {
		if n, ok := d.number(a); ok {
			out = append(out, Check{Range: a.Expr.Range(), What: "offer.remaining", check: func(st *state) (bool, string, string) {
				got, _ := offer(st)
				for _, o := range st.decision.Offers {
					if o.Campaign == name {
						return o.Remaining == n, fmt.Sprintf("campaign %s with %d remaining", name, n), got
					}
				}
				return false, fmt.Sprintf("campaign %s with %d remaining", name, n), got
			}})
		}
	}
	if a := oc.Attributes["reason"]; a != nil {
		if s := d.str(a.Expr); s != "" {
			out = append(out, Check{Range: a.Expr.Range(), What: "offer.reason", check: func(st *state) (bool, string, string) {
				got, _ := offer(st)
				for _, o := range st.decision.Offers {
					if o.Campaign == name {
						return strings.Contains(o.Reason, s), fmt.Sprintf("campaign %s's reason to contain %q", name, s), got
					}
				}
				return false, fmt.Sprintf("campaign %s's reason to contain %q", name, s), got
			}})
		}
	}
	return out
}

// matcher counts the things of one kind that match some filters.
type matcher struct {
	kind                                     string
	customer, trigger, campaign, via, status string
	typ, contains                            string
	count                                    int64
	exact                                    bool
	describe                                 string
}

func (d *decoder) matcher(b *hcl.Block, customers []string) (*matcher, bool) {
	fields := matchFields[b.Type]
	schema := &hcl.BodySchema{}
	for _, f := range fields {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: f})
	}
	content, ds := b.Body.Content(schema)
	d.diags = append(d.diags, ds...)
	if ds.HasErrors() {
		return nil, false
	}
	m := &matcher{kind: b.Type}
	n := len(d.diags)
	for _, f := range fields {
		a := content.Attributes[f]
		if a == nil {
			continue
		}
		switch f {
		case "customer":
			m.customer = d.ref(a.Expr, "customer", customers)
		case "trigger":
			m.trigger = d.ref(a.Expr, "trigger", d.known.Triggers)
		case "campaign":
			m.campaign = d.ref(a.Expr, "campaign", d.known.Campaigns)
		case "via":
			m.via = d.ref(a.Expr, "provider", d.known.Providers)
		case "status":
			m.status = d.str(a.Expr)
			if m.status != "" && !slices.Contains(statuses[b.Type], m.status) {
				d.errorf(a.Expr.Range(), "Unknown status", "%q is not a status of %ss: use %s.", m.status, b.Type, strings.Join(statuses[b.Type], ", "))
			}
		case "type":
			m.typ = d.str(a.Expr)
			if m.typ != "" && !slices.Contains(actionTypes, m.typ) {
				d.errorf(a.Expr.Range(), "Unknown action type", "%q is not an action type: use %s.", m.typ, strings.Join(actionTypes, ", "))
			}
		case "contains":
			m.contains = d.str(a.Expr)
		case "count":
			m.count, _ = d.number(a)
			m.exact = true
		}
	}
	if len(d.diags) > n {
		return nil, false
	}
	if !m.exact {
		m.count = 1
	}
	m.describe = m.describeWant()
	return m, true
}

var kindWords = map[string][2]string{
	"message": {"message", "messages"},
	"code":    {"code issued", "codes issued"},
	"pending": {"held step", "held steps"},
	"answer":  {"answer", "answers"},
	"action":  {"action", "actions"},
}

func (m *matcher) describeWant() string {
	w := kindWords[m.kind]
	var b strings.Builder
	switch {
	case !m.exact:
		fmt.Fprintf(&b, "at least 1 %s", w[0])
	case m.count == 1:
		fmt.Fprintf(&b, "1 %s", w[0])
	default:
		fmt.Fprintf(&b, "%d %s", m.count, w[1])
	}
	if m.typ != "" {
		fmt.Fprintf(&b, " of type %s", m.typ)
	}
	if m.trigger != "" {
		fmt.Fprintf(&b, " from trigger.%s", m.trigger)
	}
	if m.campaign != "" {
		if m.kind == "message" {
			fmt.Fprintf(&b, " from campaign.%s", m.campaign)
		} else {
			fmt.Fprintf(&b, " of campaign %s", m.campaign)
		}
	}
	if m.customer != "" {
		fmt.Fprintf(&b, " for %s", m.customer)
	}
	if m.via != "" {
		fmt.Fprintf(&b, " via %s", m.via)
	}
	if m.status != "" {
		fmt.Fprintf(&b, " %s", m.status)
	}
	if m.contains != "" {
		fmt.Fprintf(&b, " containing %q", m.contains)
	}
	return b.String()
}

// item is one thing a matcher counts: a message in the outbox, a code, a held step, an answer.
type item struct {
	customer, name, via, status, typ, campaign, text string
}

func (m *matcher) matches(st *state, it item) bool {
	if m.customer != "" {
		id, err := st.customerID(m.customer)
		if err != nil || it.customer != id {
			return false
		}
	}
	return (m.trigger == "" || it.name == "trigger."+m.trigger) &&
		(m.campaign == "" || it.campaign == m.campaign || it.name == "campaign."+m.campaign) &&
		(m.via == "" || it.via == m.via) && (m.status == "" || it.status == m.status) &&
		(m.typ == "" || it.typ == m.typ) && (m.contains == "" || strings.Contains(it.text, m.contains))
}

func (m *matcher) countIn(st *state, items []item) (bool, string, string) {
	n := 0
	for _, it := range items {
		if m.matches(st, it) {
			n++
		}
	}
	ok := n >= int(m.count)
	if m.exact {
		ok = n == int(m.count)
	}
	got := fmt.Sprint(n)
	if !ok && len(items) > 0 {
		var shown []string
		for _, it := range items[:min(len(items), 3)] {
			shown = append(shown, st.showItem(it))
		}
		if len(items) > 3 {
			shown = append(shown, fmt.Sprintf("and %d more", len(items)-3))
		}
		got += fmt.Sprintf(" (of %d: %s)", len(items), strings.Join(shown, "; "))
	}
	return ok, m.describe, got
}

func (m *matcher) checkState(st *state) (bool, string, string) {
	var items []item
	var err error
	switch m.kind {
	case "message":
		items, err = st.messages()
	case "code":
		items, err = st.codes()
	case "pending":
		items, err = st.pending()
	}
	if err != nil {
		return false, m.describe, "error: " + err.Error()
	}
	return m.countIn(st, items)
}

func (m *matcher) checkAnswers(st *state) (bool, string, string) {
	var items []item
	for _, o := range st.result.Answers {
		items = append(items, item{customer: o.Customer, via: o.Via, status: o.Status, typ: o.Type, campaign: o.Campaign, text: o.Text})
	}
	return m.countIn(st, items)
}

func (m *matcher) checkDecision(st *state) (bool, string, string) {
	var items []item
	for _, x := range st.decision.Decisions {
		for _, o := range x.Actions {
			items = append(items, item{name: "trigger." + x.Trigger, via: o.Via, status: o.Status, typ: o.Type, campaign: o.Campaign, text: o.Text})
		}
	}
	return m.countIn(st, items)
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func uniq(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// clip shortens a text shown in a report.
func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// zeroLike is the zero value of the kind of a canonical JSON value.
func zeroLike(v string) string {
	switch {
	case v == "true" || v == "false":
		return "false"
	case strings.HasPrefix(v, `"`):
		return `""`
	case strings.HasPrefix(v, "["):
		return "[]"
	case strings.HasPrefix(v, "{"):
		return "{}"
	}
	return "0"
}

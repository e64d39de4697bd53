package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Known are the programme's names a test file may refer to; a name it does not have is an
// error at the place it is written, with a suggestion.
type Known struct {
	Triggers, Segments, Campaigns, Providers, Traits []string
}

// KnownFrom lists the names of a loaded configuration.
func KnownFrom(cfg *lang.Config) Known {
	return Known{
		Triggers:  slices.Sorted(maps.Keys(cfg.Triggers)),
		Segments:  slices.Sorted(maps.Keys(cfg.Segments)),
		Campaigns: slices.Sorted(maps.Keys(cfg.Campaigns)),
		Providers: slices.Sorted(maps.Keys(cfg.Providers)),
		Traits:    slices.Sorted(maps.Keys(cfg.Traits)),
	}
}

// Find lists the test files of a directory, sorted.
func Find(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), Suffix) && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// ReadFile reads and decodes a test file; the diagnostics name every problem's place.
func ReadFile(path string, known Known) (*File, hcl.Diagnostics) {
	src, err := lang.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read test file", Detail: err.Error() + "."}}
	}
	return Parse(src, filepath.ToSlash(filepath.Clean(path)), known)
}

var (
	fileSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "now"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "customer", LabelNames: []string{"name"}},
			{Type: "run", LabelNames: []string{"name"}},
		},
	}
	customerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "identifiers", Required: true}, {Name: "consent"}, {Name: "attributes"},
	}}
	runSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "now"}},
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "customer", LabelNames: []string{"name"}},
			{Type: "event", LabelNames: []string{"type"}},
			{Type: "decide", LabelNames: []string{"type"}},
			{Type: "advance", LabelNames: []string{"to"}},
			{Type: "expect"},
		},
	}
	eventFieldNames = []string{"source", "channel", "store_id", "identifiers", "record", "consent", "attributes", "data"}
	eventSchema     = func() *hcl.BodySchema {
		s := &hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{{Name: "id"}, {Name: "customer"}, {Name: "at"}},
			Blocks:     []hcl.BlockHeaderSchema{{Type: "expect"}},
		}
		for _, n := range eventFieldNames {
			s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
		}
		return s
	}()
	emptySchema = &hcl.BodySchema{}
)

type decoder struct {
	known Known
	diags hcl.Diagnostics
}

func (d *decoder) errorf(rng hcl.Range, summary, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &r})
}

// Parse decodes a test file's source.
func Parse(src []byte, filename string, known Known) (*File, hcl.Diagnostics) {
	f, diags := lang.ParseFile(src, filename)
	tf := &File{Name: filename, HCL: f}
	if diags.HasErrors() {
		return tf, diags
	}
	d := &decoder{known: known, diags: diags}
	content, ds := f.Body.Content(fileSchema)
	d.diags = append(d.diags, ds...)
	if a := content.Attributes["now"]; a != nil {
		tf.Now = d.when(a.Expr, false)
	}
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type == "customer" {
			if c := d.customer(b, seen); c != nil {
				tf.Customers = append(tf.Customers, c)
			}
		}
	}
	runs := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		if b.Type != "run" {
			continue
		}
		name := b.Labels[0]
		if prev, dup := runs[name]; dup {
			d.errorf(b.LabelRanges[0], "Duplicate run", "A run named %q is already declared at %s; each run of a file needs its own name.", name, prev)
			continue
		}
		runs[name] = b.DefRange
		tf.Runs = append(tf.Runs, d.run(tf, b, seen))
	}
	if len(tf.Runs) == 0 && !d.diags.HasErrors() {
		d.errorf(hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}, "No runs",
			`A test file holds one or more run "NAME" { … } blocks, each an independent scenario.`)
	}
	return tf, d.diags
}

func (d *decoder) customer(b *hcl.Block, seen map[string]hcl.Range) *Customer {
	name := b.Labels[0]
	if prev, dup := seen[name]; dup {
		d.errorf(b.LabelRanges[0], "Duplicate customer", "A customer named %q is already declared at %s.", name, prev)
		return nil
	}
	seen[name] = b.DefRange
	content, ds := b.Body.Content(customerSchema)
	d.diags = append(d.diags, ds...)
	c := &Customer{Name: name, Range: b.DefRange}
	if a := content.Attributes["identifiers"]; a != nil {
		c.Identifiers = d.stringMap(a)
		if len(c.Identifiers) == 0 && !ds.HasErrors() {
			d.errorf(a.Expr.Range(), "No identifiers", "A customer needs at least one identifier, such as { phone = \"090-1234-5678\" }.")
		}
	}
	if a := content.Attributes["consent"]; a != nil {
		v := d.value(a.Expr)
		if v != cty.NilVal {
			m, err := convert.Convert(v, cty.Map(cty.Bool))
			if err != nil || m.IsNull() {
				d.errorf(a.Expr.Range(), "Invalid consent", "consent maps channels to true or false: { line = true, email = false }.")
			} else {
				c.Consent = map[string]bool{}
				for k, b := range m.AsValueMap() {
					c.Consent[k] = b.True()
				}
			}
		}
	}
	if a := content.Attributes["attributes"]; a != nil {
		if v := d.value(a.Expr); v != cty.NilVal {
			if g, ok := d.goValue(v, a.Expr.Range()).(map[string]any); ok {
				c.Attributes = g
			} else {
				d.errorf(a.Expr.Range(), "Invalid attributes", "attributes is an object: { home_city = \"Shibuya\" }.")
			}
		}
	}
	return c
}

func (d *decoder) run(tf *File, b *hcl.Block, fileCustomers map[string]hcl.Range) *Run {
	r := &Run{Name: b.Labels[0], File: tf, Range: b.DefRange}
	content, ds := b.Body.Content(runSchema)
	d.diags = append(d.diags, ds...)
	if a := content.Attributes["now"]; a != nil {
		r.Now = d.when(a.Expr, false)
	}
	seen := maps.Clone(fileCustomers)
	r.Customers = slices.Clone(tf.Customers)
	for _, blk := range content.Blocks {
		if blk.Type == "customer" {
			if c := d.customer(blk, seen); c != nil {
				r.Customers = append(r.Customers, c)
			}
		}
	}
	customers := map[string]bool{}
	for _, c := range r.Customers {
		customers[c.Name] = true
	}
	n := 0
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "event":
			n++
			if ev := d.event(blk, customers, n, true); ev != nil {
				r.Steps = append(r.Steps, ev)
			}
		case "decide":
			if ev := d.event(blk, customers, 0, false); ev != nil {
				r.Steps = append(r.Steps, &DecideStep{Event: ev, Expect: ev.Expect, Range: blk.DefRange})
				ev.Expect = nil
			}
		case "advance":
			_, ds := blk.Body.Content(emptySchema)
			d.diags = append(d.diags, ds...)
			w := d.whenString(blk.Labels[0], blk.LabelRanges[0], true)
			if w != nil {
				r.Steps = append(r.Steps, &AdvanceStep{To: w, Range: blk.DefRange})
			}
		case "expect":
			r.Steps = append(r.Steps, &ExpectStep{Checks: d.runExpect(blk, customers), Range: blk.DefRange})
		}
	}
	return r
}

// event decodes an event or decide block; posted is false for a decision.
func (d *decoder) event(b *hcl.Block, customers map[string]bool, n int, posted bool) *EventStep {
	typ := b.Labels[0]
	ev := &EventStep{Type: typ, Range: b.DefRange, Fields: map[string]cty.Value{}}
	content, ds := b.Body.Content(eventSchema)
	d.diags = append(d.diags, ds...)
	ok := true
	et, known := lang.LookupEventType(typ)
	switch {
	case !known:
		detail := fmt.Sprintf("%q is not an event type.", typ)
		if s := lang.Suggest(typ, lang.EventTypeNames()); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		} else {
			detail += " Event types are those of docs/language.md (purchase, cart.updated, follow, …) or custom.NAME."
		}
		d.errorf(b.LabelRanges[0], "Unknown event type", "%s", detail)
		ok = false
	case posted && lang.IsRaised(typ):
		d.errorf(b.LabelRanges[0], "Event raised by the engine", "%s is raised by the engine itself when a customer's profile changes; post the event that moves the customer instead.", typ)
		ok = false
	}
	if a := content.Attributes["id"]; a != nil {
		ev.ID = d.str(a.Expr)
	} else if posted {
		ev.ID = fmt.Sprintf("test-%d", n)
	}
	if a := content.Attributes["customer"]; a != nil {
		ev.Customer = d.ref(a.Expr, "customer", slices.Sorted(maps.Keys(customers)))
	}
	if a := content.Attributes["at"]; a != nil {
		ev.At = d.when(a.Expr, true)
	}
	for _, name := range eventFieldNames {
		a := content.Attributes[name]
		if a == nil {
			continue
		}
		v := d.value(a.Expr)
		if v == cty.NilVal {
			ok = false
			continue
		}
		ev.Fields[name] = v
		if name == "data" && known {
			g := d.goValue(v, a.Expr.Range())
			data, isMap := g.(map[string]any)
			if !isMap {
				d.errorf(a.Expr.Range(), "Invalid data", "data is an object of the event type's own fields: { total = 3200 }.")
				ok = false
				continue
			}
			if strings.HasPrefix(typ, lang.CustomEventPrefix) {
				data = map[string]any{"data": data}
			}
			if _, err := et.Type.CoerceRecord(data, "data"); err != nil {
				d.errorf(a.Expr.Range(), "Invalid event data", "%s event: %s.", typ, err)
				ok = false
			}
		}
	}
	for _, blk := range content.Blocks {
		if posted {
			ev.Expect = append(ev.Expect, d.eventExpect(blk)...)
		} else {
			ev.Expect = append(ev.Expect, d.decideExpect(blk)...)
		}
	}
	if !ok {
		return nil
	}
	return ev
}

// when decodes a time: RFC 3339, a local time, or (offset allowed) "+DURATION".
func (d *decoder) when(expr hcl.Expression, offset bool) *When {
	s := d.str(expr)
	if s == "" {
		return nil
	}
	return d.whenString(s, expr.Range(), offset)
}

func (d *decoder) whenString(s string, rng hcl.Range, offset bool) *When {
	if offset && strings.HasPrefix(s, "+") {
		dur, err := lang.ParseDuration(s[1:])
		if err != nil || dur < 0 {
			d.errorf(rng, "Invalid time", "%q: an offset is + and a duration, such as \"+3h\" or \"+1d12h\".", s)
			return nil
		}
		return &When{Offset: dur, Range: rng}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &When{At: t, Range: rng}
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return &When{At: t, Local: true, Range: rng}
		}
	}
	hint := "an RFC 3339 time (\"2027-03-02T10:00:00+09:00\") or a local time in the programme's zone (\"2027-03-02T10:00:00\")"
	if offset {
		hint += ", or an offset from the clock (\"+3h\")"
	}
	d.errorf(rng, "Invalid time", "%q: want %s.", s, hint)
	return nil
}

// value evaluates a literal expression; test files have no variables or functions.
func (d *decoder) value(expr hcl.Expression) cty.Value {
	v, ds := expr.Value(nil)
	if ds.HasErrors() {
		d.diags = append(d.diags, ds...)
		return cty.NilVal
	}
	if !v.IsWhollyKnown() {
		d.errorf(expr.Range(), "Invalid value", "The value must be written out in full.")
		return cty.NilVal
	}
	return v
}

func (d *decoder) str(expr hcl.Expression) string {
	v := d.value(expr)
	if v == cty.NilVal {
		return ""
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() {
		d.errorf(expr.Range(), "Invalid value", "Want a string.")
		return ""
	}
	return s.AsString()
}

func (d *decoder) number(a *hcl.Attribute) (int64, bool) {
	v := d.value(a.Expr)
	if v == cty.NilVal {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil || n.IsNull() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s: want a whole number.", a.Name)
		return 0, false
	}
	i, acc := n.AsBigFloat().Int64()
	if acc != 0 || i < 0 {
		d.errorf(a.Expr.Range(), "Invalid value", "%s: want a whole number, 0 or more.", a.Name)
		return 0, false
	}
	return i, true
}

func (d *decoder) boolean(a *hcl.Attribute) (bool, bool) {
	v := d.value(a.Expr)
	if v == cty.NilVal {
		return false, false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil || b.IsNull() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s: want true or false.", a.Name)
		return false, false
	}
	return b.True(), true
}

func (d *decoder) stringMap(a *hcl.Attribute) map[string]string {
	v := d.value(a.Expr)
	if v == cty.NilVal {
		return nil
	}
	m, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil || m.IsNull() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s: want an object of strings, such as { phone = \"090-1234-5678\" }.", a.Name)
		return nil
	}
	out := map[string]string{}
	for k, s := range m.AsValueMap() {
		out[k] = s.AsString()
	}
	return out
}

// goValue turns a value into what JSON decoding gives the engine: maps, slices, strings,
// bools, int64 for whole numbers and float64 for others.
func (d *decoder) goValue(v cty.Value, rng hcl.Range) any {
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		d.errorf(rng, "Invalid value", "%s.", err)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		d.errorf(rng, "Invalid value", "%s.", err)
		return nil
	}
	return numbers(g)
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// ref reads a name as a reference (kind.NAME, provider.TYPE.NAME) or a string, and checks it
// against the names the programme (or the file) has.
func (d *decoder) ref(expr hcl.Expression, kind string, names []string) string {
	name, rng, ok := d.refName(expr, kind)
	if !ok {
		return ""
	}
	if !slices.Contains(names, name) {
		detail := fmt.Sprintf("There is no %s %q.", kind, name)
		if s := lang.Suggest(name, names); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		} else if len(names) == 0 {
			detail += fmt.Sprintf(" The %s has none.", map[bool]string{true: "test file", false: "programme"}[kind == "customer"])
		}
		d.errorf(rng, "Unknown "+kind, "%s", detail)
		return ""
	}
	return name
}

func (d *decoder) refName(expr hcl.Expression, kind string) (string, hcl.Range, bool) {
	if tr, ds := hcl.AbsTraversalForExpr(expr); !ds.HasErrors() && len(tr) > 0 {
		if tr.RootName() != kind {
			d.errorf(expr.Range(), "Invalid reference", "Want a %s: %s.NAME, or the name as a string.", kind, kind)
			return "", expr.Range(), false
		}
		var parts []string
		for _, t := range tr[1:] {
			a, ok := t.(hcl.TraverseAttr)
			if !ok {
				d.errorf(expr.Range(), "Invalid reference", "Want %s.NAME.", kind)
				return "", expr.Range(), false
			}
			parts = append(parts, a.Name)
		}
		return strings.Join(parts, "."), expr.Range(), len(parts) > 0
	}
	s := d.str(expr)
	return s, expr.Range(), s != ""
}

// refs reads a list of references or names.
func (d *decoder) refs(a *hcl.Attribute, kind string, names []string) []string {
	exprs, ds := hcl.ExprList(a.Expr)
	if ds.HasErrors() {
		d.errorf(a.Expr.Range(), "Invalid value", "%s: want a list, such as [%s.NAME].", a.Name, kind)
		return nil
	}
	var out []string
	for _, e := range exprs {
		if n := d.ref(e, kind, names); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// LoadConfig loads the programme of dir for a test. A run never starts a provider, so
// secrets are not needed: it loads as validate does (lang.LoadOptions.DeferEnv), an env()
// call with no value standing for one not known yet.
func LoadConfig(dir string, opts lang.LoadOptions) (*lang.Config, hcl.Diagnostics) {
	opts.DeferEnv = true
	return lang.LoadDir(dir, opts)
}

// SampleCustomers are the first n distinct customers the test files of dir declare, as
// made-up customers a plan's message previews are rendered for. A test file that does not
// read is musubi test's to report, not a plan's: it is left out.
func SampleCustomers(dir string, cfg *lang.Config, n int) []providers.SampleCustomer {
	files, err := Find(dir)
	if err != nil {
		return nil
	}
	known := KnownFrom(cfg)
	seen := map[string]bool{}
	var out []providers.SampleCustomer
	for _, path := range files {
		tf, diags := ReadFile(path, known)
		if diags.HasErrors() {
			continue
		}
		for _, c := range tf.Customers {
			if !seen[c.Name] && len(out) < n {
				seen[c.Name] = true
				out = append(out, providers.SampleCustomer{Name: c.Name, Consent: c.Consent, Attributes: c.Attributes})
			}
		}
	}
	return out
}

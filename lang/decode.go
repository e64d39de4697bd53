package lang

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// This file holds the helpers that turn attributes into typed Go values. Every helper reports
// problems as diagnostics pointing at the attribute and returns ok=false, so decoding goes on
// and the user sees every problem at once.

// evalExpr checks an expression's references and evaluates it. Only var.* and local.* are
// values; blocks (segment.x, provider.t.n) may only be named by reference attributes.
func (l *loader) evalExpr(expr hcl.Expression, from string) (cty.Value, bool) {
	ok := true
	for _, t := range expr.Variables() {
		ref, diags := l.resolveTraversal(t)
		if diags.HasErrors() {
			l.diags = append(l.diags, diags...)
			ok = false
			continue
		}
		if ref.Kind != "var" && ref.Kind != "local" {
			l.errorf(ref.Range.Ptr(), "Reference not allowed here",
				"%s names a block; it can be given on its own to an attribute that takes a %s (such as audience, channels or via), but it has no value to compute with here.",
				ref.Addr(), strings.ReplaceAll(ref.Kind, "_", " "))
			ok = false
			continue
		}
		if from != "" {
			l.cfg.Graph.AddEdge(from, ref.Addr(), ref.Range)
		}
	}
	if !ok {
		return cty.DynamicVal, false
	}
	v, diags := expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.DynamicVal, false
	}
	return v, true
}

// typed evaluates an attribute and converts it to want. Sensitive values are refused: domain
// attributes end up in plans and state.
func (l *loader) typed(attr *hcl.Attribute, from string, want cty.Type, what string) (cty.Value, bool) {
	v, ok := l.evalExpr(attr.Expr, from)
	if !ok {
		return cty.NilVal, false
	}
	if v.IsNull() {
		l.errorf(attr.Expr.Range().Ptr(), "Missing value", "%s must be %s, not null.", attr.Name, what)
		return cty.NilVal, false
	}
	if isSensitive(v) {
		l.errorf(attr.Expr.Range().Ptr(), "Sensitive value not allowed here",
			"%s is written into plans and state, so it cannot hold a sensitive value (from env() or a sensitive variable).", attr.Name)
		return cty.NilVal, false
	}
	if names := unsetEnvNames(v); len(names) > 0 {
		l.deferred(attr, names)
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		// Every value is known at load unless something it depends on failed: a syntax error, a
		// required variable without a value, a local in a cycle. That error is already reported,
		// so saying the value is unknown would only repeat it.
		return cty.NilVal, false
	}
	v, _ = v.UnmarkDeep() // marks of nothing sensitive
	cv, err := convert.Convert(v, want)
	if err != nil {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s must be %s: %v.", attr.Name, what, err)
		return cty.NilVal, false
	}
	return cv, true
}

// deferred warns that an attribute is computed from environment variables that are not set
// (LoadOptions.DeferEnv), so its checks are left to plan.
func (l *loader) deferred(attr *hcl.Attribute, names []string) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Checked by plan",
		Detail: fmt.Sprintf("%s is computed from the environment variable %s, which is not set here, so it is not checked now; plan needs the variable and checks it.",
			attr.Name, strings.Join(names, ", ")),
		Subject: attr.Expr.Range().Ptr()})
}

func (l *loader) str(attr *hcl.Attribute, from string) (string, bool) {
	v, ok := l.typed(attr, from, cty.String, "a string")
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (l *loader) number(attr *hcl.Attribute, from string) (float64, bool) {
	v, ok := l.typed(attr, from, cty.Number, "a number")
	if !ok {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	return f, true
}

func (l *loader) integer(attr *hcl.Attribute, from string, minimum int64) (int64, bool) {
	v, ok := l.typed(attr, from, cty.Number, "a whole number")
	if !ok {
		return 0, false
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s must be a whole number.", attr.Name)
		return 0, false
	}
	n, acc := bf.Int64()
	if acc != big.Exact || n < minimum || n > math.MaxInt32*int64(1<<20) {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s must be a whole number of at least %d.", attr.Name, minimum)
		return 0, false
	}
	return n, true
}

func (l *loader) boolean(attr *hcl.Attribute, from string) (bool, bool) {
	v, ok := l.typed(attr, from, cty.Bool, "true or false")
	if !ok {
		return false, false
	}
	return v.True(), true
}

func (l *loader) strings(attr *hcl.Attribute, from string) ([]string, bool) {
	v, ok := l.typed(attr, from, cty.List(cty.String), "a list of strings")
	if !ok {
		return nil, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s must not contain null.", attr.Name)
			return nil, false
		}
		out = append(out, e.AsString())
	}
	return out, true
}

func (l *loader) stringMap(attr *hcl.Attribute, from string) (map[string]string, bool) {
	v, ok := l.typed(attr, from, cty.Map(cty.String), "a map of strings")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s.%s must not be null.", attr.Name, k.AsString())
			return nil, false
		}
		out[k.AsString()] = e.AsString()
	}
	return out, true
}

func (l *loader) duration(attr *hcl.Attribute, from string) (time.Duration, bool) {
	s, ok := l.str(attr, from)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid duration", "%s: %v.", attr.Name, err)
		return 0, false
	}
	if d < 0 {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid duration", "%s must not be negative.", attr.Name)
		return 0, false
	}
	return d, true
}

// timestamp reads an RFC 3339 time, or a date ("2027-03-01") taken as midnight in zone.
func (l *loader) timestamp(attr *hcl.Attribute, from string, zone *time.Location) (time.Time, bool) {
	s, ok := l.str(attr, from)
	if !ok {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02", s, zone); err == nil {
		return t, true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, zone); err == nil {
		return t, true
	}
	if why := timeProblem(s); why != "" {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid time", "%s: %q is not a date or time: %s.", attr.Name, s, why)
		return time.Time{}, false
	}
	l.errorf(attr.Expr.Range().Ptr(), "Invalid time", "%s must be an RFC 3339 time such as \"2027-03-01T00:00:00+09:00\", or a date such as \"2027-03-01\"; got %q.", attr.Name, s)
	return time.Time{}, false
}

// dateTimeShape is a date, optionally with a time of day and an offset, loosely enough to say
// what is wrong with one that does not parse.
var dateTimeShape = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?(?:[Zz]|([+-])(\d{2}):(\d{2}))?$`)

// timeProblem says why s, written like a date or a time, is not one: "month 13 does not
// exist", "February 2027 has 28 days", "hour 25 is not a time of day". It returns "" when s
// is a valid date and time or does not look like one at all.
func timeProblem(s string) string {
	m := dateTimeShape.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return ""
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	year, month, day := num(1), num(2), num(3)
	switch {
	case month < 1 || month > 12:
		return fmt.Sprintf("month %d does not exist", month)
	case day < 1:
		return fmt.Sprintf("day %d does not exist", day)
	}
	if days := time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day(); day > days {
		return fmt.Sprintf("%s %d has %d days", time.Month(month), year, days)
	}
	if m[4] != "" {
		if why := clockProblem(num(4), num(5)); why != "" {
			return why
		}
		if m[6] != "" && num(6) > 59 {
			return fmt.Sprintf("second %d does not exist", num(6))
		}
	}
	if m[8] != "" && (num(8) > 23 || num(9) > 59) {
		return fmt.Sprintf("%s%s:%s is not an offset from UTC", m[7], m[8], m[9])
	}
	if len(m[2]) < 2 || len(m[3]) < 2 || m[4] != "" && (len(m[4]) < 2 || len(m[5]) < 2) {
		return "write months, days, hours and minutes with two digits, as in 2027-03-01T09:05"
	}
	return ""
}

// clockProblem says why hour:minute is not a time of day, or "".
func clockProblem(hour, minute int) string {
	switch {
	case hour > 23:
		return fmt.Sprintf("hour %d is not a time of day", hour)
	case minute > 59:
		return fmt.Sprintf("minute %d does not exist", minute)
	}
	return ""
}

// ref reads an attribute that names a block (segment.x, campaign.y, provider.t.n) and records
// the reference in the graph.
func (l *loader) ref(attr *hcl.Attribute, from, kind string) (reference, bool) {
	return l.refExpr(attr.Expr, attr.Name, from, kind)
}

func (l *loader) refExpr(expr hcl.Expression, name, from, kind string) (reference, bool) {
	t, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() {
		l.errorf(expr.Range().Ptr(), "Invalid reference", "%s must name a %s, written %s.", name, kindWord(kind), refExample(kind))
		return reference{}, false
	}
	r, diags := l.resolveTraversal(t)
	if diags.HasErrors() {
		l.diags = append(l.diags, diags...)
		return reference{}, false
	}
	if r.Kind != kind {
		l.errorf(r.Range.Ptr(), "Wrong kind of reference", "%s must name a %s, written %s; %s is a %s.", name, kindWord(kind), refExample(kind), r.Addr(), kindWord(r.Kind))
		return reference{}, false
	}
	if len(t) > strings.Count(r.Name, ".")+2 {
		l.errorf(t.SourceRange().Ptr(), "Invalid reference", "%s must name the %s itself, written %s.", name, kindWord(kind), refExample(kind))
		return reference{}, false
	}
	l.cfg.Graph.AddEdge(from, r.Addr(), r.Range)
	return r, true
}

func (l *loader) providerRef(attr *hcl.Attribute, from string) (ProviderRef, bool) {
	r, ok := l.ref(attr, from, "provider")
	if !ok {
		return ProviderRef{}, false
	}
	typ, name, _ := strings.Cut(r.Name, ".")
	return ProviderRef{Type: typ, Name: name}, true
}

func (l *loader) providerRefs(attr *hcl.Attribute, from string) ([]ProviderRef, bool) {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		l.errorf(attr.Expr.Range().Ptr(), "Invalid value for "+attr.Name, "%s must be a list of providers, such as [provider.shopify.jp, provider.square.store].", attr.Name)
		return nil, false
	}
	var out []ProviderRef
	seen := map[ProviderRef]bool{}
	ok := true
	for _, e := range exprs {
		r, good := l.refExpr(e, attr.Name, from, "provider")
		if !good {
			ok = false
			continue
		}
		typ, name, _ := strings.Cut(r.Name, ".")
		pr := ProviderRef{Type: typ, Name: name}
		if seen[pr] {
			l.errorf(e.Range().Ptr(), "Duplicate channel", "provider.%s is listed twice.", pr)
			ok = false
			continue
		}
		seen[pr] = true
		out = append(out, pr)
	}
	return out, ok
}

func kindWord(kind string) string {
	switch kind {
	case "var":
		return "variable"
	case "local":
		return "local value"
	}
	return strings.ReplaceAll(kind, "_", " ")
}

func refExample(kind string) string {
	if kind == "provider" {
		return "provider.TYPE.NAME"
	}
	return kind + ".NAME"
}

// celJob is a CEL expression waiting to be compiled once the schema is known.
type celJob struct {
	env    func(*Schema) (*cel.Env, error)
	ctx    Context
	src    string
	site   celSite
	want   *cel.Type
	from   string
	assign func(*Expr)
}

// cel queues a CEL attribute for compilation. The attribute is an HCL string, so ${var.x}
// interpolation works inside it.
func (l *loader) cel(attr *hcl.Attribute, from string, ctx Context, env func(*Schema) (*cel.Env, error), want *cel.Type, assign func(*Expr)) {
	src, ok := l.str(attr, from)
	if !ok {
		return
	}
	if strings.TrimSpace(src) == "" {
		l.errorf(attr.Expr.Range().Ptr(), "Empty condition", "%s must be a CEL expression.", attr.Name)
		return
	}
	rng := attr.Expr.Range()
	l.jobs = append(l.jobs, celJob{
		env: env, ctx: ctx, src: src, want: want, from: from, assign: assign,
		site: celSite{src: l.srcs[rng.Filename], rng: rng, value: src, index: l.templateIndex(attr.Expr, src)},
	})
}

// template queues a message template's placeholders for compilation.
func (l *loader) template(attr *hcl.Attribute, from string, ctx Context, env func(*Schema) (*cel.Env, error)) *Template {
	src, ok := l.str(attr, from)
	if !ok {
		return nil
	}
	rng := attr.Expr.Range()
	texts, spans, err := splitTemplate(src)
	if err != nil {
		l.errorf(rng.Ptr(), "Invalid template", "%s: %v.", attr.Name, err)
		return nil
	}
	t := &Template{Source: src, Range: rng, parts: make([]templatePart, 0, len(texts)+len(spans))}
	var index []int
	if len(spans) > 0 {
		index = l.templateIndex(attr.Expr, src)
	}
	for i, text := range texts {
		t.parts = append(t.parts, templatePart{text: text})
		if i < len(spans) {
			t.parts = append(t.parts, templatePart{})
			slot := &t.parts[len(t.parts)-1]
			l.jobs = append(l.jobs, celJob{
				env: env, ctx: ctx, src: spans[i].cel, from: from,
				site:   celSite{src: l.srcs[rng.Filename], rng: rng, value: src, offset: spans[i].offset, index: index},
				assign: func(e *Expr) { slot.expr = e },
			})
		}
	}
	return t
}

// templateIndex maps each byte of the value of an interpolated string ("… ${var.x} …") to the
// file offset it comes from, so CEL errors inside such a string point at the right column:
// literal text maps to its own source bytes, and the text an interpolation produced maps to the
// interpolated expression. It returns nil for anything else (plain strings are mapped on demand
// by celSite.cookedIndex; JSON syntax has no syntax tree for its templates), and nil whenever
// the parts do not add up to value exactly.
func (l *loader) templateIndex(expr hcl.Expression, value string) []int {
	var parts []hclsyntax.Expression
	switch e := expr.(type) {
	case *hclsyntax.TemplateExpr:
		if e.IsStringLiteral() {
			return nil
		}
		parts = e.Parts
	case *hclsyntax.TemplateWrapExpr:
		parts = []hclsyntax.Expression{e.Wrapped}
	default:
		return nil
	}
	src := l.srcs[expr.Range().Filename]
	idx := make([]int, 0, len(value)+1)
	end := expr.Range().End.Byte
	for _, p := range parts {
		r := p.Range()
		if r.Start.Byte < 0 || r.End.Byte > len(src) || r.Start.Byte > r.End.Byte {
			return nil
		}
		if lit, ok := p.(*hclsyntax.LiteralValueExpr); ok {
			if lit.Val.Type() != cty.String || lit.Val.IsNull() {
				return nil
			}
			text := lit.Val.AsString()
			pi := unquoteIndex(src[r.Start.Byte:r.End.Byte], r.Start.Byte)
			pi = pi[:len(pi)-1]
			if len(pi) != len(text) {
				return nil
			}
			for i := range pi {
				if c := src[pi[i]]; c != text[i] && c != '\\' && c != '$' && c != '%' {
					return nil
				}
			}
			idx = append(idx, pi...)
			end = r.End.Byte
			continue
		}
		v, diags := p.Value(l.ctx)
		if diags.HasErrors() {
			return nil
		}
		v, _ = v.UnmarkDeep()
		sv, err := convert.Convert(v, cty.String)
		if err != nil || sv.IsNull() || !sv.IsKnown() {
			return nil
		}
		for range len(sv.AsString()) {
			idx = append(idx, r.Start.Byte)
		}
		end = r.End.Byte
	}
	if len(idx) != len(value) {
		return nil
	}
	return append(idx, end)
}

// content decodes a body against a schema, reporting unknown and missing attributes.
func (l *loader) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, diags := body.Content(schema)
	l.diags = append(l.diags, diags...)
	return c
}

func (l *loader) zone(attr *hcl.Attribute, from, def string) (string, *time.Location, bool) {
	name := def
	if attr != nil {
		s, ok := l.str(attr, from)
		if !ok {
			return "", nil, false
		}
		name = s
	}
	loc, err := LoadLocation(name)
	if err != nil {
		var rng *hcl.Range
		if attr != nil {
			rng = attr.Expr.Range().Ptr()
		}
		l.errorf(rng, "Unknown time zone", "%q is not an IANA time zone such as Asia/Tokyo.", name)
		return "", nil, false
	}
	return name, loc, true
}

func fmtRange(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

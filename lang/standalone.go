package lang

import (
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/hashicorp/hcl/v2"
)

// CompileExpr compiles CEL source that lives outside any HCL file: the engine compiles the
// expressions of a rule bundle with it. name says where the expression came from
// ("segment.loyal_store.condition") and starts every error message.
func CompileExpr(env *cel.Env, ctx Context, name, src string, want *cel.Type, costLimit uint64) (*Expr, error) {
	e, diags := compileCEL(env, ctx, src, standaloneSite(name, src, 0), want, costLimit, func() []string { return nil })
	if diags.HasErrors() {
		return nil, diagsError(diags)
	}
	return e, nil
}

// CompileTemplate compiles message text with {{ CEL }} placeholders outside any HCL file.
func CompileTemplate(env *cel.Env, ctx Context, name, src string, costLimit uint64) (*Template, error) {
	texts, spans, err := splitTemplate(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	t := &Template{Source: src, parts: make([]templatePart, 0, len(texts)+len(spans))}
	for i, text := range texts {
		t.parts = append(t.parts, templatePart{text: text})
		if i < len(spans) {
			e, diags := compileCEL(env, ctx, spans[i].cel, standaloneSite(name, src, spans[i].offset), nil, costLimit, func() []string { return nil })
			if diags.HasErrors() {
				return nil, diagsError(diags)
			}
			t.parts = append(t.parts, templatePart{expr: e})
		}
	}
	return t, nil
}

// standaloneSite places an expression at offset in a one-line pseudo file named name, so
// error positions are columns within the source.
func standaloneSite(name, src string, offset int) celSite {
	idx := make([]int, len(src)+1)
	for i := range idx {
		idx[i] = i
	}
	end := hcl.Pos{Line: 1, Column: len(src) + 1, Byte: len(src)}
	return celSite{src: []byte(src), rng: hcl.Range{Filename: name, Start: hcl.InitialPos, End: end},
		value: src, offset: offset, index: idx}
}

func diagsError(diags hcl.Diagnostics) error {
	var msgs []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary + ": " + d.Detail
		if d.Subject != nil {
			msg = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, msg)
		}
		msgs = append(msgs, msg)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// TraitType is the CEL type of a trait's value, from its aggregate and value expression: counts
// and distinct counts are ints, sums/min/max keep the value's number (or timestamp) type, last
// keeps the value's type.
func TraitType(agg Aggregate, value *Expr) (*types.Type, error) {
	if value == nil {
		return types.IntType, nil
	}
	vt := value.OutputType()
	switch agg {
	case AggSum, AggMin, AggMax:
		switch vt.Kind() {
		case types.IntKind, types.DoubleKind:
			return vt, nil
		case types.TimestampKind:
			if agg == AggSum {
				return nil, fmt.Errorf("a sum trait adds numbers; this value is a timestamp")
			}
			return vt, nil
		}
		return nil, fmt.Errorf("a %s trait needs a number; this value is %s", agg, celTypeString(vt))
	case AggLast:
		if vt.Kind() == types.DynKind {
			return types.DynType, nil
		}
		return vt, nil
	}
	return types.IntType, nil
}

// References lists the traits and segments an expression reads (customer.traits.X,
// customer.segments.Y), so the engine re-evaluates a segment only when something it reads
// changed.
func (e *Expr) References() (traits, segments []string) {
	for _, r := range celRefs(e) {
		switch r.kind {
		case "trait":
			traits = append(traits, r.name)
		case "segment":
			segments = append(segments, r.name)
		}
	}
	return traits, segments
}

// Suggest returns the candidate closest to name when it is close enough to be a typo, else "".
func Suggest(name string, candidates []string) string { return suggest(name, candidates) }

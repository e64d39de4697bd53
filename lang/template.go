package lang

import (
	"fmt"
	"reflect"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"github.com/hashicorp/hcl/v2"
)

// Template is message text with CEL placeholders: "あと{{ 3000 - event.cart.total }}円で10%オフ".
// The placeholders are compiled and type-checked at load like every other CEL expression. The
// {{ }} syntax keeps them apart from HCL's own ${ } interpolation, which runs at load time.
type Template struct {
	Source string
	Range  hcl.Range
	parts  []templatePart
}

type templatePart struct {
	text string
	expr *Expr
}

// templateSpan is a placeholder's CEL text and its byte offset in the template.
type templateSpan struct {
	cel    string
	offset int
}

// splitTemplate finds the {{ … }} placeholders of a template; text parts are the rest.
func splitTemplate(src string) (texts []string, spans []templateSpan, err error) {
	rest, base := src, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			texts = append(texts, rest)
			return texts, spans, nil
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, nil, fmt.Errorf("a {{ at byte %d is never closed with }}", base+i)
		}
		inner := rest[i+2 : i+2+j]
		trimmed := strings.TrimSpace(inner)
		if trimmed == "" {
			return nil, nil, fmt.Errorf("an empty {{ }} at byte %d", base+i)
		}
		lead := strings.Index(inner, trimmed)
		texts = append(texts, rest[:i])
		spans = append(spans, templateSpan{cel: trimmed, offset: base + i + 2 + lead})
		base += i + 2 + j + 2
		rest = rest[i+2+j+2:]
	}
}

// Render evaluates the placeholders with vars and joins the text.
func (t *Template) Render(vars any) (string, error) {
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.expr.Eval(vars)
		if err != nil {
			return "", err
		}
		b.WriteString(valueText(v))
	}
	return b.String(), nil
}

// Exprs lists the compiled placeholders.
func (t *Template) Exprs() []*Expr {
	var out []*Expr
	for _, p := range t.parts {
		if p.expr != nil {
			out = append(out, p.expr)
		}
	}
	return out
}

// valueText renders a CEL value for a message: numbers plainly, strings unquoted.
func valueText(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Int:
		return fmt.Sprint(int64(x))
	case types.Double:
		return fmt.Sprint(float64(x))
	case types.Bool:
		return fmt.Sprint(bool(x))
	case types.Timestamp:
		return x.Time.Format("2006-01-02 15:04")
	case types.Null:
		return ""
	}
	if s, err := v.ConvertToNative(stringType); err == nil {
		return s.(string)
	}
	return fmt.Sprint(v.Value())
}

var stringType = reflect.TypeOf("")

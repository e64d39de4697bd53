package shopifytest

import (
	"fmt"
	"strconv"
	"strings"
)

// The server reads the subset of GraphQL the Admin API's clients send: one operation per
// document (query or mutation, optionally named, with variable definitions), fields with
// aliases and arguments, and inline fragments on a type. Named fragments, directives and
// subscriptions are refused, as a document the server cannot read fully must not be guessed at.

// Operation is a parsed GraphQL operation.
type Operation struct {
	Type      string // query or mutation
	Name      string
	Variables []VarDef
	Selection []Selection
}

// VarDef is one variable definition: $name: Type.
type VarDef struct {
	Name    string
	Type    string // as written, e.g. [ID!]!
	Default any
}

// Selection is a field or an inline fragment.
type Selection struct {
	Field *Field
	// On and Fragment hold an inline fragment: ... on On { Fragment }.
	On       string
	Fragment []Selection
}

// Field is one selected field.
type Field struct {
	Alias     string
	Name      string
	Args      map[string]Value
	Selection []Selection
}

// Key is the name the field has in the response.
func (f *Field) Key() string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// Value is an argument value as written: a literal or a $variable.
type Value struct {
	Var     string
	Literal any // string, int64, float64, bool, nil, Enum, []Value, map[string]Value
}

// Enum is an enum literal.
type Enum string

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxDepth = 32

// Parse reads a document holding exactly one operation.
func Parse(src string) (*Operation, error) {
	p := &parser{lx: lexer{src: src}}
	p.next()
	op, err := p.operation()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("one operation per document: unexpected %s", p.tok)
	}
	return op, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokName
	tokVar
	tokString
	tokInt
	tokFloat
	tokPunct
	tokSpread
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of document"
	case tokString:
		return strconv.Quote(t.text)
	case tokVar:
		return "$" + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

type lexer struct {
	src string
	pos int
	err error
}

func (l *lexer) next() token {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '#' {
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			continue
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == 0xEF || c == 0xBB || c == 0xBF {
			l.pos++
			continue
		}
		break
	}
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, pos: start}
	}
	c := l.src[l.pos]
	switch {
	case strings.HasPrefix(l.src[l.pos:], "..."):
		l.pos += 3
		return token{kind: tokSpread, text: "...", pos: start}
	case strings.IndexByte("{}():[]!=@|&", c) >= 0:
		l.pos++
		return token{kind: tokPunct, text: string(c), pos: start}
	case c == '$':
		l.pos++
		name := l.name()
		if name == "" {
			l.fail(start, "a $ without a variable name")
		}
		return token{kind: tokVar, text: name, pos: start}
	case c == '"':
		return l.string(start)
	case c == '-' || (c >= '0' && c <= '9'):
		return l.number(start)
	case c == '_' || isLetter(c):
		return token{kind: tokName, text: l.name(), pos: start}
	}
	l.fail(start, fmt.Sprintf("unexpected character %q", rune(c)))
	return token{kind: tokEOF, pos: start}
}

func (l *lexer) fail(pos int, msg string) {
	if l.err == nil {
		l.err = fmt.Errorf("syntax error at offset %d: %s", pos, msg)
	}
	l.pos = len(l.src)
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func (l *lexer) name() string {
	start := l.pos
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '_' || isLetter(c) || (c >= '0' && c <= '9') {
			l.pos++
			continue
		}
		break
	}
	return l.src[start:l.pos]
}

func (l *lexer) number(start int) token {
	if l.src[l.pos] == '-' {
		l.pos++
	}
	kind := tokInt
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && kind == tokFloat):
			kind = tokFloat
		default:
			return token{kind: kind, text: l.src[start:l.pos], pos: start}
		}
		l.pos++
	}
	return token{kind: kind, text: l.src[start:l.pos], pos: start}
}

func (l *lexer) string(start int) token {
	if strings.HasPrefix(l.src[l.pos:], `"""`) {
		end := strings.Index(l.src[l.pos+3:], `"""`)
		if end < 0 {
			l.fail(start, "unterminated block string")
			return token{kind: tokEOF, pos: start}
		}
		text := l.src[l.pos+3 : l.pos+3+end]
		l.pos += 6 + end
		return token{kind: tokString, text: text, pos: start}
	}
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return token{kind: tokString, text: b.String(), pos: start}
		case c == '\n' || c == '\r':
			l.fail(start, "a line break inside a string")
			return token{kind: tokEOF, pos: start}
		case c == '\\':
			if l.pos+1 >= len(l.src) {
				l.fail(start, "unterminated string")
				return token{kind: tokEOF, pos: start}
			}
			e := l.src[l.pos+1]
			l.pos += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if l.pos+4 > len(l.src) {
					l.fail(start, "a short \\u escape")
					return token{kind: tokEOF, pos: start}
				}
				n, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 32)
				if err != nil {
					l.fail(start, "a bad \\u escape")
					return token{kind: tokEOF, pos: start}
				}
				b.WriteRune(rune(n))
				l.pos += 4
			default:
				l.fail(start, fmt.Sprintf("unknown escape \\%c", e))
				return token{kind: tokEOF, pos: start}
			}
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	l.fail(start, "unterminated string")
	return token{kind: tokEOF, pos: start}
}

type parser struct {
	lx    lexer
	tok   token
	depth int
}

func (p *parser) next() { p.tok = p.lx.next() }

func (p *parser) errorf(format string, args ...any) error {
	if p.lx.err != nil {
		return p.lx.err
	}
	return fmt.Errorf("syntax error at offset %d: %s", p.tok.pos, fmt.Sprintf(format, args...))
}

func (p *parser) punct(s string) bool { return p.tok.kind == tokPunct && p.tok.text == s }

func (p *parser) expect(s string) error {
	if !p.punct(s) {
		return p.errorf("expected %q, found %s", s, p.tok)
	}
	p.next()
	return nil
}

func (p *parser) operation() (*Operation, error) {
	op := &Operation{Type: "query"}
	if p.tok.kind == tokName {
		switch p.tok.text {
		case "query", "mutation":
			op.Type = p.tok.text
		case "subscription":
			return nil, p.errorf("subscriptions are not served over HTTP")
		case "fragment":
			return nil, p.errorf("named fragments are not supported; use inline fragments")
		default:
			return nil, p.errorf("expected query or mutation, found %s", p.tok)
		}
		p.next()
		if p.tok.kind == tokName {
			op.Name = p.tok.text
			p.next()
		}
		if p.punct("(") {
			p.next()
			for !p.punct(")") {
				v, err := p.varDef()
				if err != nil {
					return nil, err
				}
				op.Variables = append(op.Variables, v)
			}
			p.next()
		}
	}
	if p.punct("@") {
		return nil, p.errorf("directives are not supported")
	}
	sel, err := p.selectionSet()
	if err != nil {
		return nil, err
	}
	op.Selection = sel
	return op, nil
}

func (p *parser) varDef() (VarDef, error) {
	if p.tok.kind != tokVar {
		return VarDef{}, p.errorf("expected a variable, found %s", p.tok)
	}
	v := VarDef{Name: p.tok.text}
	p.next()
	if err := p.expect(":"); err != nil {
		return v, err
	}
	t, err := p.typeRef(0)
	if err != nil {
		return v, err
	}
	v.Type = t
	if p.punct("=") {
		p.next()
		val, err := p.value(true)
		if err != nil {
			return v, err
		}
		v.Default = val.Literal
	}
	return v, nil
}

func (p *parser) typeRef(depth int) (string, error) {
	if depth > maxDepth {
		return "", p.errorf("type nested too deeply")
	}
	var t string
	switch {
	case p.punct("["):
		p.next()
		inner, err := p.typeRef(depth + 1)
		if err != nil {
			return "", err
		}
		if err := p.expect("]"); err != nil {
			return "", err
		}
		t = "[" + inner + "]"
	case p.tok.kind == tokName:
		t = p.tok.text
		p.next()
	default:
		return "", p.errorf("expected a type, found %s", p.tok)
	}
	if p.punct("!") {
		p.next()
		t += "!"
	}
	return t, nil
}

func (p *parser) selectionSet() ([]Selection, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errorf("selection nested more than %d deep", maxDepth)
	}
	var out []Selection
	for !p.punct("}") {
		switch p.tok.kind {
		case tokSpread:
			p.next()
			if p.tok.kind != tokName || p.tok.text != "on" {
				return nil, p.errorf("named fragments are not supported; use ... on Type")
			}
			p.next()
			if p.tok.kind != tokName {
				return nil, p.errorf("expected a type after on, found %s", p.tok)
			}
			on := p.tok.text
			p.next()
			sel, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			out = append(out, Selection{On: on, Fragment: sel})
		case tokName:
			f, err := p.field()
			if err != nil {
				return nil, err
			}
			out = append(out, Selection{Field: f})
		default:
			return nil, p.errorf("expected a field, found %s", p.tok)
		}
	}
	p.next()
	if len(out) == 0 {
		return nil, p.errorf("an empty selection set")
	}
	return out, nil
}

func (p *parser) field() (*Field, error) {
	f := &Field{Name: p.tok.text}
	p.next()
	if p.punct(":") {
		p.next()
		if p.tok.kind != tokName {
			return nil, p.errorf("expected a field name after the alias %s, found %s", f.Name, p.tok)
		}
		f.Alias, f.Name = f.Name, p.tok.text
		p.next()
	}
	if p.punct("(") {
		p.next()
		f.Args = map[string]Value{}
		for !p.punct(")") {
			if p.tok.kind != tokName {
				return nil, p.errorf("expected an argument name, found %s", p.tok)
			}
			name := p.tok.text
			p.next()
			if err := p.expect(":"); err != nil {
				return nil, err
			}
			v, err := p.value(false)
			if err != nil {
				return nil, err
			}
			if _, dup := f.Args[name]; dup {
				return nil, p.errorf("argument %s given twice", name)
			}
			f.Args[name] = v
		}
		p.next()
	}
	if p.punct("@") {
		return nil, p.errorf("directives are not supported")
	}
	if p.punct("{") {
		sel, err := p.selectionSet()
		if err != nil {
			return nil, err
		}
		f.Selection = sel
	}
	return f, nil
}

func (p *parser) value(constant bool) (Value, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return Value{}, p.errorf("value nested more than %d deep", maxDepth)
	}
	t := p.tok
	switch t.kind {
	case tokVar:
		if constant {
			return Value{}, p.errorf("a variable in a constant value")
		}
		p.next()
		return Value{Var: t.text}, nil
	case tokString:
		p.next()
		return Value{Literal: t.text}, nil
	case tokInt:
		p.next()
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return Value{}, p.errorf("bad integer %s", t.text)
		}
		return Value{Literal: n}, nil
	case tokFloat:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return Value{}, p.errorf("bad number %s", t.text)
		}
		return Value{Literal: f}, nil
	case tokName:
		p.next()
		switch t.text {
		case "true":
			return Value{Literal: true}, nil
		case "false":
			return Value{Literal: false}, nil
		case "null":
			return Value{Literal: nil}, nil
		}
		return Value{Literal: Enum(t.text)}, nil
	case tokPunct:
		switch t.text {
		case "[":
			p.next()
			list := []Value{}
			for !p.punct("]") {
				v, err := p.value(constant)
				if err != nil {
					return Value{}, err
				}
				list = append(list, v)
			}
			p.next()
			return Value{Literal: list}, nil
		case "{":
			p.next()
			obj := map[string]Value{}
			for !p.punct("}") {
				if p.tok.kind != tokName {
					return Value{}, p.errorf("expected a field name, found %s", p.tok)
				}
				name := p.tok.text
				p.next()
				if err := p.expect(":"); err != nil {
					return Value{}, err
				}
				v, err := p.value(constant)
				if err != nil {
					return Value{}, err
				}
				obj[name] = v
			}
			p.next()
			return Value{Literal: obj}, nil
		}
	}
	return Value{}, p.errorf("expected a value, found %s", t)
}

// Resolve turns a written value into a JSON-like Go value, substituting variables.
func (v Value) Resolve(vars map[string]any) any {
	if v.Var != "" {
		return vars[v.Var]
	}
	switch x := v.Literal.(type) {
	case []Value:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e.Resolve(vars)
		}
		return out
	case map[string]Value:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e.Resolve(vars)
		}
		return out
	case Enum:
		return string(x)
	}
	return v.Literal
}

// variables lists the variables a value refers to.
func (v Value) variables(out map[string]bool) {
	if v.Var != "" {
		out[v.Var] = true
	}
	switch x := v.Literal.(type) {
	case []Value:
		for _, e := range x {
			e.variables(out)
		}
	case map[string]Value:
		for _, e := range x {
			e.variables(out)
		}
	}
}

// usedVariables lists every variable the selection's arguments refer to.
func usedVariables(sel []Selection, out map[string]bool) {
	for _, s := range sel {
		if s.Field == nil {
			usedVariables(s.Fragment, out)
			continue
		}
		for _, a := range s.Field.Args {
			a.variables(out)
		}
		usedVariables(s.Field.Selection, out)
	}
}

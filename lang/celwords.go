package lang

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/parser"
	"github.com/hashicorp/hcl/v2"
)

// The people who write conditions are not the people who wrote the CEL parser. This file turns
// cel-go's messages (token lists, overload names) into sentences that say what is wrong in the
// words of the condition itself, and what to write instead.

// celOperators names cel-go's operator functions as they are written.
var celOperators = map[string]string{
	"_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">=",
	"_+_": "+", "_-_": "-", "_*_": "*", "_/_": "/", "_%_": "%",
	"_&&_": "&&", "_||_": "||", "!_": "!", "-_": "-",
	"_[_]": "[ ]", "@in": "in", "_?_:_": "? :",
}

// operatorSentence says what an operator does with the types it was given, as in "`>=`
// compares an int with a string".
func operatorSentence(fn string, ts []string) string {
	op := celOperators[fn]
	a := func(i int) string {
		if i < len(ts) {
			return typeWord(ts[i])
		}
		return "a value"
	}
	switch fn {
	case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_":
		return fmt.Sprintf("`%s` compares %s with %s", op, a(0), a(1))
	case "_+_":
		return fmt.Sprintf("`+` adds %s and %s", a(0), a(1))
	case "_-_":
		return fmt.Sprintf("`-` subtracts %s from %s", a(1), a(0))
	case "_*_":
		return fmt.Sprintf("`*` multiplies %s by %s", a(0), a(1))
	case "_/_":
		return fmt.Sprintf("`/` divides %s by %s", a(0), a(1))
	case "_%_":
		return fmt.Sprintf("`%%` takes the remainder of %s divided by %s", a(0), a(1))
	case "_&&_", "_||_":
		return fmt.Sprintf("`%s` joins two conditions, each true or false, not %s and %s", op, a(0), a(1))
	case "!_":
		return fmt.Sprintf("`!` turns a condition (true or false) around, not %s", a(0))
	case "-_":
		return fmt.Sprintf("`-` makes a number negative, not %s", a(0))
	case "_[_]":
		return fmt.Sprintf("`[ ]` takes an item of a list by its position or of a map by its key, not of %s by %s", a(0), a(1))
	case "@in":
		return fmt.Sprintf("`in` looks for a value in a list or a key in a map, not %s in %s", a(0), a(1))
	case "_?_:_":
		return fmt.Sprintf("`? :` chooses between two values by a condition (true or false), not by %s", a(0))
	}
	return ""
}

// typeWord puts an article before a CEL type name: "an int", "a string", "a list(string)".
func typeWord(t string) string {
	switch {
	case t == "null" || t == "null_type":
		return "null"
	case t == "bytes":
		return "bytes"
	case t == "int":
		return "an int"
	case strings.HasPrefix(t, "optional_type("):
		return "an optional " + strings.TrimSuffix(strings.TrimPrefix(t, "optional_type("), ")")
	}
	return "a " + t
}

// splitTypes splits "int, map(string, dyn)" at its top-level commas.
func splitTypes(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(', '<':
			depth++
		case ')', '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

// overloadSignature reads cel-go's "found no matching overload for 'FN' applied to 'SIG'":
// the function and the types of its arguments, the target's first for a method call.
func overloadSignature(msg string) (fn string, ts []string, method, ok bool) {
	rest, ok := strings.CutPrefix(msg, "found no matching overload for '")
	if !ok {
		return "", nil, false, false
	}
	fn, sig, ok := strings.Cut(rest, "' applied to '")
	if !ok || !strings.HasSuffix(sig, "'") {
		return "", nil, false, false
	}
	sig = strings.TrimSuffix(sig, "'")
	if strings.HasPrefix(sig, "(") && strings.HasSuffix(sig, ")") {
		return fn, splitTypes(sig[1 : len(sig)-1]), false, true
	}
	if target, args, ok := strings.Cut(sig, ".("); ok && strings.HasSuffix(args, ")") {
		return fn, append([]string{target}, splitTypes(strings.TrimSuffix(args, ")"))...), true, true
	}
	return fn, nil, false, false
}

// celText gives access to the expressions of a parsed condition as they are written.
type celText struct {
	src  string
	ast  *celast.AST
	info *celast.SourceInfo
}

func newCELText(parsed *cel.Ast, src string) *celText {
	if parsed == nil {
		return nil
	}
	a := parsed.NativeRep()
	return &celText{src: src, ast: a, info: a.SourceInfo()}
}

// find returns the expression with the given ID.
func (c *celText) find(id int64) celast.Expr {
	var found celast.Expr
	celast.PreOrderVisit(c.ast.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if found == nil && e.ID() == id {
			found = e
		}
	}))
	return found
}

// operands are the arguments of a call, its target first.
func operands(e celast.Expr) []celast.Expr {
	if e == nil || e.Kind() != celast.CallKind {
		return nil
	}
	call := e.AsCall()
	var out []celast.Expr
	if call.IsMemberFunction() {
		out = append(out, call.Target())
	}
	return append(out, call.Args()...)
}

// byteAt converts a CEL offset (in code points from the start) to a byte offset of src.
func byteAt(src string, n int32) int {
	off := 0
	for i := int32(0); i < n && off < len(src); i++ {
		_, size := utf8.DecodeRuneInString(src[off:])
		off += size
	}
	return off
}

// literalSpan is where a literal is written, as byte offsets of src; ok is false for other
// expressions.
func (c *celText) literalSpan(e celast.Expr) (start, end int, ok bool) {
	if e == nil || e.Kind() != celast.LiteralKind {
		return 0, 0, false
	}
	o, found := c.info.GetOffsetRange(e.ID())
	if !found {
		return 0, 0, false
	}
	start = byteAt(c.src, o.Start)
	end = literalEnd(c.src, start)
	return start, end, end > start
}

// literalEnd finds the end of the literal written at src[start:]: a string in any of CEL's
// quotes, with its prefix, or a number.
func literalEnd(src string, start int) int {
	i := start
	raw := false
	for k := 0; k < 2 && i < len(src) && strings.ContainsRune("rRbB", rune(src[i])); k++ {
		raw = raw || src[i] == 'r' || src[i] == 'R'
		i++
	}
	if i < len(src) && (src[i] == '\'' || src[i] == '"') {
		q := src[i : i+1]
		if strings.HasPrefix(src[i:], q+q+q) {
			q = q + q + q
		}
		i += len(q)
		for i < len(src) {
			switch {
			case !raw && src[i] == '\\':
				i += 2
			case strings.HasPrefix(src[i:], q):
				return i + len(q)
			case len(q) == 1 && src[i] == '\n':
				return i
			default:
				i++
			}
		}
		return min(i, len(src))
	}
	i = start
	for i < len(src) {
		ch := src[i]
		switch {
		case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch == '.', ch == '_':
			i++
		case (ch == '+' || ch == '-') && i > start && (src[i-1] == 'e' || src[i-1] == 'E'):
			i++
		default:
			return i
		}
	}
	return i
}

// span finds where an expression is written, as byte offsets of src: from its first token to
// the end of its last name, literal or closing parenthesis.
func (c *celText) span(e celast.Expr) (start, end int, ok bool) {
	if e == nil {
		return 0, 0, false
	}
	start, end = len(c.src), 0
	celast.PreOrderVisit(e, celast.NewExprVisitor(func(x celast.Expr) {
		o, found := c.info.GetOffsetRange(x.ID())
		if !found {
			return
		}
		at := byteAt(c.src, o.Start)
		start = min(start, at)
		stop := at
		switch x.Kind() {
		case celast.LiteralKind:
			stop = literalEnd(c.src, at)
		case celast.IdentKind:
			stop = at + len(x.AsIdent())
		case celast.SelectKind:
			field := x.AsSelect().FieldName()
			if i := strings.Index(c.src[at:], field); i >= 0 && i <= 3 {
				stop = at + i + len(field)
			}
		}
		end = max(end, stop)
	}))
	for end < len(c.src) && (c.src[end] == ')' || c.src[end] == ']') {
		end++
	}
	return start, end, start < end
}

// text renders an expression as written: a literal exactly, anything else as cel-go prints it,
// shortened.
func (c *celText) text(e celast.Expr) string {
	if s, end, ok := c.literalSpan(e); ok {
		return clipRunes(c.src[s:end], 60)
	}
	if e == nil {
		return ""
	}
	s, err := parser.Unparse(e, c.info)
	if err != nil {
		return ""
	}
	return clipRunes(s, 60)
}

// stringLiteral returns the value of a string literal.
func stringLiteral(e celast.Expr) (string, bool) {
	if e == nil || e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// isNumberLiteral reports whether e is an int, uint or double literal.
func isNumberLiteral(e celast.Expr) bool {
	if e == nil || e.Kind() != celast.LiteralKind {
		return false
	}
	switch e.AsLiteral().(type) {
	case types.Int, types.Uint, types.Double:
		return true
	}
	return false
}

// looksNumeric reports whether s, the content of a string, is a number.
func looksNumeric(s string) bool {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return true
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil && s != "" && !strings.ContainsAny(s, "iInN")
}

// singleQuoted writes s as a CEL string in single quotes.
func singleQuoted(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

func isNumberType(t string) bool { return t == "int" || t == "uint" || t == "double" }

// celWords is a CEL error said in words: the detail, and the span of the condition (byte
// offsets) to point at, when it is not where cel-go points.
type celWords struct {
	detail     string
	start, end int
	moved      bool
}

// typeErrorWords says a type error of the checker in words, naming the expressions involved.
func typeErrorWords(msg string, id int64, text *celText) (celWords, bool) {
	if text == nil {
		return celWords{}, false
	}
	if fn, ts, method, ok := overloadSignature(msg); ok {
		return overloadWords(fn, ts, method, text.find(id), text)
	}
	if rest, ok := strings.CutPrefix(msg, "expected type '"); ok {
		want, got, ok := strings.Cut(rest, "' but found '")
		if !ok {
			return celWords{}, false
		}
		got = strings.TrimSuffix(got, "'")
		e := text.find(id)
		what := text.text(e)
		if what == "" {
			return celWords{}, false
		}
		w := celWords{}
		if start, end, ok := text.span(e); ok {
			w.start, w.end, w.moved = start, end, true
		}
		if want == "bool" {
			w.detail = fmt.Sprintf("%s is %s, where a condition (true or false) is expected", what, typeWord(got))
			if c := comparisonFor(what, got); c != "" {
				w.detail += "; compare it, as in " + c
			}
			w.detail += "."
			return w, true
		}
		w.detail = fmt.Sprintf("%s is %s, where %s is expected.", what, typeWord(got), typeWord(want))
		return w, true
	}
	return celWords{}, false
}

// comparisonFor suggests a condition over a value of type t.
func comparisonFor(what, t string) string {
	switch {
	case t == "string":
		return what + " != ''"
	case isNumberType(t):
		return what + " > 0"
	case strings.HasPrefix(t, "list(") || strings.HasPrefix(t, "map("):
		return "size(" + what + ") > 0"
	}
	return ""
}

func overloadWords(fn string, ts []string, method bool, call celast.Expr, text *celText) (celWords, bool) {
	args := operands(call)
	names := make([]string, len(ts))
	for i := range ts {
		if i < len(args) {
			names[i] = text.text(args[i])
		}
	}
	var w celWords
	var sentence string
	if _, isOp := celOperators[fn]; isOp {
		sentence = operatorSentence(fn, ts)
	} else {
		name := fn
		switch {
		case method && len(ts) > 1:
			sentence = fmt.Sprintf("`%s()` on %s cannot take %s", name, typeWord(ts[0]), joinTypes(ts[1:]))
		case method:
			sentence = fmt.Sprintf("`%s()` cannot be called on %s", name, typeWord(ts[0]))
		case len(ts) == 0:
			sentence = fmt.Sprintf("`%s()` needs arguments", name)
		default:
			sentence = fmt.Sprintf("`%s()` cannot take %s", name, joinTypes(ts))
		}
	}
	var parts []string
	logic := fn == "_&&_" || fn == "_||_" || fn == "_?_:_"
	for i, n := range names {
		if logic && (ts[i] == "bool" || fn == "_?_:_" && i > 0) {
			continue
		}
		if n != "" {
			parts = append(parts, fmt.Sprintf("%s is %s", n, typeWord(ts[i])))
		}
	}
	w.detail = sentence
	if len(parts) > 0 {
		w.detail += ": " + strings.Join(parts, ", ")
	}
	if advice, lit := overloadAdvice(fn, ts, method, args, text); advice != "" {
		w.detail += "; " + advice
		if lit != nil {
			if s, e, ok := text.literalSpan(lit); ok {
				w.start, w.end, w.moved = s, e, true
			}
		}
	}
	w.detail += "."
	return w, true
}

func joinTypes(ts []string) string {
	words := make([]string, len(ts))
	for i, t := range ts {
		words[i] = typeWord(t)
	}
	if len(words) <= 2 {
		return strings.Join(words, " and ")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// overloadAdvice says what to write instead, and the literal to change when the advice is
// about one.
func overloadAdvice(fn string, ts []string, method bool, args []celast.Expr, text *celText) (string, celast.Expr) {
	if len(args) != len(ts) {
		return "", nil
	}
	compares := strings.Contains("_==_ _!=_ _<_ _<=_ _>_ _>=_", fn)
	arithmetic := strings.Contains("_+_ _-_ _*_ _/_ _%_", fn)
	if len(ts) == 2 && (compares || arithmetic) {
		for i := range 2 {
			other := 1 - i
			lit, ot := args[i], ts[other]
			s, isStr := stringLiteral(lit)
			switch {
			case isStr && isNumberType(ot) && looksNumeric(s):
				return fmt.Sprintf("write %s without quotes", strings.TrimSpace(s)), lit
			case !compares:
			case isStr && isNumberType(ot):
				return fmt.Sprintf("%s is a number; compare it with a number", text.text(args[other])), lit
			case isStr && (ot == "google.protobuf.Timestamp" || ot == "timestamp"):
				return fmt.Sprintf("write a time as timestamp(%s)", singleQuoted(timestampExample(s))), lit
			case isStr && (ot == "google.protobuf.Duration" || ot == "duration"):
				return fmt.Sprintf("write a duration as duration(%s)", singleQuoted(s)), lit
			case isNumberLiteral(lit) && ot == "string":
				return fmt.Sprintf("write %s in single quotes", singleQuoted(text.text(lit))), lit
			}
		}
		for i := range 2 {
			if ts[i] == "int" && ts[1-i] == "double" {
				if isNumberLiteral(args[i]) {
					return fmt.Sprintf("write %s.0", text.text(args[i])), args[i]
				}
				return fmt.Sprintf("write double(%s)", text.text(args[i])), nil
			}
		}
	}
	if fn == "@in" && len(ts) == 2 && ts[1] == "string" && ts[0] == "string" {
		return fmt.Sprintf("to look inside a string, write %s.contains(%s)", text.text(args[1]), text.text(args[0])), nil
	}
	if method && len(ts) == 2 && ts[1] != "string" && isNumberLiteral(args[1]) && (fn == "startsWith" || fn == "endsWith" || fn == "contains" || fn == "matches") {
		return fmt.Sprintf("write %s in single quotes", singleQuoted(text.text(args[1]))), args[1]
	}
	switch fn {
	case "_&&_", "_||_", "!_", "_?_:_":
		for i, t := range ts {
			if t != "bool" && t != "dyn" {
				if c := comparisonFor(text.text(args[i]), t); c != "" {
					return "compare it, as in " + c, nil
				}
				break
			}
		}
	}
	return "", nil
}

// timestampExample turns what was written for a time into an RFC 3339 time, for advice.
func timestampExample(s string) string {
	if len(s) == len("2006-01-02") {
		return s + "T00:00:00Z"
	}
	return s
}

// syntaxWords says a parser error in words: what the parser stumbled on and what to write
// instead, never its list of expected tokens. at is the byte offset cel-go points at.
func syntaxWords(msg, src string, at int) celWords {
	msg = strings.TrimPrefix(msg, "Syntax error: ")
	w := celWords{}
	point := func(s, e int) { w.start, w.end, w.moved = s, e, true }
	quoted := func(prefix string) (string, string, bool) {
		rest, ok := strings.CutPrefix(msg, prefix)
		if !ok {
			return "", "", false
		}
		i := strings.Index(rest, "' expecting ")
		if i < 0 {
			i = strings.LastIndex(rest, "'")
		}
		if i < 0 {
			return "", "", false
		}
		return rest[:i], strings.TrimPrefix(rest[i+1:], " "), true
	}
	if tok, _, ok := quoted("token recognition error at: '"); ok {
		w.detail = unknownTokenWords(tok, src, at)
		return w
	}
	if strings.Contains(msg, "'<EOF>'") && !strings.HasPrefix(msg, "extraneous input '<EOF>'") {
		s, e, last := lastToken(src, at)
		if strings.HasPrefix(msg, "missing ')'") || strings.HasPrefix(msg, "missing ']'") || strings.HasPrefix(msg, "missing '}'") {
			closer := msg[len("missing '") : len("missing '")+1]
			w.detail = fmt.Sprintf("A %s is not closed: %s is missing at the end.", map[string]string{")": "(", "]": "[", "}": "{"}[closer], closer)
			return w
		}
		if last == "" {
			w.detail = "The condition is empty."
			return w
		}
		point(s, e)
		w.detail = fmt.Sprintf("The condition ends after %s, where more must follow.", last)
		return w
	}
	for _, prefix := range []string{"extraneous input '", "mismatched input '"} {
		tok, expecting, ok := quoted(prefix)
		if !ok {
			continue
		}
		if strings.HasPrefix(expecting, "expecting {") && strings.Contains(expecting, "IDENTIFIER") {
			if tok == "=" {
				w.detail = "A single = does not compare: write ==."
			} else {
				w.detail = fmt.Sprintf("A value (a field, a number, a 'string') is expected here, not %s.", tok)
			}
			return w
		}
		w.detail = unexpectedWords(tok, expecting)
		return w
	}
	if tok, _, ok := quoted("no viable alternative at input '"); ok {
		w.detail = fmt.Sprintf("The condition cannot be read from here: %s.", clipRunes(tok, 40))
		return w
	}
	if rest, ok := strings.CutPrefix(msg, "missing '"); ok {
		if what, where, ok := strings.Cut(rest, "' at '"); ok {
			w.detail = fmt.Sprintf("%s is missing before %s.", what, strings.TrimSuffix(where, "'"))
			return w
		}
	}
	if i := strings.Index(msg, " expecting "); i > 0 {
		msg = msg[:i]
	}
	w.detail = strings.TrimSuffix(msg, ".") + "."
	return w
}

// unexpectedWords explains a token where the condition is already complete or another token
// must come.
func unexpectedWords(tok, expecting string) string {
	switch strings.ToLower(tok) {
	case "and":
		return fmt.Sprintf("Conditions are joined with &&, not %s.", tok)
	case "or":
		return fmt.Sprintf("Conditions are joined with ||, not %s.", tok)
	case "not":
		return fmt.Sprintf("A condition is turned around with !, not %s.", tok)
	case ")", "]", "}":
		return fmt.Sprintf("This %s closes nothing: remove it, or add what it closes before it.", tok)
	case "=":
		return "A single = does not compare: write ==."
	}
	if expecting == "expecting <EOF>" {
		return fmt.Sprintf("The condition is complete before %s: join conditions with && or ||.", tok)
	}
	return fmt.Sprintf("%s is not expected here.", tok)
}

// unknownTokenWords explains a character the lexer does not know, or a string left open.
func unknownTokenWords(tok, src string, at int) string {
	r, _ := utf8.DecodeRuneInString(tok)
	switch {
	case r == '"' || r == '\'':
		content := src[min(at+1, len(src)):]
		if i := strings.IndexByte(content, '\n'); i >= 0 {
			content = content[:i]
		}
		content = strings.TrimRight(strings.TrimSpace(content), `"'`)
		if r == '"' {
			return fmt.Sprintf("This string has no closing quote. Inside a condition, write strings in single quotes: %s.", singleQuoted(clipRunes(content, 40)))
		}
		return fmt.Sprintf("This string has no closing quote: write %s.", singleQuoted(clipRunes(content, 40)))
	case r == '=':
		return "A single = does not compare: write ==."
	case r == '&':
		return "A single & is not an operator: write && for \"and\"."
	case r == '|':
		return "A single | is not an operator: write || for \"or\"."
	case r == '“' || r == '”' || r == '‘' || r == '’' || r == '„' || r == '«' || r == '»':
		return fmt.Sprintf("%c is a typographic quote: write strings in plain single quotes, as in 'gold'.", r)
	case r == '\u3000':
		return "This is a full-width space: write an ordinary space."
	case r >= 0xFF01 && r <= 0xFF5E:
		return fmt.Sprintf("%c is a full-width character: write %c instead.", r, r-0xFEE0)
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		return fmt.Sprintf("%c cannot be part of a name in a condition: names there are ASCII letters, digits and underscores.", r)
	}
	return fmt.Sprintf("%s cannot be part of a condition.", strings.TrimSpace(clipRunes(tok, 20)))
}

// lastToken finds the last word or operator of src before at: what a condition ending too
// soon ends with.
func lastToken(src string, at int) (start, end int, tok string) {
	end = min(at, len(src))
	for end > 0 && (src[end-1] == ' ' || src[end-1] == '\t' || src[end-1] == '\n' || src[end-1] == '\r') {
		end--
	}
	if end == 0 {
		return 0, 0, ""
	}
	start = end
	isWord := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
	}
	isOp := func(c byte) bool { return strings.IndexByte("=!<>&|+-*/%?:", c) >= 0 }
	switch c := src[end-1]; {
	case isWord(c):
		for start > 0 && isWord(src[start-1]) {
			start--
		}
	case isOp(c):
		for start > 0 && isOp(src[start-1]) {
			start--
		}
	default:
		start--
	}
	return start, end, src[start:end]
}

// supersedes marks a diagnostic that explains the HCL syntax errors reported in its span of a
// file: they are what the same mistake looks like to the HCL parser.
type supersedes struct {
	filename   string
	start, end int
}

// dropSuperseded removes the errors that a diagnostic explains better.
func dropSuperseded(diags hcl.Diagnostics) hcl.Diagnostics {
	var spans []supersedes
	for _, d := range diags {
		if s, ok := d.Extra.(supersedes); ok {
			spans = append(spans, s)
		}
	}
	if len(spans) == 0 {
		return diags
	}
	out := diags[:0]
	for _, d := range diags {
		if _, ok := d.Extra.(supersedes); !ok && d.Subject != nil {
			drop := false
			for _, s := range spans {
				if d.Subject.Filename == s.filename && d.Subject.Start.Byte >= s.start && d.Subject.Start.Byte <= s.end {
					drop = true
				}
			}
			if drop {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// cutShortQuote recognises a condition written with double quotes inside an HCL string:
// condition = "customer.attributes.tier == "gold"". The second quote ends the HCL string, so
// CEL sees "customer.attributes.tier == " and HCL finds gold"" after the attribute. Both
// parsers' errors are replaced with one that says what to write.
func cutShortQuote(env *cel.Env, src string, site celSite) hcl.Diagnostics {
	file, rng := site.src, site.rng
	if file == nil || site.offset != 0 || site.index != nil && len(site.index) != len(src)+1 ||
		rng.Start.Byte < 0 || rng.End.Byte > len(file) || rng.End.Byte-rng.Start.Byte < 2 ||
		file[rng.Start.Byte] != '"' || file[rng.End.Byte-1] != '"' || strings.HasSuffix(rng.Filename, ".json") {
		return nil
	}
	line := string(file[rng.End.Byte:])
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	rest := strings.TrimRight(line, " \t\r")
	if rest == "" || strings.ContainsRune(" \t#,}])", rune(rest[0])) || strings.HasPrefix(rest, "//") || strings.HasPrefix(rest, "/*") {
		return nil
	}
	// The literal the quote opened: up to the next double quote.
	content, _, closed := strings.Cut(rest, `"`)
	if !closed || strings.ContainsAny(content, `\'`) {
		return nil
	}
	quote := rng.End.Byte - 1
	litEnd := rng.End.Byte + len(content) + 1
	intended := src + `"` + strings.TrimSuffix(rest, `"`)
	advice := fmt.Sprintf("Inside a condition, write strings in single quotes: %s.", singleQuoted(content))
	var fixed string
	if !strings.ContainsAny(rest, `\$%`) {
		asStrings, asNumbers := requote(intended, false), requote(intended, true)
		switch {
		case compiles(env, asStrings):
			fixed = asStrings
		case asNumbers != asStrings && compiles(env, asNumbers):
			fixed = asNumbers
			if looksNumeric(content) {
				advice = fmt.Sprintf("Inside a condition, write numbers without quotes: %s.", strings.TrimSpace(content))
			}
		}
	}
	detail := fmt.Sprintf("The \" before %s ends the HCL string, so the condition stops at %q. %s", clipRunes(content, 40), clipRunes(src, 80), advice)
	if fixed != "" && !strings.ContainsAny(fixed, "\"\\\n") && utf8.RuneCountInString(fixed) <= 200 {
		detail += fmt.Sprintf("\nWrite: \"%s\"", fixed)
	}
	eol := rng.End.Byte + len(line)
	r := hcl.Range{Filename: rng.Filename, Start: site.posAt(quote), End: site.posAt(min(litEnd, eol))}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Double quotes inside a condition",
		Detail:   detail,
		Subject:  &r,
		Extra:    supersedes{filename: rng.Filename, start: rng.End.Byte, end: eol},
	}}
}

// requote rewrites the double-quoted strings of a condition in single quotes, or, with
// numbers set, those that hold a number without quotes.
func requote(s string, numbers bool) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(s, `"'`)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		q := s[i]
		j := strings.IndexByte(s[i+1:], q)
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		content := s[i+1 : i+1+j]
		switch {
		case q == '\'':
			b.WriteString(s[i : i+j+2])
		case numbers && looksNumeric(content):
			b.WriteString(strings.TrimSpace(content))
		default:
			b.WriteString(singleQuoted(content))
		}
		s = s[i+j+2:]
	}
}

// compiles reports whether src compiles in env.
func compiles(env *cel.Env, src string) bool {
	_, iss := env.Compile(src)
	return iss.Err() == nil
}

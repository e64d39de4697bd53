package lang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// MaxNestingDepth bounds how deeply brackets, braces, parentheses, blocks and templates nest
// in HCL and JSON input. The parsers and the evaluator recurse once per level: unbounded,
// 200 KB of brackets exhausts the stack and kills the process.
const MaxNestingDepth = 256

// MaxOperators bounds the operators one expression chains (!!…, a + b + …, a ? b : c ? …,
// x[*][*]…): each nests the syntax tree one level deeper too.
const MaxOperators = 1024

// hclMode is what a piece of HCL source holds.
type hclMode uint8

const (
	hclConfig     hclMode = iota // blocks and attributes, where newlines end expressions
	hclExpression                // a bare expression (-var, the console)
	hclTemplate                  // a bare template (templatefile, JSON strings)
)

// nestingError is where input first passes a limit, as a byte offset.
type nestingError struct {
	offset int
	ops    bool // MaxOperators was passed, not MaxNestingDepth
	json   bool // in JSON arrays and objects
}

func (e *nestingError) Error() string {
	if e.ops {
		return fmt.Sprintf("more than %d operators in one expression", MaxOperators)
	}
	return fmt.Sprintf("nested more than %d levels deep", MaxNestingDepth)
}

func (e *nestingError) detail() string {
	switch {
	case e.ops:
		return fmt.Sprintf("This expression chains more than %d operators, the most Musubi reads in one expression.", MaxOperators)
	case e.json:
		return fmt.Sprintf("This nests arrays and objects more than %d levels deep, the most Musubi reads.", MaxNestingDepth)
	}
	return fmt.Sprintf("This nests brackets, braces, parentheses or templates more than %d levels deep, the most Musubi reads.", MaxNestingDepth)
}

func (e *nestingError) summary() string {
	if e.ops {
		return "Expression too long"
	}
	return "Nested too deeply"
}

// diag places the error in the file it was found in.
func (e *nestingError) diag(src []byte, filename string) hcl.Diagnostics {
	start := posAt(src, e.offset)
	end := start
	if e.offset < len(src) {
		end = posAt(src, e.offset+1)
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: e.summary(), Detail: e.detail(),
		Subject: &hcl.Range{Filename: filename, Start: start, End: end}}}
}

// checkHCL reports HCL source that nests deeper than the parser may recurse, before the
// parser sees it.
func checkHCL(src []byte, filename string, mode hclMode) hcl.Diagnostics {
	if e := scanHCL(src, mode); e != nil {
		return e.diag(src, filename)
	}
	return nil
}

// checkJSON does the same for JSON syntax; the strings of configuration files are templates.
func checkJSON(src []byte, filename string) hcl.Diagnostics {
	if e := scanJSON(src, true); e != nil {
		return e.diag(src, filename)
	}
	return nil
}

// scanJSON finds where src nests arrays and objects deeper than MaxNestingDepth; with
// templates, also a string holding a template that nests too deeply.
func scanJSON(src []byte, templates bool) *nestingError {
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '[', '{':
			if depth++; depth > MaxNestingDepth {
				return &nestingError{offset: i, json: true}
			}
		case ']', '}':
			depth = max(depth-1, 0)
		case '"':
			end := i + 1
			for end < len(src) && src[end] != '"' {
				if src[end] == '\\' {
					end++
				}
				end++
			}
			if templates && mayNest(src[i:min(end, len(src))]) {
				var s string
				if json.Unmarshal(src[i:min(end+1, len(src))], &s) == nil && scanHCL([]byte(s), hclTemplate) != nil {
					return &nestingError{offset: i}
				}
			}
			i = end
		}
	}
	return nil
}

// mayNest reports whether a template, as JSON writes it, could pass a limit: each level and
// each operator takes one of these bytes or an escape, so a string with fewer cannot.
func mayNest(s []byte) bool {
	n := 0
	for _, c := range s {
		switch c {
		case '{', '[', '(', '"', '<', '!', '-', '+', '*', '/', '%', '>', '=', '&', '|', '?', '\\':
			n++
		}
	}
	return n > MaxNestingDepth
}

// scanHCL finds where src first nests deeper than MaxNestingDepth or chains more than
// MaxOperators, or returns nil. It mirrors hclsyntax's scanner (strings, heredocs, comments
// and templates are told apart from code as it tells them, so nothing can hide nesting from
// it) and counts the levels the parser will recurse into. A linear scan costs a fraction of
// the parse it protects.
func scanHCL(src []byte, mode hclMode) *nestingError {
	return newNestScanner(src, mode).run()
}

func newNestScanner(src []byte, mode hclMode) *nestScanner {
	s := &nestScanner{src: src, levels: []nestLevel{{kind: 'r', lines: mode == hclConfig}}}
	if mode == hclTemplate {
		s.mode = lexBare
	}
	return s
}

func (s *nestScanner) run() *nestingError {
	for s.i < len(s.src) && s.err == nil && !s.stopped {
		switch s.mode {
		case lexMain:
			s.main()
		default:
			s.template()
		}
	}
	return s.err
}

type lexMode uint8

const (
	lexMain    lexMode = iota
	lexString          // "…"
	lexHeredoc         // <<EOT … EOT
	lexBare            // a template on its own
)

type nestScanner struct {
	src []byte
	i   int

	// hclsyntax's scanner state: the modes to return to, the brace count at which a template
	// sequence ends, the open heredocs.
	mode      lexMode
	calls     []lexMode
	braces    int
	retBraces []int
	heredocs  []heredoc
	stopped   bool // where hclsyntax's scanner gives up, and so does the parser

	// The parser's view: the levels open, the operators counted on them.
	levels []nestLevel
	ops    int
	// trace, when not nil, records where each bracket, string, heredoc, template sequence and
	// operator token starts and ends, for tests to compare with hclsyntax's tokens.
	trace     *[]nestEvent
	prevValue bool // the last token ends a value, so "[" indexes it
	err       *nestingError
}

type heredoc struct {
	marker      []byte
	startOfLine bool
}

type nestLevel struct {
	// '{' '[' '(' brackets; 'i' a template sequence (${ or %{); 'q' a quoted string; 'h' a
	// heredoc; 'c' the body of %{ if } or %{ for }; 'r' the root.
	kind  byte
	ops   int
	lines bool // newlines end expressions here
	fresh bool // no token read at this level yet
	// For a %{ directive: +1 when it opens a body (if, for), -1 when it closes one.
	directive int
}

func (s *nestScanner) top() *nestLevel { return &s.levels[len(s.levels)-1] }

type nestEvent struct {
	offset int
	kind   byte // 'o' opens, 'c' closes, 'x' an operator
}

func (s *nestScanner) note(offset int, kind byte) {
	if s.trace != nil {
		*s.trace = append(*s.trace, nestEvent{offset, kind})
	}
}

// push opens a level at the byte offset at.
func (s *nestScanner) push(l nestLevel, at int) {
	if l.kind != 'c' {
		s.note(at, 'o')
	}
	l.fresh = true
	s.levels = append(s.levels, l)
	if len(s.levels)-1 > MaxNestingDepth && s.err == nil {
		s.err = &nestingError{offset: at}
	}
}

func (s *nestScanner) pop() nestLevel {
	l := *s.top()
	if len(s.levels) > 1 {
		s.ops -= l.ops
		s.levels = s.levels[:len(s.levels)-1]
	}
	return l
}

func (s *nestScanner) op(width int) {
	s.top().ops++
	if width > 0 {
		s.note(s.i, 'x')
	}
	if s.ops++; s.ops > MaxOperators && s.err == nil {
		s.err = &nestingError{offset: s.i, ops: true}
	}
	s.i += width
}

// endExpression starts a new expression at the current level: after a comma, or a newline
// where newlines end expressions.
func (s *nestScanner) endExpression() {
	t := s.top()
	s.ops -= t.ops
	t.ops = 0
}

func (s *nestScanner) newline() {
	if s.top().lines {
		s.endExpression()
		s.prevValue = false
	}
}

func (s *nestScanner) call(m lexMode) {
	s.calls = append(s.calls, s.mode)
	s.mode = m
}

func (s *nestScanner) ret() {
	if n := len(s.calls); n > 0 {
		s.mode = s.calls[n-1]
		s.calls = s.calls[:n-1]
	}
}

func (s *nestScanner) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

// main scans one token of code.
func (s *nestScanner) main() {
	c := s.src[s.i]
	switch c {
	case ' ', '\t':
		s.i++
		return
	case '\n':
		s.i++
		s.newline()
		return
	case '\r':
		s.i++
		if s.peek(0) == '\n' {
			s.i++
			s.newline()
		}
		return
	case '#':
		s.lineComment()
		return
	case '/':
		switch s.peek(1) {
		case '/':
			s.lineComment()
			return
		case '*':
			// An unterminated /* is no comment to hclsyntax: "/" and "*" are tokens.
			if end := bytes.Index(s.src[s.i+2:], []byte("*/")); end >= 0 {
				s.i += 2 + end + 2
				return
			}
		}
	}
	fresh := s.top().fresh
	s.top().fresh = false
	value := false
	switch c {
	case '"':
		s.push(nestLevel{kind: 'q'}, s.i)
		s.i++
		s.call(lexString)
	case '<':
		if m, n := s.heredocIntro(); n > 0 {
			s.push(nestLevel{kind: 'h'}, s.i)
			s.i += n
			s.heredocs = append(s.heredocs, heredoc{marker: m, startOfLine: true})
			s.call(lexHeredoc)
			break
		}
		s.op(1 + b2i(s.peek(1) == '='))
	case '>':
		s.op(1 + b2i(s.peek(1) == '='))
	case '!':
		s.op(1 + b2i(s.peek(1) == '='))
	case '=':
		if s.peek(1) == '=' {
			s.op(2)
		} else {
			s.i += 1 + b2i(s.peek(1) == '>')
		}
	case '&', '|':
		if s.peek(1) == c {
			s.op(2)
		} else {
			s.i++
		}
	case '-', '+', '*', '/', '%', '?':
		s.op(1)
	case ',':
		s.i++
		s.endExpression()
	case '{':
		s.push(nestLevel{kind: '{', lines: true}, s.i)
		s.braces++
		s.i++
	case '}':
		s.note(s.i, 'c')
		s.i++
		value = s.closeBrace()
	case '~':
		if s.peek(1) == '}' {
			s.note(s.i, 'c')
			s.i += 2
			value = s.closeBrace()
		} else {
			s.i++
		}
	case '[', '(':
		if c == '[' && s.prevValue {
			s.op(0) // an index or splat wraps what it follows
		}
		s.push(nestLevel{kind: c}, s.i)
		s.i++
	case ']', ')':
		if k := s.top().kind; k == '[' || k == '(' || k == '{' {
			s.pop()
		}
		s.note(s.i, 'c')
		s.i++
		value = true
	case '.':
		if s.peek(1) == '.' && s.peek(2) == '.' {
			s.i += 3
		} else {
			s.i++
		}
	default:
		switch {
		case c >= '0' && c <= '9':
			s.number()
			value = true
		case isIdentStart(c):
			start := s.i
			s.ident()
			value = true
			// "{for k, v in …}" is a for expression, where newlines do not end anything.
			if fresh && s.top().kind == '{' && string(s.src[start:s.i]) == "for" && s.identFollows() {
				s.top().lines = false
			}
		case c >= utf8.RuneSelf:
			typ, n := s.lexAt(s.i)
			s.i += n
			value = typ == hclsyntax.TokenIdent
		default:
			s.i++
		}
	}
	s.prevValue = value
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// closeBrace handles "}" or "~}", already read: the end of a template sequence when the brace
// count says so, as in hclsyntax, or else a closing brace. It reports whether a value ended.
func (s *nestScanner) closeBrace() bool {
	if n := len(s.retBraces); n > 0 && s.retBraces[n-1] == s.braces {
		s.braces--
		s.retBraces = s.retBraces[:n-1]
		s.ret()
		for len(s.levels) > 1 {
			if l := s.pop(); l.kind == 'i' {
				switch l.directive {
				case 1:
					s.push(nestLevel{kind: 'c'}, s.i-1)
				case -1:
					if s.top().kind == 'c' {
						s.pop()
					}
				}
				break
			}
		}
		return false
	}
	s.braces--
	if k := s.top().kind; k == '[' || k == '(' || k == '{' {
		s.pop()
	}
	return true
}

func (s *nestScanner) lineComment() {
	if end := bytes.IndexByte(s.src[s.i:], '\n'); end >= 0 {
		s.i += end + 1
		s.newline()
		return
	}
	s.i = len(s.src)
}

// number reads a number literal as hclsyntax does: digits, dots and exponents, not ending in
// a dot.
func (s *nestScanner) number() {
	j := s.i + 1
	for j < len(s.src) {
		switch c := s.src[j]; {
		case c >= '0' && c <= '9', c == '.':
			j++
			continue
		case c == 'e' || c == 'E':
			k := j + 1
			if k < len(s.src) && (s.src[k] == '+' || s.src[k] == '-') {
				k++
			}
			if k < len(s.src) && s.src[k] >= '0' && s.src[k] <= '9' {
				j = k + 1
				continue
			}
		}
		break
	}
	for s.src[j-1] == '.' {
		j--
	}
	s.i = j
}

// ident reads an identifier. Beyond ASCII, hclsyntax's own scanner says where it ends: its
// tables take some invalid UTF-8, and the ASCII after it, into identifiers.
func (s *nestScanner) ident() {
	start := s.i
	for s.i < len(s.src) && isIdentContinue(s.src[s.i]) {
		s.i++
	}
	if s.i < len(s.src) && s.src[s.i] >= utf8.RuneSelf {
		_, n := s.lexAt(start)
		s.i = start + n
	}
}

// identFollows reports whether an identifier comes next, past spaces and newlines.
func (s *nestScanner) identFollows() bool {
	j := s.i
	for j < len(s.src) && (s.src[j] == ' ' || s.src[j] == '\t' || s.src[j] == '\r' || s.src[j] == '\n') {
		j++
	}
	switch {
	case j == len(s.src):
		return false
	case s.src[j] >= utf8.RuneSelf:
		typ, _ := s.lexAt(j)
		return typ == hclsyntax.TokenIdent
	}
	return isIdentStart(s.src[j])
}

// heredocIntro matches "<<EOT" or "<<-EOT" and a newline at the scanner, returning the
// marker and the length of the introducer.
func (s *nestScanner) heredocIntro() ([]byte, int) {
	if s.peek(1) != '<' {
		return nil, 0
	}
	j := s.i + 2
	if j < len(s.src) && s.src[j] == '-' {
		j++
	}
	start := j
	if j < len(s.src) && isIdentStart(s.src[j]) {
		for j++; j < len(s.src) && isIdentContinue(s.src[j]); j++ {
		}
	}
	if j < len(s.src) && s.src[j] >= utf8.RuneSelf {
		typ, n := s.lexAt(s.i)
		if typ != hclsyntax.TokenOHeredoc {
			return nil, 0
		}
		return bytes.TrimRight(s.src[start:s.i+n], "\r\n"), n
	}
	marker := s.src[start:j]
	if j < len(s.src) && s.src[j] == '\r' {
		j++
	}
	if len(marker) == 0 || j >= len(s.src) || s.src[j] != '\n' {
		return nil, 0
	}
	return marker, j + 1 - s.i
}

// lexAt returns the type and length of the token hclsyntax's scanner reads at offset at in
// code, from a window long enough that its end cannot change the token.
func (s *nestScanner) lexAt(at int) (hclsyntax.TokenType, int) {
	for n := 64; ; n *= 2 {
		end := min(at+n, len(s.src))
		tokens, _ := hclsyntax.LexExpression(s.src[at:end], "", hcl.InitialPos)
		t := tokens[0]
		if length := t.Range.End.Byte - t.Range.Start.Byte; end == len(s.src) || length < end-at-8 {
			return t.Type, max(length, 1)
		}
	}
}

// template scans one token of a quoted string, a heredoc or a bare template.
func (s *nestScanner) template() {
	c := s.src[s.i]
	if c == '$' || c == '%' {
		switch {
		case s.peek(1) == '{':
			s.sequence(c == '%')
		case s.peek(1) == c && s.peek(2) == '{': // $${ and %%{ are literal
			s.i += 3
			s.midline()
		default:
			s.i++
			s.midline()
		}
		return
	}
	switch s.mode {
	case lexString:
		switch {
		case c == '"':
			s.note(s.i, 'c')
			s.i++
			s.ret()
			s.pop()
			s.prevValue = true
		case c == '\\' && s.peek(1) != '\n' && s.peek(1) != '\r' && s.peek(1) != 0:
			s.i += 2
		default:
			s.i++
			for s.i < len(s.src) && !isStringSpecial(s.src[s.i]) {
				s.i++
			}
		}
	default:
		s.literal()
	}
}

func isStringSpecial(c byte) bool { return c == '"' || c == '\\' || c == '$' || c == '%' }

// midline notes that a heredoc line has begun, so it cannot be the closing marker.
func (s *nestScanner) midline() {
	if s.mode == lexHeredoc {
		s.heredocs[len(s.heredocs)-1].startOfLine = false
	}
}

// literal reads heredoc or bare template text up to a template sequence or the end of a line,
// closing a heredoc at its marker.
func (s *nestScanner) literal() {
	if utf8Len(s.src[s.i:]) == 0 {
		s.i++ // a token of its own, which leaves a heredoc line where it was
		return
	}
	j := s.i
	for j < len(s.src) {
		c := s.src[j]
		if c == '$' || c == '%' || c == '\r' || c == '\n' {
			break
		}
		n := utf8Len(s.src[j:])
		if n == 0 {
			break
		}
		j += n
	}
	eol := 0
	switch {
	case j < len(s.src) && s.src[j] == '\n':
		eol = 1
	case j+1 < len(s.src) && s.src[j] == '\r' && s.src[j+1] == '\n':
		eol = 2
	case j < len(s.src) && s.src[j] == '\r':
		// A lone carriage return in template text matches nothing in hclsyntax's scanner,
		// which then gives up on the rest of the file.
		s.stopped = true
		return
	}
	if eol == 0 {
		if j > s.i {
			s.midline()
		}
		s.i = j
		return
	}
	if s.mode == lexHeredoc {
		h := &s.heredocs[len(s.heredocs)-1]
		if h.startOfLine && bytes.Equal(bytes.TrimSpace(s.src[s.i:j]), h.marker) {
			s.heredocs = s.heredocs[:len(s.heredocs)-1]
			s.note(s.i, 'c')
			s.i = j // the newline after the marker is code
			s.ret()
			s.pop()
			s.prevValue = true
			return
		}
		h.startOfLine = true
	}
	s.i = j + eol
}

// sequence opens ${ or %{, which the scanner reads as code up to its closing brace.
func (s *nestScanner) sequence(directive bool) {
	start := s.i
	s.i += 2
	if s.peek(0) == '~' {
		s.i++
	}
	s.midline()
	s.braces++
	s.retBraces = append(s.retBraces, s.braces)
	l := nestLevel{kind: 'i'}
	if directive {
		j := s.i
		for j < len(s.src) && (s.src[j] == ' ' || s.src[j] == '\t' || s.src[j] == '\r' || s.src[j] == '\n') {
			j++
		}
		k := j
		for k < len(s.src) && s.src[k] >= 'a' && s.src[k] <= 'z' {
			k++
		}
		switch string(s.src[j:k]) {
		case "if", "for":
			l.directive = 1
		case "endif", "endfor":
			l.directive = -1
		}
	}
	s.call(lexMain)
	s.push(l, start)
	s.prevValue = false
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentContinue(c byte) bool { return isIdentStart(c) || c == '-' || c >= '0' && c <= '9' }

// utf8Len is the length of the character at the start of b as hclsyntax's scanner reads
// characters (it takes overlong forms too), or 0 when b starts with invalid UTF-8.
func utf8Len(b []byte) int {
	cont := func(i int) bool { return i < len(b) && b[i]&0xC0 == 0x80 }
	switch c := b[0]; {
	case c < 0x80:
		return 1
	case c >= 0xC0 && c <= 0xDF && cont(1):
		return 2
	case c >= 0xE0 && c <= 0xEF && cont(1) && cont(2):
		return 3
	case c >= 0xF0 && c <= 0xF7 && cont(1) && cont(2) && cont(3):
		return 4
	}
	return 0
}

// posAt is the position of byte offset off in src, columns counted in characters.
func posAt(src []byte, off int) hcl.Pos {
	p := hcl.Pos{Line: 1, Column: 1, Byte: off}
	if i := bytes.LastIndexByte(src[:off], '\n'); i >= 0 {
		p.Line += bytes.Count(src[:i+1], []byte{'\n'})
		p.Column += utf8.RuneCount(src[i+1 : off])
	} else {
		p.Column += utf8.RuneCount(src[:off])
	}
	return p
}

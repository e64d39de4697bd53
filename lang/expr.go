package lang

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"github.com/hashicorp/hcl/v2"
)

// Expr is a CEL expression compiled and type-checked at load. The program is planned on first
// use, so `validate` pays only for checking; every evaluation runs under the cost limit.
type Expr struct {
	Source  string
	Context Context
	// Range is where the expression is written in the HCL files.
	Range hcl.Range

	env       *cel.Env
	costLimit uint64

	// plan is shared by the expressions of one compilation: the same text in the same
	// environment, written in several places, is planned once.
	plan *exprPlan
}

// exprPlan is an expression's checked tree and its evaluable program, planned on first use.
type exprPlan struct {
	treeOnce sync.Once
	ast      *cel.Ast
	// load works out the checked tree of an expression found valid in the CEL cache
	// (celcache.go) when it is first needed; nil when ast is set from the start. out is
	// then the result type, kept in the cache.
	load func() *cel.Ast
	out  *cel.Type
	// refs are the references to traits and segments the expression makes, once known.
	refs      []celRef
	refsKnown bool

	once   sync.Once
	prg    cel.Program
	prgErr error
	// native is the expression compiled to Go closures (celnative.go), when it can be and
	// needs no cost tracking; prg evaluates it otherwise.
	native nativeFn
}

// at returns the expression as written at another place: the same checked tree and program.
func (e *Expr) at(ctx Context, rng hcl.Range) *Expr {
	return &Expr{Source: e.Source, Context: ctx, Range: rng, env: e.env, costLimit: e.costLimit, plan: e.plan}
}

// checked returns the checked tree, compiling an expression found in the cache on first use.
func (e *Expr) checked() *cel.Ast {
	p := e.plan
	p.treeOnce.Do(func() {
		if p.load != nil {
			p.ast, p.load = p.load(), nil
		}
	})
	return p.ast
}

// AST returns the checked syntax tree.
func (e *Expr) AST() *cel.Ast { return e.checked() }

// Env returns the environment the expression was checked in.
func (e *Expr) Env() *cel.Env { return e.env }

// OutputType is the checked result type.
func (e *Expr) OutputType() *cel.Type {
	if e.plan.out != nil {
		return e.plan.out
	}
	return e.checked().OutputType()
}

// Program returns the evaluable program, planning it once.
func (e *Expr) Program() (cel.Program, error) {
	p := e.plan
	p.once.Do(func() {
		opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
		bounded := e.WithinCostLimit()
		if !bounded {
			opts = append(opts, cel.CostLimit(e.costLimit), cel.InterruptCheckFrequency(100))
		}
		p.prg, p.prgErr = e.env.Program(e.checked(), opts...)
		if p.prgErr == nil && bounded {
			p.native, _ = compileNative(e.env, e.checked())
		}
	})
	return p.prg, p.prgErr
}

// WithinCostLimit reports whether the expression's worst-case cost, estimated from its types
// with the same cost model the runtime tracker charges, is within the cost limit. Such a
// program cannot exceed the limit on any input, so it runs without the tracker, which would
// otherwise cost about as much as the evaluation itself; any expression whose cost depends on
// the size of its input (a list, a string, a comprehension) keeps the tracker.
func (e *Expr) WithinCostLimit() bool {
	est, err := e.env.EstimateCost(e.checked(), nil)
	return err == nil && est.Max <= e.costLimit
}

// Eval evaluates the expression with vars (a map[string]any or a cel activation).
func (e *Expr) Eval(vars any) (ref.Val, error) {
	prg, err := e.Program()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Range, err)
	}
	if act, ok := vars.(interpreter.Activation); ok {
		if e.plan.native != nil {
			v, err := evalNative(e.plan.native, act)
			if err == nil {
				return v, nil
			}
			if err != error(errUnsupported) { // left to cel-go
				return nil, fmt.Errorf("%s: evaluating %q: %w", e.Range, e.Source, err)
			}
		}
		vars = wholeVars{act}
	}
	v, _, err := prg.Eval(vars)
	if err != nil {
		return nil, fmt.Errorf("%s: evaluating %q: %w", e.Range, e.Source, err)
	}
	return v, nil
}

// EvalBool evaluates a condition.
func (e *Expr) EvalBool(vars any) (bool, error) {
	v, err := e.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s: condition gave %s, not a bool", e.Range, v.Type().TypeName())
	}
	return bool(b), nil
}

// celSite locates CEL source text inside an HCL file so CEL errors can point at the exact
// column within the string: the expression holding the text, and the byte offset of the CEL
// text inside the string's value (non-zero for a {{ … }} placeholder of a template).
type celSite struct {
	src    []byte // the whole file
	rng    hcl.Range
	value  string // the string's value: the CEL text, or the template holding it
	offset int
	// index maps the bytes of value to file offsets when value came from an interpolated
	// string; nil when the mapping is worked out from the source text on demand.
	index []int
}

// compileCEL parses and checks src in env. want, when not nil, is the required result type.
// names supplies field and variable names for "did you mean" advice; it runs only on errors.
func compileCEL(env *cel.Env, ctx Context, src string, site celSite, want *cel.Type, costLimit uint64, names func() []string) (*Expr, hcl.Diagnostics) {
	return compileCELWith(true, env, ctx, src, site, want, costLimit, names)
}

// compileCELWith compiles src, parsing it with the fast parser first when fast is set. Only a
// clean compile keeps the fast parser's tree: any problem is worked out again from the tree of
// cel-go's own parser, so messages and positions are always cel-go's.
func compileCELWith(fast bool, env *cel.Env, ctx Context, src string, site celSite, want *cel.Type, costLimit uint64, names func() []string) (*Expr, hcl.Diagnostics) {
	if fast {
		if ast, ok := fastParseFor(env, src); ok {
			if e, diags := checkCEL(env, ctx, ast, src, site, want, costLimit, names); diags == nil {
				return e, nil
			}
		}
	}
	ast, iss := env.Parse(src)
	if iss.Err() != nil {
		if diags := cutShortQuote(env, src, site); diags != nil {
			return nil, diags
		}
		return nil, celDiags("CEL syntax error", iss, site, src, ctx, names, nil)
	}
	return checkCEL(env, ctx, ast, src, site, want, costLimit, names)
}

// checkCEL type-checks a parsed expression and makes sure it can be planned.
func checkCEL(env *cel.Env, ctx Context, ast *cel.Ast, src string, site celSite, want *cel.Type, costLimit uint64, names func() []string) (*Expr, hcl.Diagnostics) {
	checked, iss := env.Check(ast)
	if iss.Err() != nil {
		return nil, celDiags("CEL type error", iss, site, src, ctx, names, ast)
	}
	if want != nil {
		got := checked.OutputType()
		if !got.IsAssignableType(want) && got.Kind() != types.DynKind {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "CEL type error",
				Detail:   fmt.Sprintf("This expression gives %s; it must give %s.", celTypeString(got), celTypeString(want)),
				Subject:  site.rangeOf(src, 0, len(src)).Ptr(),
			}}
		}
	}
	e := &Expr{Source: src, Context: ctx, Range: site.rng, env: env, costLimit: costLimit, plan: &exprPlan{ast: checked}}
	// Calls on constants are worked out when the program is planned: a regular expression that
	// does not compile, timestamp('2027-13-01'). Planning such expressions now makes those
	// errors load errors, not failures of every later evaluation.
	if id, n := constantCalls(checked); n > 0 {
		if _, err := e.Program(); err != nil {
			rng := site.rangeOf(src, 0, len(src))
			if loc := checked.NativeRep().SourceInfo().GetStartLocation(id); n == 1 && loc.Line() > 0 {
				start := runeOffset(src, loc.Line(), loc.Column())
				_, size := utf8.DecodeRuneInString(src[start:])
				rng = site.rangeOf(src, start, start+max(size, 1))
			}
			why := err.Error()
			if n == 1 {
				if lit, ok := stringLiteral(newCELText(checked, src).find(id)); ok && timeProblem(lit) != "" {
					why = fmt.Sprintf("%s is not a time: %s", singleQuoted(lit), timeProblem(lit))
				}
			}
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "CEL error",
				Detail:   fmt.Sprintf("This expression can never be evaluated: %s.", why),
				Subject:  rng.Ptr(),
			}}
		}
	}
	return e, nil
}

// constantCalls counts the calls whose outcome the planner works out in advance: calls with
// only literal arguments, and matches() with a literal pattern. It returns the ID of the first
// one's pattern or first argument, the likely culprit.
func constantCalls(a *cel.Ast) (first int64, n int) {
	literal := func(e celast.Expr) bool { return e.Kind() == celast.LiteralKind }
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		args := call.Args()
		id := e.ID()
		switch {
		case call.FunctionName() == "matches" && len(args) > 0 && literal(args[len(args)-1]):
			id = args[len(args)-1].ID()
		case len(args) > 0 && (!call.IsMemberFunction() || literal(call.Target())) && !slices.ContainsFunc(args, func(x celast.Expr) bool { return !literal(x) }):
			id = args[0].ID()
		default:
			return
		}
		if n == 0 {
			first = id
		}
		n++
	}))
	return first, n
}

// celDiags turns cel-go's issues into diagnostics at their place in the file, in words. parsed
// is the parsed tree of a type error, nil for a syntax error. Of a syntax error only the first
// is reported: the parser's later complaints follow from it.
func celDiags(summary string, iss *cel.Issues, site celSite, src string, ctx Context, names func() []string, parsed *cel.Ast) hcl.Diagnostics {
	var diags hcl.Diagnostics
	text := newCELText(parsed, src)
	skip := map[int]bool{} // errors that follow from one already explained
	for _, e := range iss.Errors() {
		line, col := e.Location.Line(), e.Location.Column()
		start := runeOffset(src, line, col)
		if skip[start] {
			continue
		}
		end := start
		if start < len(src) {
			_, n := utf8.DecodeRuneInString(src[start:])
			end = start + n
		}
		msg := e.Message
		var words celWords
		var said bool
		if parsed == nil {
			words, said = syntaxWords(msg, src, start), true
		} else {
			words, said = typeErrorWords(msg, e.ExprID, text)
		}
		switch {
		case said:
			msg = words.detail
			if words.moved {
				start, end = words.start, words.end
			}
		default:
			// Point at the misspelt name itself rather than the dot before it.
			if rest, ok := strings.CutPrefix(msg, "undefined field '"); ok && start < len(src) && src[start] == '.' {
				name, _, _ := strings.Cut(rest, "'")
				if strings.HasPrefix(src[start+1:], name) {
					start, end = start+1, start+1+len(name)
					if h, next := dashHint(src, start, name, names); h != "" {
						msg += "\n" + h
						skip[next] = true
						break
					}
				}
			}
			if h := celHint(msg, ctx, names); h != "" {
				msg += "\n" + h
			}
		}
		rng := site.rangeOf(src, start, end)
		if line <= 0 && !words.moved {
			rng = site.rng
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   msg,
			Subject:  rng.Ptr(),
		})
		if parsed == nil {
			break
		}
	}
	return diags
}

// contextVars says, per context, where an expression is and which variables it has, for
// expressions that use a variable of another context.
var contextVars = map[Context]struct{ where, has string }{
	CtxSegment:  {"a segment condition", "customer and now"},
	CtxCampaign: {"a campaign message", "customer, now, code and campaign"},
	CtxTrigger:  {"a trigger", "customer, event, now and code"},
	CtxUnless:   {"a wait's unless", "customer, event (the later event), trigger.event (the event that fired the trigger) and now"},
	CtxTrait:    {"a trait", "event and now"},
	CtxPolicy:   {"a policy", "only the kind of block its applies_to names: campaign, segment or trigger"},
}

// celHint adds advice to the CEL errors people meet most.
func celHint(msg string, ctx Context, names func() []string) string {
	if rest, ok := strings.CutPrefix(msg, "undeclared reference to '"); ok {
		name, _, _ := strings.Cut(rest, "'")
		if c, ok := contextVars[ctx]; ok && slices.Contains([]string{"customer", "event", "now", "code", "campaign", "segment", "trigger"}, name) {
			return fmt.Sprintf("%s is not available in %s, which has %s.", name, c.where, c.has)
		}
	}
	for _, prefix := range []string{"undefined field '", "undeclared reference to '"} {
		// cel-go makes its own suggestion for some undeclared names.
		if rest, ok := strings.CutPrefix(msg, prefix); ok && names != nil && !strings.Contains(msg, "did you mean") {
			name, _, _ := strings.Cut(rest, "'")
			if s := suggest(name, names()); s != "" && s != name {
				return fmt.Sprintf("Did you mean %q?", s)
			}
		}
	}
	if strings.Contains(msg, "undeclared reference to 'var'") {
		return "Use HCL interpolation for variables inside a condition: \"… ${var.name} …\"."
	}
	return ""
}

// dashHint explains a name with a dash in a condition, customer.segments.big-spenders, which
// CEL reads as customer.segments.big minus spenders. It returns the advice and the offset of
// the name after the dash, whose own error it explains too.
func dashHint(src string, start int, name string, names func() []string) (string, int) {
	after := start + len(name)
	if after >= len(src) || src[after] != '-' {
		return "", 0
	}
	n := after + 1
	for n < len(src) && (src[n] == '_' || src[n] >= 'a' && src[n] <= 'z' || src[n] >= 'A' && src[n] <= 'Z' || src[n] >= '0' && src[n] <= '9') {
		n++
	}
	if n == after+1 {
		return "", 0
	}
	dashed := src[start:n]
	under := strings.ReplaceAll(dashed, "-", "_")
	h := fmt.Sprintf("In a condition a dash is a minus: %s reads as %s minus %s, so names there have no dashes.", dashed, name, src[after+1:n])
	if names != nil && slices.Contains(names(), under) {
		h += fmt.Sprintf(" Did you mean %q?", under)
	}
	return h, after + 1
}

// runeOffset converts a CEL location (1-based line, 0-based column in code points) to a byte
// offset in src.
func runeOffset(src string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			return len(src)
		}
		off += i + 1
	}
	for c := 0; c < col && off < len(src); c++ {
		_, n := utf8.DecodeRuneInString(src[off:])
		off += n
	}
	return off
}

// rangeOf maps the byte span [start, end) of the CEL text to a range in the HCL file. When the
// text cannot be found verbatim (an interpolated template), it falls back to the whole expression.
func (s celSite) rangeOf(cel string, start, end int) hcl.Range {
	if s.src == nil || s.rng.End.Byte > len(s.src) {
		return s.rng
	}
	idx := s.index
	if idx == nil {
		if idx = s.cookedIndex(); !s.matches(idx) {
			return s.rng
		}
	}
	if s.offset+end >= len(idx) {
		return s.rng
	}
	r := hcl.Range{Filename: s.rng.Filename}
	r.Start = s.posAt(idx[s.offset+start])
	r.End = s.posAt(idx[s.offset+end])
	if r.End.Byte <= r.Start.Byte {
		r.End = s.posAt(r.Start.Byte + 1)
	}
	return r
}

// cookedIndex maps each byte of the string's value to its byte offset in the file; nil when
// the expression is not a plain string literal or heredoc.
func (s celSite) cookedIndex() []int {
	raw := s.src[s.rng.Start.Byte:s.rng.End.Byte]
	base := s.rng.Start.Byte
	switch {
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		return unquoteIndex(raw[1:len(raw)-1], base+1)
	case len(raw) > 2 && raw[0] == '<' && raw[1] == '<':
		return heredocIndex(raw, base)
	}
	return nil
}

// matches reports whether idx really maps the value: an interpolated template decodes to
// something else, and then positions inside it are unknown.
func (s celSite) matches(idx []int) bool {
	if idx == nil || len(idx)-1 != len(s.value) {
		return false
	}
	for i := 0; i < len(s.value); i++ {
		c := s.src[idx[i]]
		if c != s.value[i] && c != '\\' && c != '$' && c != '%' {
			return false
		}
	}
	return true
}

// unquoteIndex decodes HCL and JSON string escapes, recording for each decoded byte the file
// offset it came from (plus one entry for the end).
func unquoteIndex(raw []byte, base int) []int {
	idx := make([]int, 0, len(raw)+1)
	for i := 0; i < len(raw); {
		switch {
		case raw[i] == '\\' && i+1 < len(raw):
			n, width := escapeWidth(raw[i:])
			for k := 0; k < width; k++ {
				idx = append(idx, base+i)
			}
			i += n
		case (raw[i] == '$' || raw[i] == '%') && i+2 < len(raw) && raw[i+1] == raw[i] && raw[i+2] == '{':
			idx = append(idx, base+i, base+i+2)
			i += 3
		default:
			idx = append(idx, base+i)
			i++
		}
	}
	return append(idx, base+len(raw))
}

// escapeWidth returns the length of the escape at the start of raw and the number of bytes it
// decodes to.
func escapeWidth(raw []byte) (n, width int) {
	switch raw[1] {
	case 'u':
		if len(raw) >= 6 {
			var r rune
			if _, err := fmt.Sscanf(string(raw[2:6]), "%04x", &r); err == nil {
				return 6, utf8.RuneLen(r)
			}
		}
	case 'U':
		if len(raw) >= 10 {
			var r rune
			if _, err := fmt.Sscanf(string(raw[2:10]), "%08x", &r); err == nil {
				return 10, utf8.RuneLen(r)
			}
		}
	}
	return 2, 1
}

// heredocIndex handles <<EOT and <<-EOT: each value line is the tail of its source line.
func heredocIndex(raw []byte, base int) []int {
	nl := strings.IndexByte(string(raw), '\n')
	if nl < 0 {
		return nil
	}
	body := string(raw[nl+1:])
	lines := strings.SplitAfter(body, "\n")
	if len(lines) > 0 {
		lines = lines[:len(lines)-1] // the closing marker
	}
	indent := -1
	if raw[2] == '-' {
		for _, l := range lines {
			t := strings.TrimLeft(l, " \t")
			if strings.TrimSpace(l) == "" {
				continue
			}
			if w := len(l) - len(t); indent < 0 || w < indent {
				indent = w
			}
		}
	}
	if indent < 0 {
		indent = 0
	}
	var idx []int
	off := base + nl + 1
	for _, l := range lines {
		skip := min(indent, len(l)-len(strings.TrimLeft(l, " \t")))
		for i := skip; i < len(l); i++ {
			idx = append(idx, off+i)
		}
		off += len(l)
	}
	return append(idx, off)
}

// posAt computes the line and column of a file byte offset, counting from the range start.
func (s celSite) posAt(byteOff int) hcl.Pos {
	p := s.rng.Start
	if byteOff < p.Byte {
		return p
	}
	for i := p.Byte; i < byteOff && i < len(s.src); {
		r, n := utf8.DecodeRune(s.src[i:])
		if r == '\n' {
			p.Line++
			p.Column = 1
		} else {
			p.Column++
		}
		i += n
	}
	p.Byte = byteOff
	return p
}

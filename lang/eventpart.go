package lang

import (
	"strings"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/parser"
)

// SplitEventPart splits the expression's top-level && in two. event is, as CEL source, the
// conjuncts that read the event and nothing else (no customer, no now), joined with &&; ""
// when none does. When that part is false the whole expression is false, whatever the rest
// would be, so it can be decided as soon as the event is known, away from the customer's
// state; when it is true, the whole is rest (true && x is x, errors included). rest is ""
// when the event part is the whole expression. split is false when there is no event part,
// or when a conjunct cannot be written out again (a macro the tree no longer spells out):
// then only the whole expression says what the rest would, though a false event part still
// rules the whole out.
func (e *Expr) SplitEventPart() (event, rest string, split bool) {
	native := e.checked().NativeRep()
	var events, others []string
	whole := true
	for _, c := range conjuncts(native.Expr()) {
		s, err := parser.Unparse(c, native.SourceInfo())
		switch {
		case err == nil && readsOnly(c, "event"):
			events = append(events, "("+s+")")
		case err == nil:
			others = append(others, "("+s+")")
		default:
			whole = false // left to the whole expression
		}
	}
	if len(events) == 0 || !whole {
		return strings.Join(events, " && "), "", false
	}
	return strings.Join(events, " && "), strings.Join(others, " && "), true
}

// conjuncts flattens a tree of && into its operands.
func conjuncts(x celast.Expr) []celast.Expr {
	if x.Kind() == celast.CallKind && x.AsCall().FunctionName() == operators.LogicalAnd {
		var out []celast.Expr
		for _, a := range x.AsCall().Args() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []celast.Expr{x}
}

// readsOnly reports whether every variable x reads is v: each identifier is v or a variable
// bound by a comprehension inside x, and x reads v at least once.
func readsOnly(x celast.Expr, v string) bool {
	bound := map[string]bool{}
	celast.PreOrderVisit(x, celast.NewExprVisitor(func(n celast.Expr) {
		if n.Kind() == celast.ComprehensionKind {
			c := n.AsComprehension()
			bound[c.IterVar()], bound[c.AccuVar()] = true, true
			if c.HasIterVar2() {
				bound[c.IterVar2()] = true
			}
		}
	}))
	reads, other := false, false
	celast.PreOrderVisit(x, celast.NewExprVisitor(func(n celast.Expr) {
		if n.Kind() != celast.IdentKind {
			return
		}
		switch name := n.AsIdent(); {
		case name == v:
			reads = true
		case !bound[name]:
			other = true
		}
	}))
	return reads && !other
}

// ReadsOnly reports whether the expression reads variable v and no other (a constant reads
// none, so it is false): its value is then decided by v alone.
func (e *Expr) ReadsOnly(v string) bool {
	return readsOnly(e.checked().NativeRep().Expr(), v)
}

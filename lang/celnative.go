package lang

import (
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	celfunctions "cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// A native program is a checked CEL expression compiled to a tree of Go closures. cel-go's
// interpreter pays on every evaluation for an execution frame, a dynamic dispatch per node and
// a general attribute resolver; the rules an engine evaluates per event are small (field
// reads, comparisons, arithmetic, && and ||) and run several times faster as closures. The
// closures call the same value methods and function bindings cel-go's planner would, with the
// same strictness, so they give the same answers (FuzzNativeAgrees checks it). Anything else
// (comprehensions, indexing, optionals, object and map literals, late-bound or asynchronous
// functions) is left to cel-go at compile time; a value of a shape the closures do not read is
// left to it at run time (errUnsupported).
type nativeFn func(interpreter.Activation) ref.Val

// errUnsupported is what a native program returns when the input has a shape it does not
// read; the caller evaluates with cel-go instead. Evaluation has no side effects, so running
// again is safe.
var errUnsupported = types.NewErr("native evaluation does not read this value").(*types.Err)

// nativeCompiler compiles one checked AST.
type nativeCompiler struct {
	ast      *celast.AST
	adapter  types.Adapter
	provider types.Provider
	funcs    map[string]*celfunctions.Overload
}

// envOverloads are the function bindings of each environment, by overload ID and by function
// name, as cel-go's dispatcher holds them.
var envOverloads sync.Map // *cel.Env → map[string]*celfunctions.Overload

func overloadsOf(env *cel.Env) map[string]*celfunctions.Overload {
	if m, ok := envOverloads.Load(env); ok {
		return m.(map[string]*celfunctions.Overload)
	}
	m := map[string]*celfunctions.Overload{}
	for _, fn := range env.Functions() {
		bs, err := fn.Bindings()
		if err != nil {
			continue
		}
		for _, o := range bs {
			if _, dup := m[o.Operator]; !dup {
				m[o.Operator] = o
			}
		}
	}
	envOverloads.Store(env, m)
	return m
}

// compileNative returns the native program of a checked AST, or false when some part of it is
// left to cel-go.
func compileNative(env *cel.Env, a *cel.Ast) (nativeFn, bool) {
	if !a.IsChecked() {
		return nil, false
	}
	c := &nativeCompiler{ast: a.NativeRep(), adapter: env.CELTypeAdapter(), provider: env.CELTypeProvider(), funcs: overloadsOf(env)}
	n, ok := c.compile(c.ast.Expr())
	if !ok {
		return nil, false
	}
	return n.fn, true
}

// node is a compiled expression; val is set when it is a constant. read, when set, gives the
// value as the input holds it (an int64 where fn gives a types.Int), or an error or unknown.
type node struct {
	fn   nativeFn
	val  ref.Val
	read func(interpreter.Activation) (any, ref.Val)
}

// reader returns n.read, or a read of n.fn's value.
func (n node) reader() func(interpreter.Activation) (any, ref.Val) {
	if n.read != nil {
		return n.read
	}
	fn := n.fn
	return func(act interpreter.Activation) (any, ref.Val) {
		v := fn(act)
		if types.IsUnknownOrError(v) {
			return nil, v
		}
		return v, nil
	}
}

func constant(v ref.Val) node {
	return node{fn: func(interpreter.Activation) ref.Val { return v }, val: v}
}

func (c *nativeCompiler) compile(x celast.Expr) (node, bool) {
	switch x.Kind() {
	case celast.LiteralKind:
		return constant(x.AsLiteral()), true
	case celast.IdentKind, celast.SelectKind:
		return c.compileAttr(x)
	case celast.ListKind:
		return c.compileList(x)
	case celast.CallKind:
		return c.compileCall(x)
	}
	return node{}, false
}

// A qualifier is one step of a field read: a field of a declared object type (read with the
// type's own GetFrom/IsSet, as cel-go does) or a key of a map.
type qualifier struct {
	field *types.FieldType
	obj   *objectField // set for a field of one of lang's object types
	key   string
	keyV  ref.Val
}

// compileAttr compiles a variable and the fields read from it: customer.traits.spend_90d, or
// has(event.coupon).
func (c *nativeCompiler) compileAttr(x celast.Expr) (node, bool) {
	if r, ok := c.ast.ReferenceMap()[x.ID()]; ok {
		// A variable (or a qualified name the checker resolved to one), or a constant.
		if r.Value != nil {
			return constant(r.Value), true
		}
		if c.ast.GetType(x.ID()).Kind() == types.TypeKind {
			return node{}, false
		}
		return c.attrFn(c.variable(r.Name), nil, false), true
	}
	if x.Kind() != celast.SelectKind {
		return node{}, false // an identifier the checker did not resolve
	}
	// A chain of field reads down to its operand.
	var quals []qualifier
	test := x.AsSelect().IsTestOnly()
	for x.Kind() == celast.SelectKind {
		if _, ok := c.ast.ReferenceMap()[x.ID()]; ok {
			break
		}
		sel := x.AsSelect()
		if sel.IsTestOnly() && len(quals) > 0 {
			return node{}, false
		}
		q, ok := c.qualifier(c.ast.GetType(sel.Operand().ID()), sel.FieldName())
		if !ok {
			return node{}, false
		}
		quals = append([]qualifier{q}, quals...)
		x = sel.Operand()
	}
	var root func(interpreter.Activation) (any, ref.Val)
	if r, ok := c.ast.ReferenceMap()[x.ID()]; ok && isName(x) && r.Value == nil && c.ast.GetType(x.ID()).Kind() != types.TypeKind {
		root = c.variable(r.Name)
	} else {
		// Fields of a computed value: (cond ? a : b).field, f(x).field.
		op, ok := c.compile(x)
		if !ok {
			return node{}, false
		}
		root = op.reader()
	}
	return c.attrFn(root, quals, test), true
}

// isName reports whether x can name a variable: an identifier, or a select the checker
// resolved to a qualified name (a call's reference is its overloads).
func isName(x celast.Expr) bool {
	return x.Kind() == celast.IdentKind || x.Kind() == celast.SelectKind
}

func (c *nativeCompiler) qualifier(opType *types.Type, name string) (qualifier, bool) {
	if opType.Kind() == types.StructKind {
		ft, ok := c.provider.FindStructFieldType(opType.TypeName(), name)
		if !ok || ft.IsSet == nil || ft.GetFrom == nil {
			return qualifier{}, false
		}
		q := qualifier{field: ft}
		if of, ok := objectFields.Load(ft); ok {
			q.obj = of.(*objectField)
		}
		return q, true
	}
	if opType.Kind() == types.MapKind || opType.Kind() == types.DynKind {
		return qualifier{key: name, keyV: types.String(name)}, true
	}
	return qualifier{}, false
}

// variable resolves a variable from the activation: its value, or an error or unknown.
func (c *nativeCompiler) variable(name string) func(interpreter.Activation) (any, ref.Val) {
	return func(act interpreter.Activation) (any, ref.Val) {
		obj, found := act.ResolveName(name)
		if !found {
			return nil, types.NewErr("no such attribute(s): %s", name)
		}
		switch v := obj.(type) {
		case *types.Err:
			return nil, v
		case *types.Unknown:
			return nil, v
		}
		return obj, nil
	}
}

func (c *nativeCompiler) attrFn(root func(interpreter.Activation) (any, ref.Val), quals []qualifier, test bool) node {
	adapter := c.adapter
	if test {
		last := len(quals) - 1
		return node{fn: func(act interpreter.Activation) ref.Val {
			obj, bad := root(act)
			for i := range quals[:last] {
				if bad != nil {
					return bad
				}
				obj, bad = qualify(&quals[i], obj)
			}
			if bad != nil {
				return bad
			}
			return presence(&quals[last], obj)
		}}
	}
	read := func(act interpreter.Activation) (any, ref.Val) {
		obj, bad := root(act)
		for i := range quals {
			if bad != nil {
				return nil, bad
			}
			obj, bad = qualify(&quals[i], obj)
		}
		return obj, bad
	}
	return node{read: read, fn: func(act interpreter.Activation) ref.Val {
		obj, bad := read(act)
		if bad != nil {
			return bad
		}
		return toVal(adapter, obj)
	}}
}

// qualify reads one field, as cel-go's field and string qualifiers do.
func qualify(q *qualifier, obj any) (any, ref.Val) {
	if f := q.obj; f != nil {
		// What the field's GetFrom does for the values the engine builds, without the call.
		// A map is looked for first: it is one comparison, an interface several.
		switch x := obj.(type) {
		case map[string]any:
			if v, ok := x[f.name]; ok && v != nil {
				return v, nil
			}
			return f.zero, nil
		case Fields:
			if v, ok := x.Field(f.index); ok && v != nil {
				return v, nil
			}
			return f.zero, nil
		}
	}
	if q.field != nil {
		if rv, ok := obj.(ref.Val); ok {
			obj = rv.Value()
		}
		v, err := q.field.GetFrom(obj)
		if err != nil {
			return nil, types.WrapErr(err)
		}
		return v, nil
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, errUnsupported
	}
	if v, ok := m[q.key]; ok {
		return v, nil
	}
	return nil, types.NewErr("no such key: %v", q.keyV)
}

func presence(q *qualifier, obj any) ref.Val {
	if q.field != nil {
		if rv, ok := obj.(ref.Val); ok {
			obj = rv.Value()
		}
		return types.Bool(q.field.IsSet(obj))
	}
	m, ok := obj.(map[string]any)
	if !ok {
		return errUnsupported
	}
	_, ok = m[q.key]
	return types.Bool(ok)
}

// toVal converts a value read from the input, as the environment's adapter does, without its
// general conversion for the common kinds.
func toVal(adapter types.Adapter, v any) ref.Val {
	switch x := v.(type) { // concrete types first: an interface case costs a lookup
	case string:
		return types.String(x)
	case int64:
		return types.Int(x)
	case float64:
		return types.Double(x)
	case bool:
		return types.Bool(x)
	case ref.Val:
		return x
	case Fields:
		return adapter.NativeToValue(x.Map())
	}
	return adapter.NativeToValue(v)
}

// compileList compiles a list of constants; other lists are left to cel-go.
func (c *nativeCompiler) compileList(x celast.Expr) (node, bool) {
	l := x.AsList()
	if len(l.OptionalIndices()) > 0 {
		return node{}, false
	}
	elems := make([]ref.Val, 0, l.Size())
	for _, e := range l.Elements() {
		n, ok := c.compile(e)
		if !ok || n.val == nil || types.IsUnknownOrError(n.val) {
			return node{}, false
		}
		elems = append(elems, n.val)
	}
	return constant(types.NewRefValList(c.adapter, elems)), true
}

func (c *nativeCompiler) compileCall(x celast.Expr) (node, bool) {
	call := x.AsCall()
	fnName := call.FunctionName()
	var argExprs []celast.Expr
	if call.IsMemberFunction() {
		argExprs = append(argExprs, call.Target())
	}
	argExprs = append(argExprs, call.Args()...)
	args := make([]node, len(argExprs))
	for i, a := range argExprs {
		n, ok := c.compile(a)
		if !ok {
			return node{}, false
		}
		args[i] = n
	}
	switch fnName {
	case operators.LogicalAnd:
		return logical(args, types.False), true
	case operators.LogicalOr:
		return logical(args, types.True), true
	case operators.Conditional:
		return conditional(args[0].fn, args[1].fn, args[2].fn), true
	case operators.Equals, operators.NotEquals:
		eq := equality(args[0].fn, args[1].fn, fnName == operators.NotEquals)
		if n, ok := compareConst(fnName, args, eq); ok {
			return n, true
		}
		return eq, true
	case operators.Index, operators.OptIndex, operators.OptSelect:
		return node{}, false
	}
	var oName string
	if r, ok := c.ast.ReferenceMap()[x.ID()]; ok && len(r.OverloadIDs) == 1 {
		oName = r.OverloadIDs[0]
	}
	var impl *celfunctions.Overload
	if oName != "" {
		impl = c.funcs[oName]
	}
	if impl == nil {
		impl = c.funcs[fnName]
	}
	// A non-strict function could be handed errUnsupported and answer regardless.
	if impl == nil || impl.Async != nil || impl.LateBound || impl.NonStrict {
		return node{}, false
	}
	if oName == overloads.InList && args[1].val != nil {
		if n, ok := setMembership(args[0].fn, args[1].val); ok {
			return n, true
		}
	}
	var n node
	switch {
	case len(args) == 2 && impl.Binary != nil && isOrdering(fnName):
		n = binary(fnName, oName, impl, args[0].fn, args[1].fn)
		if fast, ok := compareConst(fnName, args, n); ok {
			return fast, true
		}
	case len(args) == 1 && (impl.Unary != nil || impl.Function == nil):
		if impl.Unary == nil {
			return node{}, false
		}
		n = unary(fnName, oName, impl, args[0].fn)
	case len(args) == 2 && (impl.Binary != nil || impl.Function == nil):
		if impl.Binary == nil {
			return node{}, false
		}
		n = binary(fnName, oName, impl, args[0].fn, args[1].fn)
	case len(args) >= 1 && impl.Function != nil:
		fns := make([]nativeFn, len(args))
		for i, a := range args {
			fns[i] = a.fn
		}
		n = varArgs(fnName, oName, impl, fns)
	default:
		return node{}, false
	}
	// A type conversion of a constant (timestamp('…'), duration('…')) is computed once, as
	// cel-go's planner does.
	if overloads.IsTypeConversionFunction(fnName) && len(args) == 1 && args[0].val != nil {
		v := n.fn(interpreter.EmptyActivation())
		if types.IsError(v) {
			return node{}, false
		}
		return constant(v), true
	}
	return n, true
}

// logical is && (stop at false) or || (stop at true): the first term with the stopping value
// decides; otherwise the first error, else the other value. Unknowns merge.
func logical(args []node, stop types.Bool) node {
	terms := make([]nativeFn, len(args))
	for i, a := range args {
		terms[i] = a.fn
	}
	return node{fn: func(act interpreter.Activation) ref.Val {
		var err ref.Val
		var unk *types.Unknown
		for _, t := range terms {
			v := t(act)
			b, ok := v.(types.Bool)
			if ok && b == stop {
				return stop
			}
			if !ok {
				if u, isUnk := v.(*types.Unknown); isUnk {
					if unk == nil {
						unk = u
					} else {
						unk = types.MergeUnknowns(unk, u)
					}
				} else if err == nil {
					if types.IsError(v) {
						err = v
					} else {
						err = types.MaybeNoSuchOverloadErr(v)
					}
				}
			}
		}
		if unk != nil {
			return unk
		}
		if err != nil {
			return err
		}
		return !stop
	}}
}

func conditional(cond, t, f nativeFn) node {
	return node{fn: func(act interpreter.Activation) ref.Val {
		v := cond(act)
		switch {
		case v == types.True:
			return t(act)
		case v == types.False:
			return f(act)
		case types.IsUnknown(v):
			return v
		}
		return types.MaybeNoSuchOverloadErr(v)
	}}
}

func equality(lhs, rhs nativeFn, negate bool) node {
	return node{fn: func(act interpreter.Activation) ref.Val {
		l := lhs(act)
		if types.IsError(l) {
			return l
		}
		r := rhs(act)
		if types.IsError(r) {
			return r
		}
		if types.IsUnknown(l) || types.IsUnknown(r) {
			return mergeUnknowns(l, r)
		}
		eq := types.Equal(l, r)
		if negate {
			return types.Bool(eq != types.True)
		}
		return eq
	}}
}

func mergeUnknowns(l, r ref.Val) ref.Val {
	lu, lok := l.(*types.Unknown)
	ru, rok := r.(*types.Unknown)
	switch {
	case lok && rok:
		return types.MergeUnknowns(lu, ru)
	case lok:
		return lu
	}
	return ru
}

// The functions compiled are strict (compileCall leaves the others to cel-go): an error or
// an unknown argument is the answer, and the function is not called.

func unary(fnName, oName string, impl *celfunctions.Overload, arg nativeFn) node {
	fn, trait := impl.Unary, impl.OperandTrait
	return node{fn: func(act interpreter.Activation) ref.Val {
		v := arg(act)
		switch {
		case types.IsUnknownOrError(v):
			return v
		case trait == 0 || v.Type().HasTrait(trait):
			return fn(v)
		case v.Type().HasTrait(traits.ReceiverType):
			return v.(traits.Receiver).Receive(fnName, oName, []ref.Val{})
		}
		return types.NewErr("no such overload: %s", fnName)
	}}
}

func binary(fnName, oName string, impl *celfunctions.Overload, lhs, rhs nativeFn) node {
	fn, trait := impl.Binary, impl.OperandTrait
	return node{fn: func(act interpreter.Activation) ref.Val {
		l := lhs(act)
		switch lv := l.(type) {
		case *types.Err:
			return l
		case *types.Unknown:
			if ru, ok := rhs(act).(*types.Unknown); ok {
				return types.MergeUnknowns(lv, ru)
			}
			return l
		}
		r := rhs(act)
		switch {
		case types.IsUnknownOrError(r):
			return r
		case trait == 0 || l.Type().HasTrait(trait):
			return fn(l, r)
		case l.Type().HasTrait(traits.ReceiverType):
			return l.(traits.Receiver).Receive(fnName, oName, []ref.Val{r})
		}
		return types.NewErr("no such overload: %s", fnName)
	}}
}

func varArgs(fnName, oName string, impl *celfunctions.Overload, args []nativeFn) node {
	fn, trait := impl.Function, impl.OperandTrait
	return node{fn: func(act interpreter.Activation) ref.Val {
		vals := make([]ref.Val, len(args))
		var unk *types.Unknown
		for i, a := range args {
			v := a(act)
			switch x := v.(type) {
			case *types.Err:
				return x
			case *types.Unknown:
				if unk == nil {
					unk = x
				} else {
					unk = types.MergeUnknowns(unk, x)
				}
			}
			vals[i] = v
		}
		switch {
		case unk != nil:
			return unk
		case trait == 0 || vals[0].Type().HasTrait(trait):
			return fn(vals...)
		case vals[0].Type().HasTrait(traits.ReceiverType):
			return vals[0].(traits.Receiver).Receive(fnName, oName, vals[1:])
		}
		return types.NewErr("no such overload: %s %d", fnName, len(vals))
	}}
}

func isOrdering(fn string) bool {
	switch fn {
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		return true
	}
	return false
}

// compareConst decides a comparison of a value with a constant of the same primitive type
// (customer.traits.visits >= 3, event.store_id == 'store-1') without building the value or
// dispatching to the bound function: for those types the answer is the function's. A value
// of any other type, or NaN, takes the general path.
func compareConst(op string, args []node, general node) (node, bool) {
	x, k := args[0], args[1].val
	if k == nil {
		if args[0].val == nil {
			return node{}, false
		}
		x, k = args[1], args[0].val
		op = flipped(op)
	}
	read := x.reader()
	slow := general.fn
	// One closure per type, written out: a generic one, calling a conversion function, made
	// BenchmarkRulesPerEvent 15% slower.
	switch kv := k.(type) {
	case types.Int:
		test, want := ordered[int64](op), int64(kv)
		return node{fn: func(act interpreter.Activation) ref.Val {
			v, bad := read(act)
			if bad != nil {
				return bad
			}
			switch n := v.(type) {
			case int64:
				return types.Bool(test(n, want))
			case types.Int:
				return types.Bool(test(int64(n), want))
			}
			return slow(act)
		}}, true
	case types.Double:
		test, want := ordered[float64](op), float64(kv)
		if want != want {
			return node{}, false
		}
		return node{fn: func(act interpreter.Activation) ref.Val {
			v, bad := read(act)
			if bad != nil {
				return bad
			}
			switch n := v.(type) {
			case float64:
				if n == n {
					return types.Bool(test(n, want))
				}
			case types.Double:
				if n == n {
					return types.Bool(test(float64(n), want))
				}
			}
			return slow(act)
		}}, true
	case types.String:
		test, want := ordered[string](op), string(kv)
		return node{fn: func(act interpreter.Activation) ref.Val {
			v, bad := read(act)
			if bad != nil {
				return bad
			}
			switch s := v.(type) {
			case string:
				return types.Bool(test(s, want))
			case types.String:
				return types.Bool(test(string(s), want))
			}
			return slow(act)
		}}, true
	}
	return node{}, false
}

// flipped is the comparison with its operands swapped: 3 < x is x > 3.
func flipped(op string) string {
	switch op {
	case operators.Less:
		return operators.Greater
	case operators.LessEquals:
		return operators.GreaterEquals
	case operators.Greater:
		return operators.Less
	case operators.GreaterEquals:
		return operators.LessEquals
	}
	return op // == and != are symmetric
}

func ordered[T int64 | float64 | string](op string) func(a, b T) bool {
	switch op {
	case operators.Less:
		return func(a, b T) bool { return a < b }
	case operators.LessEquals:
		return func(a, b T) bool { return a <= b }
	case operators.Greater:
		return func(a, b T) bool { return a > b }
	case operators.GreaterEquals:
		return func(a, b T) bool { return a >= b }
	case operators.NotEquals:
		return func(a, b T) bool { return a != b }
	}
	return func(a, b T) bool { return a == b }
}

// setMembership is `x in [constants]` as a set lookup, built as cel-go's optimizer builds it:
// numbers are entered under each numeric type they convert to without loss.
func setMembership(arg nativeFn, list ref.Val) (node, bool) {
	l, ok := list.(traits.Lister)
	if !ok {
		return node{}, false
	}
	if l.Size() == types.IntZero {
		return constant(types.False), true
	}
	set := map[ref.Val]ref.Val{}
	for it := l.Iterator(); it.HasNext() == types.True; {
		elem := it.Next()
		if !types.IsPrimitiveType(elem) || elem.Type() == types.BytesType {
			return node{}, false
		}
		set[elem] = types.True
		switch ev := elem.(type) {
		case types.Double:
			if iv := ev.ConvertToType(types.IntType); !types.IsError(iv) && iv.Equal(ev) == types.True {
				set[iv] = types.True
			}
			if uv := ev.ConvertToType(types.UintType); !types.IsError(uv) && uv.Equal(ev) == types.True {
				set[uv] = types.True
			}
		case types.Int:
			if dv := ev.ConvertToType(types.DoubleType); !types.IsError(dv) {
				set[dv] = types.True
			}
			if uv := ev.ConvertToType(types.UintType); !types.IsError(uv) {
				set[uv] = types.True
			}
		case types.Uint:
			if dv := ev.ConvertToType(types.DoubleType); !types.IsError(dv) {
				set[dv] = types.True
			}
			if iv := ev.ConvertToType(types.IntType); !types.IsError(iv) {
				set[iv] = types.True
			}
		}
	}
	return node{fn: func(act interpreter.Activation) ref.Val {
		v := arg(act)
		if types.IsUnknownOrError(v) {
			return v
		}
		if r, ok := set[v]; ok {
			return r
		}
		return types.False
	}}, true
}

// wholeVars hands cel-go the plain maps of Fields values, which it does not read.
type wholeVars struct{ interpreter.Activation }

func (w wholeVars) ResolveName(name string) (any, bool) {
	v, ok := w.Activation.ResolveName(name)
	if f, isFields := v.(Fields); isFields {
		return f.Map(), ok
	}
	return v, ok
}

// evalNative runs a native program, recovering from a panic in a function as cel-go does.
func evalNative(fn nativeFn, act interpreter.Activation) (v ref.Val, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	v = fn(act)
	if e, ok := v.(*types.Err); ok {
		return nil, e
	}
	return v, nil
}

package shopifytest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// gqlError is one entry of a response's top-level errors.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func errorf(code, format string, args ...any) *gqlError {
	return &gqlError{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code}}
}

// resolver computes a field that takes arguments.
type resolver func(args map[string]any) any

// maxFirst is the largest page a connection serves.
const maxFirst = 250

// mutationCost is what every mutation costs, whatever it selects: a document of several
// (aliased) mutations costs that many times over.
const mutationCost = 10

// mutationsCost is what a mutation document costs: mutationCost for each root field.
func mutationsCost(op *Operation) int {
	n := 0
	for _, sel := range op.Selection {
		if sel.Field != nil && sel.Field.Name != "__typename" {
			n++
		}
	}
	return n * mutationCost
}

// validate checks an operation against the schema and the variables against their declared
// types, and returns the operation's requested cost.
func validate(op *Operation, vars map[string]any) (int, *gqlError) {
	declared := map[string]string{}
	for _, v := range op.Variables {
		if _, dup := declared[v.Name]; dup {
			return 0, errorf("variableNotUnique", "There can only be one variable named \"%s\"", v.Name)
		}
		declared[v.Name] = v.Type
		val, given := vars[v.Name]
		if !given && v.Default != nil {
			vars[v.Name], val = v.Default, v.Default
		}
		if err := checkInput(v.Type, val, "$"+v.Name); err != nil {
			return 0, errorf("argumentLiteralsIncompatible", "Variable $%s of type %s was provided invalid value: %s", v.Name, v.Type, err)
		}
	}
	used := map[string]bool{}
	usedVariables(op.Selection, used)
	for name := range used {
		if _, ok := declared[name]; !ok {
			return 0, errorf("variableNotDefined", "Variable $%s is used by %s but not declared", name, opName(op))
		}
	}
	for name := range declared {
		if !used[name] {
			return 0, errorf("variableNotUsed", "Variable $%s is declared by %s but not used", name, opName(op))
		}
	}
	root := "QueryRoot"
	if op.Type == "mutation" {
		root = "Mutation"
	}
	c := &costing{vars: vars, declared: declared}
	cost, err := c.selection(root, op.Selection)
	if err != nil {
		return 0, err
	}
	if op.Type == "mutation" {
		cost = mutationsCost(op)
	}
	return cost, nil
}

func opName(op *Operation) string {
	if op.Name != "" {
		return op.Name
	}
	return "anonymous " + op.Type
}

type costing struct {
	vars     map[string]any
	declared map[string]string
}

// selection checks a selection set on a type and returns its cost.
func (c *costing) selection(typ string, sel []Selection) (int, *gqlError) {
	fields, ok := objectTypes[typ]
	if !ok {
		return 0, errorf("undefinedType", "No such type %s", typ)
	}
	total, fragments := 0, 0
	for _, s := range sel {
		if s.Field == nil {
			if !fragmentApplies(typ, s.On) {
				return 0, errorf("fragmentSpreadImpossible", "Fragment on %s can't be spread inside %s", s.On, typ)
			}
			n, err := c.selection(s.On, s.Fragment)
			if err != nil {
				return 0, err
			}
			fragments = max(fragments, n)
			continue
		}
		f := s.Field
		if f.Name == "__typename" {
			if f.Selection != nil || f.Args != nil {
				return 0, errorf("selectionMismatch", "Selections can't be made on scalars (field '__typename')")
			}
			continue
		}
		ft, ok := fields[f.Name]
		if !ok {
			return 0, errorf("undefinedField", "Field '%s' doesn't exist on type '%s'", f.Name, typ)
		}
		n, err := c.field(typ, f, ft)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total + fragments, nil
}

func fragmentApplies(typ, on string) bool {
	if typ == on {
		return true
	}
	if _, ok := objectTypes[on]; !ok {
		return false
	}
	return slices.Contains(possibleTypes[typ], on) || slices.Contains(possibleTypes[on], typ)
}

func (c *costing) field(parent string, f *Field, ft string) (int, *gqlError) {
	args := fieldArgs[parent+"."+f.Name]
	for name, v := range f.Args {
		at, ok := args[name]
		if !ok {
			return 0, errorf("argumentNotAccepted", "Field '%s' doesn't accept argument '%s'", f.Name, name)
		}
		if v.Var != "" {
			vt := c.declared[v.Var]
			if vt != at && vt != at+"!" {
				return 0, errorf("variableMismatch", "Type mismatch on variable $%s and argument %s (%s / %s)", v.Var, name, vt, at)
			}
			continue
		}
		if err := checkInput(at, v.Resolve(c.vars), name); err != nil {
			return 0, errorf("argumentLiteralsIncompatible", "Argument '%s' on Field '%s' has an invalid value: %s", name, f.Name, err)
		}
	}
	var missing []string
	for name, at := range args {
		if strings.HasSuffix(at, "!") {
			if v, ok := f.Args[name]; !ok || v.Resolve(c.vars) == nil {
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return 0, errorf("missingRequiredArguments", "Field '%s' is missing required arguments: %s", f.Name, strings.Join(missing, ", "))
	}
	elem := strings.Trim(ft, "[]!")
	_, object := objectTypes[elem]
	if !object {
		if f.Selection != nil {
			return 0, errorf("selectionMismatch", "Selections can't be made on scalars (field '%s' returns %s)", f.Name, ft)
		}
		return 0, nil
	}
	if f.Selection == nil {
		return 0, errorf("selectionMismatch", "Field must have selections (field '%s' returns %s but has no selections)", f.Name, ft)
	}
	if strings.HasSuffix(elem, "Connection") {
		return c.connection(elem, f)
	}
	children, err := c.selection(elem, f.Selection)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(ft, "[") {
		if ids, ok := f.Args["ids"]; ok {
			list, _ := ids.Resolve(c.vars).([]any)
			return len(list) * (1 + children), nil
		}
	}
	return 1 + children, nil
}

// connection costs a connection as Shopify does: 2 for the connection, and each of the
// first (or last) nodes as an object with what is selected of it; pageInfo and other fields
// of the connection are counted once.
func (c *costing) connection(typ string, f *Field) (int, *gqlError) {
	n, err := c.pageSize(f)
	if err != nil {
		return 0, err
	}
	var perNode, rest []Selection
	for _, s := range f.Selection {
		if s.Field != nil && s.Field.Name == "nodes" {
			perNode = append(perNode, s)
		} else {
			rest = append(rest, s)
		}
	}
	once := 0
	if len(rest) > 0 {
		if once, err = c.selection(typ, rest); err != nil {
			return 0, err
		}
	}
	each := 0
	for _, s := range perNode {
		elem := strings.Trim(objectTypes[typ]["nodes"], "[]!")
		if s.Field.Selection == nil || s.Field.Args != nil {
			return 0, errorf("selectionMismatch", "Field must have selections (field 'nodes' returns [%s] but has no selections)", elem)
		}
		k, err := c.selection(elem, s.Field.Selection)
		if err != nil {
			return 0, err
		}
		each = max(each, 1+k)
	}
	return 2 + n*each + once, nil
}

// pageSize reads a connection's first or last, which Shopify requires and caps.
func (c *costing) pageSize(f *Field) (int, *gqlError) {
	var n int64
	found := false
	for _, a := range []string{"first", "last"} {
		if v, ok := f.Args[a]; ok {
			if x, ok := asInt(v.Resolve(c.vars)); ok {
				n, found = x, true
			}
		}
	}
	if !found {
		return 0, errorf("argumentLiteralsIncompatible", "you must provide one of first or last (field '%s')", f.Name)
	}
	if n < 0 || n > maxFirst {
		return 0, errorf("argumentLiteralsIncompatible", "first and last must be between 0 and %d (field '%s' asks for %d)", maxFirst, f.Name, n)
	}
	return int(n), nil
}

// checkInput checks a value against an input type.
func checkInput(t string, v any, path string) error {
	if strings.HasSuffix(t, "!") {
		if v == nil {
			return fmt.Errorf("%s: expected a value, not null", path)
		}
		t = strings.TrimSuffix(t, "!")
	}
	if v == nil {
		return nil
	}
	if strings.HasPrefix(t, "[") {
		inner := t[1 : len(t)-1]
		list, ok := v.([]any)
		if !ok {
			return checkInput(inner, v, path) // a single value is coerced to a list of one
		}
		for i, e := range list {
			if err := checkInput(inner, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if fields, ok := inputTypes[t]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected an object of type %s", path, t)
		}
		for k := range m {
			if _, ok := fields[k]; !ok {
				return fmt.Errorf("%s.%s: field is not defined on %s", path, k, t)
			}
		}
		for k, ft := range fields {
			if err := checkInput(ft, m[k], path+"."+k); err != nil {
				return err
			}
		}
		return nil
	}
	if values, ok := enumTypes[t]; ok {
		s, _ := v.(string)
		if !slices.Contains(values, s) {
			return fmt.Errorf("%s: expected one of %s, got %v", path, strings.Join(values, ", "), v)
		}
		return nil
	}
	switch t {
	case "String", "URL":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: expected a string, got %v", path, v)
		}
	case "ID":
		if _, ok := v.(string); !ok {
			if _, ok := asInt(v); !ok {
				return fmt.Errorf("%s: expected an ID, got %v", path, v)
			}
		}
	case "DateTime":
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339, s); !ok || err != nil {
			return fmt.Errorf("%s: expected an ISO 8601 date and time, got %v", path, v)
		}
	case "Decimal":
		switch x := v.(type) {
		case string:
			if _, ok := parseDecimal(x); !ok {
				return fmt.Errorf("%s: expected a decimal, got %q", path, x)
			}
		case float64, int64, json.Number:
		default:
			return fmt.Errorf("%s: expected a decimal, got %v", path, v)
		}
	case "Int", "UnsignedInt64":
		n, ok := asInt(v)
		if !ok || (t == "Int" && (n > math.MaxInt32 || n < math.MinInt32)) || (t == "UnsignedInt64" && n < 0) {
			return fmt.Errorf("%s: expected an %s, got %v", path, t, v)
		}
	case "Float":
		if _, ok := asFloat(v); !ok {
			return fmt.Errorf("%s: expected a number, got %v", path, v)
		}
	case "Boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: expected a boolean, got %v", path, v)
		}
	default:
		if !scalarTypes[t] {
			return fmt.Errorf("%s: unknown input type %s", path, t)
		}
	}
	return nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		var n int64
		if _, err := fmt.Sscan(x, &n); err == nil && fmt.Sprint(n) == x {
			return n, true
		}
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// project keeps what a selection asks for of a resolved value: objects are maps carrying
// their __typename, fields that take arguments are resolvers.
func project(v any, sel []Selection, vars map[string]any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, sel, vars)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, sel, vars)
		}
		return out
	case map[string]any:
		if sel == nil {
			return x
		}
		out := map[string]any{}
		projectInto(out, x, sel, vars)
		return out
	}
	return v
}

func projectInto(out, obj map[string]any, sel []Selection, vars map[string]any) {
	typ, _ := obj["__typename"].(string)
	for _, s := range sel {
		if s.Field == nil {
			if typ == s.On || slices.Contains(possibleTypes[s.On], typ) {
				projectInto(out, obj, s.Fragment, vars)
			}
			continue
		}
		f := s.Field
		if f.Name == "__typename" {
			out[f.Key()] = typ
			continue
		}
		v := obj[f.Name]
		if r, ok := v.(resolver); ok {
			args := map[string]any{}
			for name, a := range f.Args {
				args[name] = a.Resolve(vars)
			}
			v = r(args)
		}
		out[f.Key()] = project(v, f.Selection, vars)
	}
}

// root is the type an operation's root fields belong to.
func (op *Operation) root() string {
	if op.Type == "mutation" {
		return "Mutation"
	}
	return "QueryRoot"
}

// actualCost is what a served field cost, as Shopify charges the bucket: the requested cost
// with each connection counting the nodes it returned rather than the page it asked for,
// and nothing for a null object.
func actualCost(parent string, f *Field, v any) int {
	if f.Name == "__typename" || v == nil {
		return 0
	}
	elem := strings.Trim(objectTypes[parent][f.Name], "[]!")
	if _, object := objectTypes[elem]; !object {
		return 0
	}
	if strings.HasSuffix(elem, "Connection") {
		m, _ := v.(map[string]any)
		total := 2
		nodeType := strings.Trim(objectTypes[elem]["nodes"], "[]!")
		for _, s := range f.Selection {
			if s.Field == nil {
				continue
			}
			if s.Field.Name == "nodes" {
				nodes, _ := m[s.Field.Key()].([]any)
				for _, n := range nodes {
					nm, _ := n.(map[string]any)
					total += 1 + selectionCost(nodeType, s.Field.Selection, nm)
				}
				continue
			}
			total += actualCost(elem, s.Field, m[s.Field.Key()])
		}
		return total
	}
	if list, ok := v.([]any); ok {
		if _, byIDs := f.Args["ids"]; byIDs {
			total := 0
			for _, item := range list {
				if m, ok := item.(map[string]any); ok {
					total += 1 + selectionCost(elem, f.Selection, m)
				}
			}
			return total
		}
		if len(list) == 0 {
			return 1
		}
		m, _ := list[0].(map[string]any)
		return 1 + selectionCost(elem, f.Selection, m)
	}
	m, _ := v.(map[string]any)
	return 1 + selectionCost(elem, f.Selection, m)
}

// selectionCost is the actual cost of a projected object's selection. Fragments count the
// fields they projected: only the one matching the object's type did.
func selectionCost(typ string, sel []Selection, out map[string]any) int {
	total := 0
	for _, s := range sel {
		if s.Field == nil {
			total += selectionCost(s.On, s.Fragment, out)
			continue
		}
		if _, ok := out[s.Field.Key()]; ok {
			total += actualCost(typ, s.Field, out[s.Field.Key()])
		}
	}
	return total
}

package shopify

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Cutting the part of Shopify's published Admin schema the client uses, kept in testdata so
// that the documents are checked against the vendor's schema rather than the contract
// server's: `go test ./providers/shopify -run TestOperationsMatchPublishedSchema
// -admin-schema=admin_2026-07.json.gz` rewrites it from the introspection result Shopify
// publishes for the version (its Dev MCP package ships one per supported version).

// introspection is the part of an introspection result the cut reads.
type introspection struct {
	Data struct {
		Schema struct {
			QueryType    struct{ Name string } `json:"queryType"`
			MutationType struct{ Name string } `json:"mutationType"`
			Types        []itype               `json:"types"`
		} `json:"__schema"`
	} `json:"data"`
}

type itype struct {
	Kind          string     `json:"kind"`
	Name          string     `json:"name"`
	Fields        []ifield   `json:"fields"`
	InputFields   []ivalue   `json:"inputFields"`
	Interfaces    []itypeRef `json:"interfaces"`
	EnumValues    []ivalue   `json:"enumValues"`
	PossibleTypes []itypeRef `json:"possibleTypes"`
}

type itypeRef struct {
	Kind   string    `json:"kind"`
	Name   string    `json:"name"`
	OfType *itypeRef `json:"ofType"`
}

type ifield struct {
	Name              string   `json:"name"`
	Args              []ivalue `json:"args"`
	Type              itypeRef `json:"type"`
	IsDeprecated      bool     `json:"isDeprecated"`
	DeprecationReason *string  `json:"deprecationReason"`
}

// ivalue is an argument, an input field or an enum value.
type ivalue struct {
	Name              string    `json:"name"`
	Type              *itypeRef `json:"type"`
	DefaultValue      *string   `json:"defaultValue"`
	IsDeprecated      bool      `json:"isDeprecated"`
	DeprecationReason *string   `json:"deprecationReason"`
}

func (r itypeRef) String() string {
	switch r.Kind {
	case "NON_NULL":
		return r.OfType.String() + "!"
	case "LIST":
		return "[" + r.OfType.String() + "]"
	}
	return r.Name
}

func (r itypeRef) named() string {
	if r.OfType != nil {
		return r.OfType.named()
	}
	return r.Name
}

func readIntrospection(path string) (*introspection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rd io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		if rd, err = gzip.NewReader(f); err != nil {
			return nil, err
		}
	}
	var in introspection
	if err := json.NewDecoder(rd).Decode(&in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &in, nil
}

// builtin types come with every schema gqlparser loads.
var builtin = map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}

// cut is a schema being cut down: the fields kept of each type, the types kept whole.
type cut struct {
	types map[string]*itype
	roots map[string]string // "query"/"mutation" -> type name
	used  map[string]map[string]bool
	keep  map[string]bool
}

// cutSchema keeps of a published schema what the documents use: the fields they select
// (with all their arguments), the types those return and take, input objects and enums
// whole, and of each interface and union only the members kept.
func cutSchema(in *introspection, docs []string) (string, error) {
	c := &cut{types: map[string]*itype{}, used: map[string]map[string]bool{}, keep: map[string]bool{},
		roots: map[string]string{"query": in.Data.Schema.QueryType.Name, "mutation": in.Data.Schema.MutationType.Name}}
	for i := range in.Data.Schema.Types {
		t := &in.Data.Schema.Types[i]
		c.types[t.Name] = t
	}
	full, err := gqlparser.LoadSchema(&ast.Source{Name: "full.graphql", Input: c.print(nil)})
	if err != nil {
		return "", fmt.Errorf("loading the published schema: %w", err)
	}
	for _, d := range docs {
		q, errs := gqlparser.LoadQuery(full, d)
		if len(errs) > 0 {
			return "", fmt.Errorf("%v\n%s", errs, d)
		}
		for _, op := range q.Operations {
			c.walk(op.SelectionSet)
			for _, v := range op.VariableDefinitions {
				c.include(v.Type.Name())
			}
		}
	}
	for _, root := range c.roots {
		c.keep[root] = true
	}
	// Objects implementing a kept interface need the interface's kept fields.
	for changed := true; changed; {
		changed = false
		for name := range c.keep {
			t := c.types[name]
			for _, i := range t.Interfaces {
				if !c.keep[i.Name] {
					continue
				}
				for f := range c.used[i.Name] {
					if !c.used[name][f] {
						c.use(name, f)
						changed = true
					}
				}
			}
		}
	}
	return c.print(c.keep), nil
}

func (c *cut) walk(set ast.SelectionSet) {
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name != "__typename" {
				c.use(s.ObjectDefinition.Name, s.Name)
			}
			c.walk(s.SelectionSet)
		case *ast.InlineFragment:
			c.include(s.TypeCondition)
			c.walk(s.SelectionSet)
		}
	}
}

func (c *cut) use(typ, field string) {
	if c.used[typ] == nil {
		c.used[typ] = map[string]bool{}
	}
	c.used[typ][field] = true
	c.include(typ)
	for _, f := range c.types[typ].Fields {
		if f.Name == field {
			c.include(f.Type.named())
			for _, a := range f.Args {
				c.include(a.Type.named())
			}
		}
	}
}

func (c *cut) include(name string) {
	if c.keep[name] || builtin[name] {
		return
	}
	c.keep[name] = true
	t := c.types[name]
	for _, f := range t.InputFields {
		c.include(f.Type.named())
	}
}

// print writes types as SDL: every type when keep is nil, else the kept ones cut down.
func (c *cut) print(keep map[string]bool) string {
	var names []string
	for name := range c.types {
		if !strings.HasPrefix(name, "__") && !builtin[name] && (keep == nil || keep[name]) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "schema {\n  query: %s\n  mutation: %s\n}\n\n", c.roots["query"], c.roots["mutation"])
	for _, name := range names {
		t := c.types[name]
		switch t.Kind {
		case "SCALAR":
			fmt.Fprintf(&b, "scalar %s\n\n", name)
		case "ENUM":
			fmt.Fprintf(&b, "enum %s {\n", name)
			for _, v := range t.EnumValues {
				fmt.Fprintf(&b, "  %s%s\n", v.Name, deprecated(v.IsDeprecated, v.DeprecationReason))
			}
			b.WriteString("}\n\n")
		case "INPUT_OBJECT":
			fmt.Fprintf(&b, "input %s {\n", name)
			for _, f := range t.InputFields {
				fmt.Fprintf(&b, "  %s\n", value(f))
			}
			b.WriteString("}\n\n")
		case "UNION":
			var members []string
			for _, p := range t.PossibleTypes {
				if keep == nil || keep[p.Name] {
					members = append(members, p.Name)
				}
			}
			fmt.Fprintf(&b, "union %s = %s\n\n", name, strings.Join(members, " | "))
		case "OBJECT", "INTERFACE":
			kw := map[string]string{"OBJECT": "type", "INTERFACE": "interface"}[t.Kind]
			var impl []string
			for _, i := range t.Interfaces {
				if keep == nil || keep[i.Name] {
					impl = append(impl, i.Name)
				}
			}
			fmt.Fprintf(&b, "%s %s", kw, name)
			if len(impl) > 0 {
				fmt.Fprintf(&b, " implements %s", strings.Join(impl, " & "))
			}
			b.WriteString(" {\n")
			for _, f := range t.Fields {
				if keep != nil && !c.used[name][f.Name] {
					continue
				}
				b.WriteString("  " + f.Name)
				if len(f.Args) > 0 {
					args := make([]string, len(f.Args))
					for i, a := range f.Args {
						args[i] = value(a)
					}
					b.WriteString("(" + strings.Join(args, ", ") + ")")
				}
				fmt.Fprintf(&b, ": %s%s\n", f.Type, deprecated(f.IsDeprecated, f.DeprecationReason))
			}
			b.WriteString("}\n\n")
		}
	}
	return b.String()
}

func value(v ivalue) string {
	s := v.Name + ": " + v.Type.String()
	if v.DefaultValue != nil {
		s += " = " + *v.DefaultValue
	}
	return s + deprecated(v.IsDeprecated, v.DeprecationReason)
}

func deprecated(is bool, reason *string) string {
	if !is {
		return ""
	}
	r := "No longer supported"
	if reason != nil {
		r = *reason
	}
	return " @deprecated(reason: " + strconv.Quote(r) + ")"
}

// deprecatedUses lists the deprecated fields and arguments a validated document selects.
func deprecatedUses(set ast.SelectionSet) []string {
	var out []string
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if d := s.Definition; d != nil {
				if d.Directives.ForName("deprecated") != nil {
					out = append(out, s.ObjectDefinition.Name+"."+s.Name)
				}
				for _, a := range s.Arguments {
					if ad := d.Arguments.ForName(a.Name); ad != nil && ad.Directives.ForName("deprecated") != nil {
						out = append(out, s.ObjectDefinition.Name+"."+s.Name+"("+a.Name+")")
					}
				}
			}
			out = append(out, deprecatedUses(s.SelectionSet)...)
		case *ast.InlineFragment:
			out = append(out, deprecatedUses(s.SelectionSet)...)
		}
	}
	return out
}

// deprecatedInputs lists the deprecated input fields and enum values a variable's value uses.
func deprecatedInputs(schema *ast.Schema, t *ast.Type, v any, path string) []string {
	def := schema.Types[t.Name()]
	if def == nil {
		return nil
	}
	var out []string
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			out = append(out, deprecatedInputs(schema, t.Elem, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f := def.Fields.ForName(k)
			if f == nil {
				continue // VariableValues reports unknown fields
			}
			if f.Directives.ForName("deprecated") != nil {
				out = append(out, def.Name+"."+k+" at "+path+"."+k)
			}
			out = append(out, deprecatedInputs(schema, f.Type, x[k], path+"."+k)...)
		}
	case string:
		if def.Kind == ast.Enum {
			if ev := def.EnumValues.ForName(x); ev != nil && ev.Directives.ForName("deprecated") != nil {
				out = append(out, def.Name+"."+x+" at "+path)
			}
		}
	}
	return out
}

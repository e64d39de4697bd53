package lang

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// SensitiveMark marks values that must never be written to state, plans or logs: everything
// read with env() and every variable declared sensitive.
const SensitiveMark = "sensitive"

// unsetEnv marks the unknown value env() gives for an environment variable that is not set,
// when loading with LoadOptions.DeferEnv. It names the variable, so what needs the value can
// say which one; nonsensitive keeps it.
type unsetEnv struct{ name string }

// unsetEnvNames lists the variables of the unsetEnv marks of v, sorted, nil for none.
func unsetEnvNames(v cty.Value) []string {
	_, marks := v.UnmarkDeep()
	var out []string
	for m := range marks {
		if u, ok := m.(unsetEnv); ok {
			out = append(out, u.name)
		}
	}
	slices.Sort(out)
	return out
}

// isSensitive reports whether v, or anything in it, is marked sensitive.
func isSensitive(v cty.Value) bool {
	_, marks := v.UnmarkDeep()
	_, ok := marks[SensitiveMark]
	return ok
}

// functions returns the HCL functions of the language: go-cty's standard library under the
// names Terraform users know, plus file, templatefile, env, timeadd and formatdate. Files are
// read from fsys relative to dir, so a git ref loads exactly like the working tree. When unset
// is not nil, env() of a variable that is not set and has no default is an unknown sensitive
// string, reported to unset, instead of an error.
func functions(fsys fs.FS, dir string, lookupEnv func(string) (string, bool), unset func(name string)) map[string]function.Function {
	readFile := func(p string) ([]byte, error) {
		// Files come from the configuration's own tree (a git ref has no disk to reach into).
		if path.IsAbs(p) || filepath.IsAbs(p) {
			return nil, fmt.Errorf("%q is an absolute path; give a path relative to the configuration directory", p)
		}
		b, err := readInside(fsys, dir, path.Join(dir, p), "the configuration directory")
		if err != nil {
			return nil, readError(p, err)
		}
		return b, nil
	}
	fileFn := function.New(&function.Spec{
		Description: "Reads a file of the configuration directory as UTF-8 text.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := readFile(args[0].AsString())
			if err != nil {
				return cty.NilVal, err
			}
			if !utf8.Valid(b) {
				return cty.NilVal, fmt.Errorf("%q is not UTF-8 text", args[0].AsString())
			}
			return cty.StringVal(string(b)), nil
		},
	})
	var funcs map[string]function.Function
	templateFn := function.New(&function.Spec{
		Description: "Renders a file of the configuration directory as an HCL template with the given variables.",
		Params: []function.Parameter{
			{Name: "path", Type: cty.String},
			{Name: "vars", Type: cty.DynamicPseudoType},
		},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			b, err := readFile(p)
			if err != nil {
				return cty.NilVal, err
			}
			if diags := checkHCL(b, p, hclTemplate); diags != nil {
				return cty.NilVal, templateError(diags)
			}
			tmpl, diags := hclsyntax.ParseTemplate(b, p, hcl.InitialPos)
			if diags.HasErrors() {
				return cty.NilVal, templateError(diags)
			}
			vars := map[string]cty.Value{}
			if v := args[1]; !v.IsNull() {
				if !v.Type().IsObjectType() && !v.Type().IsMapType() {
					return cty.NilVal, fmt.Errorf("the second argument must be an object of template variables")
				}
				for it := v.ElementIterator(); it.Next(); {
					k, ev := it.Element()
					vars[k.AsString()] = ev
				}
			}
			// Templates call the same functions as the configuration, except templatefile
			// itself, so one template cannot render another, or itself, without end.
			fns := make(map[string]function.Function, len(funcs))
			for name, f := range funcs {
				if name != "templatefile" {
					fns[name] = f
				}
			}
			out, diags := tmpl.Value(&hcl.EvalContext{Variables: vars, Functions: fns})
			if diags.HasErrors() {
				return cty.NilVal, templateError(diags)
			}
			return out, nil
		},
	})
	envFn := function.New(&function.Spec{
		Description: "Reads an environment variable; the value is sensitive. A second argument is the default.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			// An empty value is no value: CI systems give a pull request from a fork its
			// secrets as empty strings, and no setting is meant to be an empty secret.
			if v, ok := lookupEnv(name); ok && v != "" {
				return cty.StringVal(v).Mark(SensitiveMark), nil
			}
			if len(args) > 1 {
				return args[1].Mark(SensitiveMark), nil
			}
			if unset != nil {
				unset(name)
				return cty.UnknownVal(cty.String).WithMarks(cty.NewValueMarks(SensitiveMark, unsetEnv{name})), nil
			}
			return cty.NilVal, fmt.Errorf("environment variable %s is not set (or is empty)", name)
		},
	})
	nonsensitiveFn := function.New(&function.Spec{
		Description: "Removes the sensitive mark, for values that are not secret (a shop domain read with env).",
		Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true, AllowNull: true, AllowUnknown: true}},
		Type:        func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, marks := args[0].UnmarkDeep()
			for m := range marks {
				if _, ok := m.(unsetEnv); ok { // still not known: what needs it says so
					v = v.Mark(m)
				}
			}
			return v, nil
		},
	})
	sensitiveFn := function.New(&function.Spec{
		Description: "Marks a value sensitive.",
		Params:      []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowMarked: true, AllowNull: true, AllowUnknown: true}},
		Type:        func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return args[0].Mark(SensitiveMark), nil
		},
	})
	// cty decodes JSON recursively: too deep a document would exhaust the stack.
	jsondecodeFn := function.New(&function.Spec{
		Description: stdlib.JSONDecodeFunc.Description(),
		Params:      stdlib.JSONDecodeFunc.Params(),
		Type: func(args []cty.Value) (cty.Type, error) {
			if v := args[0]; v.IsKnown() && !v.IsNull() && scanJSON([]byte(v.AsString()), false) != nil {
				return cty.NilType, fmt.Errorf("the JSON nests more than %d levels deep, the most Musubi reads", MaxNestingDepth)
			}
			return stdlib.JSONDecodeFunc.ReturnTypeForValues(args)
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) { return stdlib.JSONDecodeFunc.Call(args) },
	})
	funcs = map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "chomp": stdlib.ChompFunc,
		"chunklist": stdlib.ChunklistFunc, "coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
		"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
		"csvdecode": stdlib.CSVDecodeFunc, "distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc,
		"flatten": stdlib.FlattenFunc, "floor": stdlib.FloorFunc, "format": stdlib.FormatFunc,
		"formatdate": stdlib.FormatDateFunc, "formatlist": stdlib.FormatListFunc, "indent": stdlib.IndentFunc,
		"join": stdlib.JoinFunc, "jsondecode": jsondecodeFn, "jsonencode": stdlib.JSONEncodeFunc,
		"keys": stdlib.KeysFunc, "length": stdlib.LengthFunc, "log": stdlib.LogFunc, "lookup": stdlib.LookupFunc,
		"lower": stdlib.LowerFunc, "max": stdlib.MaxFunc, "merge": stdlib.MergeFunc, "min": stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc, "pow": stdlib.PowFunc, "range": stdlib.RangeFunc, "regex": stdlib.RegexFunc,
		"regexall": stdlib.RegexAllFunc, "replace": stdlib.ReplaceFunc, "reverse": stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc, "setproduct": stdlib.SetProductFunc,
		"setsubtract": stdlib.SetSubtractFunc, "setunion": stdlib.SetUnionFunc, "signum": stdlib.SignumFunc,
		"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "split": stdlib.SplitFunc, "strrev": stdlib.ReverseFunc,
		"substr": stdlib.SubstrFunc, "timeadd": stdlib.TimeAddFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
		"trimprefix": stdlib.TrimPrefixFunc, "trimspace": stdlib.TrimSpaceFunc, "trimsuffix": stdlib.TrimSuffixFunc,
		"upper": stdlib.UpperFunc, "values": stdlib.ValuesFunc, "zipmap": stdlib.ZipmapFunc,
		"tostring": stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)), "toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"file": fileFn, "templatefile": templateFn, "env": envFn,
		"sensitive": sensitiveFn, "nonsensitive": nonsensitiveFn,
	}
	return funcs
}

// templateError words a template's first error as "file:line:col: summary; detail", without
// the final period, which the message of the failed function call adds.
func templateError(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		if d.Subject != nil {
			msg = fmtRange(*d.Subject) + ": " + msg
		}
		return errors.New(strings.TrimSuffix(msg, "."))
	}
	return errors.New(diags.Error())
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

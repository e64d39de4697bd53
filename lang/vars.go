package lang

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// VarEnvPrefix starts environment variables that set input variables: MUSUBI_VAR_spring_percent=15.
const VarEnvPrefix = "MUSUBI_VAR_"

// VarFileSuffix is the suffix of variable files; they are never loaded as configuration.
const VarFileSuffix = ".musubivars"

func convertVar(v cty.Value, t cty.Type) (cty.Value, error) {
	if t == cty.DynamicPseudoType {
		return v, nil
	}
	return convert.Convert(v, t)
}

// assignVariables resolves every variable's value. Later sources win, as in Terraform:
// default, then MUSUBI_VAR_* environment variables, then -var-file files in order, then -var.
func (l *loader) assignVariables() {
	values := map[string]cty.Value{}
	from := map[string]string{}
	for name, v := range l.cfg.Variables {
		if v.Default != cty.NilVal {
			values[name], from[name] = v.Default, "its default"
		}
	}
	for _, kv := range l.opts.Environ() {
		k, raw, ok := strings.Cut(kv, "=")
		name, isVar := strings.CutPrefix(k, VarEnvPrefix)
		if !ok || !isVar {
			continue
		}
		name = nfc(name)
		if v := l.cfg.Variables[name]; v != nil {
			if val, err := parseRawVar(raw, v.Type); err != nil {
				l.errorf(nil, "Invalid value for variable", "%s%s: %v.", VarEnvPrefix, name, err)
			} else {
				values[name], from[name] = val, k
			}
		}
	}
	for _, path := range l.opts.VarFiles {
		l.readVarFile(path, values, from)
	}
	for _, arg := range l.opts.Vars {
		name, raw, ok := strings.Cut(arg, "=")
		name, shown := nfc(name), clipRunes(arg, maxEcho)
		if !ok || name == "" {
			l.errorf(nil, "Invalid -var option", "%q: write -var NAME=VALUE.", shown)
			continue
		}
		v := l.cfg.Variables[name]
		if v == nil {
			l.errorf(nil, "Value for undeclared variable", "-var %s: no variable %q is declared%s", shown, clipRunes(name, maxEcho),
				didYouMean(name, slices.Sorted(maps.Keys(l.cfg.Variables))))
			continue
		}
		val, err := parseRawVar(raw, v.Type)
		if err != nil {
			l.errorf(nil, "Invalid value for variable", "-var %s: %v.", shown, err)
			continue
		}
		values[name], from[name] = val, "-var"
	}
	for _, name := range slices.Sorted(maps.Keys(l.cfg.Variables)) {
		v := l.cfg.Variables[name]
		val, ok := values[name]
		if !ok {
			l.errorf(v.Range.Ptr(), "No value for required variable",
				"var.%s has no default; set it with -var %s=…, in a %s file, or with %s%s.", name, name, VarFileSuffix, VarEnvPrefix, name)
			values[name] = cty.DynamicVal
			continue
		}
		valid := l.validateVariable(v, val, from[name])
		if v.Sensitive {
			val = val.Mark(SensitiveMark)
		}
		v.Value = val
		values[name] = val
		if !valid {
			// What uses the variable is not checked against a value already refused: the
			// validation's message is the one that helps.
			values[name] = cty.DynamicVal
		}
	}
	l.ctx.Variables["var"] = cty.ObjectVal(values)
}

// parseRawVar reads a value given on the command line or in the environment: a string
// variable takes it as is; other types parse it as an HCL expression (["a","b"], 15, true).
func parseRawVar(raw string, t cty.Type) (cty.Value, error) {
	if t == cty.String || t == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	if e := scanHCL([]byte(raw), hclExpression); e != nil {
		return cty.NilVal, fmt.Errorf("%v at column %d", e, posAt([]byte(raw), e.offset).Column)
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "<value>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%q is not a valid value: %s", clipRunes(raw, maxEcho), diags[0].Summary)
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%q is not a literal value", clipRunes(raw, maxEcho))
	}
	return convertVar(v, t)
}

func (l *loader) readVarFile(path string, values map[string]cty.Value, from map[string]string) {
	src, err := l.opts.ReadFile(path)
	if err != nil {
		l.errorf(nil, "Cannot read variable file", "%s.", readErrorText(path, err))
		return
	}
	f, diags := parseHCL(src, path, strings.HasSuffix(path, ".json"))
	l.diags = append(l.diags, diags...)
	if f == nil {
		return
	}
	l.cfg.Files[path] = f
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	for _, a := range attrsInOrder(attrs) {
		name := nfc(a.Name)
		v := l.cfg.Variables[name]
		if v == nil {
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Value for undeclared variable",
				Detail: fmt.Sprintf("%s sets %q, which no variable block declares%s", path, name,
					didYouMean(name, slices.Sorted(maps.Keys(l.cfg.Variables)))),
				Subject: a.NameRange.Ptr()})
			continue
		}
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			l.diags = append(l.diags, diags...)
			continue
		}
		if !val.IsWhollyKnown() {
			continue // a syntax error, reported when the file was parsed
		}
		cv, err := convertVar(val, v.Type)
		if err != nil {
			l.errorf(a.Expr.Range().Ptr(), "Invalid value for variable", "var.%s: %v.", name, err)
			continue
		}
		values[name], from[name] = cv, path
	}
}

// validateVariable runs a variable's validation rules and reports whether the value passed.
func (l *loader) validateVariable(v *Variable, val cty.Value, source string) bool {
	valid := true
	for _, rule := range v.Validations {
		ok := true
		for _, t := range rule.Condition.Variables() {
			r, diags := l.resolveTraversal(t)
			if diags.HasErrors() || r.Addr() != "var."+v.Name {
				l.errorf(t.SourceRange().Ptr(), "Invalid validation", "A validation of var.%s may refer only to var.%s.", v.Name, v.Name)
				ok = false
			}
		}
		if !ok {
			continue
		}
		ctx := &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
			Functions: l.funcs,
		}
		res, diags := rule.Condition.Value(ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() {
			continue
		}
		res, _ = res.Unmark()
		if !res.IsKnown() {
			continue // the value is unknown because of an error reported where it was written
		}
		if res.Type() != cty.Bool || res.IsNull() {
			l.errorf(rule.Condition.Range().Ptr(), "Invalid validation", "A validation condition must give true or false.")
			continue
		}
		if res.False() {
			l.errorf(rule.Condition.Range().Ptr(), "Invalid value for variable", "var.%s (set by %s): %s", v.Name, source, rule.ErrorMessage)
			valid = false
		}
	}
	return valid
}

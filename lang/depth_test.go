package lang

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Inputs that nest far deeper than the parsers can recurse: each crashed the process with a
// stack overflow before nesting was bounded.
const (
	deep       = 100_000   // brackets and the like: 200 KB
	deepChains = 1_000_000 // operators: the parser and evaluator recurse less per level
)

func nest(open, middle, close string, n int) string {
	return strings.Repeat(open, n) + middle + strings.Repeat(close, n)
}

const (
	tooDeep     = "Nested too deeply: "
	tooManyOps  = "Expression too long: "
	localsFile  = "locals {\n  x = "
	localsClose = "\n}\n"
)

func TestDeepNestingIsADiagnostic(t *testing.T) {
	depth := fmt.Sprint(MaxNestingDepth)
	ops := fmt.Sprint(MaxOperators)
	tests := []struct {
		name  string
		files []string
		want  string // "file:line:col: summary: " and the start of the detail
	}{
		{"brackets", []string{"main.hcl", localsFile + nest("[", "", "]", deep) + localsClose},
			"main.hcl:2:" + fmt.Sprint(6+MaxNestingDepth) + ": " + tooDeep + "This nests brackets, braces, parentheses or templates more than " + depth + " levels deep"},
		{"parentheses", []string{"main.hcl", localsFile + nest("(", "1", ")", deep) + localsClose},
			"main.hcl:2:" + fmt.Sprint(6+MaxNestingDepth) + ": " + tooDeep},
		{"objects", []string{"main.hcl", localsFile + nest("{a=", "1", "}", deep) + localsClose},
			"main.hcl:2:" + fmt.Sprint(7+3*(MaxNestingDepth-1)) + ": " + tooDeep},
		{"templates", []string{"main.hcl", localsFile + nest(`"${`, "1", `}"`, deep) + localsClose}, "main.hcl:2:"},
		{"heredoc templates", []string{"main.hcl", localsFile + nest("<<EOT\n${", "1", "}\nEOT\n", deep) + localsClose}, "main.hcl:"},
		{"template directives", []string{"main.hcl", localsFile + `"` + nest("%{ if true }", "x", "%{ endif }", deep) + `"` + localsClose}, "main.hcl:2:"},
		{"for expressions", []string{"main.hcl", localsFile + nest("[for v in [1]: ", "v", "]", deep) + localsClose},
			"main.hcl:2:" + fmt.Sprint(17+15*(MaxNestingDepth-2)) + ": " + tooDeep},
		{"blocks", []string{"main.hcl", nest("a {\n", "", "}\n", deep)},
			"main.hcl:" + fmt.Sprint(MaxNestingDepth+1) + ":3: " + tooDeep},
		{"negation", []string{"main.hcl", localsFile + strings.Repeat("!", deepChains) + "true" + localsClose},
			"main.hcl:2:" + fmt.Sprint(6+MaxOperators+1) + ": " + tooManyOps + "This expression chains more than " + ops + " operators"},
		{"minus", []string{"main.hcl", localsFile + strings.Repeat("-", deepChains) + "1" + localsClose}, "main.hcl:2:" + fmt.Sprint(6+MaxOperators+1) + ": " + tooManyOps},
		{"sums", []string{"main.hcl", localsFile + "1" + strings.Repeat("+1", deepChains) + localsClose},
			"main.hcl:2:" + fmt.Sprint(8+2*MaxOperators) + ": " + tooManyOps},
		{"conditionals", []string{"main.hcl", localsFile + strings.Repeat("true ? 1 : ", deepChains/4) + "1" + localsClose},
			"main.hcl:2:" + fmt.Sprint(12+11*MaxOperators) + ": " + tooManyOps},
		{"splats", []string{"main.hcl", localsFile + "[1]" + strings.Repeat("[*]", deepChains) + localsClose},
			"main.hcl:2:" + fmt.Sprint(11+3*(MaxOperators-1)) + ": " + tooManyOps},
		{"operators across lines in a for expression", []string{"main.hcl", localsFile + "{for k, v in {}:\n" + strings.Repeat("!\n", deepChains) + "k => v}" + localsClose},
			"main.hcl:" + fmt.Sprint(3+MaxOperators) + ":1: " + tooManyOps},
		{"JSON", []string{"main.hcl.json", `{"locals": {"x": ` + nest("[", "", "]", deep) + "}}"},
			"main.hcl.json:1:" + fmt.Sprint(16+MaxNestingDepth) + ": " + tooDeep},
		{"JSON template", []string{"main.hcl.json", `{"locals": {"x": "${` + nest("[", "", "]", deep) + `}"}}`},
			"main.hcl.json:1:18: " + tooDeep},
		{"JSON template in escapes", []string{"main.hcl.json", `{"locals": {"x": "\u0024\u007b` + nest(`\u005b`, "", `\u005d`, deep) + `\u007d"}}`},
			"main.hcl.json:1:18: " + tooDeep},
		{"file()", []string{"main.hcl", "output \"x\" {\n  value = jsondecode(file(\"deep.json\"))\n}\n", "deep.json", nest("[", "", "]", deep)},
			`main.hcl:2:11: Error in function call: Call to function "jsondecode" failed: the JSON nests more than ` + depth + " levels deep"},
		{"templatefile()", []string{"main.hcl", "output \"x\" {\n  value = templatefile(\"deep.tpl\", {})\n}\n", "deep.tpl", "${" + nest("[", "", "]", deep) + "}"},
			`main.hcl:2:11: Error in function call: Call to function "templatefile" failed: deep.tpl:1:` + fmt.Sprint(2+MaxNestingDepth) + ": Nested too deeply; This nests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := Load(mapFS(tt.files...), ".", testOptions())
			if got := diagLines(diags); len(diags) != 1 || !strings.HasPrefix(got, tt.want) {
				t.Errorf("diagnostics:\n%.600s\nwant one starting:\n%s", got, tt.want)
			}
		})
	}

	// Loading from disk is the same.
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.hcl"), localsFile+nest("[", "", "]", deep)+localsClose)
	if _, diags := LoadDir(dir, testOptions()); len(diags) != 1 || !strings.HasPrefix(diagLine(diags[0]), "main.hcl:2:262: "+tooDeep) {
		t.Errorf("LoadDir: %.600s", diagLines(diags))
	}
}

func TestDeepVariableValues(t *testing.T) {
	const decl = "variable \"x\" {\n  default = 1\n}\nvariable \"l\" {\n  type    = list(any)\n  default = []\n}\n"
	deepList := nest("[", "", "]", deep)
	files := map[string]string{
		"deep.musubivars": "x = " + deepList + "\n",
		"deep.json":       `{"x": ` + nest("[", "", "]", deepChains) + "}",
		"ops.musubivars":  "x = " + strings.Repeat("-", deepChains) + "1\n",
	}
	for _, tt := range []struct {
		name     string
		varFiles []string
		vars     []string
		env      []string
		want     string
	}{
		{"var file", []string{"deep.musubivars"}, nil, nil, "deep.musubivars:1:" + fmt.Sprint(4+MaxNestingDepth+1) + ": " + tooDeep},
		{"JSON var file", []string{"deep.json"}, nil, nil, "deep.json:1:" + fmt.Sprint(6+MaxNestingDepth) + ": " + tooDeep},
		{"operators in a var file", []string{"ops.musubivars"}, nil, nil, "ops.musubivars:1:" + fmt.Sprint(4+MaxOperators+1) + ": " + tooManyOps},
		{"-var", nil, []string{"l=" + deepList}, nil, "-: Invalid value for variable: -var l=" + strings.Repeat("[", maxEcho-3) + "…: nested more than " + fmt.Sprint(MaxNestingDepth) + " levels deep at column " + fmt.Sprint(MaxNestingDepth+1) + ".$"},
		{"environment", nil, nil, []string{VarEnvPrefix + "l=" + deepList}, "-: Invalid value for variable: " + VarEnvPrefix + "l: nested more than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(tt.env...)
			opts.VarFiles, opts.Vars = tt.varFiles, tt.vars
			opts.ReadFile = func(name string) ([]byte, error) {
				if s, ok := files[name]; ok {
					return []byte(s), nil
				}
				return nil, fs.ErrNotExist
			}
			_, diags := Load(mapFS("main.hcl", decl), ".", opts)
			got := diagLines(diags)
			want, exact := strings.CutSuffix(tt.want, "$")
			if len(diags) != 1 || !strings.HasPrefix(got, want) || exact && got != want {
				t.Errorf("diagnostics:\n%.600s\nwant one starting:\n%s", got, tt.want)
			}
		})
	}
}

func TestFormatRefusesDeepNesting(t *testing.T) {
	for _, src := range []string{
		localsFile + nest("[", "", "]", deep) + localsClose,
		localsFile + strings.Repeat("!", deepChains) + "true" + localsClose,
	} {
		out, diags := Format([]byte(src), "deep.hcl")
		if len(diags) != 1 || !strings.HasPrefix(diagLine(diags[0]), "deep.hcl:2:") || string(out) != src {
			t.Errorf("Format: %.600s", diagLines(diags))
		}
	}
}

func TestConsoleRefusesDeepNesting(t *testing.T) {
	cfg := loadClean(t, os.DirFS(quickstartDir), ".", testOptions())
	_, diags := cfg.EvalHCL(nest("(", "1", ")", deep))
	if len(diags) != 1 || !strings.HasPrefix(diagLine(diags[0]), "<console>:1:"+fmt.Sprint(MaxNestingDepth+1)+": "+tooDeep) {
		t.Errorf("EvalHCL: %.600s", diagLines(diags))
	}
}

// CEL has its own parser; its limits give a diagnostic, not a crash.
func TestDeepCELIsADiagnostic(t *testing.T) {
	for name, cond := range map[string]string{
		"parentheses": nest("(", "true", ")", 20_000),
		"lists":       "size(" + nest("[", "", "]", 20_000) + ") > 0",
		"sums":        "1" + strings.Repeat(" + 1", 20_000) + " > 0",
		"selects":     "customer.attributes" + strings.Repeat(".a", 20_000) + " == 1",
		"size":        "customer.id == '" + strings.Repeat("x", 200_000) + "'",
	} {
		t.Run(name, func(t *testing.T) {
			_, diags := Load(mapFS("main.hcl", "segment \"s\" {\n  condition = <<EOT\n"+cond+"\nEOT\n}\n"), ".", testOptions())
			if len(diags) != 1 || !strings.HasPrefix(diagLine(diags[0]), "main.hcl:2:15: CEL syntax error: ") {
				t.Errorf("diagnostics: %.600s", diagLines(diags))
			}
		})
	}
}

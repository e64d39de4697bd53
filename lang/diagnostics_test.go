package lang

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// A diagnostic shows the part of a long line around its column, however long the line.
func TestLongLinesAreCutInDiagnostics(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for name, src := range map[string]string{
		"CEL over its size limit": "segment \"s\" {\n  condition = \"customer.id == '" + long + "'\"\n}\n",
		"error far along a line":  "segment \"s\" {\n  condition = \"customer.id == '" + long + "' && customer.nope\"\n}\n",
		"long name in a message":  "segment \"s\" {\n  condition = \"customer." + long[:50_000] + " == 1\"\n}\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, diags := Load(mapFS("main.hcl", src), ".", testOptions())
			var b bytes.Buffer
			WriteDiagnostics(&b, cfg.Files, diags, false)
			if len(diags) != 1 || b.Len() > 2000 || !strings.HasPrefix(b.String(), "main.hcl:2:") || !strings.Contains(b.String(), "…") {
				t.Errorf("%d diagnostics, %d bytes:\n%.3000s", len(diags), b.Len(), b.String())
			}
		})
	}

	// The window keeps the underline under the column.
	src := "locals {\n  x = \"" + strings.Repeat("a", 500) + "\" + nope + \"" + strings.Repeat("b", 500) + "\"\n}\n"
	cfg, diags := Load(mapFS("main.hcl", src), ".", testOptions())
	var b bytes.Buffer
	WriteDiagnostics(&b, cfg.Files, diags, false)
	want := "main.hcl:2:512: error: Unknown reference\n" +
		"  |\n" +
		"2 | …" + strings.Repeat("a", snippetBefore-4) + "\" + nope + \"" + strings.Repeat("b", snippetAfter-8) + "…\n" +
		"  |  " + strings.Repeat(" ", snippetBefore) + "^^^^\n"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("rendered:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Text from files reaches the terminal escaped: file names, source lines, messages.
func TestDiagnosticsEscapeControlCharacters(t *testing.T) {
	name := "a\x1b]0;x\x07.hcl"
	src := "segment \"s\" {\n  condition = \"'\x1b[2J\u009b' == customer.nope\"\n}\n"
	cfg, diags := Load(mapFS(name, src), ".", testOptions())
	diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Hostile \x1b[2J summary", Detail: "line one\x07\nline \u202etwo"})
	var b bytes.Buffer
	WriteDiagnostics(&b, cfg.Files, diags, false)
	want := `a\x1b]0;x\x07.hcl:2:36: error: CEL type error
  |
2 |   condition = "'\x1b[2J\u009b' == customer.nope"
  | ` + strings.Repeat(" ", 43) + `^^^^
  undefined field 'nope'
  Did you mean "code"?

warning: Hostile \x1b[2J summary
  line one\x07
  line \u202etwo
`
	if b.String() != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", b.String(), want)
	}
}

package lang

import (
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestEscapeControls(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "",
		"plain text, 日本語\n\tand tabs": "plain text, 日本語\n\tand tabs",
		"\x1b]0;pwned\x07":            `\x1b]0;pwned\x07`,
		"a\x00b\rc\x7fd":              `a\x00b\x0dc\x7fd`,
		"\u009b31m \u0085":            `\u009b31m \u0085`,
		"abc\u202edcba\u2066x\u2069":  `abc\u202edcba\u2066x\u2069`,
		"bad \xff\xc3 utf-8 é":        `bad \xff\xc3 utf-8 é`,
		`already \x1b`:                `already \x1b`,
	} {
		if got := EscapeControls(in); got != want {
			t.Errorf("EscapeControls(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatCtyEscapesControls(t *testing.T) {
	if got := FormatCty(cty.StringVal("\x1b]0;x\x07\u009b")); got != `"\u001b]0;x\u0007\u009b"` {
		t.Errorf("FormatCty = %q", got)
	}
	if got := FormatCty(cty.ListVal([]cty.Value{cty.StringVal("\u009b")})); got != `["\u009b"]` {
		t.Errorf("FormatCty = %q", got)
	}
}

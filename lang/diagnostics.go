package lang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics renders diagnostics for people: a "file:line:col: error: summary" line that
// editors and CI annotate, the source line with the problem underlined, then the advice.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	for i, d := range diags {
		if i > 0 {
			fmt.Fprintln(w)
		}
		sev := paint("1;31", "error")
		if d.Severity == hcl.DiagWarning {
			sev = paint("1;33", "warning")
		}
		summary := paint("1", EscapeControls(clipRunes(d.Summary, maxMessageLine)))
		if d.Subject != nil {
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", EscapeControls(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column, sev, summary)
			writeSnippet(w, files, d.Subject, paint)
		} else {
			fmt.Fprintf(w, "%s: %s\n", sev, summary)
		}
		if d.Detail != "" {
			for _, line := range strings.Split(d.Detail, "\n") {
				fmt.Fprintf(w, "  %s\n", EscapeControls(clipRunes(line, maxMessageLine)))
			}
		}
	}
}

// A snippet shows at most this many characters of its line before the column of the problem,
// and after it, so a diagnostic on a megabyte-long line stays a few lines long.
const (
	snippetBefore = 80
	snippetAfter  = 120
)

// maxMessageLine bounds a line of a summary or detail, which can quote what was written.
const maxMessageLine = 500

func writeSnippet(w io.Writer, files map[string]*hcl.File, rng *hcl.Range, paint func(string, string) string) {
	f := files[rng.Filename]
	if f == nil || rng.Start.Byte > len(f.Bytes) {
		return
	}
	src := f.Bytes
	at := rng.Start.Byte
	start := bytes.LastIndexByte(src[:at], '\n') + 1
	end := bytes.IndexByte(src[at:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += at
	}
	if end > start && src[end-1] == '\r' {
		end = max(end-1, at)
	}
	from, to := at, at
	for k := 0; k < snippetBefore && from > start; k++ {
		_, n := utf8.DecodeLastRune(src[start:from])
		from -= n
	}
	for k := 0; k < snippetAfter && to < end; k++ {
		_, n := utf8.DecodeRune(src[to:end])
		to += n
	}
	lead, trail := "", ""
	if from > start {
		lead = "…"
	}
	if to < end {
		trail = "…"
	}
	gutter := fmt.Sprintf("%d", rng.Start.Line)
	pad := strings.Repeat(" ", len(gutter))
	before := EscapeControls(string(src[from:at]))
	fmt.Fprintf(w, "%s |\n%s | %s%s%s%s\n", pad, gutter, lead, before, EscapeControls(string(src[at:to])), trail)
	// Underline in display columns, as the escaped text shows; tabs keep their width so the
	// marks line up.
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", len([]rune(lead))))
	for _, r := range before {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteString(strings.Repeat(" ", runeWidth(r)))
		}
	}
	spanEnd := rng.End.Byte
	if rng.End.Line != rng.Start.Line || spanEnd > to {
		spanEnd = to
	}
	width := 0
	for _, r := range EscapeControls(string(src[at:max(spanEnd, at)])) {
		width += runeWidth(r)
	}
	fmt.Fprintf(w, "%s | %s%s\n", pad, b.String(), paint("1;31", strings.Repeat("^", max(width, 1))))
}

// maxEcho is how much of a value given on the command line a message repeats.
const maxEcho = 60

// clipRunes shortens s to n characters, the last an ellipsis.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// runeWidth counts East Asian wide characters as two columns, so underlines match what a
// terminal shows for Japanese text.
func runeWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F, r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6, r >= 0x1F300 && r <= 0x1FAFF, r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}

// JSONDiagnostic is the machine-readable form of a diagnostic (validate -json, plan -json).
type JSONDiagnostic struct {
	Severity string     `json:"severity"`
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *JSONRange `json:"range,omitempty"`
}

// JSONRange is a source range with 1-based lines and columns.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position in a file.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// ToJSONDiagnostics converts diagnostics for JSON output.
func ToJSONDiagnostics(diags hcl.Diagnostics) []JSONDiagnostic {
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range diags {
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			jd.Range = &JSONRange{Filename: r.Filename,
				Start: JSONPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:   JSONPos{r.End.Line, r.End.Column, r.End.Byte}}
		}
		out = append(out, jd)
	}
	return out
}

// MarshalDiagnostics is ToJSONDiagnostics encoded.
func MarshalDiagnostics(diags hcl.Diagnostics) ([]byte, error) {
	return json.MarshalIndent(ToJSONDiagnostics(diags), "", "  ")
}

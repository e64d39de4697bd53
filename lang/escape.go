package lang

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// EscapeControls makes text safe to print to a terminal: control characters other than
// newline and tab (C0, DEL, C1), the bidi embedding, override and isolate characters, and
// invalid UTF-8 are written as Go escapes (\x1b, \u009b, \u202e, \xff), so text from a file,
// an event or a live system cannot retitle, clear or rearrange the terminal. Every text output
// prints the strings of users and systems through it; JSON output is escaped by its encoder.
func EscapeControls(s string) string {
	i := 0
	for i < len(s) {
		esc, n := escapeAt(s, i)
		if esc != "" {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		esc, n := escapeAt(s, i)
		if esc == "" {
			esc = s[i : i+n]
		}
		b.WriteString(esc)
		i += n
	}
	return b.String()
}

// escapeAt reads the character at s[i:]: its escape, or "" when it prints as it is, and its
// length in bytes.
func escapeAt(s string, i int) (string, int) {
	c := s[i]
	if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
		return "", 1
	}
	if c < utf8.RuneSelf {
		return fmt.Sprintf(`\x%02x`, c), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && n == 1:
		return fmt.Sprintf(`\x%02x`, c), 1
	case r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return fmt.Sprintf(`\u%04x`, r), n
	}
	return "", n
}

package meta

import (
	"strings"
	"testing"
	"unicode"
)

// fuzzNormalizer checks what every normaliser promises, its output being what Meta hashes:
// a refused value gives "", and normalising the output again changes nothing. well says
// what else the output must be.
func fuzzNormalizer(f *testing.F, norm func(string) (string, bool), well func(string) bool, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := norm(s)
		if !ok && n != "" {
			t.Fatalf("refused %q but returned %q", s, n)
		}
		if !ok {
			return
		}
		if again, ok := norm(n); !ok || again != n || !well(n) {
			t.Fatalf("%q normalises to %q, and that to %q, %v", s, n, again, ok)
		}
	})
}

// An address is lower-case, without spaces, with one '@'.
func FuzzNormalizeEmail(f *testing.F) {
	fuzzNormalizer(f, NormalizeEmail, func(n string) bool {
		return n == strings.ToLower(n) && strings.Count(n, "@") == 1 && strings.IndexFunc(n, unicode.IsSpace) < 0
	}, "hanako@example.jp", "  Hanako.Yamada@Example.JP ", "ÉLODIE@exemple.fr", "a@b@c.d", "\xff@x.y", "İ@x.y", "ǅ@x.y")
}

// A number is digits only, without a leading zero, of E.164's length.
func FuzzNormalizePhone(f *testing.F) {
	fuzzNormalizer(f, NormalizePhone, func(n string) bool {
		return len(n) >= 7 && len(n) <= 15 && n[0] != '0' && strings.Trim(n, "0123456789") == ""
	}, "+819012345678", " +1 (415) 555.2671 ", "0081 90 1234 5678", "090-1234-5678", "+0", "+٣٣١٢٣٤٥٦٧٨")
}

package identity

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		country, typ, raw, want string
		err                     error // nil: want is the result
	}{
		{"JP", "email", "hanako@example.jp", "hanako@example.jp", nil},
		{"JP", "email", "  Hanako.Yamada+shop@Example.JP \n", "hanako.yamada+shop@example.jp", nil},
		{"JP", "email", "ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", "hanako@example.jp", nil},
		{"JP", "email", "mailto:Taro@Example.com", "taro@example.com", nil},
		{"JP", "email", "\u3000taro@example.com\u3000", "taro@example.com", nil},
		{"JP", "email", "", "", ErrEmpty},
		{"JP", "email", "   ", "", ErrEmpty},
		{"JP", "email", "hanako", "", ErrNotEmail},
		{"JP", "email", "@example.jp", "", ErrNotEmail},
		{"JP", "email", "hanako@", "", ErrNotEmail},
		{"JP", "email", "a@b@example.jp", "", ErrNotEmail},
		{"JP", "email", "hana ko@example.jp", "", ErrNotEmail},
		{"JP", "email", "hanako@localhost", "", ErrNotEmail},
		{"JP", "email", "hanako@example..jp", "", ErrNotEmail},
		{"JP", "email", "\xff@example.jp", "", ErrNotEmail},

		// Japan: national mobile and landline forms, international forms.
		{"JP", "phone", "090-1234-5678", "+819012345678", nil},
		{"JP", "phone", "09012345678", "+819012345678", nil},
		{"JP", "phone", "(03) 1234-5678", "+81312345678", nil},
		{"JP", "phone", "０９０－１２３４－５６７８", "+819012345678", nil},
		{"JP", "phone", "090ー1234ー5678", "+819012345678", nil},
		{"JP", "phone", "0120-123-456", "+81120123456", nil},
		{"JP", "phone", "+81 90-1234-5678", "+819012345678", nil},
		{"JP", "phone", "+81 (0)90 1234 5678", "+819012345678", nil},
		{"JP", "phone", "+81 090 1234 5678", "+819012345678", nil},
		{"JP", "phone", "819012345678", "+819012345678", nil},
		{"JP", "phone", "010-1-212-555-0123", "+12125550123", nil},
		{"JP", "phone", "tel:+81-90-1234-5678", "+819012345678", nil},
		{"JP", "phone", "+1 (212) 555-0123", "+12125550123", nil},
		{"JP", "phone", "0000000000", "", ErrNotPhone},
		{"JP", "phone", "090-1234", "", ErrNotPhone},
		{"JP", "phone", "090-1234-5678-9999", "", ErrNotPhone},
		{"JP", "phone", "+81 12", "", ErrNotPhone},

		// United States: national with and without the 1, international.
		{"US", "phone", "(212) 555-0123", "+12125550123", nil},
		{"US", "phone", "212.555.0123", "+12125550123", nil},
		{"US", "phone", "1-212-555-0123", "+12125550123", nil},
		{"US", "phone", "+1 212 555 0123", "+12125550123", nil},
		{"US", "phone", "011 81 90 1234 5678", "+819012345678", nil},
		{"US", "phone", "(112) 555-0123", "", ErrNotPhone},
		{"US", "phone", "555-0123", "", ErrNotPhone},

		// The other markets.
		{"GB", "phone", "020 7946 0018", "+442079460018", nil},
		{"GB", "phone", "07700 900123", "+447700900123", nil},
		{"GB", "phone", "+44 (0)20 7946 0018", "+442079460018", nil},
		{"GB", "phone", "00 81 90 1234 5678", "+819012345678", nil},
		{"CN", "phone", "138 0013 8000", "+8613800138000", nil},
		{"CN", "phone", "010-6552-9988", "+861065529988", nil},
		{"TW", "phone", "0912-345-678", "+886912345678", nil},
		{"TW", "phone", "(02) 2345-6789", "+886223456789", nil},
		{"KR", "phone", "010-1234-5678", "+821012345678", nil},
		{"KR", "phone", "02-312-3456", "+8223123456", nil},
		{"KR", "phone", "001-81-90-1234-5678", "+819012345678", nil},
		{"SG", "phone", "9123 4567", "+6591234567", nil},
		{"SG", "phone", "6123 4567", "+6561234567", nil},
		{"SG", "phone", "1234 5678", "", ErrNotPhone},
		{"HK", "phone", "9123 4567", "+85291234567", nil},
		{"HK", "phone", "+852 2123 4567", "+85221234567", nil},
		{"TH", "phone", "081 234 5678", "+66812345678", nil},
		{"TH", "phone", "02 123 4567", "+6621234567", nil},
		{"DE", "phone", "030 1234567", "+49301234567", nil},

		// Calling codes not in the table are kept when they fit E.164.
		{"JP", "phone", "+380 44 123 4567", "+380441234567", nil},
		{"JP", "phone", "+380 12", "", ErrNotPhone},

		// Garbage.
		{"JP", "phone", "", "", ErrEmpty},
		{"JP", "phone", "n/a", "", ErrNotPhone},
		{"JP", "phone", "090-1234-5678 ext 12", "", ErrNotPhone},
		{"JP", "phone", "++819012345678", "", ErrNotPhone},
		{"JP", "phone", "81+9012345678", "", ErrNotPhone},
		{"JP", "phone", "+", "", ErrNotPhone},
		{"JP", "phone", "1234567890123456789012345", "", ErrNotPhone},
		{"", "phone", "090-1234-5678", "", ErrNotPhone},
		{"", "phone", "+819012345678", "+819012345678", nil},
		{"ZZ", "phone", "090-1234-5678", "", ErrNotPhone},

		// Other types are trimmed only.
		{"JP", "member", "  M0001 ", "M0001", nil},
		{"JP", "line_user", "U4af4980629", "U4af4980629", nil},
		{"JP", "member", " \t", "", ErrEmpty},
	}
	for _, tt := range tests {
		r := &Rules{DefaultCountry: tt.country}
		got, err := r.Normalize(tt.typ, tt.raw)
		switch {
		case tt.err != nil && !errors.Is(err, tt.err):
			t.Errorf("%s Normalize(%s, %q) = %q, %v; want error %v", tt.country, tt.typ, tt.raw, got, err, tt.err)
		case tt.err == nil && (err != nil || got != tt.want):
			t.Errorf("%s Normalize(%s, %q) = %q, %v; want %q", tt.country, tt.typ, tt.raw, got, err, tt.want)
		}
	}
}

func TestNormalizeErrorsNeverQuoteTheValue(t *testing.T) {
	t.Parallel()
	r := &Rules{DefaultCountry: "JP"}
	for _, c := range []struct{ typ, raw string }{
		{"email", "secret-person"}, {"email", "secret@person"}, {"phone", "090-secret"}, {"phone", "0901234"},
	} {
		_, err := r.Normalize(c.typ, c.raw)
		if err == nil {
			t.Fatalf("Normalize(%s, %q) accepted it", c.typ, c.raw)
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "0901234") {
			t.Errorf("the error %q quotes the value", err)
		}
	}
}

func TestNilRulesNormalize(t *testing.T) {
	t.Parallel()
	var r *Rules
	if got, err := r.Normalize("phone", "+81 90 1234 5678"); err != nil || got != "+819012345678" {
		t.Errorf("got %q, %v", got, err)
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"090-1234-5678", "+81 (0)90 1234 5678", "Hanako@Example.JP", "ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ",
		"010-1-212-555-0123", " M0001 ", "tel:+1 212 555 0123", "\xff", "+"} {
		f.Add("JP", s)
		f.Add("US", s)
	}
	f.Fuzz(func(t *testing.T, country, raw string) {
		r := &Rules{DefaultCountry: country}
		for _, typ := range []string{"email", "phone", "member"} {
			v, err := r.Normalize(typ, raw)
			if err != nil {
				continue
			}
			if v == "" || len(v) > maxValueLen || !utf8.ValidString(v) {
				t.Fatalf("Normalize(%s, %q) = %q", typ, raw, v)
			}
			if again, err := r.Normalize(typ, v); err != nil || again != v {
				t.Fatalf("Normalize(%s, %q) = %q, but normalising that gives %q, %v", typ, raw, v, again, err)
			}
			switch typ {
			case "phone":
				if !e164.MatchString(v) {
					t.Fatalf("phone %q became %q, not E.164", raw, v)
				}
			case "email":
				if strings.Count(v, "@") != 1 || strings.ToLower(v) != v {
					t.Fatalf("email %q became %q", raw, v)
				}
			}
		}
	})
}

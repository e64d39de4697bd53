package identity

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// country is what reading a national phone number needs: the calling code, the trunk prefix
// national callers dial first (0 in Japan, 1 in the NANP), the prefixes that start an
// international call from there, and the length of a national significant number (what follows
// the calling code in E.164).
type country struct {
	iso      string
	code     string
	trunk    string
	intl     []string // longest first
	min, max int
	lead     string // digits a national significant number may start with; "" any but 0
}

// countries lists the calling codes Musubi reads. The first nine are the markets it was built
// for and carry exact lengths; the others follow their numbering plans loosely. A number with a
// calling code not listed is kept as written when its length fits E.164.
var countries = []country{
	{iso: "JP", code: "81", trunk: "0", intl: []string{"010"}, min: 9, max: 10},
	{iso: "US", code: "1", trunk: "1", intl: []string{"011"}, min: 10, max: 10, lead: "23456789"},
	{iso: "GB", code: "44", trunk: "0", intl: []string{"00"}, min: 7, max: 10},
	{iso: "CN", code: "86", trunk: "0", intl: []string{"00"}, min: 8, max: 11},
	{iso: "TW", code: "886", trunk: "0", intl: []string{"002", "005", "006", "007", "009"}, min: 8, max: 9, lead: "23456789"},
	{iso: "KR", code: "82", trunk: "0", intl: []string{"00700", "001", "002", "005", "006", "008"}, min: 8, max: 10},
	{iso: "SG", code: "65", intl: []string{"000", "001", "002", "008", "013", "018", "019"}, min: 8, max: 8, lead: "3689"},
	{iso: "HK", code: "852", intl: []string{"0080", "001", "002", "009", "00"}, min: 8, max: 9, lead: "2345679"},
	{iso: "TH", code: "66", trunk: "0", intl: []string{"001", "007", "008", "009"}, min: 8, max: 9},

	{iso: "CA", code: "1", trunk: "1", intl: []string{"011"}, min: 10, max: 10, lead: "23456789"},
	{iso: "MO", code: "853", intl: []string{"00"}, min: 8, max: 8},
	{iso: "KH", code: "855", trunk: "0", intl: []string{"001", "00"}, min: 8, max: 9},
	{iso: "VN", code: "84", trunk: "0", intl: []string{"00"}, min: 9, max: 10},
	{iso: "MY", code: "60", trunk: "0", intl: []string{"00"}, min: 8, max: 10},
	{iso: "ID", code: "62", trunk: "0", intl: []string{"001", "007", "008", "009", "00"}, min: 8, max: 12},
	{iso: "PH", code: "63", trunk: "0", intl: []string{"00"}, min: 8, max: 10},
	{iso: "MM", code: "95", trunk: "0", intl: []string{"00"}, min: 7, max: 10},
	{iso: "IN", code: "91", trunk: "0", intl: []string{"00"}, min: 10, max: 10},
	{iso: "PK", code: "92", trunk: "0", intl: []string{"00"}, min: 9, max: 10},
	{iso: "BD", code: "880", trunk: "0", intl: []string{"00"}, min: 8, max: 10},
	{iso: "LK", code: "94", trunk: "0", intl: []string{"00"}, min: 9, max: 9},
	{iso: "AU", code: "61", trunk: "0", intl: []string{"0011"}, min: 9, max: 9},
	{iso: "NZ", code: "64", trunk: "0", intl: []string{"00"}, min: 8, max: 10},
	{iso: "AE", code: "971", trunk: "0", intl: []string{"00"}, min: 8, max: 9},
	{iso: "SA", code: "966", trunk: "0", intl: []string{"00"}, min: 8, max: 9},
	{iso: "IL", code: "972", trunk: "0", intl: []string{"00"}, min: 8, max: 9},
	{iso: "TR", code: "90", trunk: "0", intl: []string{"00"}, min: 10, max: 10},
	{iso: "RU", code: "7", trunk: "8", intl: []string{"810"}, min: 10, max: 10},
	{iso: "DE", code: "49", trunk: "0", intl: []string{"00"}, min: 6, max: 13},
	{iso: "FR", code: "33", trunk: "0", intl: []string{"00"}, min: 9, max: 9},
	{iso: "IT", code: "39", intl: []string{"00"}, min: 6, max: 11, lead: "0123456789"},
	{iso: "ES", code: "34", intl: []string{"00"}, min: 9, max: 9},
	{iso: "PT", code: "351", intl: []string{"00"}, min: 9, max: 9},
	{iso: "NL", code: "31", trunk: "0", intl: []string{"00"}, min: 9, max: 9},
	{iso: "BE", code: "32", trunk: "0", intl: []string{"00"}, min: 8, max: 9},
	{iso: "CH", code: "41", trunk: "0", intl: []string{"00"}, min: 9, max: 9},
	{iso: "AT", code: "43", trunk: "0", intl: []string{"00"}, min: 4, max: 13},
	{iso: "IE", code: "353", trunk: "0", intl: []string{"00"}, min: 7, max: 9},
	{iso: "SE", code: "46", trunk: "0", intl: []string{"00"}, min: 7, max: 10},
	{iso: "NO", code: "47", intl: []string{"00"}, min: 8, max: 8},
	{iso: "DK", code: "45", intl: []string{"00"}, min: 8, max: 8},
	{iso: "FI", code: "358", trunk: "0", intl: []string{"00", "990", "994", "999"}, min: 5, max: 12},
	{iso: "PL", code: "48", intl: []string{"00"}, min: 9, max: 9},
	{iso: "ZA", code: "27", trunk: "0", intl: []string{"00"}, min: 9, max: 9},
	{iso: "EG", code: "20", trunk: "0", intl: []string{"00"}, min: 9, max: 10},
	{iso: "NG", code: "234", trunk: "0", intl: []string{"009"}, min: 8, max: 10},
	{iso: "KE", code: "254", trunk: "0", intl: []string{"000"}, min: 9, max: 9},
	{iso: "BR", code: "55", trunk: "0", intl: []string{"00"}, min: 10, max: 11},
	{iso: "MX", code: "52", intl: []string{"00"}, min: 10, max: 10},
	{iso: "AR", code: "54", trunk: "0", intl: []string{"00"}, min: 10, max: 11},
	{iso: "CL", code: "56", intl: []string{"00"}, min: 9, max: 9},
	{iso: "CO", code: "57", intl: []string{"00"}, min: 10, max: 10},
	{iso: "PE", code: "51", trunk: "0", intl: []string{"00"}, min: 8, max: 9},
}

var (
	countryISO  = map[string]*country{}
	countryCode = map[string]*country{} // the first country listed with a code reads it (+1: US)
)

func init() {
	for i := range countries {
		c := &countries[i]
		if c.lead == "" {
			c.lead = "123456789"
		}
		countryISO[c.iso] = c
		if countryCode[c.code] == nil {
			countryCode[c.code] = c
		}
	}
}

func countryByISO(iso string) *country { return countryISO[strings.ToUpper(iso)] }

func knownCountries() []string {
	out := make([]string, 0, len(countries))
	for _, c := range countries {
		out = append(out, c.iso)
	}
	slices.Sort(out)
	return out
}

// valid reports whether nsn is a national significant number of the country.
func (c *country) valid(nsn string) bool {
	return len(nsn) >= c.min && len(nsn) <= c.max && len(c.code)+len(nsn) <= 15 &&
		strings.IndexByte(c.lead, nsn[0]) >= 0 && strings.Trim(nsn, "0") != ""
}

// normalizePhone returns a phone number in E.164. It accepts what people and systems write:
// spaces, dashes (ASCII, full-width, the katakana long vowel mark often typed for one), dots,
// parentheses, full-width digits, a tel: prefix, "+81 (0)90…", an international call prefix
// (010 from Japan, 00 from most places), the national trunk prefix, and international numbers
// written without their plus.
func normalizePhone(raw, defaultCountry string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", ErrNotPhone
	}
	s := strings.TrimSpace(foldWidth(raw))
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = strings.TrimSpace(s[4:])
	}
	if s == "" {
		return "", ErrEmpty
	}
	var buf [20]byte
	d := buf[:0]
	plus := false
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c >= '0' && c <= '9':
			if len(d) == cap(d) {
				return "", fmt.Errorf("%w: too many digits", ErrNotPhone)
			}
			d = append(d, byte(c))
		case c == '+' && len(d) == 0 && !plus:
			plus = true
		case plus && len(d) > 0 && strings.HasPrefix(s[i:], "(0)"):
			size = 3 // the trunk 0 written for national callers: +44 (0)20…
		case phoneSeparator(c):
		default:
			return "", ErrNotPhone
		}
		i += size
	}
	if len(d) == 0 {
		return "", ErrNotPhone
	}
	digits := string(d)
	if plus {
		return international(digits)
	}
	c := countryByISO(defaultCountry)
	if c == nil {
		if defaultCountry == "" {
			return "", fmt.Errorf("%w: a national number needs the identity block's default_country; or write it with + and the country code", ErrNotPhone)
		}
		return "", fmt.Errorf("%w: no calling code known for default country %q; write the number with + and the country code", ErrNotPhone, defaultCountry)
	}
	for _, p := range c.intl {
		if strings.HasPrefix(digits, p) {
			if v, err := international(digits[len(p):]); err == nil {
				return v, nil
			}
		}
	}
	switch {
	case c.trunk != "" && strings.HasPrefix(digits, c.trunk) && c.valid(digits[len(c.trunk):]):
		return "+" + c.code + digits[len(c.trunk):], nil
	case c.valid(digits):
		return "+" + c.code + digits, nil
	case strings.HasPrefix(digits, c.code) && c.valid(digits[len(c.code):]):
		return "+" + digits, nil // an international number written without its plus
	}
	return "", fmt.Errorf("%w: %d digits do not make a %s number", ErrNotPhone, len(digits), c.iso)
}

// international reads the digits after a plus or an international call prefix.
func international(d string) (string, error) {
	for n := 1; n <= 3 && n < len(d); n++ {
		c := countryCode[d[:n]]
		if c == nil {
			continue
		}
		nsn := d[n:]
		if c.trunk == "0" && strings.HasPrefix(nsn, "0") {
			nsn = nsn[1:] // "+81 090…": the trunk prefix has no place after the country code
		}
		if nsn == "" || !c.valid(nsn) {
			return "", fmt.Errorf("%w: +%s numbers have %d to %d digits after the country code", ErrNotPhone, c.code, c.min, c.max)
		}
		return "+" + c.code + nsn, nil
	}
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", fmt.Errorf("%w: E.164 numbers have 7 to 15 digits and no leading 0", ErrNotPhone)
	}
	return "+" + d, nil
}

// phoneSeparator reports characters people put between digits.
func phoneSeparator(c rune) bool {
	switch c {
	case ' ', '\t', '-', '.', '(', ')', '/', '\u00a0',
		'\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', // dashes and minus
		'\u30fc', '\uff70': // katakana long vowel marks, typed for dashes
		return true
	}
	return false
}

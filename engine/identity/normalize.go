package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors Normalize returns; the messages never quote the value, which is personal data.
var (
	ErrEmpty    = errors.New("empty value")
	ErrNotEmail = errors.New("not an email address")
	ErrNotPhone = errors.New("not a phone number")
)

// Normalize returns the canonical form of a raw identifier value, the form the graph matches
// on: emails trimmed and lower-cased (full-width characters folded, nothing else touched: dots
// and +tags stay), phone numbers in E.164 (national numbers read with DefaultCountry), other
// types trimmed. The error says why a value is unusable.
func (r *Rules) Normalize(typ, raw string) (string, error) {
	if typ == "" {
		return "", errors.New("empty identifier type")
	}
	country := ""
	if r != nil {
		country = r.DefaultCountry
	}
	var v string
	var err error
	switch typ {
	case "email":
		v, err = normalizeEmail(raw)
	case "phone":
		v, err = normalizePhone(raw, country)
	default:
		v = strings.TrimSpace(raw)
		switch {
		case v == "":
			err = ErrEmpty
		case !utf8.ValidString(v):
			err = errors.New("not valid UTF-8")
		}
	}
	if err == nil && len(v) > maxValueLen {
		err = fmt.Errorf("longer than %d bytes", maxValueLen)
	}
	return v, err
}

// normalizeEmail trims, folds full-width characters (typed by Japanese input methods) and
// lower-cases the whole address.
func normalizeEmail(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrNotEmail)
	}
	v := strings.TrimSpace(foldWidth(raw))
	if len(v) >= 7 && strings.EqualFold(v[:7], "mailto:") {
		v = strings.TrimSpace(v[7:])
	}
	if v == "" {
		return "", ErrEmpty
	}
	v = strings.ToLower(v)
	at := strings.IndexByte(v, '@')
	switch {
	case at < 0:
		return "", fmt.Errorf("%w: no @", ErrNotEmail)
	case strings.IndexByte(v[at+1:], '@') >= 0:
		return "", fmt.Errorf("%w: more than one @", ErrNotEmail)
	case at == 0:
		return "", fmt.Errorf("%w: nothing before the @", ErrNotEmail)
	case strings.IndexFunc(v, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		return "", fmt.Errorf("%w: contains spaces or control characters", ErrNotEmail)
	}
	domain := v[at+1:]
	if dot := strings.IndexByte(domain, '.'); dot <= 0 || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", fmt.Errorf("%w: the domain needs a dot between names", ErrNotEmail)
	}
	if len(v) > 254 {
		return "", fmt.Errorf("%w: longer than 254 bytes", ErrNotEmail)
	}
	return v, nil
}

// foldWidth turns full-width ASCII (ＡＢＣ１２３＠) and the ideographic space into ASCII.
func foldWidth(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		switch {
		case c >= 0xFF01 && c <= 0xFF5E:
			c -= 0xFEE0
		case c == 0x3000:
			c = ' '
		}
		b.WriteRune(c)
	}
	return b.String()
}

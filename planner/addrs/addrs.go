// Package addrs defines the typed addresses of resource instances, e.g.
// campaign.spring.coupon[shopify.jp]: the block that declared it, the canonical kind, and the
// provider it lives in.
package addrs

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// Block addresses a declaring block: campaign.spring, segment.loyal_store.
type Block struct {
	Type string // campaign, segment, trigger, identity_source, musubi
	Name string
}

// String returns "TYPE.NAME".
func (b Block) String() string { return b.Type + "." + b.Name }

// ParseBlock reads "TYPE.NAME".
func ParseBlock(s string) (Block, error) {
	t, n, ok := typeAndName(s)
	if !ok {
		return Block{}, fmt.Errorf("%q is not a block address (TYPE.NAME)", s)
	}
	return Block{Type: t, Name: n}, nil
}

// typeDotName writes "TYPE.NAME" in one allocation: state files hold many.
func typeDotName(t, n string) []byte {
	b := make([]byte, 0, len(t)+1+len(n))
	b = append(b, t...)
	b = append(b, '.')
	return append(b, n...)
}

// typeAndName splits "TYPE.NAME", both parts non-empty.
func typeAndName(s string) (t, n string, ok bool) {
	t, n, ok = strings.Cut(s, ".")
	return t, n, ok && t != "" && n != "" && !strings.Contains(n, ".")
}

// MarshalText writes the address as text: states and plans hold addresses as JSON strings.
func (b Block) MarshalText() ([]byte, error) { return typeDotName(b.Type, b.Name), nil }

// UnmarshalText reads the address ParseBlock reads.
func (b *Block) UnmarshalText(text []byte) (err error) {
	*b, err = ParseBlock(string(text))
	return err
}

// Provider addresses a configured provider: shopify.jp.
type Provider struct {
	Type, Name string
}

// String returns "TYPE.NAME".
func (p Provider) String() string { return p.Type + "." + p.Name }

// ParseProvider reads "TYPE.NAME".
func ParseProvider(s string) (Provider, error) {
	t, n, ok := typeAndName(s)
	if !ok {
		return Provider{}, fmt.Errorf("%q is not a provider address (TYPE.NAME)", s)
	}
	return Provider{Type: t, Name: n}, nil
}

// MarshalText writes the address as text.
func (p Provider) MarshalText() ([]byte, error) { return typeDotName(p.Type, p.Name), nil }

// UnmarshalText reads the address ParseProvider reads.
func (p *Provider) UnmarshalText(text []byte) (err error) {
	*p, err = ParseProvider(string(text))
	return err
}

// Instance addresses one resource instance.
type Instance struct {
	Block    Block
	Kind     providers.Kind
	Provider Provider
	// Index tells apart several instances of one kind, block and provider (a trigger with two
	// send actions on the same channel); 0 for the first, which is not written.
	Index int
}

// String returns "campaign.spring.coupon[shopify.jp]", with ",N" inside the brackets for an
// index above 0.
func (a Instance) String() string {
	var buf [96]byte
	return string(a.append(buf[:0]))
}

func (a Instance) append(b []byte) []byte {
	b = append(b, a.Block.Type...)
	b = append(b, '.')
	b = append(b, a.Block.Name...)
	b = append(b, '.')
	b = append(b, a.Kind...)
	b = append(b, '[')
	b = append(b, a.Provider.Type...)
	b = append(b, '.')
	b = append(b, a.Provider.Name...)
	if a.Index > 0 {
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(a.Index), 10)
	}
	return append(b, ']')
}

// Join writes addresses as text, with sep between them.
func Join(as []Instance, sep string) string {
	var b []byte
	for i, a := range as {
		if i > 0 {
			b = append(b, sep...)
		}
		b = a.append(b)
	}
	return string(b)
}

// MarshalText writes the address as text.
func (a Instance) MarshalText() ([]byte, error) {
	n := len(a.Block.Type) + len(a.Block.Name) + len(a.Kind) + len(a.Provider.Type) + len(a.Provider.Name) + 8
	return a.append(make([]byte, 0, n)), nil
}

// UnmarshalText reads the address ParseInstance reads.
func (a *Instance) UnmarshalText(text []byte) (err error) {
	*a, err = ParseInstance(string(text))
	return err
}

// Compare orders instances as their addresses sort as text, so lists of them read the same
// in memory, in state files and in plans. It compares part by part without writing the
// addresses out: no part can hold a separator, so the first part that differs decides.
func Compare(a, b Instance) int {
	if a.Block.Type != b.Block.Type {
		return comparePart(a.Block.Type, b.Block.Type, '.', '.')
	}
	if a.Block.Name != b.Block.Name {
		return comparePart(a.Block.Name, b.Block.Name, '.', '.')
	}
	if a.Kind != b.Kind {
		return comparePart(string(a.Kind), string(b.Kind), '[', '[')
	}
	if a.Provider.Type != b.Provider.Type {
		return comparePart(a.Provider.Type, b.Provider.Type, '.', '.')
	}
	if a.Provider.Name != b.Provider.Name || (a.Index == 0) != (b.Index == 0) {
		return comparePart(a.Provider.Name, b.Provider.Name, a.afterProvider(), b.afterProvider())
	}
	if a.Index == b.Index {
		return 0
	}
	return comparePart(strconv.Itoa(a.Index), strconv.Itoa(b.Index), ']', ']')
}

// Sort sorts s by the address of each element, as Compare orders them. It writes each
// address out once and sorts by the text: quicker than Compare for the long lists of a large
// programme.
func Sort[T any](s []T, addr func(T) Instance) {
	type keyed struct {
		key string
		v   T
	}
	ks := make([]keyed, len(s))
	for i, v := range s {
		ks[i] = keyed{addr(v).String(), v}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	for i, k := range ks {
		s[i] = k.v
	}
}

// afterProvider is the byte that follows the provider's name in the address.
func (a Instance) afterProvider() byte {
	if a.Index > 0 {
		return ','
	}
	return ']'
}

// comparePart compares part a followed by the byte sa with part b followed by sb, as text.
func comparePart(a, b string, sa, sb byte) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	switch {
	case len(a) < len(b):
		return cmp.Compare(sa, b[n])
	case len(a) > len(b):
		return cmp.Compare(a[n], sb)
	}
	return cmp.Compare(sa, sb)
}

// ParseInstance reads an instance address:
// TYPE.NAME.KIND[PROVIDER_TYPE.PROVIDER_NAME] or with ",INDEX" before the "]".
// States hold hundreds of thousands of addresses, so this reads them by hand, not by regexp.
func ParseInstance(s string) (Instance, error) {
	a, ok := parseInstance(s)
	if !ok {
		return Instance{}, fmt.Errorf("%q is not a resource address such as campaign.spring.coupon[shopify.jp]", s)
	}
	if _, err := providers.SchemaOf(a.Kind); err != nil {
		return Instance{}, fmt.Errorf("%q: %w", s, err)
	}
	return a, nil
}

func parseInstance(s string) (a Instance, ok bool) {
	var kind string
	if a.Block.Type, s, ok = cutWord(s, '.', isLowerOrUnderscore, isLowerOrUnderscore); !ok {
		return a, false
	}
	if a.Block.Name, s, ok = cutWord(s, '.', isLetter, isNameByte); !ok {
		return a, false
	}
	if kind, s, ok = cutWord(s, '[', isLowerOrUnderscore, isLowerOrUnderscore); !ok {
		return a, false
	}
	a.Kind = providers.Kind(kind)
	if a.Provider.Type, s, ok = cutWord(s, '.', isLower, isProviderTypeByte); !ok {
		return a, false
	}
	if s, ok = strings.CutSuffix(s, "]"); !ok {
		return a, false
	}
	name, index, indexed := strings.Cut(s, ",")
	if !isWord(name, isLetter, isNameByte) {
		return a, false
	}
	a.Provider.Name = name
	if indexed {
		if !isWord(index, isDigit, isDigit) {
			return a, false
		}
		n, err := strconv.Atoi(index)
		if err != nil {
			return a, false
		}
		a.Index = n
	}
	return a, true
}

// cutWord splits s at the first sep, if what comes before is a word (see isWord).
func cutWord(s string, sep byte, first, rest func(byte) bool) (word, after string, ok bool) {
	i := strings.IndexByte(s, sep)
	if i < 0 || !isWord(s[:i], first, rest) {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// isWord reports whether s is one byte that first accepts, then any number that rest accepts.
func isWord(s string, first, rest func(byte) bool) bool {
	if s == "" || !first(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !rest(s[i]) {
			return false
		}
	}
	return true
}

func isLower(c byte) bool             { return 'a' <= c && c <= 'z' }
func isLetter(c byte) bool            { return isLower(c) || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool             { return '0' <= c && c <= '9' }
func isLowerOrUnderscore(c byte) bool { return isLower(c) || c == '_' }
func isProviderTypeByte(c byte) bool  { return isLower(c) || isDigit(c) || c == '_' || c == '-' }
func isNameByte(c byte) bool          { return isLetter(c) || isDigit(c) || c == '_' || c == '-' }

// MustParseInstance reads an instance address known to be valid, and panics on any other.
func MustParseInstance(s string) Instance {
	a, err := ParseInstance(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Target is what -target and -replace name: a whole block (campaign.spring) or one instance.
type Target struct {
	Block    Block
	Instance *Instance
}

// ParseTarget reads a block or instance address.
func ParseTarget(s string) (Target, error) {
	if strings.Contains(s, "[") {
		a, err := ParseInstance(s)
		if err != nil {
			return Target{}, err
		}
		return Target{Block: a.Block, Instance: &a}, nil
	}
	b, err := ParseBlock(s)
	if err != nil {
		return Target{}, fmt.Errorf("%q is not an address: write a block (campaign.spring) or a resource (campaign.spring.coupon[shopify.jp])", s)
	}
	return Target{Block: b}, nil
}

// Matches reports whether the target names the instance.
func (t Target) Matches(a Instance) bool {
	if t.Instance != nil {
		return *t.Instance == a
	}
	return t.Block == a.Block
}

// String returns the target as written.
func (t Target) String() string {
	if t.Instance != nil {
		return t.Instance.String()
	}
	return t.Block.String()
}

// MarshalText writes the target as written.
func (t Target) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads the target ParseTarget reads.
func (t *Target) UnmarshalText(text []byte) (err error) {
	*t, err = ParseTarget(string(text))
	return err
}

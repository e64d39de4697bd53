// Package addrs defines the typed addresses of resource instances, e.g.
// campaign.spring.coupon[shopify.jp]: the block that declared it, the canonical kind, and the
// provider it lives in.
package addrs

import (
	"fmt"
	"regexp"
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

// Provider addresses a configured provider: shopify.jp.
type Provider struct {
	Type, Name string
}

// String returns "TYPE.NAME".
func (p Provider) String() string { return p.Type + "." + p.Name }

// ParseProvider reads "TYPE.NAME".
func ParseProvider(s string) (Provider, error) {
	t, n, ok := strings.Cut(s, ".")
	if !ok || t == "" || n == "" || strings.Contains(n, ".") {
		return Provider{}, fmt.Errorf("%q is not a provider address (TYPE.NAME)", s)
	}
	return Provider{Type: t, Name: n}, nil
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
	var b strings.Builder
	b.Grow(len(a.Block.Type) + len(a.Block.Name) + len(a.Kind) + len(a.Provider.Type) + len(a.Provider.Name) + 6)
	b.WriteString(a.Block.Type)
	b.WriteByte('.')
	b.WriteString(a.Block.Name)
	b.WriteByte('.')
	b.WriteString(string(a.Kind))
	b.WriteByte('[')
	b.WriteString(a.Provider.Type)
	b.WriteByte('.')
	b.WriteString(a.Provider.Name)
	if a.Index > 0 {
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(a.Index))
	}
	b.WriteByte(']')
	return b.String()
}

var instanceRE = regexp.MustCompile(`^([a-z_]+)\.([A-Za-z][A-Za-z0-9_-]*)\.([a-z_]+)\[([a-z][a-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_-]*)(?:,([0-9]+))?\]$`)

// ParseInstance reads an instance address.
func ParseInstance(s string) (Instance, error) {
	m := instanceRE.FindStringSubmatch(s)
	if m == nil {
		return Instance{}, fmt.Errorf("%q is not a resource address such as campaign.spring.coupon[shopify.jp]", s)
	}
	a := Instance{
		Block:    Block{Type: m[1], Name: m[2]},
		Kind:     providers.Kind(m[3]),
		Provider: Provider{Type: m[4], Name: m[5]},
	}
	if _, err := providers.SchemaOf(a.Kind); err != nil {
		return Instance{}, fmt.Errorf("%q: %w", s, err)
	}
	if m[6] != "" {
		a.Index, _ = strconv.Atoi(m[6])
	}
	return a, nil
}

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
	t, n, ok := strings.Cut(s, ".")
	if !ok || t == "" || n == "" || strings.Contains(n, ".") {
		return Target{}, fmt.Errorf("%q is not an address: write a block (campaign.spring) or a resource (campaign.spring.coupon[shopify.jp])", s)
	}
	return Target{Block: Block{Type: t, Name: n}}, nil
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

package lang

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/text/unicode/norm"
)

// attrsInOrder lists attributes as they are written, so the first of two is the first.
func attrsInOrder(attrs hcl.Attributes) []*hcl.Attribute {
	return slices.SortedFunc(maps.Values(attrs), func(a, b *hcl.Attribute) int {
		return a.NameRange.Start.Byte - b.NameRange.Start.Byte
	})
}

// Names are compared in Unicode normal form C, as Rust compares identifiers: "café" typed as
// one code point or as "e" and a combining accent is one name, declared once.
func nfc(name string) string { return norm.NFC.String(name) }

// normalizeNames rewrites a native syntax tree's block labels and the names its expressions
// refer to in NFC, so that every later comparison sees one spelling. Positions are kept.
func normalizeNames(body *hclsyntax.Body) {
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.Block:
			for i := range n.Labels {
				n.Labels[i] = nfc(n.Labels[i])
			}
		case *hclsyntax.ScopeTraversalExpr:
			normalizeTraversal(n.Traversal)
		case *hclsyntax.RelativeTraversalExpr:
			normalizeTraversal(n.Traversal)
		case *hclsyntax.ForExpr:
			n.KeyVar, n.ValVar = nfc(n.KeyVar), nfc(n.ValVar)
		}
		return nil
	})
}

func normalizeTraversal(t hcl.Traversal) {
	for i, step := range t {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			s.Name = nfc(s.Name)
			t[i] = s
		case hcl.TraverseAttr:
			s.Name = nfc(s.Name)
			t[i] = s
		}
	}
}

// mixableScripts are the scripts one name may combine, as Unicode's "highly restrictive"
// profile (UTS #39) allows: Latin with the scripts of Japanese, Chinese and Korean.
var mixableScripts = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// scriptOrder lists the scripts to try first, then the rest, for scriptOf.
var scriptOrder = func() []string {
	first := []string{"Latin", "Han", "Hiragana", "Katakana", "Hangul", "Cyrillic", "Greek", "Bopomofo"}
	for _, name := range slices.Sorted(maps.Keys(unicode.Scripts)) {
		if name != "Common" && name != "Inherited" && !slices.Contains(first, name) {
			first = append(first, name)
		}
	}
	return first
}()

// scriptOf names the script of a letter; digits, punctuation and combining marks, which
// every script shares, have none.
func scriptOf(r rune) string {
	if r < unicode.MaxASCII {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return "Latin"
		}
		return ""
	}
	for _, name := range scriptOrder {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	return ""
}

// mixedScripts explains why a name mixes scripts that look-alike names are made of (Latin
// "o" and Cyrillic "о"), or returns "".
func mixedScripts(name string) string {
	var seen []string
	for _, r := range name {
		s := scriptOf(r)
		if s == "" || slices.Contains(seen, s) {
			continue
		}
		seen = append(seen, s)
		if len(seen) > 1 && !slices.ContainsFunc(mixableScripts, func(set []string) bool {
			return !slices.ContainsFunc(seen, func(x string) bool { return !slices.Contains(set, x) })
		}) {
			return fmt.Sprintf("%q mixes %s and %s letters (%q is %s). A name keeps to one script, so that two names cannot look alike; Latin may go with Japanese, Chinese or Korean.",
				name, seen[0], s, string(r), s)
		}
	}
	return ""
}

// celNamed are the blocks whose names conditions read as CEL field names:
// customer.traits.NAME and customer.segments.NAME.
var celNamed = map[string]string{"trait": "customer.traits", "segment": "customer.segments"}

// dashedName explains why the name of a trait or segment may not have a dash: a condition
// reads customer.segments.big-spenders as customer.segments.big minus spenders. Other blocks
// are named in HCL only (segment.x, provider.t.n, var.x), where a dash is part of a name.
func dashedName(kind, name string) string {
	path, ok := celNamed[kind]
	if !ok || !strings.Contains(name, "-") {
		return ""
	}
	return fmt.Sprintf("%q cannot name a %s: conditions read it as %s.%s, where the dash is a minus. Use an underscore: %s.",
		name, kind, path, name, strings.ReplaceAll(name, "-", "_"))
}

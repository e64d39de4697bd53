package lang

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	celast "cel.dev/cel-go/common/ast"
	"google.golang.org/protobuf/proto"
)

// cacheCases are expressions written more than once, valid and not, beside a generated
// programme: each place gets its own diagnostics, with or without the cache.
const cacheCases = `
trait "visits" {
  on        = "purchase"
  aggregate = "count"
}

segment "twice_a" {
  condition = "customer.traits.visits > 2 && customer.consent.line"
}

segment "twice_b" {
  condition = "customer.traits.visits > 2 && customer.consent.line"
}

segment "wrong_a" {
  condition = "customer.traits.visit > 2"
}

segment "wrong_b" {
  condition = "customer.traits.visit > 2"
}

campaign "twice" {
  audience = segment.twice_a
  channels = [provider.sandbox.ec]
  message {
    via      = provider.sandbox.line
    template = "{{ customer.traits.visits }} and {{ customer.traits.visits }} and {{ customer.traits.visit }}"
  }
}
`

func TestCELCache(t *testing.T) {
	fsys := genConfig(300)
	fsys["cases.hcl"] = &fstest.MapFile{Data: []byte(cacheCases)}
	file := filepath.Join(t.TempDir(), "sub", "cel.cache")
	opts := testOptions()
	plain, plainDiags := Load(fsys, ".", opts)
	opts.CELCache = file

	load := func(what string) *Config {
		t.Helper()
		cfg, diags := Load(fsys, ".", opts)
		if got, want := diagLines(diags), diagLines(plainDiags); got != want {
			t.Fatalf("%s: diagnostics\n%s\nwant\n%s", what, got, want)
		}
		if got, want := summarize(cfg), summarize(plain); got != want {
			t.Fatalf("%s: configuration\n%s\nwant\n%s", what, got, want)
		}
		if graphText(cfg.Graph) != graphText(plain.Graph) {
			t.Fatalf("%s: references differ", what)
		}
		for _, name := range slices.Sorted(maps.Keys(plain.Segments)) {
			a, b := cfg.Segments[name].Condition, plain.Segments[name].Condition
			if (a == nil) != (b == nil) {
				t.Fatalf("%s: segment %s: condition %v, want %v", what, name, a != nil, b != nil)
			}
			if a == nil {
				continue
			}
			pa, _ := celast.ExprToProto(a.AST().NativeRep().Expr())
			pb, _ := celast.ExprToProto(b.AST().NativeRep().Expr())
			if !proto.Equal(pa, pb) || a.Range != b.Range {
				t.Fatalf("%s: segment %s: the checked tree differs", what, name)
			}
		}
		return cfg
	}
	load("cold")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no cache file: %v", err)
	}
	cfg := load("warm")
	again, _ := Load(fsys, ".", opts)
	fromCache := again.Segments["s1"].Condition
	if traits, _ := fromCache.References(); len(traits) != 1 || fromCache.plan.ast != nil {
		t.Errorf("the references of a condition found in the cache are %v, or need its tree", traits)
	}
	ok, err := cfg.Segments["twice_b"].Condition.EvalBool(map[string]any{
		"customer": map[string]any{"traits": map[string]any{"visits": 3}, "consent": map[string]any{"line": true}},
	})
	if err != nil || !ok {
		t.Errorf("a condition found in the cache evaluates to %v, %v", ok, err)
	}
	if !strings.Contains(diagLines(plainDiags), "cases.hcl:16:") || !strings.Contains(diagLines(plainDiags), "cases.hcl:20:") {
		t.Errorf("an invalid expression written twice is not reported twice:\n%s", diagLines(plainDiags))
	}

	// A damaged file is no cache.
	data, _ := os.ReadFile(file)
	data[len(data)/2] ^= 1
	os.WriteFile(file, data, 0o600)
	load("damaged")

	// The environments follow the traits: a condition valid for one trait type is not for another.
	fsys["cases.hcl"] = &fstest.MapFile{Data: []byte(strings.Replace(cacheCases,
		`aggregate = "count"`, `aggregate = "last"
  value     = "event.currency"`, 1))}
	_, diags := Load(fsys, ".", opts)
	if !strings.Contains(diagLines(diags), "cases.hcl:9:") {
		t.Errorf("a condition comparing a string trait with a number is not reported:\n%s", diagLines(diags))
	}
}

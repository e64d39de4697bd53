package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/musubi-hq/musubi/lang"
)

// The README's headline programme is a valid one: it loads and type-checks with the
// providers and the trait it names declared beside it.
func TestReadmeProgrammeLoads(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("the README shows no HCL")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "context.hcl"), []byte(`
provider "sandbox" "jp" {
  system = "ec"
}
provider "sandbox" "store" {
  system = "pos"
}
trait "store_purchases_90d" {
  on        = "purchase"
  where     = "event.channel == 'pos'"
  window    = "90d"
  aggregate = "count"
}
`), 0o644)
	// The sandbox stands in for Shopify and Square: no credentials needed.
	src := regexp.MustCompile(`provider\.(shopify|square)\.`).ReplaceAll(m[1], []byte("provider.sandbox."))
	os.WriteFile(filepath.Join(dir, "readme.hcl"), src, 0o644)
	if _, diags := lang.LoadDir(dir, lang.LoadOptions{}); diags.HasErrors() {
		t.Fatalf("the README's programme does not load:\n%s", diags.Error())
	}
}

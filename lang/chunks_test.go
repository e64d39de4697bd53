package lang

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestParseChunkedSameAsWhole parses every native file of the repository's examples and test
// data both a few blocks at a time and at once: the syntax trees and diagnostics are the same.
func TestParseChunkedSameAsWhole(t *testing.T) {
	srcs := map[string][]byte{
		"heredoc.hcl":  []byte("a \"x\" {\n  t = <<EOT\n" + strings.Repeat("}\n", 300) + "EOT\n}\n" + strings.Repeat("b {\n  c = 1\n}\n", 100)),
		"comment.hcl":  []byte("/*\n" + strings.Repeat("}\n", 300) + "*/\n" + strings.Repeat("b {\n  c = 1\n}\n", 100)),
		"nested.hcl":   []byte("a {\n" + strings.Repeat("b {\n c = 1\n}\n", 100) + "}\n"),
		"attrs.hcl":    []byte(strings.Repeat("x = {\n  a = 1\n}\n", 100)),
		"crlf.hcl":     []byte(strings.Repeat("b \"x\" {\r\n  c = 1\r\n}\r\n", 100)),
		"broken.hcl":   []byte(strings.Repeat("b {\n  c = 1\n}\n", 100) + "d {\n  e = \n}\n" + strings.Repeat("b {\n  c = 1\n}\n", 100)),
		"noeol.hcl":    []byte(strings.Repeat("b {\n  c = \"${1}\"\n}\n", 100) + "# end"),
		"trailing.hcl": []byte(strings.Repeat("b {\n  c = 1\n}\n", 100) + "\n\n  \n"),
	}
	for _, root := range []string{"testdata", "../examples", "../cmd/musubi/testdata"} {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".hcl") {
				if b, err := os.ReadFile(path); err == nil {
					srcs[path] = b
				}
			}
			return nil
		})
	}
	if len(srcs) < 20 {
		t.Fatalf("only %d files", len(srcs))
	}
	for name, src := range srcs {
		want, wdiags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		got, gdiags := parseChunked(src, name)
		if !reflect.DeepEqual(want.Body, got.Body) {
			t.Errorf("%s: the syntax trees differ", name)
		}
		if !reflect.DeepEqual(wdiags, gdiags) {
			t.Errorf("%s: diagnostics differ:\n%v\n%v", name, wdiags, gdiags)
		}
	}
}

// Whatever a file holds, parsing it a few blocks at a time gives what parsing it whole gives.
func FuzzParseChunkedSameAsWhole(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("b \"x\" {\n  c = 1\n}\n", 40),
		"a \"x\" {\n  t = <<EOT\n" + strings.Repeat("}\n", 100) + "EOT\n}\n" + strings.Repeat("b {\n  c = 1\n}\n", 40),
		"/*\n" + strings.Repeat("}\n", 100) + "*/\n" + strings.Repeat("b {\n  c = 1\n}\n", 40),
		strings.Repeat("x = {\n  a = 1\n}\n", 40),
		strings.Repeat("b {\n  c = \"${1}\"\n}\n", 40) + "d {\n  e = \n}\n",
		strings.Repeat("b {\n  c = 1\n}\r\n", 40) + "}\n{\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		want, wdiags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos)
		got, gdiags := parseChunked(src, "f.hcl")
		if !reflect.DeepEqual(want.Body, got.Body) {
			t.Fatal("the syntax trees differ")
		}
		if !reflect.DeepEqual(wdiags, gdiags) {
			t.Fatalf("diagnostics differ:\n%v\n%v", wdiags, gdiags)
		}
	})
}

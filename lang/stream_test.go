package lang

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
)

// A file whose headers are scanned parses into blocks with those headers, unless it has a
// problem the parser reports.
func TestScanHeadersAgreeWithParser(t *testing.T) {
	files := map[string][]byte{}
	for _, root := range []string{"../examples", "testdata"} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, NativeSuffix) {
				src, _ := os.ReadFile(p)
				files[p] = src
			}
			return nil
		})
	}
	for name, f := range genConfig(600) {
		files[name] = f.Data
	}
	scanned := 0
	for name, src := range files {
		headers, ok := scanHeaders(src, name)
		if !ok {
			continue
		}
		scanned++
		f, diags := hclParse(src, name)
		if len(diags) > 0 {
			continue
		}
		content, diags := f.Body.Content(rootSchema)
		if len(diags) > 0 {
			continue
		}
		if !sameHeaders(content.Blocks, headers) {
			t.Errorf("%s: scanned headers differ from the parsed ones", name)
		}
	}
	if scanned < 6 {
		t.Errorf("only %d files scanned", scanned)
	}
}

func hclParse(src []byte, name string) (*hcl.File, hcl.Diagnostics) {
	return parseHCL(src, name, false)
}

// The scan declines what it does not follow, and what is not only blocks decoded late.
func TestScanHeadersDeclines(t *testing.T) {
	for _, src := range []string{
		"variable \"x\" {\n}\n",
		"locals {\n  a = 1\n}\n",
		"a = 1\n",
		"campaign \"a\" {\n  x = <<EOT\n}\nEOT\n}\n",
		"campaign \"a\" {\n  x = \"${\"}\"}\"\n}\n",
		"campaign \"a\\u0062\" {\n}\n",
		"campaign \"é\" {\n}\n",
		"campaign \"a\"\n{\n}\n",
		"campaign \"a\" {\n",
		"/* unterminated\n",
		"",
	} {
		if h, ok := scanHeaders([]byte(src), "x.hcl"); ok {
			t.Errorf("%q: scanned %d headers", src, len(h))
		}
	}
	h, ok := scanHeaders([]byte("# c\ncampaign a { # }\n  m = \"}é\\\" {\" // x\n  /* } */\n}\n\nsegment \"s\" {\n}\n"), "x.hcl")
	if !ok || len(h) != 2 || h[0].Labels[0] != "a" || h[1].Type != "segment" || h[1].DefRange.Start.Line != 7 {
		t.Errorf("got %v %v", h, ok)
	}
}

// Parsing files only when their blocks are decoded gives what parsing every file first gives,
// also when a file's scan is wrong about it and the load starts again.
func TestStreamLoadSame(t *testing.T) {
	gen := genConfig(600)
	gen["zz_broken.hcl"] = &fstest.MapFile{Data: []byte(`
segment "s3" {
  condition = "customer.traits.t1 > 'x'"
}

campaign "c7" {
  coupon {
    percent = 200
  }
  channels = [provider.sandbox.nowhere]
}
`)}
	syntaxErr := genConfig(300)
	syntaxErr["zz_syntax.hcl"] = &fstest.MapFile{Data: []byte("segment \"s9\" {\n  condition = \"true\" \"x\"\n}\n")}
	oddHeader := genConfig(300)
	oddHeader["zz_odd.hcl"] = &fstest.MapFile{Data: []byte("/* ü */ segment \"s9\" {\n  condition = \"true\"\n}\n")}
	cases := map[string]fs.FS{
		"generated":     gen,
		"syntax error":  syntaxErr,
		"odd header":    oddHeader,
		"quickstart":    os.DirFS("../examples/quickstart"),
		"omo_audiences": os.DirFS("../examples/omo_audiences"),
		"native":        os.DirFS("testdata/syntax/native"),
	}
	for _, fsys := range []fs.FS{syntaxErr, oddHeader} {
		if _, _, ok := load(fsys, ".", testOptions(), true); ok {
			t.Fatal("a file unlike its scan did not start the load again")
		}
	}
	defer func(s bool) { streamLoad = s }(streamLoad)
	for name, fsys := range cases {
		streamLoad = false
		want, wantDiags := Load(fsys, ".", testOptions())
		streamLoad = true
		got, gotDiags := Load(fsys, ".", testOptions())
		if g, w := diagLines(gotDiags), diagLines(wantDiags); g != w {
			t.Errorf("%s: diagnostics\n%s\nwant\n%s", name, g, w)
		}
		if g, w := summarize(got), summarize(want); g != w {
			t.Errorf("%s: configuration\n%s\nwant\n%s", name, g, w)
		}
		if graphText(got.Graph) != graphText(want.Graph) {
			t.Errorf("%s: references differ", name)
		}
	}
}

// Whatever a file of blocks holds, loading it as it is decoded gives what parsing every file
// first gives: the same configuration, references and diagnostics.
func FuzzStreamLoadSame(f *testing.F) {
	for _, s := range []string{
		"segment \"s900\" {\n  condition = \"customer.traits.t1 > 3\"\n}\n",
		"segment \"s900\" {\n  condition = \"customer.traits.t1 > 'x'\"\n}\n\ncampaign \"c900\" {\n  coupon {\n    percent = 5\n  }\n  channels = [provider.sandbox.ec]\n}\n",
		"segment \"s1\" {\n  condition = \"true\"\n}\n",
		"segment \"s900\" {\n  condition = \"true\" \"x\"\n}\n",
		"/* ü */ segment \"s900\" {\n  condition = \"true\"\n}\n",
		"segment \"s900\" {\n  condition = <<EOT\ntrue\nEOT\n}\n",
		"trigger \"g900\" {\n  on = \"purchase\"\n  condition = \"event.total > ${1}\"\n}\n",
		"segment s900 {\n  condition = \"true\"\n}\nsegment \"s901\" { condition = \"true\" }\n",
		"}\n{\n",
	} {
		f.Add([]byte(s))
	}
	base := genConfig(60)
	defer func(s bool) { streamLoad = s }(streamLoad)
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{}
		maps.Copy(fsys, base)
		fsys["zz_fuzz.hcl"] = &fstest.MapFile{Data: src}
		streamLoad = false
		want, wantDiags := Load(fsys, ".", testOptions())
		streamLoad = true
		got, gotDiags := Load(fsys, ".", testOptions())
		if g, w := diagLines(gotDiags), diagLines(wantDiags); g != w {
			t.Fatalf("diagnostics\n%s\nwant\n%s", g, w)
		}
		if g, w := summarize(got), summarize(want); g != w {
			t.Fatalf("configuration\n%s\nwant\n%s", g, w)
		}
		if graphText(got.Graph) != graphText(want.Graph) {
			t.Fatal("references differ")
		}
	})
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/musubi-hq/musubi/engine/scenario"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/plugins"
)

// Every configuration the documentation shows is a valid one: each ```hcl block of README.md
// and docs/**/*.md loads and passes what musubi validate checks, alone or with the blocks it
// refers to. Those come from the other blocks of the same page first (a page builds one
// programme up), else from testdata/docs/context.hcl, stand-ins for the providers, segments
// and traits examples take for granted.
//
// An HTML comment just before a block says how to read it, and is kept exceptional:
//
//	<!-- fragment: WHY -->       a piece of a block, not loadable alone; skipped
//	<!-- lock file -->           a .musubi.lock.hcl, read as musubi init reads one
//	<!-- vars: NAME=VALUE ... --> values for variables that have no default
//	<!-- test file -->           a *.test.hcl, read as musubi test reads one, against the quickstart
//	<!-- test step -->           a step of a run (expect, decide, event), read inside one
//	<!-- event expect -->        an event's expect block, read inside an event of a run
func TestDocsConfigurationsLoad(t *testing.T) {
	t.Parallel()
	pages := docPages(t)
	// Test-file examples are read against the quickstart, with the journey of the language
	// page's examples added.
	qdir := t.TempDir()
	if err := copyDir("../../examples/quickstart", qdir); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(qdir, "journey.hcl"), []byte(`trigger "tryon_recommend" {
  on = "tryon"
  wait {
    for = "3h"
  }
  action "send" {
    via      = provider.sandbox.line
    template = "{{ event.item.name }}"
  }
}
`))
	quickstart, qd := scenario.LoadConfig(qdir, lang.LoadOptions{})
	if qd.HasErrors() {
		t.Fatal(qd.Error())
	}
	library := parseDecls(t, "testdata/docs/context.hcl", mustRead(t, "testdata/docs/context.hcl"))
	checked := 0
	for _, page := range pages {
		blocks := docBlocks(mustRead(t, page))
		var pageDecls []decl
		for _, b := range blocks {
			if b.note == "" {
				pageDecls = append(pageDecls, parseDecls(t, fmt.Sprintf("%s:%d", page, b.line), b.src)...)
			}
		}
		for _, b := range blocks {
			where := fmt.Sprintf("%s:%d", strings.TrimPrefix(page, "../../"), b.line)
			switch {
			case strings.HasPrefix(b.note, "fragment"):
				continue
			case b.note == "lock file":
				dir := t.TempDir()
				write(t, filepath.Join(dir, plugins.LockFile), b.src)
				if _, err := plugins.ReadLock(dir); err != nil {
					t.Errorf("%s: the lock file does not read: %v", where, err)
				}
				checked++
				continue
			case strings.HasPrefix(b.note, "test file"), b.note == "test step", b.note == "event expect":
				if err := docTestFile(quickstart, where, b); err != "" {
					t.Errorf("%s: the test file does not read:\n%s", where, err)
				}
				checked++
				continue
			}
			own := parseDecls(t, where, b.src)
			ctx := contextFor(b.src, own, pageDecls, library)
			dir := t.TempDir()
			write(t, filepath.Join(dir, "example.hcl"), b.src)
			// The message files examples read with file() and templatefile().
			for _, m := range fileCall.FindAllSubmatch(slices.Concat(b.src, ctx), -1) {
				path := filepath.Join(dir, filepath.FromSlash(string(m[1])))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				write(t, path, []byte("ご来店ありがとうございます。"))
			}
			if len(ctx) > 0 {
				write(t, filepath.Join(dir, "context.hcl"), ctx)
			}
			opts := lang.LoadOptions{
				// Examples read credentials with env(): any value will do, none is used.
				LookupEnv: func(string) (string, bool) { return "placeholder", true },
			}
			if vars, ok := strings.CutPrefix(b.note, "vars:"); ok {
				opts.Vars = strings.Fields(vars)
			}
			cfg, diags := lang.LoadDir(dir, opts)
			if !diags.HasErrors() {
				diags = append(diags, planner.CheckHeld(context.Background(), cfg)...)
			}
			if diags.HasErrors() {
				var msg strings.Builder
				lang.WriteDiagnostics(&msg, cfg.Files, diags, false)
				files := "example.hcl is the block"
				if len(ctx) > 0 {
					files += ", context.hcl what it refers to"
				}
				t.Errorf("%s: the example does not load (%s):\n%s", where, files, msg.String())
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("checked only %d examples: are the pages still found?", checked)
	}
	t.Logf("%d examples of %d pages load", checked, len(pages))
}

func docPages(t *testing.T) []string {
	pages := []string{"../../README.md"}
	err := filepath.WalkDir("../../docs", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

type docBlock struct {
	line int // of the opening fence, from 1
	src  []byte
	note string // the marker comment before it, if any
}

var (
	fileCall   = regexp.MustCompile(`\b(?:file|templatefile)\("([^"$]+)"`)
	hclFence   = regexp.MustCompile("(?ms)^```hcl\n(.*?)^```")
	noteBefore = regexp.MustCompile(`<!--\s*(.*?)\s*-->\s*$`)
)

func docBlocks(page []byte) []docBlock {
	var out []docBlock
	for _, m := range hclFence.FindAllSubmatchIndex(page, -1) {
		b := docBlock{line: 1 + bytes.Count(page[:m[0]], []byte("\n")), src: page[m[2]:m[3]]}
		if n := noteBefore.FindSubmatch(page[:m[0]]); n != nil {
			b.note = string(n[1])
		}
		out = append(out, b)
	}
	return out
}

// decl is a top-level block that others can refer to, by its address.
type decl struct {
	addr string
	src  []byte
}

// parseDecls lists the referable blocks of a configuration.
func parseDecls(t *testing.T, where string, src []byte) []decl {
	f, diags := hclsyntax.ParseConfig(src, where, hcl.InitialPos)
	if diags.HasErrors() {
		return nil // reported when the block is loaded
	}
	var out []decl
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		r := b.Range()
		body := src[r.Start.Byte:r.End.Byte]
		switch {
		case b.Type == "provider" && len(b.Labels) == 2:
			out = append(out, decl{"provider." + b.Labels[0] + "." + b.Labels[1], body})
		case b.Type == "variable" && len(b.Labels) == 1:
			out = append(out, decl{"var." + b.Labels[0], body})
		case len(b.Labels) == 1 && b.Type != "output":
			out = append(out, decl{b.Type + "." + b.Labels[0], body})
		case b.Type == "locals":
			for name := range b.Body.Attributes {
				out = append(out, decl{"local." + name, body})
			}
		}
	}
	return out
}

var refPatterns = []struct {
	re     *regexp.Regexp
	format func(m []string) string
}{
	{regexp.MustCompile(`\bprovider\.(\w+)\.(\w+)`), func(m []string) string { return "provider." + m[1] + "." + m[2] }},
	{regexp.MustCompile(`\b(?:frequency_cap|send_rate)\s+"(\w+)\.(\w+)"`), func(m []string) string { return "provider." + m[1] + "." + m[2] }},
	{regexp.MustCompile(`\b(segment|campaign|trigger|identity_source|trait|var|local)\.(\w+)`), func(m []string) string { return m[1] + "." + m[2] }},
	{regexp.MustCompile(`\bcustomer\.traits\.(\w+)`), func(m []string) string { return "trait." + m[1] }},
	{regexp.MustCompile(`\bcustomer\.segments\.(\w+)`), func(m []string) string { return "segment." + m[1] }},
}

// refs lists the addresses a configuration's text refers to.
func refs(src []byte) []string {
	var out []string
	for _, p := range refPatterns {
		for _, m := range p.re.FindAllStringSubmatch(string(src), -1) {
			if a := p.format(m); !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// contextFor returns the declarations a block refers to and does not make itself, and those
// they refer to in turn: from the page first, else from the library.
func contextFor(src []byte, own, page, library []decl) []byte {
	have := map[string]bool{}
	for _, d := range own {
		have[d.addr] = true
	}
	var out bytes.Buffer
	added := map[string]bool{}
	queue := refs(src)
	for len(queue) > 0 {
		addr := queue[0]
		queue = queue[1:]
		if have[addr] {
			continue
		}
		have[addr] = true
		for _, pool := range [][]decl{page, library} {
			i := slices.IndexFunc(pool, func(d decl) bool { return d.addr == addr })
			if i < 0 {
				continue
			}
			d := pool[i]
			// A locals block declares several names: add it once, and everything it declares.
			if !added[string(d.src)] {
				added[string(d.src)] = true
				out.Write(d.src)
				out.WriteString("\n\n")
				for _, o := range pool {
					if bytes.Equal(o.src, d.src) {
						have[o.addr] = true
					}
				}
				queue = append(queue, refs(d.src)...)
			}
			break
		}
	}
	return out.Bytes()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// docTestFile reads a test-file example of the docs as musubi test reads one, against the
// quickstart; a step or an event's expect block is read inside a run of one customer.
func docTestFile(cfg *lang.Config, where string, b docBlock) string {
	src := string(b.src)
	const customer = "customer \"hanako\" {\n  identifiers = { phone = \"090-1234-5678\" }\n}\n"
	switch b.note {
	case "test step":
		src = customer + "run \"doc\" {\n" + src + "}\n"
	case "event expect":
		src = customer + "run \"doc\" {\n  event \"purchase\" {\n    customer = customer.hanako\n" + src + "  }\n}\n"
	}
	_, diags := scenario.Parse([]byte(src), "example.test.hcl", scenario.KnownFrom(cfg))
	if !diags.HasErrors() {
		return ""
	}
	return diags.Error()
}

package lang

import (
	"bytes"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/protobuf/proto"
)

// brokenSnippets seed the fuzzers with the mistakes people make.
var brokenSnippets = []string{
	"segment \"a\" {\n  condition = \n}\n",
	"segment \"a\" {\n  condition = \"customer.id == \"\n}\n",
	"segment \"a\" {\n  condition = var.\n}\nvariable \"x\" {}\n",
	"segmnt \"a\" {}\n",
	"segment \"a\" {\n  condition = \"customer.segments.a\"\n}\n",
	"locals {\n  a = local.b\n  b = local.a\n}\n",
	"variable \"p\" {\n  default = \n  validation {\n    condition = var.p > 0\n    error_message = \"x\"\n  }\n}\n",
	"trigger \"t\" {\n  on = \"cart.updated\"\n  condition = <<-EOT\n    event.cart.total > 1 &&\n  EOT\n  action \"send\" {\n    via = provider.a.b\n    template = \"{{ event.cart. }}\"\n  }\n}\n",
	"campaign \"c\" {\n  coupon {\n    amount = 0.5\n    currency = \"JPY\"\n    codes {\n      pattern = \"#\"\n      count = 1000000\n    }\n  }\n}\n",
	"identity {\n  priority = [\"a\", \"a\"]\n  blocked \"x\" {\n    pattern = \"[\"\n  }\n}\n",
	"output \"o\" {\n  value = templatefile(\"main.hcl\", {})\n}\n",
	"musubi {\n  timezone = \"Mars/Olympus\"\n  cel_cost_limit = -1\n  delivery {\n    quiet_hours {\n      from = \"25:00\"\n      until = \"x\"\n    }\n  }\n}\n",
	"provider \"a\" \"b\" {\n  token = env(\"X\")\n}\noutput \"t\" {\n  value = provider.a.b\n}\n",
}

func quickstartFiles(t testing.TB) map[string]string {
	t.Helper()
	files := map[string]string{}
	for name, f := range copyFS(t, os.DirFS(quickstartDir), "") {
		files[name] = string(f.Data)
	}
	return files
}

// checkDiagRanges holds every diagnostic to point inside the files it names.
func checkDiagRanges(t *testing.T, cfg *Config, diags hcl.Diagnostics) {
	t.Helper()
	for _, d := range diags {
		r := d.Subject
		if r == nil {
			continue
		}
		f := cfg.Files[r.Filename]
		if f == nil {
			t.Fatalf("diagnostic names a file that was not loaded: %s", diagLine(d))
		}
		if r.Start.Byte < 0 || r.Start.Byte > r.End.Byte || r.End.Byte > len(f.Bytes) || r.Start.Line < 1 || r.Start.Column < 1 {
			t.Fatalf("diagnostic range %s out of its file (%d bytes): %s", r, len(f.Bytes), diagLine(d))
		}
		checkPosition(t, f.Bytes, *r, d)
	}
	WriteDiagnostics(io.Discard, cfg.Files, diags, true)
	if _, err := MarshalDiagnostics(diags); err != nil {
		t.Fatal(err)
	}
}

func FuzzLoad(f *testing.F) {
	qs := quickstartFiles(f)
	var all strings.Builder
	for _, name := range slices.Sorted(maps.Keys(qs)) {
		if strings.HasSuffix(name, ".hcl") {
			f.Add([]byte(qs[name]))
			all.WriteString(qs[name])
		}
	}
	f.Add([]byte(all.String()))
	native, err := os.ReadFile(filepath.Join("testdata", "syntax", "native", "main.hcl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(native)
	for _, s := range brokenSnippets {
		f.Add([]byte(s))
	}
	spring := []byte(qs["messages/spring.txt"])
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{
			"main.hcl":            {Data: src},
			"messages/spring.txt": {Data: spring},
		}
		cfg, diags := Load(fsys, ".", testOptions("MUSUBI_VAR_spring_percent=12", "X=secret"))
		checkDiagRanges(t, cfg, diags)
		if !diags.HasErrors() {
			// A clean load is complete: every declared condition is compiled.
			for name, s := range cfg.Segments {
				if s.Condition == nil {
					t.Fatalf("segment %s loaded without its condition", name)
				}
			}
			for name, c := range cfg.Campaigns {
				for _, m := range c.Messages {
					if m.Template == nil {
						t.Fatalf("campaign %s has a message without a template", name)
					}
				}
			}
		}
	})
}

func FuzzLoadJSON(f *testing.F) {
	js, err := os.ReadFile(filepath.Join("testdata", "syntax", "json", "main.hcl.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	for _, s := range []string{
		`{}`,
		`{"segment": {"a": {"condition": "customer.consent.lin"}}}`,
		`{"segment": {"a": {"condition": "${1 +}"}}}`,
		`{"segment": [{"a": {"condition": "true"}}, {"b": {"condition": "customer.segments.a"}}]}`,
		`{"variable": {"x": {"type": "list(number)", "default": [1, "a"]}}}`,
		`{"campaign": {"c": {"audience": "segment.nope", "channels": "provider.x", "coupon": {"percent": "ten"}}}}`,
		`{"trigger": {"t": {"on": "follow", "action": {"emit": {"event": "custom.x", "data": {"k": "event.account", "": 1}}}}}}`,
		`{"locals": {"a": "${local.a}"}, "output": {"o": {"value": "${local.a}"}}}`,
		`{"segment": {"a": {"condition": "\u0000\ud800"}}}`,
		`[1, 2]`,
		`{"segment": {"a": {"condition": "true"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{"main.hcl.json": {Data: src}}
		cfg, diags := Load(fsys, ".", testOptions())
		checkDiagRanges(t, cfg, diags)
	})
}

// celFile writes a configuration using cond as a segment condition and a trigger condition.
// hclwrite escapes it, so the loaded string is exactly cond.
func celFile(cond string) []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	trait := body.AppendNewBlock("trait", []string{"visits"}).Body()
	trait.SetAttributeValue("on", cty.StringVal("store.visit"))
	trait.SetAttributeValue("aggregate", cty.StringVal("count"))
	body.AppendNewBlock("segment", []string{"s"}).Body().SetAttributeValue("condition", cty.StringVal(cond))
	trigger := body.AppendNewBlock("trigger", []string{"t"}).Body()
	trigger.SetAttributeValue("on", cty.StringVal("cart.updated"))
	trigger.SetAttributeValue("condition", cty.StringVal(cond))
	emit := trigger.AppendNewBlock("action", []string{"emit"}).Body()
	emit.SetAttributeValue("event", cty.StringVal("custom.x"))
	return f.Bytes()
}

// validCELSeeds load without errors; brokenCELSeeds do not.
var validCELSeeds = []string{
	"customer.traits.visits >= 3 && customer.consent.line",
	"customer.traits.visits < 3000 && 3000 - customer.traits.visits <= 200 || true",
	"customer.?location.lat.orValue(0.0) > 1.0",
	"geo.distance_km(customer.location, geo.point(35.0, 139.0)) < 5.0",
	"in_hours(now, '21:00', '09:00', 'Asia/Tokyo')",
	"now - customer.last_seen > days(30)",
	"size(customer.emails) > 0 ? customer.emails[0].endsWith('@example.com') : false",
	"[1, 2, 3].map(x, x * 2).filter(x, x > 2).size() == 2",
	"customer.attributes.`odd-name` == 1",
	"((((((((((true))))))))))",
	"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!true",
	"'\\u00e9' == \"é\" && b'\\x00' == b'\\000'",
	"1 + 2 * 3 % 4 - -5 / 6 == 7 || 1u < 2u",
	"{'a': [1, 2]}.a[1] == 2",
	"customer.tone in ['formal', 'casual']",
	"timestamp('2027-01-01T00:00:00Z') < now",
	"has(customer.traits.visits) && customer.traits.visits == 0",
	"customer.emails.all(e, e.contains('@')) && customer.phones.exists_one(p, p.startsWith('+81'))",
	"customer.id == '${var.x}' && '}} {{' != ''",
	"customer.tone == \"\"\"formal\"\"\" // a comment\n|| customer.locale.startsWith(r'ja\\')",
	"{?'a': customer.?id}.size() > [?customer.?tone].size()",
	"customer.traits.visits > 1 && " + strings.Repeat("(", 120) + "true" + strings.Repeat(")", 120),
	"customer.id in {'a': 1} && 0x1F == 31 && 1e3 == 1000.0 && -9223372036854775808 < 0",
}

var brokenCELSeeds = []string{
	"customer.traits.visits > \"3\"",
	"customer.consent.lin",
	"customer.segments.s",
	"event.cart.total > 1",
	"customer.id == ",
	"cel.bind(x, 1, x)",
	"a.b.c.d.e.f",
	"'a'.matches('[')",
	"",
	"   ",
	"customer.emails.exists(e, e.exists(f, f))",
	strings.Repeat("customer.traits.visits + ", 300) + "1 > 0",
	"while == 1",
	"customer.id.`in`",
}

func FuzzCEL(f *testing.F) {
	for _, s := range append(validCELSeeds, brokenCELSeeds...) {
		f.Add(s)
	}
	schema, err := NewSchema([]TraitField{{Name: "visits", Type: cel.IntType}}, []string{"s"})
	if err != nil {
		f.Fatal(err)
	}
	trigger, err := schema.Trigger("cart.updated")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cond string) {
		// Compiling with the fast parser gives what cel-go's own parser gives: the same checked
		// tree and type, or the same diagnostics.
		for _, env := range []*cel.Env{schema.Segment(), trigger} {
			site := celSite{rng: hcl.Range{Filename: "x.hcl", Start: hcl.InitialPos, End: hcl.InitialPos}}
			fast, fastDiags := compileCELWith(true, env, CtxSegment, cond, site, cel.BoolType, 1000, nil)
			slow, slowDiags := compileCELWith(false, env, CtxSegment, cond, site, cel.BoolType, 1000, nil)
			if a, b := diagLines(fastDiags), diagLines(slowDiags); a != b {
				t.Fatalf("compiling %q: with the fast parser:\n%s\nwith cel-go's:\n%s", cond, a, b)
			}
			if (fast == nil) != (slow == nil) {
				t.Fatalf("compiling %q: fast %v, cel-go %v", cond, fast != nil, slow != nil)
			}
			if fast == nil {
				continue
			}
			a, errA := celast.ExprToProto(fast.AST().NativeRep().Expr())
			b, errB := celast.ExprToProto(slow.AST().NativeRep().Expr())
			if errA != nil || errB != nil || !proto.Equal(a, b) {
				t.Fatalf("compiling %q gives different trees:\nfast   %v\ncel-go %v", cond, a, b)
			}
			if !fast.OutputType().IsExactType(slow.OutputType()) {
				t.Fatalf("compiling %q: type %v, cel-go %v", cond, fast.OutputType(), slow.OutputType())
			}
			// A condition's event part compiles back, in the same environment.
			if src, _, _ := fast.SplitEventPart(); src != "" && fast.OutputType().IsExactType(cel.BoolType) {
				if _, diags := compileCELWith(true, env, CtxSegment, src, site, cel.BoolType, 1000, nil); diags.HasErrors() {
					t.Fatalf("the event part %q of %q does not compile: %s", src, cond, diagLines(diags))
				}
			}
		}

		if !utf8.ValidString(cond) {
			return // HCL files are UTF-8
		}
		src := celFile(cond)
		cfg, diags := Load(fstest.MapFS{"main.hcl": {Data: src}}, ".", testOptions())
		checkDiagRanges(t, cfg, diags)
		if diags.HasErrors() {
			return
		}
		seg := cfg.Segments["s"].Condition
		if seg.Source != cond {
			t.Fatalf("condition %q loaded as %q", cond, seg.Source)
		}
		// Compiled conditions run within the cost limit, against an empty profile.
		vars := map[string]any{"customer": map[string]any{}, "now": time.Unix(0, 0).UTC()}
		if _, err := seg.Eval(vars); err != nil && !strings.Contains(err.Error(), "evaluating") {
			t.Fatalf("eval %q: %v", cond, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90d", "2w", "24h", "1h30m", "45s", "0", "", "1y", "-1h", "250ms", "1us", "1µs", "15251w", "15000w15000w", "9223372036854775807ns", "1d1d1d", "00001h"} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(1<<63-1))
	f.Add("", int64(36*time.Hour+1))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		d, err := ParseDuration(s)
		if err == nil {
			if d < 0 {
				t.Fatalf("ParseDuration(%q) = %v: negative", s, d)
			}
			if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
				t.Fatalf("ParseDuration(%q) = %v; FormatDuration gives %q, which reads back as %v, %v", s, d, FormatDuration(d), back, err)
			}
		} else if err.Error() == "" || !strings.Contains(err.Error(), "duration") {
			t.Fatalf("ParseDuration(%q): unhelpful error %q", s, err)
		}
		if n >= 0 {
			d := time.Duration(n)
			text := FormatDuration(d)
			if back, err := ParseDuration(text); err != nil || back != d {
				t.Fatalf("FormatDuration(%d) = %q, which reads back as %v, %v", n, text, back, err)
			}
		}
	})
}

// The fuzz seeds also run as ordinary tests; this keeps the seed files honest.
func TestFuzzSeedsAreValid(t *testing.T) {
	var all bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(quickstartFiles(t))) {
		if strings.HasSuffix(name, ".hcl") && IsConfigFile(name) { // not its *.test.hcl
			all.WriteString(quickstartFiles(t)[name])
		}
	}
	fsys := fstest.MapFS{"main.hcl": {Data: all.Bytes()}, "messages/spring.txt": {Data: []byte(quickstartFiles(t)["messages/spring.txt"])}}
	loadClean(t, fsys, ".", testOptions())
	for _, s := range validCELSeeds {
		cfg := loadClean(t, fstest.MapFS{"main.hcl": {Data: celFile(s)}}, ".", testOptions())
		if cfg.Segments["s"].Condition.Source != s {
			t.Errorf("seed %q loaded as %q", s, cfg.Segments["s"].Condition.Source)
		}
	}
	for _, s := range brokenCELSeeds {
		if _, diags := Load(fstest.MapFS{"main.hcl": {Data: celFile(s)}}, ".", testOptions()); !diags.HasErrors() {
			t.Errorf("seed %q loads without errors", s)
		}
	}
}

// nestingSeeds hide brackets where the parser does not see them, and nest where it does.
var nestingSeeds = []string{
	"a = \"[[[(\" # [[[\nb = [[1]] // ((\n/* {{{ */ c = {x = (1)}\n",
	"a = <<EOT\n[[[ ${ [[1]] } \"\n  EOT\nEOT\nb = <<-X\n  %{ if true }[%{ for v in [1] }${v}%{ endfor }%{ endif }\n  X\n",
	"a = \"${\"${\"${[1]}\"}\"}\" \"$${ [[[\" \"%%{ [[[\" \"\\\"[[[\"\n",
	"a = {for k, v in {}:\nk => !\n!\ntrue}\nb = [for v in [1]: v if v > 0]\n",
	"a = !!true ? -1 + 2 * 3 / 4 % 5 : x[0][*].y.*.z\nb = a == b != c && d || e <= f >= g < h > i\n",
	"block \"l\" {\n  nested {\n    x = [\n      1,\n      -2,\n    ]\n  }\n}\n",
	"a = /* unterminated [[[\nb = <<EOT\r\nx\r\nEOT\r\n",
	"a = \"${ { } }\" \"${ [ }\" ~} } ] ) \"\n",
	// hclsyntax's tables read some invalid UTF-8, and the byte after it, as an identifier.
	"a = \xcb\" [[1]] \xcb\xcb[ x\xcb\"\nb = <<EOT\n\xffEOT\n[1]\nc = <<\xe3\x81\x82\n[\n\xe3\x81\x82\n",
}

// FuzzNesting holds the nesting scan to hclsyntax's own scanner: both find the same
// brackets, strings, heredocs, template sequences and operators at the same places, so no
// string, comment or heredoc can hide nesting from the scan, nor the scan see nesting in them.
func FuzzNesting(f *testing.F) {
	for _, s := range nestingSeeds {
		for mode := range 3 {
			f.Add(s, uint8(mode))
		}
	}
	for _, src := range quickstartFiles(f) {
		f.Add(src, uint8(hclConfig))
	}
	f.Fuzz(func(t *testing.T, src string, mode uint8) {
		var got []nestEvent
		s := newNestScanner([]byte(src), hclMode(mode%3))
		s.trace = &got
		if s.run() != nil {
			return
		}
		var tokens hclsyntax.Tokens
		switch hclMode(mode % 3) {
		case hclConfig:
			tokens, _ = hclsyntax.LexConfig([]byte(src), "f.hcl", hcl.InitialPos)
		case hclExpression:
			tokens, _ = hclsyntax.LexExpression([]byte(src), "f.hcl", hcl.InitialPos)
		default:
			tokens, _ = hclsyntax.LexTemplate([]byte(src), "f.hcl", hcl.InitialPos)
		}
		var want []nestEvent
		for _, tok := range tokens {
			if kind := nestKinds[tok.Type]; kind != 0 {
				want = append(want, nestEvent{tok.Range.Start.Byte, kind})
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("scan:\n%v\nhclsyntax:\n%v", got, want)
		}
	})
}

var nestKinds = map[hclsyntax.TokenType]byte{
	hclsyntax.TokenOBrace: 'o', hclsyntax.TokenOBrack: 'o', hclsyntax.TokenOParen: 'o', hclsyntax.TokenOQuote: 'o',
	hclsyntax.TokenOHeredoc: 'o', hclsyntax.TokenTemplateInterp: 'o', hclsyntax.TokenTemplateControl: 'o',
	hclsyntax.TokenCBrace: 'c', hclsyntax.TokenCBrack: 'c', hclsyntax.TokenCParen: 'c', hclsyntax.TokenCQuote: 'c',
	hclsyntax.TokenCHeredoc: 'c', hclsyntax.TokenTemplateSeqEnd: 'c',
	hclsyntax.TokenBang: 'x', hclsyntax.TokenMinus: 'x', hclsyntax.TokenPlus: 'x', hclsyntax.TokenStar: 'x',
	hclsyntax.TokenSlash: 'x', hclsyntax.TokenPercent: 'x', hclsyntax.TokenLessThan: 'x', hclsyntax.TokenGreaterThan: 'x',
	hclsyntax.TokenLessThanEq: 'x', hclsyntax.TokenGreaterThanEq: 'x', hclsyntax.TokenEqualOp: 'x',
	hclsyntax.TokenNotEqual: 'x', hclsyntax.TokenAnd: 'x', hclsyntax.TokenOr: 'x', hclsyntax.TokenQuestion: 'x',
}

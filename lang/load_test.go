package lang

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func TestQuickstartLoads(t *testing.T) {
	cfg, diags := LoadDir(quickstartDir, testOptions())
	if len(diags) > 0 {
		var b bytes.Buffer
		WriteDiagnostics(&b, cfg.Files, diags, false)
		t.Fatalf("the quickstart has diagnostics:\n%s", b.String())
	}
	if got := slices.Sorted(maps.Keys(cfg.Files)); !slices.Equal(got, []string{"audience.hcl", "campaigns.hcl", "identity.hcl", "main.hcl", "policies.hcl", "triggers.hcl"}) {
		t.Errorf("files = %v", got)
	}
	if got := slices.Sorted(maps.Keys(cfg.Providers)); !slices.Equal(got, []string{"engine.main", "sandbox.ec", "sandbox.line", "sandbox.pos"}) {
		t.Errorf("providers = %v", got)
	}
	spring := cfg.Campaigns["spring"]
	if spring == nil || spring.Coupon == nil {
		t.Fatal("campaign spring with a coupon is missing")
	}
	cu := spring.Coupon
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"title", cu.Title, "Spring 10% off"},
		{"percent", cu.Percent, 10.0},
		{"min_total", cu.MinTotal, int64(3000)},
		{"codes", *cu.Codes, CodePool{Pattern: "SPR-####-####", Charset: DefaultCodeCharset, Count: 500}},
		{"per_customer", cu.PerCustomer, 1},
		{"valid from", cu.ValidFrom, time.Date(2027, 3, 1, 0, 0, 0, 0, tokyo)},
		{"valid until", cu.ValidUntil.Unix(), time.Date(2027, 3, 31, 23, 59, 59, 0, tokyo).Unix()},
		{"audience", spring.Audience, "loyal_store"},
		{"channels", spring.Channels, []ProviderRef{{"sandbox", "ec"}, {"sandbox", "pos"}}},
		{"message via", spring.Messages[0].Via, ProviderRef{"sandbox", "line"}},
		{"message placeholders", len(spring.Messages[0].Template.Exprs()), 3},
		{"trigger condition", cfg.Triggers["cart_nudge"].Condition.Source, "event.cart.total < 3000 && 3000 - event.cart.total <= 200"},
		{"cooldown", cfg.Triggers["cart_nudge"].Cooldown, 24 * time.Hour},
		{"trait type", cfg.Schema.Traits.Fields()[0].Name, "spend_90d"},
		{"quiet hours", *cfg.Settings.Delivery.QuietHours, QuietHours{From: "21:00", Until: "09:00", Timezone: "Asia/Tokyo", Range: cfg.Settings.Delivery.QuietHours.Range}},
		{"identity priority", cfg.Identity.Priority, []string{"member", "ec_id", "email", "phone", "line_user"}},
		{"campaign depends on", cfg.Graph.DependsOn("campaign.spring"), []string{"provider.sandbox.ec", "provider.sandbox.line", "provider.sandbox.pos", "segment.loyal_store", "var.nudge_threshold", "var.spring_percent"}},
		{"segment depends on", cfg.Graph.DependsOn("segment.loyal_store"), []string{"trait.store_purchases_90d"}},
	} {
		if !equalAny(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	// The compiled conditions run.
	in, err := cfg.Segments["loyal_store"].Condition.EvalBool(map[string]any{
		"customer": map[string]any{"traits": map[string]any{"store_purchases_90d": int64(2)}, "consent": map[string]any{"line": true}},
		"now":      time.Now(),
	})
	if err != nil || !in {
		t.Errorf("loyal_store for a regular = %v, %v", in, err)
	}
}

func equalAny(a, b any) bool {
	switch a := a.(type) {
	case []string:
		return slices.Equal(a, b.([]string))
	case []ProviderRef:
		return slices.Equal(a, b.([]ProviderRef))
	case time.Time:
		return a.Equal(b.(time.Time))
	}
	return a == b
}

func TestWhichFilesLoad(t *testing.T) {
	segment := "segment \"s_NAME\" {\n  condition = \"true\"\n}\n"
	seg := func(name string) string { return strings.ReplaceAll(segment, "NAME", name) }
	fsys := mapFS(
		"main.hcl", seg("main"),
		"more.hcl.json", `{"segment": {"s_json": {"condition": "true"}}}`,
		"main.test.hcl", "this is { not a configuration",
		"more.test.hcl.json", "{ not json",
		".hidden.hcl", seg("hidden"),
		"prod.musubivars", "x = 1\n",
		"notes.md", "# notes\n",
		"main.hcl.bak", seg("bak"),
		"sub/inner.hcl", seg("inner"),
	)
	cfg := loadClean(t, fsys, ".", testOptions())
	if got := slices.Sorted(maps.Keys(cfg.Files)); !slices.Equal(got, []string{"main.hcl", "more.hcl.json"}) {
		t.Errorf("loaded files = %v", got)
	}
	if got := slices.Sorted(maps.Keys(cfg.Segments)); !slices.Equal(got, []string{"s_json", "s_main"}) {
		t.Errorf("segments = %v", got)
	}
	for name, want := range map[string]bool{
		"a.hcl": true, "a.hcl.json": true, "a.test.hcl": false, "a.test.hcl.json": false,
		".a.hcl": false, "a.json": false, "a.musubivars": false, "a.HCL": false, "hcl": false,
	} {
		if got := IsConfigFile(name); got != want {
			t.Errorf("IsConfigFile(%q) = %v", name, got)
		}
	}

	// A subdirectory loads with names relative to the file system, as a git tree does.
	cfg = loadClean(t, fsys, "sub", testOptions())
	if got := slices.Sorted(maps.Keys(cfg.Files)); !slices.Equal(got, []string{"sub/inner.hcl"}) {
		t.Errorf("files of sub = %v", got)
	}

	for _, tt := range []struct{ dir, want string }{
		{"nowhere", "-: Cannot read configuration directory: nowhere: file does not exist"},
		{"empty", "-: No configuration files: empty has no *.hcl or *.hcl.json files."},
	} {
		fsys := mapFS("empty/only.test.hcl", seg("t"))
		_, diags := Load(fsys, tt.dir, testOptions())
		if got := diagLines(diags); got != tt.want {
			t.Errorf("Load(%s) = %s, want %s", tt.dir, got, tt.want)
		}
	}
}

func TestJSONSyntaxLoadsLikeNativeSyntax(t *testing.T) {
	native := loadClean(t, os.DirFS("testdata/syntax/native"), ".", testOptions())
	json := loadClean(t, os.DirFS("testdata/syntax/json"), ".", testOptions())
	if a, b := summarize(native), summarize(json); a != b {
		t.Errorf("the two syntaxes load differently:\nnative:\n%s\njson:\n%s", a, b)
	}
	if len(native.Campaigns) != 1 || len(native.Triggers["nudge"].Actions) != 2 || native.Locals["threshold"] == nil {
		t.Errorf("the test programme lost blocks: %s", summarize(native))
	}

	// Both syntaxes can be mixed in one directory, referring to each other.
	fsys := mapFS(
		"audience.hcl", "segment \"loyal\" {\n  condition = \"customer.consent.line\"\n}\nprovider \"line\" \"oa\" {}\n",
		"campaign.hcl.json", `{"campaign": {"c": {"audience": "segment.loyal", "message": {"via": "provider.line.oa", "template": "hi"}}}}`,
	)
	cfg := loadClean(t, fsys, ".", testOptions())
	if got := cfg.Campaigns["c"].Audience; got != "loyal" {
		t.Errorf("audience = %q", got)
	}
}

// diagCase is a configuration and the diagnostics it must give, in order, each written as
// "file:line:col: summary: detail"; the detail may be shortened to its start, unless the line
// ends in "$".
type diagCase struct {
	name  string
	files []string
	want  []string
}

func checkDiags(t *testing.T, tt diagCase, opts LoadOptions) {
	t.Helper()
	cfg, diags := Load(mapFS(tt.files...), ".", opts)
	var got []string
	for _, d := range diags {
		got = append(got, diagLine(d))
	}
	ok := len(got) == len(tt.want)
	for i := 0; ok && i < len(got); i++ {
		if exact, ok2 := strings.CutSuffix(tt.want[i], "$"); ok2 {
			ok = got[i] == exact
		} else {
			ok = strings.HasPrefix(got[i], tt.want[i])
		}
	}
	if !ok {
		var b bytes.Buffer
		WriteDiagnostics(&b, cfg.Files, diags, false)
		t.Errorf("diagnostics:\n%s\nwant:\n%s\n\nrendered:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), b.String())
	}
	if len(tt.want) > 0 && !diags.HasErrors() {
		t.Error("want errors")
	}
}

func TestDiagnostics(t *testing.T) {
	const providers = "provider \"line\" \"oa\" {}\nprovider \"shopify\" \"jp\" {}\n"
	const visits = "trait \"visits\" {\n  on        = \"store.visit\"\n  aggregate = \"count\"\n}\n"
	tests := []diagCase{
		{
			name:  "HCL syntax error",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \n}\n"},
			want:  []string{"main.hcl:2:15: Invalid expression: Expected the start of an expression"},
		},
		{
			name:  "unclosed block",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"true\"\n"},
			want:  []string{"main.hcl:1:13: Unclosed configuration block: There is no closing brace for this block"},
		},
		{
			name:  "unknown block type",
			files: []string{"main.hcl", "segmnt \"a\" {\n  condition = \"true\"\n}\n"},
			want:  []string{`main.hcl:1:1: Unsupported block type: Blocks of type "segmnt" are not expected here. Did you mean "segment"?`},
		},
		{
			name:  "unknown attribute",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"true\"\n  descripton = \"x\"\n}\n"},
			want:  []string{`main.hcl:3:3: Unsupported argument: An argument named "descripton" is not expected here. Did you mean "description"?`},
		},
		{
			name:  "duplicate musubi block",
			files: []string{"a.hcl", "musubi {}\n", "b.hcl", "\nmusubi {}\n"},
			want:  []string{"b.hcl:2:1: Duplicate musubi block: Only one musubi block is allowed; the first is at a.hcl:1:1."},
		},
		{
			name:  "unknown action",
			files: []string{"main.hcl", providers + "trigger \"t\" {\n  on = \"follow\"\n  action \"sned\" {}\n}\n"},
			want:  []string{`main.hcl:5:10: Unknown action: "sned" is not an action. Did you mean "send"? Actions: send, issue_coupon, emit, answer.`},
		},
		{
			name:  "trigger without actions",
			files: []string{"main.hcl", "trigger \"t\" {\n  on = \"follow\"\n}\n"},
			want:  []string{"main.hcl:1:1: No actions: A trigger needs at least one action block"},
		},
		{
			name:  "broken default of a validated variable",
			files: []string{"main.hcl", "variable \"p\" {\n  default = \n  validation {\n    condition     = var.p > 0\n    error_message = \"Positive.\"\n  }\n}\noutput \"p\" {\n  value = var.p + 1\n}\n"},
			want:  []string{"main.hcl:2:13: Invalid expression: Expected the start of an expression"},
		},
		{
			name:  "missing required attribute",
			files: []string{"main.hcl", "segment \"a\" {\n  description = \"no condition\"\n}\n"},
			want:  []string{`main.hcl:1:13: Missing required argument: The argument "condition" is required, but no definition was found.`},
		},
		{
			name: "unknown reference with a suggestion",
			files: []string{"main.hcl", providers + "segment \"loyal\" {\n  condition = \"true\"\n}\n" +
				"campaign \"c\" {\n  audience = segment.loyl\n  message {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want: []string{`main.hcl:7:14: Reference to undeclared segment: No segment named "loyl" is declared; did you mean segment.loyal?`},
		},
		{
			name:  "reference to an unknown kind of block",
			files: []string{"main.hcl", "output \"x\" {\n  value = segmnt.a\n}\n"},
			want:  []string{`main.hcl:2:11: Unknown reference: There is no "segmnt"; did you mean "segment"?`},
		},
		{
			name:  "wrong kind of reference",
			files: []string{"main.hcl", providers + "segment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  audience = provider.line.oa\n  message {\n    via      = segment.s\n    template = \"hi\"\n  }\n}\n"},
			want: []string{
				"main.hcl:7:14: Wrong kind of reference: audience must name a segment, written segment.NAME; provider.line.oa is a provider.",
				"main.hcl:9:16: Wrong kind of reference: via must name a provider, written provider.TYPE.NAME; segment.s is a segment.",
			},
		},
		{
			name:  "CEL syntax error",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.id == \"\n}\n"},
			want:  []string{"main.hcl:2:28: CEL syntax error: The condition ends after ==, where more must follow.$"},
		},
		{
			name:  "CEL syntax error after escapes",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.id == \\\"\\u00e9\\\" &&& true\"\n}\n"},
			want:  []string{`main.hcl:2:44: CEL syntax error: A single & is not an operator: write && for "and".$`},
		},
		{
			name:  "CEL number compared with a string",
			files: []string{"main.hcl", visits + "segment \"a\" {\n  condition = \"customer.traits.visits > \\\"3\\\"\"\n}\n"},
			want:  []string{"main.hcl:6:41: CEL type error: `>` compares an int with a string: customer.traits.visits is an int, \"3\" is a string; write 3 without quotes.$"},
		},
		{
			name:  "CEL type error in a heredoc",
			files: []string{"main.hcl", visits + "segment \"a\" {\n  condition = <<-EOT\n    customer.consent.line &&\n      customer.traits.visits > \"3\"\n  EOT\n}\n"},
			want:  []string{"main.hcl:8:32: CEL type error: `>` compares an int with a string: customer.traits.visits is an int, \"3\" is a string; write 3 without quotes.$"},
		},
		{
			name: "send rates",
			files: []string{"main.hcl", providers + "musubi {\n  delivery {\n    send_rate \"line.o\" {\n      per_second = 10\n    }\n" +
				"    send_rate \"line\" {\n      per_second = 10\n    }\n    send_rate \"line.oa\" {\n      per_second = 0\n    }\n  }\n}\n"},
			want: []string{
				`main.hcl:5:5: Unknown provider: send_rate names provider "line.o", which is not configured. Did you mean "line.oa"?`,
				`main.hcl:8:15: Invalid send rate: The label names one provider as TYPE.NAME, such as "line.oa".`,
				`main.hcl:12:20: Invalid send rate: per_second is how many messages a second may go out, above 0`,
			},
		},
		{
			name:  "CEL misspelt field",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.consent.lin\"\n}\n"},
			want:  []string{`main.hcl:2:33: CEL type error: undefined field 'lin' Did you mean "line"?`},
		},
		{
			name:  "CEL undeclared variable",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"costumer.id == 'x'\"\n}\n"},
			want:  []string{`main.hcl:2:16: CEL type error: undeclared reference to 'costumer' (did you mean 'customer'?)$`},
		},
		{
			name: "CEL error in a template placeholder",
			files: []string{"main.hcl", providers + "trigger \"t\" {\n  on = \"cart.updated\"\n  action \"send\" {\n" +
				"    via      = provider.line.oa\n    template = \"あと{{ 3000 - event.cart.totl }}円\"\n  }\n}\n"},
			want: []string{`main.hcl:7:40: CEL type error: undefined field 'totl' Did you mean "total"?`},
		},
		{
			name:  "CEL error in an interpolated string",
			files: []string{"main.hcl", "variable \"n\" {\n  default = 3\n}\nsegment \"a\" {\n  condition = \"customer.home_city != '${var.n}' && customer.consent.lin\"\n}\n"},
			want:  []string{`main.hcl:5:69: CEL type error: undefined field 'lin' Did you mean "line"?`},
		},
		{
			name: "CEL error in an interpolated template",
			files: []string{"main.hcl", providers + "variable \"n\" {\n  default = 3000\n}\ntrigger \"t\" {\n  on = \"cart.updated\"\n  action \"send\" {\n" +
				"    via      = provider.line.oa\n    template = \"${var.n}: {{ ${var.n} - event.cart.totl }}\"\n  }\n}\n"},
			want: []string{`main.hcl:10:52: CEL type error: undefined field 'totl' Did you mean "total"?`},
		},
		{
			name:  "CEL variable of another context",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"event.channel == 'pos'\"\n}\n"},
			want:  []string{"main.hcl:2:16: CEL type error: undeclared reference to 'event' event is not available in a segment condition, which has customer and now."},
		},
		{
			name:  "CEL variable of another policy kind",
			files: []string{"main.hcl", "policy \"p\" {\n  applies_to = \"segment\"\n  condition  = \"campaign.coupon.percent < 30.0\"\n  message    = \"no\"\n}\n"},
			want:  []string{"main.hcl:3:17: CEL type error: undeclared reference to 'campaign' campaign is not available in a policy, which has only the kind of block its applies_to names"},
		},
		{
			name:  "CEL regular expression that does not compile",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.id.matches('^(SPR|SUM')\"\n}\n"},
			want:  []string{"main.hcl:2:36: CEL error: This expression can never be evaluated: error parsing regexp: missing closing ): `^(SPR|SUM`."},
		},
		{
			name:  "CEL constant that does not convert",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.last_seen > timestamp('2027-13-01')\"\n}\n"},
			want:  []string{"main.hcl:2:47: CEL error: This expression can never be evaluated: '2027-13-01' is not a time: month 13 does not exist.$"},
		},
		{
			name:  "CEL condition of the wrong type",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.id\"\n}\n"},
			want:  []string{"main.hcl:2:16: CEL type error: This expression gives string; it must give bool."},
		},
		{
			name:  "CEL in JSON syntax",
			files: []string{"main.hcl.json", "{\n  \"segment\": {\n    \"a\": {\"condition\": \"customer.consent.lin\"}\n  }\n}\n"},
			want:  []string{`main.hcl.json:3:42: CEL type error: undefined field 'lin' Did you mean "line"?`},
		},
		{
			name:  "JSON syntax error",
			files: []string{"main.hcl.json", "{\n  \"segment\": {\n    \"a\": {\"condition\": }\n  }\n}\n"},
			want:  []string{"main.hcl.json:3:24: Missing JSON value: A JSON value must start with"},
		},
		{
			name:  "cycle of segments",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.segments.b\"\n}\nsegment \"b\" {\n  condition = \"customer.segments.c\"\n}\nsegment \"c\" {\n  condition = \"customer.segments.a\"\n}\n"},
			want:  []string{"main.hcl:2:15: Reference cycle: These blocks refer to each other in a circle: segment.a → segment.b → segment.c → segment.a."},
		},
		{
			name:  "segment referring to itself",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.segments.a || true\"\n}\n"},
			want:  []string{"main.hcl:2:15: Reference cycle: These blocks refer to each other in a circle: segment.a → segment.a."},
		},
		{
			name:  "cycle of locals",
			files: []string{"main.hcl", "locals {\n  a = local.b + 1\n  b = local.a + 1\n}\noutput \"a\" {\n  value = local.a\n}\n"},
			want:  []string{"main.hcl:2:7: Reference cycle: These blocks refer to each other in a circle: local.a → local.b → local.a."},
		},
		{
			name:  "duplicate block",
			files: []string{"a.hcl", "segment \"s\" {\n  condition = \"true\"\n}\n", "b.hcl", "segment \"s\" {\n  condition = \"false\"\n}\n"},
			want:  []string{"b.hcl:1:1: Duplicate segment: segment.s is declared twice; the first is at a.hcl:1:1."},
		},
		{
			name:  "unknown event type",
			files: []string{"main.hcl", "trait \"t\" {\n  on        = \"purchse\"\n  aggregate = \"count\"\n}\n"},
			want:  []string{`main.hcl:2:15: Unknown event type: "purchse" is not an event type. Did you mean "purchase"?`},
		},
		{
			name: "errors in several files at once, in file order",
			files: []string{
				"b.hcl", "segment \"b\" {\n  condition = \"customer.consent.lin\"\n}\ntrigger \"t\" {\n  on = \"cart.updated\"\n  cooldown = \"1y\"\n  action \"sned\" {}\n}\n",
				"a.hcl", "segment \"a\" {\n  condition = \"customer.id == 1\"\n}\ncampaign \"c\" {\n  coupon {\n    percent = 120\n    code = \"X\"\n  }\n}\n",
			},
			want: []string{
				"a.hcl:2:31: CEL type error: `==` compares a string with an int: customer.id is a string, 1 is an int; write '1' in single quotes.$",
				"a.hcl:4:1: Missing channels",
				"a.hcl:6:15: Invalid percent: percent must be more than 0 and at most 100; got 120.",
				`a.hcl:7:12: Invalid code: "X": a code is 3 to 64 letters`,
				`b.hcl:2:33: CEL type error: undefined field 'lin'`,
				`b.hcl:6:14: Invalid duration: cooldown: invalid duration "1y": unknown unit "y"`,
				`b.hcl:7:10: Unknown action: "sned" is not an action. Did you mean "send"?`,
			},
		},
		{
			name:  "a broken expression is reported once",
			files: []string{"main.hcl", "variable \"x\" {\n  default = 1\n}\nsegment \"a\" {\n  condition = var.\n}\n"},
			want:  []string{"main.hcl:5:19: Invalid attribute name: An attribute name is required after a dot."},
		},
		{
			name:  "a variable without a value is reported once",
			files: []string{"main.hcl", "variable \"n\" {\n  type = number\n}\nsegment \"a\" {\n  description = \"over ${var.n}\"\n  condition   = \"customer.id.size() > ${var.n}\"\n}\n"},
			want:  []string{"main.hcl:1:1: No value for required variable: var.n has no default; set it with -var n=…, in a .musubivars file, or with MUSUBI_VAR_n."},
		},
		{
			name: "a bad audience is reported once",
			files: []string{"main.hcl", providers + "campaign \"c\" {\n  audience = segment.nobody\n  channels = [provider.shopify.jp]\n" +
				"  coupon {\n    percent       = 10\n    code          = \"SPRING\"\n    audience_only = true\n  }\n" +
				"  message {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want: []string{`main.hcl:4:14: Reference to undeclared segment: No segment named "nobody" is declared.`},
		},
		{
			name:  "a message with a bad channel is reported once",
			files: []string{"main.hcl", "segment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  audience = segment.s\n  message {\n    via      = provider.line.nobody\n    template = \"hi\"\n  }\n}\n"},
			want:  []string{`main.hcl:7:16: Reference to undeclared provider: No provider named "line.nobody" is declared.`},
		},
		{
			name:  "a campaign without audience",
			files: []string{"main.hcl", providers + "campaign \"c\" {\n  message {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want:  []string{"main.hcl:3:1: Missing audience: A campaign that sends messages needs audience = segment.NAME"},
		},
		{
			name:  "short names get no far-fetched suggestion",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.traits.x > 1\"\n}\n"},
			want:  []string{"main.hcl:2:32: CEL type error: undefined field 'x'$"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

func TestDiagnosticsRendering(t *testing.T) {
	src := "trait \"visits\" {\n  on        = \"store.visit\"\n  aggregate = \"count\"\n}\n\nsegment \"regulars\" {\n  condition = \"customer.traits.visits > \\\"3\\\"\"\n}\n"
	cfg, diags := Load(mapFS("audience.hcl", src), ".", testOptions())
	var b bytes.Buffer
	WriteDiagnostics(&b, cfg.Files, diags, false)
	want := `audience.hcl:7:41: error: CEL type error
  |
7 |   condition = "customer.traits.visits > \"3\""
  |                                         ^^^^^
  ` + "`>`" + ` compares an int with a string: customer.traits.visits is an int, "3" is a string; write 3 without quotes.
`
	if b.String() != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", b.String(), want)
	}
	js, err := MarshalDiagnostics(diags)
	if err != nil || !bytes.Contains(js, []byte(`"start": {`)) || !bytes.Contains(js, []byte(`"line": 7`)) || !bytes.Contains(js, []byte(`"column": 41`)) {
		t.Errorf("JSON diagnostics: %s, %v", js, err)
	}
}

func TestVariables(t *testing.T) {
	qs := os.DirFS(quickstartDir)
	varFiles := map[string]string{
		"a.musubivars":      "spring_percent = 20\n",
		"b.musubivars":      "spring_percent = 25\nnudge_threshold = 5000\n",
		"typo.musubivars":   "spring_percnt = 20\n",
		"bad.musubivars":    "spring_percent = \"lots\"\n",
		"broken.musubivars": "spring_percent = \n",
		"vars.json":         `{"spring_percent": 30}`,
	}
	readFile := func(name string) ([]byte, error) {
		if s, ok := varFiles[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	tests := []struct {
		name      string
		env       []string
		varFiles  []string
		vars      []string
		percent   int64 // spring_percent when the load succeeds
		threshold int64
		diags     []string
	}{
		{name: "defaults", percent: 10, threshold: 3000},
		{name: "environment", env: []string{"MUSUBI_VAR_spring_percent=15", "OTHER=1", "MUSUBI_VAR_unknown=1"}, percent: 15, threshold: 3000},
		{name: "var file over environment", env: []string{"MUSUBI_VAR_spring_percent=15"}, varFiles: []string{"a.musubivars"}, percent: 20, threshold: 3000},
		{name: "later var files win", varFiles: []string{"a.musubivars", "b.musubivars"}, percent: 25, threshold: 5000},
		{name: "JSON var file", varFiles: []string{"vars.json"}, percent: 30, threshold: 3000},
		{name: "-var over everything", env: []string{"MUSUBI_VAR_spring_percent=15"}, varFiles: []string{"b.musubivars"}, vars: []string{"spring_percent=12"}, percent: 12, threshold: 5000},
		{name: "last -var wins", vars: []string{"spring_percent=12", "spring_percent=13"}, percent: 13, threshold: 3000},
		{
			name: "validation failure names the source", vars: []string{"spring_percent=60"},
			diags: []string{"main.hcl:42:21: Invalid value for variable: var.spring_percent (set by -var): The spring discount is between 1 and 50 percent."},
		},
		{
			name: "validation failure from the environment", env: []string{"MUSUBI_VAR_spring_percent=0"},
			diags: []string{"main.hcl:42:21: Invalid value for variable: var.spring_percent (set by MUSUBI_VAR_spring_percent): The spring discount is between 1 and 50 percent."},
		},
		{
			name: "-var of the wrong type", vars: []string{"spring_percent=ten"},
			diags: []string{`-: Invalid value for variable: -var spring_percent=ten: "ten" is not a literal value.`},
		},
		{
			name: "environment value of the wrong type", env: []string{"MUSUBI_VAR_nudge_threshold=[1]"},
			diags: []string{"-: Invalid value for variable: MUSUBI_VAR_nudge_threshold: number required, but have tuple."},
		},
		{
			name: "-var without a value", vars: []string{"spring_percent"},
			diags: []string{`-: Invalid -var option: "spring_percent": write -var NAME=VALUE.`},
		},
		{
			name: "-var for an undeclared variable", vars: []string{"spring_percnt=20"},
			diags: []string{`-: Value for undeclared variable: -var spring_percnt=20: no variable "spring_percnt" is declared. Did you mean "spring_percent"?`},
		},
		{
			name: "missing var file", varFiles: []string{"missing.musubivars"},
			diags: []string{"-: Cannot read variable file: missing.musubivars: file does not exist."},
		},
		{
			name: "var file of the wrong type", varFiles: []string{"bad.musubivars"},
			diags: []string{"bad.musubivars:1:18: Invalid value for variable: var.spring_percent: a number is required."},
		},
		{
			name: "broken var file", varFiles: []string{"broken.musubivars"},
			diags: []string{"broken.musubivars:1:18: Invalid expression"},
		},
		{
			name: "broken var file and a bad -var", varFiles: []string{"broken.musubivars"}, vars: []string{"nudge_threshold=x"},
			diags: []string{`-: Invalid value for variable: -var nudge_threshold=x: "x" is not a literal value.`, "broken.musubivars:1:18: Invalid expression"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(tt.env...)
			opts.ReadFile, opts.VarFiles, opts.Vars = readFile, tt.varFiles, tt.vars
			cfg, diags := Load(qs, ".", opts)
			if got := strings.Split(diagLines(diags), "\n"); len(tt.diags) > 0 || len(diags) > 0 {
				if len(got) != len(tt.diags) || !allHavePrefix(got, tt.diags) {
					t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.diags, "\n"))
				}
				return
			}
			p, _ := cfg.Variables["spring_percent"].Value.AsBigFloat().Int64()
			n, _ := cfg.Variables["nudge_threshold"].Value.AsBigFloat().Int64()
			if p != tt.percent || n != tt.threshold {
				t.Errorf("spring_percent, nudge_threshold = %d, %d; want %d, %d", p, n, tt.percent, tt.threshold)
			}
			// The values flow into the blocks that use them.
			if got := cfg.Campaigns["spring"].Coupon.Percent; got != float64(tt.percent) {
				t.Errorf("coupon percent = %v", got)
			}
		})
	}

	// A value for a variable nobody declared, in a var file, is a warning: the file may serve
	// several configurations.
	opts := testOptions()
	opts.ReadFile, opts.VarFiles = readFile, []string{"typo.musubivars"}
	_, diags := Load(qs, ".", opts)
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diagLine(diags[0]) != `typo.musubivars:1:1: Value for undeclared variable: typo.musubivars sets "spring_percnt", which no variable block declares. Did you mean "spring_percent"?` {
		t.Errorf("diagnostics: %s", diagLines(diags))
	}
}

func allHavePrefix(got, prefixes []string) bool {
	for i := range got {
		if !strings.HasPrefix(got[i], prefixes[i]) {
			return false
		}
	}
	return true
}

func TestVariableTypes(t *testing.T) {
	fsys := mapFS("main.hcl", `
variable "name" {
  type = string
}
variable "stores" {
  type    = list(string)
  default = []
}
variable "limits" {
  type    = map(number)
  default = { a = 1 }
}
variable "on" {
  type    = bool
  default = false
}
variable "anything" {
  default = "x"
}
output "all" {
  value = [var.name, join(",", var.stores), var.limits["b"], var.on, var.anything]
}
`)
	opts := testOptions("MUSUBI_VAR_stores=[\"shibuya\",\"umeda\"]")
	opts.Vars = []string{"name=shibuya = the first", "limits={ b = 2 }", "on=true", "anything=[1, 2]"}
	cfg := loadClean(t, fsys, ".", opts)
	if got := ctyString(cfg.Outputs["all"].Value); got != `["shibuya = the first","shibuya,umeda",2,true,"[1, 2]"]` {
		t.Errorf("output = %s", got)
	}
}

func TestSensitiveValues(t *testing.T) {
	base := "provider \"shopify\" \"jp\" {\n  shop  = nonsensitive(env(\"SHOP\"))\n  token = env(\"SHOPIFY_TOKEN\")\n  plan  = \"basic\"\n}\n" +
		"variable \"secret\" {\n  default   = \"hunter2\"\n  sensitive = true\n}\n"
	env := []string{"SHOP=example.myshopify.com", "SHOPIFY_TOKEN=shpat_123"}

	cfg := loadClean(t, mapFS("main.hcl", base+"output \"secret\" {\n  value     = var.secret\n  sensitive = true\n}\n"), ".", testOptions(env...))
	p := cfg.Providers["shopify.jp"]
	if got := slices.Sorted(maps.Keys(p.Sensitive)); !slices.Equal(got, []string{"token"}) {
		t.Errorf("sensitive provider attributes = %v, want [token]", got)
	}
	if v := p.Config["token"]; v.IsMarked() || v.AsString() != "shpat_123" {
		t.Errorf("token = %#v: the value is kept, unmarked, for the provider", v)
	}
	if v := p.Config["shop"]; v.AsString() != "example.myshopify.com" {
		t.Errorf("shop = %#v", v)
	}
	if v := cfg.Variables["secret"]; !v.Sensitive || !v.Value.HasMark(SensitiveMark) {
		t.Errorf("var.secret is not marked sensitive: %#v", v.Value)
	}
	if o := cfg.Outputs["secret"]; !o.Sensitive || o.Value.IsMarked() || o.Value.AsString() != "hunter2" {
		t.Errorf("output = %#v", o)
	}

	tests := []diagCase{
		{
			name:  "sensitive value in a campaign",
			files: []string{"main.hcl", base + "campaign \"c\" {\n  channels = [provider.shopify.jp]\n  coupon {\n    percent = 10\n    code    = var.secret\n  }\n}\n"},
			want:  []string{"main.hcl:14:15: Sensitive value not allowed here: code is written into plans and state"},
		},
		{
			name:  "env value in a CEL condition",
			files: []string{"main.hcl", base + "segment \"s\" {\n  condition = \"customer.id == '${env(\"SHOPIFY_TOKEN\")}'\"\n}\n"},
			want:  []string{"main.hcl:11:15: Sensitive value not allowed here: condition is written into plans and state"},
		},
		{
			name:  "sensitive output not declared sensitive",
			files: []string{"main.hcl", base + "output \"secret\" {\n  value = \"${var.secret}!\"\n}\n"},
			want:  []string{`main.hcl:11:11: Output refers to sensitive values: output "secret" shows a sensitive value; declare it with sensitive = true`},
		},
		{
			name:  "missing environment variable",
			files: []string{"main.hcl", "provider \"line\" \"oa\" {\n  token = env(\"LINE_TOKEN\")\n}\n"},
			want:  []string{"main.hcl:2:11: Error in function call: Call to function \"env\" failed: environment variable LINE_TOKEN is not set (or is empty)."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions(env...)) })
	}

	// env() with a default needs no environment, and the default is just as sensitive.
	cfg = loadClean(t, mapFS("main.hcl", "provider \"line\" \"oa\" {\n  token = env(\"LINE_TOKEN\", \"dev\")\n}\n"), ".", testOptions())
	if !cfg.Providers["line.oa"].Sensitive["token"] {
		t.Error("a defaulted env() value is not sensitive")
	}
}

func TestFileFunctions(t *testing.T) {
	fsys := mapFS(
		"main.hcl", "provider \"line\" \"oa\" {}\nsegment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  audience = segment.s\n  message {\n    via      = provider.line.oa\n"+
			"    template = file(\"messages/hello.txt\")\n    subject  = templatefile(\"messages/subject.tpl\", { name = \"Spring\" })\n  }\n}\n",
		"messages/hello.txt", "Hello {{ customer.home_city }}",
		"messages/subject.tpl", "${upper(name)} sale",
	)
	cfg := loadClean(t, fsys, ".", testOptions())
	m := cfg.Campaigns["c"].Messages[0]
	if m.Template.Source != "Hello {{ customer.home_city }}" || m.Subject.Source != "SPRING sale" {
		t.Errorf("template %q, subject %q", m.Template.Source, m.Subject.Source)
	}

	// A CEL error inside a file points at the attribute that reads it.
	fsys["messages/hello.txt"].Data = []byte("Hello {{ customer.home_cty }}")
	_, diags := Load(fsys, ".", testOptions())
	if got := diagLines(diags); !strings.HasPrefix(got, "main.hcl:9:16: CEL type error: undefined field 'home_cty'") {
		t.Errorf("diagnostics: %s", got)
	}

	for name, want := range map[string]string{
		"../secret.txt":   `"../secret.txt" is outside the configuration directory`,
		"missing.txt":     `reading "missing.txt": file does not exist`,
		"/etc/passwd.txt": `"/etc/passwd.txt" is an absolute path; give a path relative to the configuration directory`,
	} {
		fsys["main.hcl"].Data = []byte("output \"x\" {\n  value = file(\"" + name + "\")\n}\n")
		_, diags := Load(fsys, ".", testOptions())
		if len(diags) != 1 || !strings.Contains(diags[0].Detail, want) {
			t.Errorf("file(%q): %s", name, diagLines(diags))
		}
	}
}

func TestEvalHCL(t *testing.T) {
	cfg := loadClean(t, os.DirFS("testdata/syntax/native"), ".", testOptions())
	for src, want := range map[string]string{
		"var.percent":                 "15",
		"local.threshold * 2":         "6000",
		`upper("spring")`:             `"SPRING"`,
		`format("%d%%", var.percent)`: `"15%"`,
	} {
		v, diags := cfg.EvalHCL(src)
		if diags.HasErrors() || ctyString(v) != want {
			t.Errorf("EvalHCL(%s) = %s, %v; want %s", src, ctyString(v), diags, want)
		}
	}
	if _, diags := cfg.EvalHCL("var.nope"); !diags.HasErrors() {
		t.Error("EvalHCL of an undeclared variable: want an error")
	}
}

func TestLoadDirMatchesLoad(t *testing.T) {
	a, diags := LoadDir(quickstartDir, testOptions())
	if len(diags) > 0 {
		t.Fatal(diagLines(diags))
	}
	b := loadClean(t, os.DirFS(quickstartDir), ".", testOptions())
	if summarize(a) != summarize(b) {
		t.Error("LoadDir and Load(os.DirFS) differ")
	}
	// Loading the same files twice gives the same result: nothing depends on map order.
	for range 3 {
		if c := loadClean(t, os.DirFS(quickstartDir), ".", testOptions()); summarize(c) != summarize(a) {
			t.Fatal("two loads of the quickstart differ")
		}
	}
}

func TestDurations(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90d", 90 * 24 * time.Hour, ""},
		{"2w", 14 * 24 * time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"45s", 45 * time.Second, ""},
		{"0", 0, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"", 0, "empty duration"},
		{"d", 0, `invalid duration "d"`},
		{"10", 0, `unknown unit ""`},
		{"1y", 0, `unknown unit "y"`},
		{"-1h", 0, `invalid duration "-1h"`},
		{"1.5h", 0, `unknown unit "."`},
		{"99999999999999999999d", 0, "value out of range"},
		{"15250w", 15250 * 7 * 24 * time.Hour, ""},
		{"15251w", 0, "too long"},
		{"15000w15000w", 0, "too long"},
		{"9223372036854775807ns", 1<<63 - 1, ""},
		{"9223372036854775807ns1ns", 0, "too long"},
	} {
		got, err := ParseDuration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDuration(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := ParseDuration(FormatDuration(got)); err != nil || back != got {
			t.Errorf("FormatDuration(%v) = %q does not read back: %v, %v", got, FormatDuration(got), back, err)
		}
	}
}

func TestTemplatefile(t *testing.T) {
	files := []string{
		"greeting.tpl", "${upper(name)}: ${join(\", \", stores)}",
		"self.tpl", "${templatefile(\"self.tpl\", {})}",
		"typo.tpl", "${nmae}",
	}
	out := func(call string) string {
		return "output \"x\" {\n  value = " + call + "\n}\n"
	}
	cfg := loadClean(t, mapFS(append(files, "main.hcl", out(`templatefile("greeting.tpl", { name = "spring", stores = ["shibuya", "umeda"] })`))...), ".", testOptions())
	if got := ctyString(cfg.Outputs["x"].Value); got != `"SPRING: shibuya, umeda"` {
		t.Errorf("output = %s", got)
	}
	for _, tt := range []diagCase{
		{
			name:  "a template cannot render templates",
			files: append(files, "main.hcl", out(`templatefile("self.tpl", {})`)),
			want:  []string{`main.hcl:2:11: Error in function call: Call to function "templatefile" failed: self.tpl:1:3: Call to unknown function; There is no function named "templatefile".`},
		},
		{
			name:  "unknown template variable",
			files: append(files, "main.hcl", out(`templatefile("typo.tpl", { name = "x" })`)),
			want:  []string{`main.hcl:2:11: Error in function call: Call to function "templatefile" failed: typo.tpl:1:3: Unknown variable; There is no variable named "nmae". Did you mean "name"?`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

package lang

import (
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// spendTrait declares customer.traits.spend_90d, an int.
const spendTrait = "trait \"spend_90d\" {\n  on        = \"purchase\"\n  aggregate = \"sum\"\n  value     = \"event.total\"\n}\n"

// segmentWith declares segment "a" with the condition written as given, on line 7.
func segmentWith(cond string) string {
	return spendTrait + "\nsegment \"a\" {\n  condition = " + cond + "\n}\n"
}

func TestConditionDiagnostics(t *testing.T) {
	for _, tt := range []diagCase{
		// Double quotes in an HCL string end it: CEL sees the condition up to the quote, HCL
		// finds the rest after the attribute. One diagnostic says what happened, at the quote.
		{
			name:  "a string in double quotes ends the condition",
			files: []string{"main.hcl", segmentWith(`"customer.attributes.tier == "gold""`)},
			want: []string{`main.hcl:8:44: Double quotes inside a condition: The " before gold ends the HCL string, so the condition stops at "customer.attributes.tier == ". ` +
				`Inside a condition, write strings in single quotes: 'gold'. Write: "customer.attributes.tier == 'gold'"$`},
		},
		{
			name:  "a number in double quotes ends the condition",
			files: []string{"main.hcl", segmentWith(`"customer.traits.spend_90d >= "30000""`)},
			want: []string{`main.hcl:8:45: Double quotes inside a condition: The " before 30000 ends the HCL string, so the condition stops at "customer.traits.spend_90d >= ". ` +
				`Inside a condition, write numbers without quotes: 30000. Write: "customer.traits.spend_90d >= 30000"$`},
		},
		{
			name:  "double quotes in the middle of a condition",
			files: []string{"main.hcl", segmentWith(`"customer.home_city == "tokyo" && customer.consent.line"`)},
			want: []string{`main.hcl:8:38: Double quotes inside a condition: The " before tokyo ends the HCL string, so the condition stops at "customer.home_city == ". ` +
				`Inside a condition, write strings in single quotes: 'tokyo'. Write: "customer.home_city == 'tokyo' && customer.consent.line"$`},
		},
		{
			name:  "double quotes in a list",
			files: []string{"main.hcl", segmentWith(`"customer.home_city in ["tokyo", "osaka"]"`)},
			want: []string{`main.hcl:8:39: Double quotes inside a condition: The " before tokyo ends the HCL string, so the condition stops at "customer.home_city in [". ` +
				`Inside a condition, write strings in single quotes: 'tokyo'. Write: "customer.home_city in ['tokyo', 'osaka']"$`},
		},
		{
			name:  "an escaped number in double quotes",
			files: []string{"main.hcl", segmentWith(`"customer.traits.spend_90d >= \"30000\""`)},
			want:  []string{"main.hcl:8:45: CEL type error: `>=` compares an int with a string: customer.traits.spend_90d is an int, \"30000\" is a string; write 30000 without quotes.$"},
		},
		{
			name:  "a number in double quotes in a heredoc",
			files: []string{"main.hcl", segmentWith("<<-EOT\n    customer.consent.line &&\n      customer.traits.spend_90d >= \"30000\"\n  EOT")},
			want:  []string{"main.hcl:10:36: CEL type error: `>=` compares an int with a string: customer.traits.spend_90d is an int, \"30000\" is a string; write 30000 without quotes.$"},
		},
		{
			name:  "an escaped double quote left open",
			files: []string{"main.hcl", segmentWith(`"customer.home_city == \"tokyo"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: This string has no closing quote. Inside a condition, write strings in single quotes: 'tokyo'.$"},
		},
		{
			name:  "a double quote left open in a heredoc",
			files: []string{"main.hcl", segmentWith("<<EOT\ncustomer.home_city == \"tokyo\nEOT")},
			want:  []string{"main.hcl:9:23: CEL syntax error: This string has no closing quote. Inside a condition, write strings in single quotes: 'tokyo'.$"},
		},
		{
			name:  "a single quote left open",
			files: []string{"main.hcl", segmentWith(`"customer.home_city == 'tokyo"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: This string has no closing quote: write 'tokyo'.$"},
		},
		{
			name:  "typographic quotes",
			files: []string{"main.hcl", segmentWith(`"customer.home_city == “tokyo”"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: “ is a typographic quote: write strings in plain single quotes, as in 'gold'.$"},
		},
		{
			name:  "a full-width operator",
			files: []string{"main.hcl", segmentWith(`"customer.home_city ＝＝ 'tokyo'"`)},
			want:  []string{"main.hcl:8:35: CEL syntax error: ＝ is a full-width character: write = instead.$"},
		},
		{
			name:  "a single equals sign",
			files: []string{"main.hcl", segmentWith(`"customer.home_city = 'tokyo'"`)},
			want:  []string{"main.hcl:8:35: CEL syntax error: A single = does not compare: write ==.$"},
		},
		{
			name:  "and in words",
			files: []string{"main.hcl", segmentWith(`"customer.consent.line and customer.consent.email"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: Conditions are joined with &&, not and.$"},
		},
		{
			name:  "a condition that ends too soon",
			files: []string{"main.hcl", segmentWith(`"customer.consent.line &&"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: The condition ends after &&, where more must follow.$"},
		},
		{
			name:  "an operator twice",
			files: []string{"main.hcl", segmentWith(`"customer.home_city == == 'tokyo'"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: A value (a field, a number, a 'string') is expected here, not ==.$"},
		},
		{
			name:  "a parenthesis not closed",
			files: []string{"main.hcl", segmentWith(`"(customer.consent.line"`)},
			want:  []string{"main.hcl:8:38: CEL syntax error: A ( is not closed: ) is missing at the end.$"},
		},
		{
			name:  "a parenthesis that closes nothing",
			files: []string{"main.hcl", segmentWith(`"customer.consent.line)"`)},
			want:  []string{"main.hcl:8:37: CEL syntax error: This ) closes nothing: remove it, or add what it closes before it.$"},
		},
		{
			name:  "a string where a condition is expected",
			files: []string{"main.hcl", segmentWith(`"customer.home_city && customer.consent.line"`)},
			want:  []string{"main.hcl:8:16: CEL type error: customer.home_city is a string, where a condition (true or false) is expected; compare it, as in customer.home_city != ''.$"},
		},
		{
			name:  "a date compared with a string",
			files: []string{"main.hcl", segmentWith(`"customer.first_seen > '2027-01-01'"`)},
			want:  []string{"main.hcl:8:38: CEL type error: `>` compares a timestamp with a string: customer.first_seen is a timestamp, '2027-01-01' is a string; write a time as timestamp('2027-01-01T00:00:00Z').$"},
		},
		{
			name:  "a string compared with a number",
			files: []string{"main.hcl", segmentWith(`"customer.home_city == 13"`)},
			want:  []string{"main.hcl:8:38: CEL type error: `==` compares a string with an int: customer.home_city is a string, 13 is an int; write '13' in single quotes.$"},
		},
		{
			name:  "a dash in a name",
			files: []string{"main.hcl", "segment \"big_spenders\" {\n  condition = \"true\"\n}\nsegment \"b\" {\n  condition = \"customer.segments.big-spenders\"\n}\n"},
			want:  []string{`main.hcl:5:34: CEL type error: undefined field 'big' In a condition a dash is a minus: big-spenders reads as big minus spenders, so names there have no dashes. Did you mean "big_spenders"?$`},
		},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

// TestOperatorWords says a type error of every operator in words.
func TestOperatorWords(t *testing.T) {
	for _, tt := range []struct{ cond, want string }{
		{"customer.traits.spend_90d == 'a'", "`==` compares an int with a string: customer.traits.spend_90d is an int, 'a' is a string; customer.traits.spend_90d is a number; compare it with a number."},
		{"customer.traits.spend_90d != '1'", "`!=` compares an int with a string: customer.traits.spend_90d is an int, '1' is a string; write 1 without quotes."},
		{"customer.traits.spend_90d < '1'", "`<` compares an int with a string: customer.traits.spend_90d is an int, '1' is a string; write 1 without quotes."},
		{"customer.traits.spend_90d <= '1'", "`<=` compares an int with a string: customer.traits.spend_90d is an int, '1' is a string; write 1 without quotes."},
		{"customer.traits.spend_90d > '1'", "`>` compares an int with a string: customer.traits.spend_90d is an int, '1' is a string; write 1 without quotes."},
		{"customer.traits.spend_90d >= '1'", "`>=` compares an int with a string: customer.traits.spend_90d is an int, '1' is a string; write 1 without quotes."},
		{"customer.traits.spend_90d + 'x' > 0", "`+` adds an int and a string: customer.traits.spend_90d is an int, 'x' is a string."},
		{"customer.traits.spend_90d - '1' > 0", "`-` subtracts a string from an int: customer.traits.spend_90d is an int, '1' is a string; write 1 without quotes."},
		{"customer.traits.spend_90d * 1.5 > 0.0", "`*` multiplies an int by a double: customer.traits.spend_90d is an int, 1.5 is a double; write double(customer.traits.spend_90d)."},
		{"customer.traits.spend_90d / 2.0 > 0.0", "`/` divides an int by a double: customer.traits.spend_90d is an int, 2.0 is a double; write double(customer.traits.spend_90d)."},
		{"customer.location.lat % 2 > 0.0", "`%` takes the remainder of a double divided by an int: customer.location.lat is a double, 2 is an int; write 2.0."},
		{"customer.consent.line && customer.home_city", "customer.home_city is a string, where a condition (true or false) is expected; compare it, as in customer.home_city != ''."},
		{"customer.home_city || customer.consent.line", "customer.home_city is a string, where a condition (true or false) is expected; compare it, as in customer.home_city != ''."},
		{"!customer.home_city", "`!` turns a condition (true or false) around, not a string: customer.home_city is a string; compare it, as in customer.home_city != ''."},
		{"-customer.home_city == 'x'", "`-` makes a number negative, not a string: customer.home_city is a string."},
		{"customer.emails['a'] == 'x'", "`[ ]` takes an item of a list by its position or of a map by its key, not of a list(string) by a string: customer.emails is a list(string), 'a' is a string."},
		{"customer.traits.spend_90d in 'abc'", "`in` looks for a value in a list or a key in a map, not an int in a string: customer.traits.spend_90d is an int, 'abc' is a string."},
		{"'to' in customer.home_city", "`in` looks for a value in a list or a key in a map, not a string in a string: 'to' is a string, customer.home_city is a string; to look inside a string, write customer.home_city.contains('to')."},
		{"customer.home_city ? true : false", "`? :` chooses between two values by a condition (true or false), not by a string: customer.home_city is a string; compare it, as in customer.home_city != ''."},
		{"customer.home_city.startsWith(1)", "`startsWith()` on a string cannot take an int: customer.home_city is a string, 1 is an int; write '1' in single quotes."},
		{"size(customer.traits.spend_90d) > 0", "`size()` cannot take an int: customer.traits.spend_90d is an int."},
	} {
		_, diags := Load(mapFS("main.hcl", segmentWith(`"`+tt.cond+`"`)), ".", testOptions())
		if len(diags) != 1 || diags[0].Summary != "CEL type error" || diags[0].Detail != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.cond, diagLines(diags), tt.want)
		}
	}
	// Every operator cel-go names has its words.
	for fn := range celOperators {
		if operatorSentence(fn, []string{"int", "string", "int"}) == "" {
			t.Errorf("no words for %s", fn)
		}
	}
}

func TestTimeDiagnostics(t *testing.T) {
	const providers = "provider \"line\" \"oa\" {}\nprovider \"shopify\" \"jp\" {}\n"
	coupon := func(from, until string) string {
		return providers + "segment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  audience = segment.s\n  channels = [provider.shopify.jp]\n" +
			"  coupon {\n    percent = 10\n    code    = \"SPRING10\"\n    valid {\n      from  = \"" + from + "\"\n      until = \"" + until + "\"\n    }\n  }\n}\n"
	}
	message := func(sendAt string) string {
		return providers + "segment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  audience = segment.s\n" +
			"  message {\n    via      = provider.line.oa\n    template = \"hi\"\n    send_at  = \"" + sendAt + "\"\n  }\n}\n"
	}
	for _, tt := range []diagCase{
		{
			name:  "a day February does not have",
			files: []string{"main.hcl", coupon("2027-02-29", "2027-03-31")},
			want:  []string{`main.hcl:13:15: Invalid time: from: "2027-02-29" is not a date or time: February 2027 has 28 days.$`},
		},
		{
			name:  "a leap year's February",
			files: []string{"main.hcl", coupon("2028-02-30", "2028-03-31")},
			want:  []string{`main.hcl:13:15: Invalid time: from: "2028-02-30" is not a date or time: February 2028 has 29 days.$`},
		},
		{
			name:  "a month that does not exist",
			files: []string{"main.hcl", coupon("2027-03-01", "2027-13-01")},
			want:  []string{`main.hcl:14:15: Invalid time: until: "2027-13-01" is not a date or time: month 13 does not exist.$`},
		},
		{
			name:  "an hour that does not exist",
			files: []string{"main.hcl", coupon("2027-03-01", "2027-03-31T25:00:00+09:00")},
			want:  []string{`main.hcl:14:15: Invalid time: until: "2027-03-31T25:00:00+09:00" is not a date or time: hour 25 is not a time of day.$`},
		},
		{
			name:  "a day April does not have",
			files: []string{"main.hcl", coupon("2027-04-31T10:00:00", "2027-05-31")},
			want:  []string{`main.hcl:13:15: Invalid time: from: "2027-04-31T10:00:00" is not a date or time: April 2027 has 30 days.$`},
		},
		{
			name:  "an offset that does not exist",
			files: []string{"main.hcl", coupon("2027-03-01T10:00:00+25:00", "2027-05-31")},
			want:  []string{`main.hcl:13:15: Invalid time: from: "2027-03-01T10:00:00+25:00" is not a date or time: +25:00 is not an offset from UTC.$`},
		},
		{
			name:  "one digit for a month",
			files: []string{"main.hcl", coupon("2027-3-1", "2027-05-31")},
			want:  []string{`main.hcl:13:15: Invalid time: from: "2027-3-1" is not a date or time: write months, days, hours and minutes with two digits, as in 2027-03-01T09:05.$`},
		},
		{
			name:  "send_at at an hour that does not exist",
			files: []string{"main.hcl", message("2027-03-30T25:00")},
			want:  []string{`main.hcl:11:16: Invalid send_at: send_at: "2027-03-30T25:00" is not a time: hour 25 is not a time of day.$`},
		},
		{
			name:  "send_at on a day that does not exist",
			files: []string{"main.hcl", message("2027-06-31T10:00:00+09:00")},
			want:  []string{`main.hcl:11:16: Invalid send_at: send_at: "2027-06-31T10:00:00+09:00" is not a time: June 2027 has 30 days.$`},
		},
		{
			name:  "quiet hours at an hour that does not exist",
			files: []string{"main.hcl", "musubi {\n  delivery {\n    quiet_hours {\n      from  = \"25:00\"\n      until = \"08:61\"\n    }\n  }\n}\n"},
			want: []string{
				`main.hcl:4:15: Invalid time of day: from: "25:00": hour 25 is not a time of day.$`,
				`main.hcl:5:15: Invalid time of day: until: "08:61": minute 61 does not exist.$`,
			},
		},
		{
			name: "a trigger's at",
			files: []string{"main.hcl", providers + "trigger \"t\" {\n  on = \"follow\"\n  at = \"24:00\"\n" +
				"  action \"send\" {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want: []string{`main.hcl:5:8: Invalid time of day: at: "24:00": hour 24 is not a time of day, in the programme's time zone.$`},
		},
		{
			name:  "a timestamp in a condition",
			files: []string{"main.hcl", "segment \"a\" {\n  condition = \"customer.last_seen > timestamp('2027-02-29T00:00:00Z')\"\n}\n"},
			want:  []string{"main.hcl:2:47: CEL error: This expression can never be evaluated: '2027-02-29T00:00:00Z' is not a time: February 2027 has 28 days.$"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
	for _, ok := range []string{"2027-02-28", "2028-02-29", "2027-12-31T23:59:59+09:00", "2027-03-01T00:00", "not a date", "2027-03-01T10:00:00.5Z"} {
		if why := timeProblem(ok); why != "" {
			t.Errorf("timeProblem(%q) = %q", ok, why)
		}
	}
}

// brokenConditions are the conditions the position property is checked with: every mistake
// above, and the fuzzers' seeds.
func brokenConditions() []string {
	conds := []string{
		`customer.attributes.tier == "gold"`, `customer.traits.spend_90d >= "30000"`, `customer.home_city in ["a", "b"]`,
		`customer.home_city == "tokyo`, `customer.home_city == 'tokyo`, "customer.home_city == “tokyo”", "customer.home_city ＝＝ 'x'",
		`customer.home_city = 'x'`, `customer.consent.line and customer.consent.email`, `customer.consent.line &&`, `(customer.consent.line`,
		`customer.consent.line)`, `customer.home_city && true`, `customer.first_seen > '2027-01-01'`, `customer.segments.big-spenders`,
		`customer.last_seen > timestamp('2027-02-29T00:00:00Z')`, `customer.home_city.startsWith(1)`, `customer.emails['a'] == 'x'`,
		"customer.id == \"é\" &&& true", `!customer.home_city`, `-customer.home_city == 'x'`, `customer.home_city ? 1 : 2`,
		"customer.segments.常連", `customer.traits.spend_90d * 1.5 > 0.0`, `'to' in customer.home_city`,
	}
	for _, c := range brokenCELSeeds {
		if strings.TrimSpace(c) != "" {
			conds = append(conds, c)
		}
	}
	return conds
}

// TestDiagnosticsKeepTheirPosition holds every diagnostic of a broken condition, written in
// every way HCL writes a string, to a place in the file: inside the condition, or for double
// quotes that end the string, on its line.
func TestDiagnosticsKeepTheirPosition(t *testing.T) {
	for _, cond := range brokenConditions() {
		for _, written := range []string{
			`"` + cond + `"`,
			`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(cond) + `"`,
			"<<-EOT\n    " + cond + "\n  EOT",
			"<<EOT\n" + cond + "\nEOT",
			`"${"" }` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(cond) + `"`,
		} {
			src := segmentWith(written)
			checkPositions(t, src, cond)
		}
	}
}

// checkPositions loads src and checks that every diagnostic points at the condition it holds,
// with a line and column that agree with its byte offset.
func checkPositions(t *testing.T, src, cond string) {
	t.Helper()
	cfg, diags := Load(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, ".", testOptions())
	if len(diags) == 0 && strings.ContainsAny(cond, `"'“＝`) {
		return // a mistake HCL escaping made right
	}
	checkDiagRanges(t, cfg, diags)
	start := strings.Index(src, "condition = ") + len("condition = ")
	end := strings.Index(src[start:], "\n}\n") + start
	for _, d := range diags {
		if d.Subject == nil {
			t.Errorf("%q: diagnostic without a place: %s", cond, diagLine(d))
			continue
		}
		if !strings.HasPrefix(d.Summary, "CEL") && d.Summary != "Double quotes inside a condition" {
			continue // HCL's own, about what follows a string ended early
		}
		if d.Subject.Start.Byte < start || d.Subject.Start.Byte > end {
			t.Errorf("%q written\n%s\nhas a diagnostic outside the condition [%d, %d]: %s (byte %d)", cond, src, start, end, diagLine(d), d.Subject.Start.Byte)
		}
	}
}

// checkPosition holds a range's lines and columns to its byte offsets in src.
func checkPosition(t *testing.T, src []byte, r hcl.Range, d *hcl.Diagnostic) {
	t.Helper()
	for _, p := range []hcl.Pos{r.Start, r.End} {
		if p.Byte < 0 || p.Byte > len(src) {
			t.Fatalf("position %d out of the file: %s", p.Byte, diagLine(d))
		}
		line := 1 + strings.Count(string(src[:p.Byte]), "\n")
		lineStart := strings.LastIndexByte(string(src[:p.Byte]), '\n') + 1
		if p.Line != line || p.Column < 1 || p.Column > utf8.RuneCount(src[lineStart:p.Byte])+1 {
			t.Fatalf("position line %d column %d does not agree with byte %d (line %d): %s", p.Line, p.Column, p.Byte, line, diagLine(d))
		}
	}
}

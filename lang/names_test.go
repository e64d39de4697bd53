package lang

import (
	"testing"

	"golang.org/x/text/unicode/norm"
)

const (
	cafeNFC = "caf\u00e9"  // é as one code point
	cafeNFD = "cafe\u0301" // e and a combining acute accent
)

func TestLookAlikeNames(t *testing.T) {
	if cafeNFC == cafeNFD || norm.NFC.String(cafeNFD) != cafeNFC {
		t.Fatal("the test's two spellings of café")
	}
	seg := func(name string) string { return "segment \"" + name + "\" {\n  condition = \"true\"\n}\n" }
	for _, tt := range []diagCase{
		{
			name:  "Latin and Cyrillic",
			files: []string{"main.hcl", seg("loyal") + seg("l\u043eyal")},
			want:  []string{"main.hcl:4:9: Invalid name: \"l\u043eyal\" mixes Latin and Cyrillic letters (\"\u043e\" is Cyrillic). A name keeps to one script, so that two names cannot look alike; Latin may go with Japanese, Chinese or Korean.$"},
		},
		{
			name:  "Greek in a provider's type",
			files: []string{"main.hcl", "provider \"\u03bfne\" \"oa\" {}\n"},
			want:  []string{"main.hcl:1:10: Invalid name: \"\u03bfne\" mixes Greek and Latin letters"},
		},
		{
			name:  "Han and Cyrillic",
			files: []string{"main.hcl", seg("常連_\u043b")},
			want:  []string{"main.hcl:1:9: Invalid name: \"常連_\u043b\" mixes Han and Cyrillic letters"},
		},
		{
			name:  "NFC and NFD",
			files: []string{"main.hcl", seg(cafeNFC) + seg(cafeNFD)},
			want:  []string{"main.hcl:4:1: Duplicate segment: segment." + cafeNFC + " is declared twice; the first is at main.hcl:1:1.$"},
		},
		{
			name:  "NFC and NFD in JSON",
			files: []string{"main.hcl.json", `{"segment": {"` + cafeNFC + `": {"condition": "true"}, "` + cafeNFD + `": {"condition": "true"}}}`},
			want:  []string{"main.hcl.json:1:53: Duplicate segment: segment." + cafeNFC + " is declared twice; the first is at main.hcl.json:1:22.$"},
		},
		{
			name:  "NFC and NFD locals",
			files: []string{"main.hcl", "locals {\n  " + cafeNFC + " = 1\n  " + cafeNFD + " = 2\n}\n"},
			want:  []string{"main.hcl:3:3: Duplicate local: local." + cafeNFC + " is declared twice; the first is at main.hcl:2:3.$"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}

	// Names that keep to a script, or mix Latin with Japanese, Chinese or Korean, are fine.
	cfg := loadClean(t, mapFS("main.hcl", seg("常連_vip")+seg("カート放棄_2")+seg("ひらがな_カタカナ_漢字")+seg("단골_vip")+
		seg("熟客ㄅ")+seg("лояльные")+seg("αβγ")+seg("naïve_x")), ".", testOptions())
	if len(cfg.Segments) != 8 {
		t.Errorf("segments: %d", len(cfg.Segments))
	}

	// A name is the same name however it is spelt, in declarations and references.
	fsys := mapFS("main.hcl", "provider \"line\" \"oa\" {}\n"+seg(cafeNFC)+
		"variable \""+cafeNFD+"\" {\n  default = 15\n}\n"+
		"locals {\n  "+cafeNFD+" = var."+cafeNFC+" * 2\n}\n"+
		"output \"o\" {\n  value = [local."+cafeNFC+", var."+cafeNFD+", [for "+cafeNFD+" in [1]: "+cafeNFC+"][0]]\n}\n"+
		"campaign \"c\" {\n  audience = segment."+cafeNFD+"\n  message {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n")
	cfg = loadClean(t, fsys, ".", testOptions())
	if got := ctyString(cfg.Outputs["o"].Value); got != "[30,15,1]" {
		t.Errorf("output = %s", got)
	}
	if a := cfg.Campaigns["c"].Audience; a != cafeNFC {
		t.Errorf("audience = %q, want %q", a, cafeNFC)
	}
	if cfg.Variables[cafeNFC] == nil || cfg.Locals[cafeNFC] == nil {
		t.Errorf("variables %v, locals %v are not named in NFC", cfg.Variables, cfg.Locals)
	}

	// Values set from outside find the variable too.
	opts := testOptions(VarEnvPrefix + cafeNFD + "=16")
	opts.VarFiles = []string{"v.musubivars"}
	opts.ReadFile = func(string) ([]byte, error) { return []byte(cafeNFD + " = 17\n"), nil }
	for _, vars := range [][]string{nil, {cafeNFD + "=18"}} {
		opts.Vars = vars
		want := map[bool]string{false: "17", true: `"18"`}[vars != nil]
		if got := ctyString(loadClean(t, fsys, ".", opts).Variables[cafeNFC].Value); got != want {
			t.Errorf("-var %v: var.café = %s, want %s", vars, got, want)
		}
	}
	opts.VarFiles, opts.Vars = nil, nil
	if got := ctyString(loadClean(t, fsys, ".", opts).Variables[cafeNFC].Value); got != `"16"` {
		t.Errorf("environment: var.café = %s, want 16", got)
	}
}

// Conditions read traits and segments as customer.traits.NAME and customer.segments.NAME,
// where a dash is a minus: their names are refused with a dash. Every other name is referred
// to in HCL only, where a dash is part of the name.
func TestDashedNames(t *testing.T) {
	checkDiags(t, diagCase{
		name: "trait and segment",
		files: []string{"main.hcl", "trait \"spend-90d\" {\n  on        = \"purchase\"\n  aggregate = \"count\"\n}\n" +
			"segment \"big-spenders\" {\n  condition = \"true\"\n}\n"},
		want: []string{
			`main.hcl:1:7: Invalid name: "spend-90d" cannot name a trait: conditions read it as customer.traits.spend-90d, where the dash is a minus. Use an underscore: spend_90d.$`,
			`main.hcl:5:9: Invalid name: "big-spenders" cannot name a segment: conditions read it as customer.segments.big-spenders, where the dash is a minus. Use an underscore: big_spenders.$`,
		},
	}, testOptions())

	cfg := loadClean(t, mapFS("main.hcl", `
provider "line" "main-oa" {}
provider "shopify" "jp-store" {}
variable "spring-percent" {
  default = 10
}
locals {
  half-percent = var.spring-percent / 2
}
output "half-percent" {
  value = local.half-percent
}
segment "regulars" {
  condition = "customer.traits.visits_90d > ${local.half-percent}"
}
trait "visits_90d" {
  on        = "store.visit"
  aggregate = "count"
}
campaign "spring-sale" {
  audience = segment.regulars
  channels = [provider.shopify.jp-store]
  coupon {
    percent = var.spring-percent
    code    = "SPRING10"
  }
  message {
    via      = provider.line.main-oa
    template = "hi"
  }
}
trigger "welcome-back" {
  on = "follow"
  action "issue_coupon" {
    campaign = campaign.spring-sale
    via      = provider.line.main-oa
    template = "{{ code }}"
  }
}
policy "no-deep-discounts" {
  condition = "campaign.coupon.percent <= 30.0"
  message   = "Too deep."
}
`), ".", testOptions())
	if cfg.Campaigns["spring-sale"] == nil || cfg.Triggers["welcome-back"] == nil || cfg.Providers["line.main-oa"] == nil {
		t.Errorf("dashed names did not load: campaigns %v, triggers %v, providers %v", cfg.Campaigns, cfg.Triggers, cfg.Providers)
	}
	if got := ctyString(cfg.Outputs["half-percent"].Value); got != "5" {
		t.Errorf("output = %s", got)
	}
}

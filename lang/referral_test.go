package lang

import (
	"slices"
	"testing"
)

// referralProgramme is a referral campaign and the triggers that hand out its codes and
// reward their owners.
const referralProgramme = `provider "line" "oa" {}
provider "shopify" "jp" {}

campaign "friends" {
  referral = true
  channels = [provider.shopify.jp]
  coupon {
    percent = 5
    codes {
      count   = 10
      pattern = "F-######"
    }
  }
}

trigger "reward" {
  on        = "coupon.redeemed"
  condition = "event.referral && event.owner != customer.id && event.first_use"
  action "send" {
    to       = "code_owner"
    via      = provider.line.oa
    template = "{{ customer.id }}: a friend used your code"
  }
  action "issue_coupon" {
    to       = "customer"
    campaign = campaign.friends
  }
  action "emit" {
    to    = "code_owner"
    event = "custom.referred"
  }
}
`

// An action goes to the owner of a redeemed code with to = "code_owner"; the referral
// campaign and the fields of coupon.redeemed type-check.
func TestActionToCodeOwner(t *testing.T) {
	cfg := loadClean(t, mapFS("main.hcl", referralProgramme), ".", testOptions())
	if !cfg.Campaigns["friends"].Referral {
		t.Fatal("referral not read")
	}
	var to []string
	for _, a := range cfg.Triggers["reward"].Actions {
		to = append(to, a.To)
	}
	if want := []string{"code_owner", "", "code_owner"}; !slices.Equal(to, want) {
		t.Fatalf("to: %q, want %q", to, want)
	}
}

func TestActionRecipientDiagnostics(t *testing.T) {
	const head = "provider \"line\" \"oa\" {}\nprovider \"shopify\" \"jp\" {}\n"
	tests := []diagCase{
		{
			name: "code_owner on an event without an owner",
			files: []string{"main.hcl", head + "trigger \"t\" {\n  on = \"purchase\"\n  action \"send\" {\n    to       = \"code_owner\"\n" +
				"    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want: []string{`main.hcl:6:16: Invalid recipient: A purchase event names no code owner: to = "code_owner" is valid on coupon.redeemed only.$`},
		},
		{
			name: "an unknown recipient",
			files: []string{"main.hcl", head + "trigger \"t\" {\n  on = \"coupon.redeemed\"\n  action \"emit\" {\n    to    = \"code_ownr\"\n" +
				"    event = \"custom.x\"\n  }\n}\n"},
			want: []string{`main.hcl:6:13: Unknown recipient: "code_ownr" is not a recipient. Did you mean "code_owner"?`},
		},
		{
			name: "to is not a campaign message's",
			files: []string{"main.hcl", head + "segment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  audience = segment.s\n" +
				"  message {\n    to       = \"code_owner\"\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want: []string{`main.hcl:9:5: Unsupported argument: An argument named "to" is not expected here.`},
		},
		{
			name: "a referral campaign with a shared code",
			files: []string{"main.hcl", head + "campaign \"c\" {\n  referral = true\n  coupon {\n    amount = 500\n    code   = \"FRIEND\"\n  }\n" +
				"  channels = [provider.shopify.jp]\n}\n"},
			want: []string{`main.hcl:4:14: Referral with a shared code: A referral campaign gives each customer a code of their own`},
		},
		{
			name:  "a referral campaign without a coupon",
			files: []string{"main.hcl", head + "segment \"s\" {\n  condition = \"true\"\n}\ncampaign \"c\" {\n  referral = true\n  audience = segment.s\n  message {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n}\n"},
			want:  []string{`main.hcl:7:14: Referral without a coupon: `},
		},
		{
			name: "owner is a string, referral a bool",
			files: []string{"main.hcl", head + "trigger \"t\" {\n  on        = \"coupon.redeemed\"\n  condition = \"event.owner && event.referral\"\n" +
				"  action \"emit\" {\n    event = \"custom.x\"\n  }\n}\n"},
			want: []string{`main.hcl:5:16: CEL type error: event.owner is a string, where a condition (true or false) is expected; compare it, as in event.owner != ''.$`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

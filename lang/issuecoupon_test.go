package lang

import "testing"

// issue_coupon hands out a campaign's code: one of its unique codes, or its shared code (a
// register's coupon has one serial number, so a coupon sent for the till is a shared code).
// A campaign with neither has nothing to hand out.
func TestIssueCouponCodes(t *testing.T) {
	const head = "provider \"wechat\" \"oa\" {}\nprovider \"smaregi\" \"store\" {}\n"
	const issue = "trigger \"welcome\" {\n  on = \"follow\"\n  action \"issue_coupon\" {\n    campaign = campaign.till\n" +
		"    via      = provider.wechat.oa\n    template = \"template_id: t\\ncharacter_string1: {{ code }}\"\n  }\n}\n"
	cfg := loadClean(t, mapFS("main.hcl", head+issue+
		"campaign \"till\" {\n  coupon {\n    percent = 10\n    code    = \"WELCOME10\"\n  }\n  channels = [provider.smaregi.store]\n}\n"),
		".", testOptions())
	if a := cfg.Triggers["welcome"].Actions[0]; a.Campaign != "till" || a.Message == nil {
		t.Fatalf("the action: %+v", a)
	}
	checkDiags(t, diagCase{
		name: "a campaign without a code",
		files: []string{"main.hcl", head + issue + "segment \"s\" {\n  condition = \"true\"\n}\n" +
			"campaign \"till\" {\n  audience = segment.s\n  message {\n    via      = provider.wechat.oa\n    template = \"template_id: t\\nthing1: hi\"\n  }\n}\n"},
		want: []string{`main.hcl:5:3: Campaign has no code: issue_coupon gives the customer a code of campaign.till, which needs a coupon with a shared code or a codes block.$`},
	}, testOptions())
}

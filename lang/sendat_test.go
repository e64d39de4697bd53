package lang

import (
	"os"
	"regexp"
	"testing"
	"time"
)

// scheduledHead declares what a scheduled campaign message needs around it.
const scheduledHead = "provider \"line\" \"oa\" {}\nprovider \"shopify\" \"jp\" {}\nsegment \"s\" {\n  condition = \"true\"\n}\n"

// A campaign message's send_at is a local time in musubi.timezone or in the message's own
// timezone, or an RFC 3339 time; either way it is kept in the zone it is read in.
func TestCampaignMessageSendAt(t *testing.T) {
	cfg := loadClean(t, mapFS("main.hcl", scheduledHead+`
campaign "xmas" {
  audience = segment.s
  message {
    via      = provider.line.oa
    template = "Merry Christmas"
    send_at  = "2026-12-24T10:00:00"
  }
  message {
    via      = provider.line.oa
    template = "Last day"
    send_at  = "2026-12-25T09:30"
    timezone = "Asia/Shanghai"
  }
  message {
    via      = provider.line.oa
    template = "Boxing day"
    send_at  = "2026-12-26T01:00:00Z"
  }
  message {
    via      = provider.line.oa
    template = "Now"
  }
}
`), ".", testOptions())
	ms := cfg.Campaigns["xmas"].Messages
	want := []struct {
		at    time.Time
		shown string
	}{
		{time.Date(2026, 12, 24, 1, 0, 0, 0, time.UTC), "2026-12-24 10:00 JST"},
		{time.Date(2026, 12, 25, 1, 30, 0, 0, time.UTC), "2026-12-25 09:30 CST"},
		{time.Date(2026, 12, 26, 1, 0, 0, 0, time.UTC), "2026-12-26 10:00 JST"},
	}
	for i, w := range want {
		if !ms[i].SendAt.Equal(w.at) || ms[i].SendAt.Format("2006-01-02 15:04 MST") != w.shown {
			t.Errorf("message %d: send_at %v, want %v shown as %s", i, ms[i].SendAt, w.at, w.shown)
		}
	}
	if !ms[3].SendAt.IsZero() {
		t.Errorf("a message without send_at goes out at once; got %v", ms[3].SendAt)
	}
}

func TestCampaignMessageSendAtDiagnostics(t *testing.T) {
	campaign := func(attrs string) []string {
		return []string{"main.hcl", scheduledHead + "campaign \"c\" {\n  audience = segment.s\n  message {\n    via      = provider.line.oa\n    template = \"hi\"\n" +
			attrs + "  }\n}\n"}
	}
	tests := []diagCase{
		{
			name:  "not a time",
			files: campaign("    send_at  = \"Christmas morning\"\n"),
			want:  []string{`main.hcl:11:16: Invalid send_at: send_at is when the message goes out: a local time such as "2026-12-24T10:00:00" (in Asia/Tokyo), or an RFC 3339 time with an offset such as "2026-12-24T10:00:00+09:00"; got "Christmas morning".$`},
		},
		{
			name:  "a date alone",
			files: campaign("    send_at  = \"2026-12-24\"\n"),
			want:  []string{`main.hcl:11:16: Invalid send_at: send_at is when the message goes out: a local time such as "2026-12-24T10:00:00" (in Asia/Tokyo), or an RFC 3339 time with an offset such as "2026-12-24T10:00:00+09:00"; got "2026-12-24". A date alone is not enough: say the time of day it goes out.$`},
		},
		{
			name:  "in the message's own zone",
			files: campaign("    send_at  = \"24 Dec 10:00\"\n    timezone = \"Europe/Paris\"\n"),
			want:  []string{`main.hcl:11:16: Invalid send_at: send_at is when the message goes out: a local time such as "2026-12-24T10:00:00" (in Europe/Paris)`},
		},
		{
			name:  "not a string",
			files: campaign("    send_at  = 20261224\n"),
			want:  []string{`main.hcl:11:16: Invalid send_at: send_at is when the message goes out: a local time such as "2026-12-24T10:00:00" (in Asia/Tokyo), or an RFC 3339 time with an offset such as "2026-12-24T10:00:00+09:00"; got "20261224".$`},
		},
		{
			name:  "an unknown zone",
			files: campaign("    send_at  = \"2026-12-24T10:00:00\"\n    timezone = \"Asia/Tokio\"\n"),
			want:  []string{`main.hcl:12:16: Unknown time zone: "Asia/Tokio" is not an IANA time zone`},
		},
		{
			name:  "a zone without a time",
			files: campaign("    timezone = \"Asia/Tokyo\"\n"),
			want:  []string{`main.hcl:11:16: Timezone without send_at: A message's timezone is the zone of its send_at`},
		},
		{
			name: "after the campaign",
			files: []string{"main.hcl", scheduledHead + "campaign \"c\" {\n  audience = segment.s\n  channels = [provider.shopify.jp]\n" +
				"  coupon {\n    percent = 10\n    code    = \"XMAS10\"\n    valid {\n      from  = \"2026-12-01\"\n      until = \"2026-12-25T23:59:59+09:00\"\n    }\n  }\n" +
				"  message {\n    via      = provider.line.oa\n    template = \"hi\"\n    send_at  = \"2026-12-26T10:00:00\"\n  }\n}\n"},
			want: []string{`main.hcl:20:16: Message after the campaign: send_at (2026-12-26 10:00 JST) is after the coupon's validity ends (2026-12-25 23:59 JST): the campaign no longer runs then, and the message would never go out.$`},
		},
		{
			name: "a trigger's message goes out when it fires",
			files: []string{"main.hcl", scheduledHead + "trigger \"t\" {\n  on = \"follow\"\n  action \"send\" {\n    via      = provider.line.oa\n" +
				"    template = \"hi\"\n    send_at  = \"2026-12-24T10:00:00\"\n  }\n}\n"},
			want: []string{`main.hcl:11:5: Unsupported argument: An argument named "send_at" is not expected here.`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

// The campaign example of docs/language.md, scheduled message included, loads.
func TestLanguageDocCampaignLoads(t *testing.T) {
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```hcl\n(campaign \"spring\" \\{\n  description.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/language.md shows no campaign example")
	}
	cfg := loadClean(t, mapFS(
		"context.hcl", "provider \"line\" \"oa\" {}\nprovider \"shopify\" \"jp\" {}\nprovider \"square\" \"store\" {}\nsegment \"loyal_store\" {\n  condition = \"true\"\n}\n",
		"campaign.hcl", string(m[1]),
		"messages/spring.txt", "春のセール {{ code }}",
		"messages/spring-formal.txt", "春のセールのご案内 {{ code }}",
	), ".", testOptions())
	ms := cfg.Campaigns["spring"].Messages
	if len(ms) != 2 || !ms[0].SendAt.IsZero() || ms[1].SendAt.Format(time.RFC3339) != "2027-03-30T10:00:00+09:00" {
		t.Fatalf("messages: %+v", ms)
	}
}

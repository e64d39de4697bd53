package lang

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

const journeyHead = "provider \"line\" \"oa\" {}\n"

// A wait holds a trigger's actions; a later event of the same customer, matching its
// condition over both events, cancels them.
func TestJourneyWait(t *testing.T) {
	cfg := loadClean(t, mapFS("main.hcl", journeyHead+`
trigger "tryon_recommend" {
  on        = "tryon"
  condition = "event.item.family in ['coat-a', 'coat-b']"
  wait {
    for = "3h"
    unless {
      on        = "purchase"
      condition = "event.items.exists(i, i.family == trigger.event.item.family)"
    }
  }
  action "send" {
    via      = provider.line.oa
    template = "Still thinking about {{ event.item.name }}?"
  }
  action "send" {
    via      = provider.line.oa
    template = "Last chance"
    delay    = "2d"
    at       = "10:00"
  }
}
`), ".", testOptions())
	tr := cfg.Triggers["tryon_recommend"]
	if tr.Wait == nil || tr.Wait.For != 3*time.Hour || len(tr.Wait.Unless) != 1 || tr.Wait.Unless[0].On != "purchase" || tr.Wait.Unless[0].Condition == nil {
		t.Fatalf("wait: %+v", tr.Wait)
	}
	if !tr.Recheck || !tr.Timed() {
		t.Errorf("recheck %v, timed %v", tr.Recheck, tr.Timed())
	}
	if a := tr.Actions[1]; a.Delay != 48*time.Hour || a.At != "10:00" {
		t.Errorf("second action's timing: %+v", a.Timing)
	}
}

func TestJourneyDiagnostics(t *testing.T) {
	send := "  action \"send\" {\n    via      = provider.line.oa\n    template = \"hi\"\n  }\n"
	for _, tt := range []diagCase{
		{name: "unless reads a field its event does not have",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"tryon\"\n  wait {\n    for = \"3h\"\n    unless {\n      on        = \"purchase\"\n" +
				"      condition = \"event.items.exists(i, i.family == trigger.event.item.colour)\"\n    }\n  }\n" + send + "}\n"},
			want: []string{"main.hcl:8:73: CEL type error: undefined field 'colour'"}},
		{name: "unless reads the trigger's event as if it were its own",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"tryon\"\n  wait {\n    for = \"3h\"\n    unless {\n      on        = \"purchase\"\n" +
				"      condition = \"event.item.family == 'x'\"\n    }\n  }\n" + send + "}\n"},
			want: []string{"main.hcl:8:26: CEL type error: undefined field 'item'"}},
		{name: "a delay that is not a duration",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"tryon\"\n  delay = \"tomorrow\"\n" + send + "}\n"},
			want:  []string{"main.hcl:4:11: Invalid duration"}},
		{name: "a time of day that is not one",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"tryon\"\n  at = \"25:00\"\n" + send + "}\n"},
			want:  []string{"main.hcl:4:8: Invalid time of day"}},
		{name: "an unknown cancelling event",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"tryon\"\n  wait {\n    for = \"3h\"\n    unless {\n      on = \"purchse\"\n    }\n  }\n" + send + "}\n"},
			want:  []string{"main.hcl:7:12: Unknown event type"}},
		{name: "delay and wait together",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"tryon\"\n  delay = \"1h\"\n  wait {\n    for = \"3h\"\n  }\n" + send + "}\n"},
			want:  []string{"main.hcl:4:11: Delay and wait"}},
		{name: "an answer cannot wait",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"vending.purchase\"\n  delay = \"1h\"\n  action \"answer\" {\n    template = \"hi\"\n  }\n}\n"},
			want:  []string{"main.hcl:5:3: Answer cannot wait"}},
		{name: "valid_until is a time",
			files: []string{"main.hcl", journeyHead + "trigger \"t\" {\n  on = \"order.ready_for_pickup\"\n  action \"issue_coupon\" {\n    campaign    = campaign.c\n    valid_until = \"event.order_id\"\n  }\n}\n" +
				"campaign \"c\" {\n  coupon {\n    percent = 10\n    code    = \"PICK\"\n  }\n}\n"},
			want: []string{"main.hcl:6:20: CEL type error: This expression gives string; it must give timestamp.", "main.hcl:9:1: Missing channels"}},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

func TestNextClock(t *testing.T) {
	tokyo, _ := LoadLocation("Asia/Tokyo")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ from, clock, want string }{
		{"2026-12-07 09:00", "10:00", "2026-12-07 10:00"},
		{"2026-12-07 10:00", "10:00", "2026-12-07 10:00"},
		{"2026-12-07 10:01", "10:00", "2026-12-08 10:00"},
		{"2026-12-31 23:30", "00:15", "2027-01-01 00:15"},
	} {
		got, err := NextClock(at(c.from), c.clock, tokyo)
		if err != nil || !got.Equal(at(c.want)) {
			t.Errorf("NextClock(%s, %s) = %v, %v; want %s", c.from, c.clock, got, err, c.want)
		}
	}
}

// The journey and answer examples of docs/language.md load, with the blocks they name.
func TestLanguageDocJourneysLoad(t *testing.T) {
	doc, err := os.ReadFile("../docs/language.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(doc), "#### Journeys: actions that wait")
	end := strings.Index(string(doc), "### `policy`")
	if start < 0 || end < start {
		t.Fatal("docs/language.md has no journeys section before the policy block")
	}
	blocks := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllStringSubmatch(string(doc[start:end]), -1)
	if len(blocks) != 2 {
		t.Fatalf("want the journey example and the answer example, found %d", len(blocks))
	}
	context := journeyHead + "provider \"sandbox\" \"pos\" {\n  system = \"pos\"\n}\nsegment \"loyal_store\" {\n  condition = \"true\"\n}\n" +
		"campaign \"vending\" {\n  coupon {\n    percent   = 10\n    stores    = [\"shibuya\"]\n    valid_for = \"14d\"\n    codes {\n      pattern = \"VND-####\"\n      count   = 10\n    }\n  }\n  channels = [provider.sandbox.pos]\n}\n" +
		"campaign \"pickup\" {\n  coupon {\n    percent = 5\n    code    = \"PICKUP5\"\n  }\n  channels = [provider.sandbox.pos]\n}\n"
	cfg := loadClean(t, mapFS("context.hcl", context, "journeys.hcl", blocks[0][1], "answers.hcl", blocks[1][1]), ".", testOptions())
	for _, name := range []string{"tryon_recommend", "browse_next_morning", "vending_receipt", "pickup_day"} {
		if cfg.Triggers[name] == nil {
			t.Errorf("trigger %s did not load", name)
		}
	}
}

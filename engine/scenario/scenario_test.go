package scenario

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/lang"
	_ "github.com/musubi-hq/musubi/providers/sandbox" // the quickstart's messaging provider
)

// programme is the quickstart with more files, in a directory of its own.
func programme(t *testing.T, extra map[string]string) *lang.Config {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "examples", "quickstart")
	for _, name := range []string{"main.hcl", "identity.hcl", "audience.hcl", "campaigns.hcl", "triggers.hcl", "policies.hcl", "messages/spring.txt"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		write(t, dir, name, string(b))
	}
	for name, body := range extra {
		write(t, dir, name, body)
	}
	cfg, diags := LoadConfig(dir, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, cfg *lang.Config, src string) *Report {
	t.Helper()
	f, diags := Parse([]byte(src), "t.test.hcl", KnownFrom(cfg))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rep, err := Test(context.Background(), []*File{f}, Options{Config: cfg, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

const customers = `
customer "hanako" {
  identifiers = { phone = "090-1234-5678", line_user = "U4af4980629" }
  consent     = { line = true }
}
`

// Every kind of step and expectation decodes, in the order written.
func TestParseKeepsStepsInOrder(t *testing.T) {
	cfg := programme(t, nil)
	f, diags := Parse([]byte(customers+`
now = "2027-03-02T12:00:00+09:00"

run "all" {
  customer "ken" {
    identifiers = { email = "ken@example.jp" }
    attributes  = { home_city = "Shibuya" }
  }
  expect {
    customer "ken" {
      known = true
    }
  }
  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    at       = "+1h"
    data     = { total = 3200 }
    expect {
      entered = ["loyal_store"]
      answer {
        type = "issue_coupon"
      }
    }
  }
  advance "+1d" {}
  decide "cart.updated" {
    customer = "ken"
    data     = { cart = { total = 2850 } }
    expect {
      not_fired = [trigger.cart_nudge]
      in        = [segment.big_spenders]
      offer "spring" {
        eligible = false
      }
      action {
        status = "would_send"
        count  = 0
      }
    }
  }
  expect {
    fired = [trigger.welcome_regular]
    message {
      via = provider.sandbox.line
    }
    code {
      campaign = campaign.spring
    }
    pending {
      count = 0
    }
  }
}
`), "t.test.hcl", KnownFrom(cfg))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if f.Now == nil || f.Now.At.IsZero() || len(f.Customers) != 1 || len(f.Runs) != 1 {
		t.Fatalf("file: %+v", f)
	}
	r := f.Runs[0]
	var kinds []string
	for _, s := range r.Steps {
		kinds = append(kinds, fmt.Sprintf("%T", s))
	}
	want := "*scenario.ExpectStep *scenario.EventStep *scenario.AdvanceStep *scenario.DecideStep *scenario.ExpectStep"
	if got := strings.Join(kinds, " "); got != want || len(r.Customers) != 2 {
		t.Fatalf("steps %s, customers %d", got, len(r.Customers))
	}
	ev := r.Steps[1].(*EventStep)
	if ev.Customer != "hanako" || ev.At.Offset.Hours() != 1 || len(ev.Expect) != 2 || ev.ID != "test-1" {
		t.Fatalf("event: %+v", ev)
	}
	if d := r.Steps[3].(*DecideStep); len(d.Expect) != 4 {
		t.Fatalf("decide checks: %d", len(d.Expect))
	}
	if e := r.Steps[4].(*ExpectStep); len(e.Checks) != 4 {
		t.Fatalf("expect checks: %d", len(e.Checks))
	}
}

// A wrong test file is an error at the place of the mistake, saying what would be right.
func TestParseErrorsNameThePlace(t *testing.T) {
	cfg := programme(t, nil)
	wrap := func(body string) string { return customers + "run \"r\" {\n" + body + "\n}\n" }
	cases := []struct {
		name, src, want string
	}{
		{"unknown expectation", wrap(`expect {
  firedd = [trigger.cart_nudge]
}`), `t.test.hcl:8:3: Unsupported argument: An argument named "firedd" is not expected here. Did you mean "fired"?`},
		{"unknown expectation block", wrap(`expect {
  mesage {}
}`), `t.test.hcl:8:3: Unsupported block type: Blocks of type "mesage" are not expected here. Did you mean "message"?`},
		{"unknown event type", wrap(`event "purchse" {}`), `t.test.hcl:7:7: Unknown event type: "purchse" is not an event type. Did you mean "purchase"?`},
		{"raised event type", wrap(`event "segment.entered" {}`), `t.test.hcl:7:7: Event raised by the engine: segment.entered is raised by the engine itself`},
		{"unknown trigger", wrap(`expect {
  fired = [trigger.cart_nuge]
}`), `t.test.hcl:8:12: Unknown trigger: There is no trigger "cart_nuge". Did you mean "cart_nudge"?`},
		{"unknown customer", wrap(`event "purchase" {
  customer = customer.hanko
}`), `t.test.hcl:8:14: Unknown customer: There is no customer "hanko". Did you mean "hanako"?`},
		{"unknown customer in expect", wrap(`expect {
  customer "taro" {}
}`), `t.test.hcl:8:12: Unknown customer: There is no customer "taro".`},
		{"bad data", wrap(`event "purchase" {
  data = { total = "a lot" }
}`), `t.test.hcl:8:10: Invalid event data: purchase event: data.total:`},
		{"bad time", wrap(`event "purchase" {
  at = "tomorrow"
}`), `t.test.hcl:8:8: Invalid time: "tomorrow": want an RFC 3339 time`},
		{"bad advance", wrap(`advance "3 hours" {}`), `t.test.hcl:7:9: Invalid time: "3 hours"`},
		{"bad status", wrap(`expect {
  message {
    status = "sent!"
  }
}`), `t.test.hcl:9:14: Unknown status: "sent!" is not a status of messages`},
		{"unknown trait", wrap(`expect {
  customer "hanako" {
    traits = { spend_90 = 1 }
  }
}`), `t.test.hcl:9:14: Unknown trait: There is no trait "spend_90". Did you mean "spend_90d"?`},
		{"unknown offer", wrap(`decide "cart.updated" {
  expect {
    offer "sprng" {}
  }
}`), `t.test.hcl:9:11: Unknown campaign: There is no campaign "sprng". Did you mean "spring"?`},
		{"no runs", customers, `t.test.hcl:1:1: No runs`},
		{"duplicate run", customers + `run "a" {}
run "a" {}`, `t.test.hcl:7:5: Duplicate run`},
		{"customer without identifiers", `customer "x" {}
run "a" {}`, `t.test.hcl:1:14: Missing required argument: The argument "identifiers" is required`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := Parse([]byte(c.src), "t.test.hcl", KnownFrom(cfg))
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			var got []string
			for _, d := range diags {
				got = append(got, fmt.Sprintf("%s:%d:%d: %s: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail))
			}
			if !strings.HasPrefix(got[0], c.want) {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

// The quickstart's own scenarios pass.
func TestQuickstartScenariosPass(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "quickstart")
	cfg, diags := LoadConfig(dir, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	paths, err := Find(dir)
	if err != nil || len(paths) == 0 {
		t.Fatalf("test files: %v %v", paths, err)
	}
	var files []*File
	for _, p := range paths {
		f, diags := ReadFile(p, KnownFrom(cfg))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		files = append(files, f)
	}
	rep, err := Test(context.Background(), files, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Passed < 10 {
		var b bytes.Buffer
		WriteText(&b, rep, nil, false)
		t.Fatal(b.String())
	}
}

const journey = `
trigger "browse_next_day" {
  on    = "tryon"
  delay = "24h"
  action "send" {
    via      = provider.sandbox.line
    template = "昨日の {{ event.item.name }}"
  }
}

trigger "tryon_recommend" {
  on = "tryon"
  wait {
    for = "3h"
    unless {
      on        = "purchase"
      condition = "event.items.exists(i, i.family == trigger.event.item.family)"
    }
  }
  action "send" {
    via      = provider.sandbox.line
    template = "{{ event.item.name }}、まだ迷っていますか？"
  }
}
`

// Held actions wait in the store until the clock reaches them, and then run once; a wait's
// unless event cancels its step.
func TestHeldStepsRunWhenTheClockComes(t *testing.T) {
	cfg := programme(t, map[string]string{"journey.hcl": journey})
	rep := run(t, cfg, customers+`
run "next day" {
  event "tryon" {
    customer = customer.hanako
    data     = { item = { sku = "c-1", name = "coat", family = "coat-a" } }
    expect {
      fired = [trigger.browse_next_day, trigger.tryon_recommend]
    }
  }
  expect {
    customer "hanako" {
      pending = 2
    }
    pending {
      trigger = trigger.browse_next_day
      count   = 1
    }
    message {
      count = 0
    }
  }
  advance "+3h" {}
  expect {
    message {
      trigger  = trigger.tryon_recommend
      contains = "coat、まだ迷っていますか"
      count    = 1
    }
    pending {
      count = 1
    }
  }
  advance "+21h" {}
  expect {
    message {
      trigger  = trigger.browse_next_day
      contains = "昨日の coat"
      count    = 1
    }
    customer "hanako" {
      pending = 0
    }
  }
}

run "bought meanwhile" {
  event "tryon" {
    customer = customer.hanako
    data     = { item = { sku = "c-1", name = "coat", family = "coat-a" } }
  }
  event "purchase" {
    customer = customer.hanako
    at       = "+1h"
    data     = { order_id = "o-1", total = 100, currency = "JPY", items = [{ sku = "c-1", family = "coat-a", quantity = 1, price = 100 }] }
  }
  advance "+1d" {}
  expect {
    message {
      trigger = trigger.tryon_recommend
      count   = 0
    }
    message {
      trigger = trigger.browse_next_day
      count   = 1
    }
  }
}
`)
	if !rep.OK() {
		var b bytes.Buffer
		WriteText(&b, rep, nil, true)
		t.Fatal(b.String())
	}
}

// A failed expectation says where it is written, what it wanted and what there was; the run
// goes on, so every failure of a run is reported at once.
func TestFailuresNameThePlaceAndWhatWasFound(t *testing.T) {
	cfg := programme(t, nil)
	rep := run(t, cfg, customers+`
run "wrong" {
  event "cart.updated" {
    customer = customer.hanako
    data     = { cart = { total = 2000 } }
    expect {
      fired = [trigger.cart_nudge]
    }
  }
  expect {
    customer "hanako" {
      in = [segment.loyal_store]
    }
    message {
      trigger = trigger.cart_nudge
    }
  }
}
`)
	if rep.Failed != 1 || rep.Files[0].Runs[0].Status != StatusFail {
		t.Fatalf("report: %+v", rep)
	}
	var got []string
	for _, f := range rep.Files[0].Runs[0].Failures {
		got = append(got, f.String())
	}
	want := []string{
		"t.test.hcl:12:15: expected trigger cart_nudge fired by the event, got fired: none",
		"t.test.hcl:17:12: expected customer hanako in segment loyal_store, got segments: none",
		"t.test.hcl:19:5: expected at least 1 message from trigger.cart_nudge, got 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var b bytes.Buffer
	if err := WriteJUnit(&b, rep); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Failures != 1 || doc.Suites[0].Cases[0].Failure == nil || !strings.Contains(doc.Suites[0].Cases[0].Failure.Text, want[1]) {
		t.Fatalf("junit: %s", b.String())
	}
	if j := rep.ToJSON(); j.Passed || j.Files[0].Runs[0].Failures[2].Line != 19 {
		t.Fatalf("json: %+v", j)
	}
}

// An event the engine refuses ends the run in error, at the event.
func TestRefusedEventIsAnError(t *testing.T) {
	cfg := programme(t, nil)
	rep := run(t, cfg, customers+`
run "bad source" {
  event "purchase" {
    customer = customer.hanako
    source   = "pso"
  }
  expect {
    fired = [trigger.cart_nudge]
  }
}
`)
	r := rep.Files[0].Runs[0]
	if rep.Errored != 1 || r.Status != StatusError || len(r.Diagnostics) != 1 {
		t.Fatalf("report: %+v", r)
	}
	d := r.Diagnostics[0]
	if d.Subject.Start.Line != 8 || !strings.Contains(d.Detail, `no identity_source "pso"`) || !strings.Contains(d.Detail, `did you mean "pos"`) {
		t.Fatalf("diagnostic: %s %s", d.Subject, d.Detail)
	}
}

// The clock moves with the events and never back; runs do not see each other's events.
func TestRunsAreIndependentAndTheClockMovesForward(t *testing.T) {
	cfg := programme(t, nil)
	rep := run(t, cfg, customers+`
now = "2027-01-10T12:00:00"

run "one" {
  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    data     = { total = 100 }
  }
  expect {
    customer "hanako" {
      in = [segment.loyal_store]
    }
  }
}

run "two" {
  expect {
    customer "hanako" {
      not_in = [segment.loyal_store]
    }
  }
  advance "2027-01-09T12:00:00" {}
}
`)
	runs := rep.Files[0].Runs
	if runs[0].Status != StatusPass || runs[1].Status != StatusError || !strings.Contains(runs[1].Diagnostics[0].Summary, "cannot go back") {
		t.Fatalf("runs: %+v %+v", runs[0], runs[1])
	}
}

// Secrets are not needed: an env() with no value reads as a placeholder, one with a default
// keeps its default.
func TestLoadConfigNeedsNoSecrets(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "main.hcl", `
locals {
  token = env("MUSUBI_SCENARIO_UNSET_TOKEN")
  shop  = env("MUSUBI_SCENARIO_UNSET_SHOP", "example.myshopify.com")
}
segment "all" {
  condition = "true"
}
`)
	if _, diags := lang.LoadDir(dir, lang.LoadOptions{}); !diags.HasErrors() {
		t.Fatal("the plain load did not need the variable")
	}
	cfg, diags := LoadConfig(dir, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tok, _ := cfg.Locals["token"].Value.Unmark()
	shop, _ := cfg.Locals["shop"].Value.Unmark()
	if tok.IsKnown() || shop.AsString() != "example.myshopify.com" {
		t.Fatalf("token %#v, shop %#v", tok, shop)
	}
}

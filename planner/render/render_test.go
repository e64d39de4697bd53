package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// must returns v, and panics on an error: the sample's addresses are valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func at(s string) addrs.Instance       { return must(addrs.ParseInstance(s)) }
func block(s string) addrs.Block       { return must(addrs.ParseBlock(s)) }
func provider(s string) addrs.Provider { return must(addrs.ParseProvider(s)) }

// samplePlan has one of everything a plan can show.
func samplePlan() *plans.Plan {
	coupon := providers.Attrs{
		"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY", "min_total": int64(3000),
		"per_customer": int64(1), "starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00",
		"timezone": "Asia/Tokyo",
	}
	updated := coupon.Clone()
	updated["percent"], updated["title"] = 15.0, "Spring 15% off"
	return &plans.Plan{
		FormatVersion: plans.FormatVersion, ToolVersion: "v0.1.0", Mode: plans.Normal, Lineage: "lineage-1", Serial: 3,
		Descriptions: map[addrs.Block]string{block("campaign.spring"): "Spring sale"},
		Changes: []*plans.Change{
			{Address: at("campaign.spring.code_pool[sandbox.ec]"), Block: block("campaign.spring"), Kind: providers.KindCodePool, Provider: provider("sandbox.ec"),
				Action: plans.Replace, ID: "pool_1",
				Before:  providers.Attrs{"pattern": "SPR-####", "count": int64(500), "coupon": "campaign.spring.coupon[sandbox.ec]", "seed": "s"},
				After:   providers.Attrs{"pattern": "SPR-######", "count": int64(500), "coupon": "campaign.spring.coupon[sandbox.ec]", "seed": "s"},
				Changed: []string{"pattern"}, ReplacePaths: []string{"pattern"}},
			{Address: at("campaign.spring.coupon[sandbox.ec]"), Block: block("campaign.spring"), Kind: providers.KindCoupon, Provider: provider("sandbox.ec"),
				Action: plans.Update, ID: "cpn_1", Before: coupon, After: updated, Changed: []string{"percent", "title"}},
			{Address: at("campaign.spring.coupon[sandbox.pos]"), Block: block("campaign.spring"), Kind: providers.KindCoupon, Provider: provider("sandbox.pos"),
				Action: plans.Create, After: updated},
			{Address: at("campaign.winter.coupon[sandbox.ec]"), Block: block("campaign.winter"), Kind: providers.KindCoupon, Provider: provider("sandbox.ec"),
				Action: plans.Delete, ID: "cpn_9", Before: coupon, Reason: "its block was removed from the configuration"},
			{Address: at("segment.loyal.audience[sandbox.line]"), Block: block("segment.loyal"), Kind: providers.KindAudience, Provider: provider("sandbox.line"),
				Action: plans.NoOp, ID: "aud_1", Before: providers.Attrs{"segment": "loyal"}, After: providers.Attrs{"segment": "loyal"}},
			{Address: at("trigger.nudge.message[sandbox.line]"), Block: block("trigger.nudge"), Kind: providers.KindMessage, Provider: provider("sandbox.line"),
				Action: plans.Create, After: providers.Attrs{"name": "trigger.nudge", "template": "あと{{ 3000 - event.cart.total }}円で10%オフ"}},
		},
		Drift: []*plans.Drift{
			{Address: at("campaign.spring.coupon[sandbox.ec]"), Block: block("campaign.spring"), Kind: providers.KindCoupon, Provider: provider("sandbox.ec"),
				Changed: []string{"min_total"}, Before: coupon, After: providers.Attrs{"min_total": int64(5000), "currency": "JPY"}},
			{Address: at("segment.old.audience[sandbox.line]"), Block: block("segment.old"), Kind: providers.KindAudience, Provider: provider("sandbox.line"), Deleted: true},
		},
		Policies: []*plans.PolicyResult{
			{Policy: "coupons_expire", Block: block("campaign.spring"), Severity: "warning", Message: "A coupon should not run longer than a quarter."},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner/render -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./planner/render -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	Text(&b, samplePlan(), false)
	golden(t, "plan.txt", b.Bytes())
}

func TestTextNoChanges(t *testing.T) {
	var b bytes.Buffer
	Text(&b, &plans.Plan{Mode: plans.Normal}, false)
	golden(t, "plan-nochanges.txt", b.Bytes())
}

func TestMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	Markdown(&b, samplePlan())
	golden(t, "plan.md", b.Bytes())
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, samplePlan(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.json", b.Bytes())
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format_version"] != plans.FormatVersion {
		t.Errorf("format_version = %v", doc["format_version"])
	}
	for _, rc := range doc["resource_changes"].([]any) {
		m := rc.(map[string]any)
		if after, ok := m["after"].(map[string]any); ok {
			if _, leaked := after["seed"]; leaked {
				t.Errorf("%s: the private seed is in the JSON plan", m["address"])
			}
		}
	}
	summary := doc["summary"].(map[string]any)
	want := map[string]float64{"add": 2, "change": 1, "replace": 1, "destroy": 1, "drift": 2}
	for k, v := range want {
		if summary[k] != v {
			t.Errorf("summary.%s = %v, want %v", k, summary[k], v)
		}
	}
}

func TestColorOnlyWhenAsked(t *testing.T) {
	var plain, colored bytes.Buffer
	Text(&plain, samplePlan(), false)
	Text(&colored, samplePlan(), true)
	if bytes.Contains(plain.Bytes(), []byte("\x1b[")) {
		t.Error("plain output has escape codes")
	}
	if !bytes.Contains(colored.Bytes(), []byte("\x1b[32m+")) {
		t.Error("colored output has no green +")
	}
}

// interruptedPlan is the sample plan after an apply was killed in the middle of its changes:
// an update that landed, one that did not, a delete that landed and one that did not.
func interruptedPlan() *plans.Plan {
	p := samplePlan()
	at0 := time.Date(2027, 2, 20, 10, 4, 5, 0, time.UTC)
	cut := func(a plans.Action) *plans.Interruption { return &plans.Interruption{Action: a, Since: at0} }
	p.Drift = append(p.Drift,
		&plans.Drift{Address: at("campaign.spring.coupon[sandbox.pos]"), Block: block("campaign.spring"), Kind: providers.KindCoupon, Provider: provider("sandbox.pos"),
			Changed: []string{"percent", "title"}, Before: providers.Attrs{"percent": 10.0, "title": "Spring 10% off"},
			After: providers.Attrs{"percent": 15.0, "title": "Spring 15% off"}, Interrupted: cut(plans.Update)},
		&plans.Drift{Address: at("segment.loyal.audience[sandbox.line]"), Block: block("segment.loyal"), Kind: providers.KindAudience, Provider: provider("sandbox.line"),
			Before: providers.Attrs{"segment": "loyal"}, After: providers.Attrs{"segment": "loyal"}, Interrupted: cut(plans.Update)},
		&plans.Drift{Address: at("campaign.winter.coupon[sandbox.pos]"), Block: block("campaign.winter"), Kind: providers.KindCoupon, Provider: provider("sandbox.pos"),
			Deleted: true, Interrupted: cut(plans.Delete)},
		&plans.Drift{Address: at("campaign.autumn.coupon[sandbox.pos]"), Block: block("campaign.autumn"), Kind: providers.KindCoupon, Provider: provider("sandbox.pos"),
			Interrupted: cut(plans.Delete)},
	)
	return p
}

// Musubi's own interrupted changes are told apart from drift made outside it in every format.
func TestInterruptedGolden(t *testing.T) {
	var txt, md, js bytes.Buffer
	Text(&txt, interruptedPlan(), false)
	golden(t, "plan-interrupted.txt", txt.Bytes())
	Markdown(&md, interruptedPlan())
	golden(t, "plan-interrupted.md", md.Bytes())
	if err := JSON(&js, interruptedPlan(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-interrupted.json", js.Bytes())
	var doc struct {
		Summary map[string]int `json:"summary"`
		Drift   []struct {
			Address     string `json:"address"`
			Interrupted *struct {
				Action string `json:"action"`
				Since  string `json:"since"`
			} `json:"interrupted"`
		} `json:"drift"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary["drift"] != 2 || doc.Summary["interrupted"] != 4 {
		t.Errorf("summary %v, want 2 drifted outside Musubi and 4 interrupted", doc.Summary)
	}
	marked := 0
	for _, d := range doc.Drift {
		if d.Interrupted != nil && d.Interrupted.Since == "2027-02-20T10:04:05Z" {
			marked++
		}
	}
	if marked != 4 {
		t.Errorf("%d drift entries marked interrupted, want 4", marked)
	}
	if bytes.Contains(txt.Bytes(), []byte("campaign.winter.coupon[sandbox.pos] was deleted")) {
		t.Error("an interrupted delete is shown as deleted outside Musubi")
	}
}

// sendsPlan pushes a first rule bundle whose triggers and campaign send through a pure
// sender, besides a message a provider keeps.
func sendsPlan() *plans.Plan {
	return &plans.Plan{
		FormatVersion: plans.FormatVersion, ToolVersion: "v0.1.0", Mode: plans.Normal, Lineage: "lineage-1", Serial: 1,
		Changes: []*plans.Change{
			{Address: at("musubi.rules.rules[engine.main]"), Block: block("musubi.rules"), Kind: providers.KindRules, Provider: provider("engine.main"),
				Action: plans.Create, After: providers.Attrs{"summary": "1 source, 0 traits, 0 segments, 2 triggers", "bundle_hash": "9f2c", "bundle": "{}"}},
			{Address: at("trigger.nudge.message[sandbox.line]"), Block: block("trigger.nudge"), Kind: providers.KindMessage, Provider: provider("sandbox.line"),
				Action: plans.Create, After: providers.Attrs{"name": "trigger.nudge", "template": "あと{{ 3000 - event.cart.total }}円で10%オフ"}},
		},
		Sends: []*plans.Send{
			{Block: block("campaign.spring"), Provider: provider("webhook.crm"), Subject: "Spring", Template: "Spring sale for {{ customer.id }}",
				Variants: map[string]string{"formal": "Our spring sale"}},
			{Block: block("trigger.nudge"), Provider: provider("webhook.app"), Template: "Spend ¥{{ 3000 - event.cart.total }} more"},
			{Block: block("trigger.pickup_ready"), Provider: provider("webhook.tablet"),
				Template: "{{ customer.attributes.name }} picks up order {{ event.order_id }}"},
			{Block: block("trigger.pickup_ready"), Provider: provider("webhook.tablet"), Index: 1, Template: "Order {{ event.order_id }} is late"},
		},
	}
}

// A message through a pure sender is shown under its block, with no create and no count in
// the summary: nothing is made for it anywhere.
func TestSendsGolden(t *testing.T) {
	var txt, md, js bytes.Buffer
	Text(&txt, sendsPlan(), false)
	golden(t, "plan-sends.txt", txt.Bytes())
	Markdown(&md, sendsPlan())
	golden(t, "plan-sends.md", md.Bytes())
	if err := JSON(&js, sendsPlan(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-sends.json", js.Bytes())
	var doc struct {
		Summary map[string]int `json:"summary"`
		Sends   []struct {
			Block, Provider, Template string
			Index                     int
		} `json:"sends"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary["add"] != 2 || len(doc.Sends) != 4 || doc.Sends[3].Block != "trigger.pickup_ready" ||
		doc.Sends[3].Provider != "webhook.tablet" || doc.Sends[3].Index != 1 {
		t.Errorf("summary %v and sends %+v; want 2 to add and the 4 sends in order", doc.Summary, doc.Sends)
	}
	if !bytes.Contains(txt.Bytes(), []byte("Plan: 2 to add, 0 to change")) {
		t.Error("a send is counted as a change")
	}
	var plain bytes.Buffer
	JSON(&plain, samplePlan(), nil)
	if bytes.Contains(plain.Bytes(), []byte(`"sends"`)) {
		t.Error("a plan without sends has a sends field")
	}
}

// schedulesPlan pushes a rule bundle with campaign messages that go out at set times: one
// through a provider that keeps messages, which is created, one through a pure sender, and
// one whose time had passed when the plan was made.
func schedulesPlan() *plans.Plan {
	return &plans.Plan{
		FormatVersion: plans.FormatVersion, ToolVersion: "v0.1.0", Mode: plans.Normal, Lineage: "lineage-1", Serial: 4,
		Descriptions: map[addrs.Block]string{block("campaign.xmas"): "Christmas"},
		Changes: []*plans.Change{
			{Address: at("campaign.xmas.message[sandbox.line]"), Block: block("campaign.xmas"), Kind: providers.KindMessage, Provider: provider("sandbox.line"),
				Action: plans.Create, After: providers.Attrs{"name": "campaign.xmas", "template": "メリークリスマス", "audience": "segment.loyal.audience[sandbox.line]"}},
			{Address: at("musubi.rules.rules[engine.main]"), Block: block("musubi.rules"), Kind: providers.KindRules, Provider: provider("engine.main"),
				Action: plans.Update, ID: "rules", Before: providers.Attrs{"summary": "1 source, 0 traits, 1 segment, 0 triggers", "bundle_hash": "77aa"},
				After: providers.Attrs{"summary": "1 source, 0 traits, 1 segment, 0 triggers", "bundle_hash": "9f2c"}, Changed: []string{"bundle_hash"}},
		},
		Sends: []*plans.Send{
			{Block: block("campaign.xmas"), Provider: provider("webhook.crm"), Template: "Christmas sale for {{ customer.id }}"},
		},
		Schedules: []*plans.Schedule{
			{Block: block("campaign.spring"), Provider: provider("sandbox.line"), SendAt: "2026-11-01T10:00:00+08:00", Timezone: "Asia/Shanghai", Past: true},
			{Block: block("campaign.xmas"), Provider: provider("sandbox.line"), SendAt: "2026-12-24T10:00:00+09:00", Timezone: "Asia/Tokyo"},
			{Block: block("campaign.xmas"), Provider: provider("sandbox.line"), Index: 1, SendAt: "2026-12-25T09:00:00+09:00", Timezone: "Asia/Tokyo"},
			{Block: block("campaign.xmas"), Provider: provider("webhook.crm"), SendAt: "2026-12-24T01:00:00Z", Timezone: "Asia/Tokyo"},
		},
	}
}

// A scheduled campaign message shows when it goes out, under its campaign and in the zone it
// was written in; one whose time has passed says it goes out at once.
func TestSchedulesGolden(t *testing.T) {
	var txt, md, js bytes.Buffer
	Text(&txt, schedulesPlan(), false)
	golden(t, "plan-schedules.txt", txt.Bytes())
	Markdown(&md, schedulesPlan())
	golden(t, "plan-schedules.md", md.Bytes())
	if err := JSON(&js, schedulesPlan(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-schedules.json", js.Bytes())
	for _, want := range []string{"message through provider.sandbox.line sends at 2026-12-24 10:00 JST", "message 2 through provider.sandbox.line sends at 2026-12-25 09:00 JST",
		"message through provider.webhook.crm sends at 2026-12-24 10:00 JST", "2026-11-01 10:00 CST (already past"} {
		if !bytes.Contains(txt.Bytes(), []byte(want)) {
			t.Errorf("the text plan does not say %q", want)
		}
	}
	var doc struct {
		Summary   map[string]int    `json:"summary"`
		Schedules []*plans.Schedule `json:"schedules"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary["add"] != 1 || doc.Summary["change"] != 1 || len(doc.Schedules) != 4 || !doc.Schedules[0].Past || doc.Schedules[2].Index != 1 {
		t.Errorf("summary %v and schedules %+v", doc.Summary, doc.Schedules)
	}
	var plain bytes.Buffer
	JSON(&plain, sendsPlan(), nil)
	if bytes.Contains(plain.Bytes(), []byte(`"schedules"`)) {
		t.Error("a plan without schedules has a schedules field")
	}
}

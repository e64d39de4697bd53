package render

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/musubi-hq/musubi/planner/plans"
)

// estimatesPlan pushes a rule bundle that changes a segment and a campaign's message, whose
// code pool is smaller than the audience, to an engine with customers.
func estimatesPlan() *plans.Plan {
	p := schedulesPlan()
	p.Schedules = nil
	p.Sends = nil
	p.Descriptions[block("segment.loyal")] = "Store regulars"
	p.Estimates = []*plans.Estimate{{Provider: provider("engine.main"), Customers: 1200,
		Segments: []*plans.SegmentEstimate{{Block: block("segment.loyal"), Status: "changed", Now: 850, New: 1020},
			{Block: block("segment.lapsed"), Status: "new", New: 40}},
		Campaigns: []*plans.CampaignEstimate{{Block: block("campaign.xmas"), Audience: block("segment.loyal"), Members: 1020, Reach: 800,
			ByChannel: map[string]int{"sandbox.line": 800}, CodeCount: 1000}},
		Previews: []*plans.Preview{{Block: block("campaign.xmas"), Provider: provider("sandbox.line"), Status: "changed", Code: "XMS-7K2M",
			Samples: []plans.PreviewSample{
				{Customer: "c_aaaaaaaaaaaaaaaaaaaa", Gets: "vip", Variants: []plans.RenderedVariant{
					{Text: "メリークリスマス\nコード: XMS-7K2M"}, {Name: "vip", Text: "```VIP``` XMS-7K2M"}}},
				{Customer: "c_bbbbbbbbbbbbbbbbbbbb", Variants: []plans.RenderedVariant{
					{Text: "メリークリスマス\nコード: XMS-7K2M"}, {Name: "vip", Error: "no such key: tier"}}},
			}}},
	}}
	return p
}

// A pushed bundle shows the members of its changed segments, its campaigns' reach, a code
// pool short of the audience, and its changed messages for sample customers; JSON carries
// the numbers, not the previews.
func TestEstimatesGolden(t *testing.T) {
	var txt, md, js bytes.Buffer
	Text(&txt, estimatesPlan(), false)
	golden(t, "plan-estimates.txt", txt.Bytes())
	Markdown(&md, estimatesPlan())
	golden(t, "plan-estimates.md", md.Bytes())
	if err := JSON(&js, estimatesPlan(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-estimates.json", js.Bytes())
	var doc struct {
		Estimates []*plans.Estimate `json:"estimates"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Estimates) != 1 || doc.Estimates[0].Segments[0].New != 1020 || doc.Estimates[0].Previews != nil {
		t.Errorf("JSON estimates: %+v", doc.Estimates)
	}

	// No data and a failure are notes, not errors.
	p := estimatesPlan()
	p.Estimates = []*plans.Estimate{{Provider: provider("engine.main"), NoData: true}, {Provider: provider("engine.prod"), Error: "musubi serve at https://rules.example.jp is not reachable"}}
	txt.Reset()
	Text(&txt, p, false)
	for _, want := range []string{"≈ no engine data: provider.engine.main has no customers yet", "! audience sizes from provider.engine.prod are unavailable: musubi serve at https://rules.example.jp is not reachable"} {
		if !bytes.Contains(txt.Bytes(), []byte(want)) {
			t.Errorf("the text plan does not say %q:\n%s", want, txt.String())
		}
	}
}

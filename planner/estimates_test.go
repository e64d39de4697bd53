package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// fakeEstimator is an engine that answers estimates as given, and records what it was asked.
type fakeEstimator struct {
	memRules
	resp providers.EstimateResponse
	reqs []providers.EstimateRequest
}

func (f *fakeEstimator) Estimate(_ context.Context, req providers.EstimateRequest) providers.EstimateResponse {
	f.reqs = append(f.reqs, req)
	return f.resp
}

// A plan that pushes a bundle asks the engine for estimates with the bundle and how each
// messaging provider reaches customers, keeps the new and changed segments and the campaigns
// they feed, warns of a code pool smaller than the audience, and hands policies the members.
func TestPlanEstimates(t *testing.T) {
	f := pureSenderFixture(t)
	f.config = strings.Replace(f.config, `      count   = 20`, `      count   = 2`, 1) + `
policy "small" {
  applies_to = "segment"
  condition  = "segment.estimated_members < 3"
  message    = "too large"
}
`
	est := &fakeEstimator{memRules: memRules{newMem()}, resp: providers.EstimateResponse{Customers: 10,
		Segments: []providers.SegmentEstimate{{Name: "regulars", Status: "changed", Now: 2, New: 5}},
		Campaigns: []providers.CampaignEstimate{{Name: "spring", Audience: "regulars", Members: 5, Reach: 4,
			ByChannel: map[string]int{"mem.tablet": 4}}},
		Previews: []providers.MessagePreview{{Owner: "campaign.spring", Via: "mem.tablet", Status: "new", Code: "SPR-1",
			Samples: []providers.PreviewSample{{Customer: "c_1", Variants: []providers.RenderedVariant{{Text: "Spring sale: SPR-1"}}}}}}}}
	f.others["engine.main"] = est
	p, _ := f.plan()
	if len(est.reqs) != 1 || !strings.Contains(est.reqs[0].Bundle, `"regulars"`) || est.reqs[0].Channels["mem.tablet"].Address != "member" ||
		est.reqs[0].Samples != 0 || len(est.reqs[0].Customers) != 1 || est.reqs[0].Customers[0].Name != "sample" {
		t.Fatalf("requests: %+v", est.reqs)
	}
	if len(p.Estimates) != 1 {
		t.Fatalf("estimates: %+v", p.Estimates)
	}
	e := p.Estimates[0]
	if e.Provider.String() != "engine.main" || e.Customers != 10 || len(e.Segments) != 1 || e.Segments[0].New != 5 ||
		len(e.Campaigns) != 1 || e.Campaigns[0].CodeCount != 2 || e.Campaigns[0].CodesShort() != 3 || len(e.Previews) != 1 ||
		e.Previews[0].Block.String() != "campaign.spring" {
		t.Fatalf("estimate: %+v", e)
	}
	if len(p.Policies) != 1 || p.Policies[0].Block.String() != "segment.regulars" {
		t.Fatalf("policies: %+v", p.Policies)
	}

	// An engine that cannot tell: the plan goes on and says why; policies see 0.
	est.resp = providers.EstimateResponse{Diagnostics: providers.Errorf("Store busy", "the engine store is locked")}
	p, _ = f.plan()
	if len(p.Estimates) != 1 || !strings.Contains(p.Estimates[0].Error, "locked") || len(p.Policies) != 0 {
		t.Fatalf("a failed estimate: %+v, policies %+v", p.Estimates[0], p.Policies)
	}

	// No data: no counts to show.
	est.resp = providers.EstimateResponse{NoData: true, Segments: []providers.SegmentEstimate{{Name: "regulars", Status: "new"}},
		Previews: est.resp.Previews}
	p, _ = f.plan()
	if e := p.Estimates[0]; !e.NoData || len(e.Segments) != 0 || len(e.Campaigns) != 0 {
		t.Fatalf("no data: %+v", e)
	}
}

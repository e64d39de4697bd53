package planner

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// estimateTimeout bounds how long a plan waits for an engine's estimate: past it, the plan
// goes on without the numbers.
const estimateTimeout = 2 * time.Minute

// estimates asks every engine the plan pushes a new rule bundle to what the bundle would make
// of its customers (providers.Estimator). An engine that cannot tell says why in the plan;
// the plan never fails for it. members are every segment's members under the bundle, from the
// first engine with data, for policies.
func (pl *Planner) estimates(ctx context.Context, changes []*plans.Change, opts Options) (out []*plans.Estimate, members map[string]int) {
	members = map[string]int{}
	for _, c := range changes {
		if c.Kind != providers.KindRules || c.Action == plans.NoOp || c.Action == plans.Delete {
			continue
		}
		hp, ok := pl.Host.get(c.Provider.String())
		if !ok {
			continue
		}
		est, ok := hp.p.(providers.Estimator)
		if !ok {
			continue
		}
		req := providers.EstimateRequest{Bundle: c.After.String("bundle"), Channels: pl.channels()}
		switch {
		case opts.PreviewFromEngine:
			req.Samples = providers.MaxPreviewSamples
		case len(opts.PreviewCustomers) > 0:
			req.Customers = opts.PreviewCustomers
		default:
			req.Customers = []providers.SampleCustomer{{Name: "sample"}}
		}
		start := time.Now()
		ectx, cancel := context.WithTimeout(ctx, estimateTimeout)
		resp := est.Estimate(ectx, req)
		cancel()
		slog.Debug("estimated", "provider", c.Provider, "customers", resp.Customers, "took", time.Since(start))
		e := &plans.Estimate{Provider: c.Provider}
		if resp.Diagnostics.HasErrors() {
			e.Error = resp.Diagnostics.Err().Error()
			out = append(out, e)
			continue
		}
		e.Customers, e.NoData = resp.Customers, resp.NoData
		pl.fillEstimate(e, &resp, changes)
		out = append(out, e)
		for _, s := range resp.Segments {
			if _, seen := members[s.Name]; !seen && !resp.NoData {
				members[s.Name] = s.New
			}
		}
	}
	return out, members
}

// channels says how each messaging provider of the configuration reaches customers.
func (pl *Planner) channels() map[string]providers.ChannelSupport {
	out := map[string]providers.ChannelSupport{}
	for _, name := range pl.Host.Names() {
		hp, ok := pl.Host.get(name)
		if !ok {
			continue
		}
		if s, ok := hp.p.(providers.Sender); ok {
			ms := s.Messaging()
			out[name] = providers.ChannelSupport{Address: ms.Address, Consent: ms.Consent}
		}
	}
	return out
}

// fillEstimate keeps what a plan shows of an engine's answer: the new and changed segments,
// the campaigns whose audience or block changes or whose code pool is short, and the new and
// changed messages.
func (pl *Planner) fillEstimate(e *plans.Estimate, resp *providers.EstimateResponse, changes []*plans.Change) {
	changed := map[addrs.Block]bool{}
	for _, c := range changes {
		if c.Action != plans.NoOp {
			changed[c.Block] = true
		}
	}
	moved := map[string]bool{}
	if resp.NoData {
		resp = &providers.EstimateResponse{Previews: resp.Previews} // no counts to show
	}
	for _, s := range resp.Segments {
		if s.Status == providers.EstimateUnchanged {
			continue
		}
		moved[s.Name] = true
		e.Segments = append(e.Segments, &plans.SegmentEstimate{Block: addrs.Block{Type: "segment", Name: s.Name},
			Status: s.Status, Now: s.Now, New: s.New})
	}
	for _, c := range resp.Campaigns {
		ce := &plans.CampaignEstimate{Block: addrs.Block{Type: "campaign", Name: c.Name}, Audience: addrs.Block{Type: "segment", Name: c.Audience},
			Members: c.Members, Reach: c.Reach, ByChannel: c.ByChannel}
		if lc := pl.Config.Campaigns[c.Name]; lc != nil && lc.Coupon != nil && lc.Coupon.Codes != nil {
			ce.CodeCount = lc.Coupon.Codes.Count
		}
		if moved[c.Audience] || changed[ce.Block] || ce.CodesShort() > 0 {
			e.Campaigns = append(e.Campaigns, ce)
		}
	}
	for _, p := range resp.Previews {
		typ, name, _ := strings.Cut(p.Owner, ".")
		prov, _ := addrs.ParseProvider(p.Via)
		pv := &plans.Preview{Block: addrs.Block{Type: typ, Name: name}, Provider: prov, Index: p.Index, Status: p.Status, Code: p.Code}
		for _, s := range p.Samples {
			ps := plans.PreviewSample{Customer: s.Customer, Gets: s.Gets}
			for _, v := range s.Variants {
				ps.Variants = append(ps.Variants, plans.RenderedVariant{Name: v.Name, Subject: lang.EscapeControls(v.Subject),
					Text: v.Text, Error: v.Error})
			}
			pv.Samples = append(pv.Samples, ps)
		}
		e.Previews = append(e.Previews, pv)
	}
}

// describeEstimates adds the descriptions of the blocks only estimates are shown under.
func describeEstimates(cfg *lang.Config, out map[addrs.Block]string, es []*plans.Estimate) {
	add := func(b addrs.Block) {
		var d string
		switch b.Type {
		case "campaign":
			if x := cfg.Campaigns[b.Name]; x != nil {
				d = x.Description
			}
		case "segment":
			if x := cfg.Segments[b.Name]; x != nil {
				d = x.Description
			}
		}
		if d != "" {
			out[b] = d
		}
	}
	for _, e := range es {
		for _, s := range e.Segments {
			add(s.Block)
		}
		for _, c := range e.Campaigns {
			add(c.Block)
		}
		for _, p := range e.Previews {
			add(p.Block)
		}
	}
}

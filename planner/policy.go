package planner

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
)

// checkPolicies evaluates every policy on every block it applies to. A policy that cannot be
// evaluated fails, with the evaluation error as its message: a rule nobody can check must not
// pass silently. members are the segments' estimated members (absent: unknown, 0).
func (pl *Planner) checkPolicies(members map[string]int) []*plans.PolicyResult {
	var out []*plans.PolicyResult
	cfg := pl.Config
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p.Condition == nil {
			continue
		}
		for _, obj := range policySubjects(cfg, p.AppliesTo, members) {
			ok, err := p.Condition.EvalBool(map[string]any{p.AppliesTo: obj.value, "now": time.Now()})
			msg := p.Message
			if err != nil {
				ok, msg = false, fmt.Sprintf("%s (the policy could not be evaluated: %v)", p.Message, err)
			}
			if !ok {
				out = append(out, &plans.PolicyResult{Policy: name, Block: obj.addr, Severity: p.Severity, Message: msg})
			}
		}
	}
	return out
}

type policySubject struct {
	addr  addrs.Block
	value map[string]any
}

// policySubjects builds the CEL values of the blocks a policy applies to, in the shape of
// lang's CampaignType, SegmentType and TriggerType.
func policySubjects(cfg *lang.Config, kind string, members map[string]int) []policySubject {
	var out []policySubject
	switch kind {
	case "campaign":
		for _, n := range slices.Sorted(maps.Keys(cfg.Campaigns)) {
			out = append(out, policySubject{addrs.Block{Type: "campaign", Name: n}, CampaignValue(cfg.Campaigns[n])})
		}
	case "segment":
		for _, n := range slices.Sorted(maps.Keys(cfg.Segments)) {
			s := cfg.Segments[n]
			v := map[string]any{"name": n, "description": s.Description, "estimated_members": int64(members[n])}
			if s.Condition != nil {
				v["condition"] = s.Condition.Source
			}
			out = append(out, policySubject{addrs.Block{Type: "segment", Name: n}, v})
		}
	case "trigger":
		for _, n := range slices.Sorted(maps.Keys(cfg.Triggers)) {
			t := cfg.Triggers[n]
			v := map[string]any{"name": n, "on": t.On, "cooldown": t.Cooldown, "delay": t.Delay, "at": t.At}
			if t.Wait != nil {
				v["delay"] = t.Wait.For
			}
			if t.Condition != nil {
				v["condition"] = t.Condition.Source
			}
			var actions, channels []any
			for _, a := range t.Actions {
				actions = append(actions, string(a.Type))
				if a.Message != nil {
					channels = append(channels, a.Message.Via.String())
				}
			}
			v["actions"], v["channels"] = actions, channels
			out = append(out, policySubject{addrs.Block{Type: "trigger", Name: n}, v})
		}
	}
	return out
}

// CampaignValue is a campaign as the CEL value policies and message templates see.
func CampaignValue(c *lang.Campaign) map[string]any {
	bc := rules.CampaignOf(c, "")
	v := bc.Value()
	// The stores are the channels' business, not the engine's: the bundle does not carry them.
	if coupon, ok := v["coupon"].(map[string]any); ok && c.Coupon != nil && len(c.Coupon.Stores) > 0 {
		stores := make([]any, len(c.Coupon.Stores))
		for i, s := range c.Coupon.Stores {
			stores[i] = s
		}
		coupon["stores"] = stores
	}
	return v
}

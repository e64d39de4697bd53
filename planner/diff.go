package planner

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// diff compares the desired instances with the refreshed state and decides, per instance,
// create, update in place, replace, delete or nothing.
func (pl *Planner) diff(ctx context.Context, desired []*Desired, prior *states.State, opts Options) ([]*plans.Change, hcl.Diagnostics) {
	targeted := targetSet(desired, prior, opts.Targets)
	wanted := make(map[string]bool, len(desired))
	changes := make([]*plans.Change, len(desired))
	var diags hcl.Diagnostics
	var mu sync.Mutex
	forEach(len(desired), opts.Parallelism, func(i int) {
		d := desired[i]
		addr := d.Addr.String()
		mu.Lock()
		wanted[addr] = true
		mu.Unlock()
		if targeted != nil && !targeted[addr] {
			return
		}
		c, cdiags := pl.diffOne(ctx, d, prior.Find(addr), opts)
		mu.Lock()
		diags = append(diags, cdiags...)
		mu.Unlock()
		changes[i] = c
	})
	var out []*plans.Change
	for _, c := range changes {
		if c != nil {
			out = append(out, c)
		}
	}
	for _, r := range prior.Resources() {
		if wanted[r.Address] || (targeted != nil && !targeted[r.Address]) {
			continue
		}
		reason := "its block was removed from the configuration"
		if opts.Mode == plans.Destroy {
			reason = "destroy"
		}
		out = append(out, &plans.Change{
			Address: r.Address, Block: blockOf(r.Address), Kind: r.Kind, Provider: r.Provider, Action: plans.Delete,
			ID: r.ID, Before: visible(r.Kind, r.Attributes), Dependencies: r.Dependencies, Reason: reason,
		})
	}
	propagateReplace(out, pl.Host)
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, diags
}

func (pl *Planner) diffOne(ctx context.Context, d *Desired, r *states.Resource, opts Options) (*plans.Change, hcl.Diagnostics) {
	addr := d.Addr.String()
	hp, _ := pl.Host.get(d.Addr.Provider.String())
	c := &plans.Change{
		Address: addr, Block: d.Addr.Block.String(), Kind: d.Addr.Kind, Provider: d.Addr.Provider.String(),
		Refs: refStrings(d.Refs), Dependencies: depStrings(d),
	}
	var prior providers.Attrs
	if r != nil && r.ID != "" {
		prior = r.Attributes
		c.ID = r.ID
	}
	resp := hp.p.Plan(ctx, providers.PlanRequest{Kind: d.Addr.Kind, ID: c.ID, Prior: prior, Proposed: d.Attrs.Clone()})
	if resp.Diagnostics.HasErrors() {
		return nil, providerDiags(resp.Diagnostics, fmt.Sprintf("%s (provider.%s)", c.Block, hp.name), d.Range, d.AttrRanges)
	}
	planned := resp.Planned
	if planned == nil {
		planned = d.Attrs
	}
	if prior == nil {
		c.Action = plans.Create
		c.After = planned
		c.IdempotencyKey = newIdempotencyKey()
		if r != nil && r.Pending != nil {
			// The interrupted create may still land; keep its key so it cannot land twice.
			c.IdempotencyKey = r.Pending.IdempotencyKey
		}
		return c, nil
	}
	c.Changed = managedDiff(d.Addr.Kind, hp, prior, planned)
	for _, name := range providers.Diff(d.Addr.Kind, prior, planned) {
		if a, _ := schemaAttr(d.Addr.Kind, name); a.Private && !slices.Contains(c.Changed, name) {
			c.Changed = append(c.Changed, name)
		}
	}
	sort.Strings(c.Changed)
	for _, name := range c.Changed {
		if hp.forceNew[d.Addr.Kind][name] || slices.Contains(resp.RequiresReplace, name) {
			c.ReplacePaths = append(c.ReplacePaths, name)
		}
	}
	forced := false
	for _, t := range opts.Replace {
		if t.Matches(d.Addr) {
			forced = true
		}
	}
	switch {
	case len(c.ReplacePaths) > 0 || forced:
		c.Action = plans.Replace
		c.Before, c.After = prior, planned
		c.IdempotencyKey = newIdempotencyKey()
		if forced && len(c.ReplacePaths) == 0 {
			c.Reason = "replacement requested with -replace"
		}
	case len(c.Changed) > 0:
		c.Action = plans.Update
		c.Before, c.After = prior, planned
	default:
		c.Action = plans.NoOp
		c.Before, c.After = prior, planned
	}
	return c, nil
}

// propagateReplace replaces the instances that refer to a replaced one through an attribute
// their provider cannot change in place: a code pool belongs to one coupon for life.
func propagateReplace(changes []*plans.Change, h *Host) {
	byAddr := make(map[string]*plans.Change, len(changes))
	for _, c := range changes {
		byAddr[c.Address] = c
	}
	for again := true; again; {
		again = false
		for _, c := range changes {
			if c.Action != plans.NoOp && c.Action != plans.Update {
				continue
			}
			hp, ok := h.get(c.Provider)
			if !ok {
				continue
			}
			for attr, target := range c.Refs {
				dep := byAddr[target]
				if dep == nil || dep.Action != plans.Replace || !hp.forceNew[c.Kind][attr] {
					continue
				}
				c.Action = plans.Replace
				c.ReplacePaths = append(c.ReplacePaths, attr)
				c.Reason = fmt.Sprintf("%s %s is replaced", attr, target)
				c.IdempotencyKey = newIdempotencyKey()
				again = true
			}
		}
	}
}

// targetSet returns the addresses a targeted plan covers: the targets, and what the targeted
// desired instances depend on. nil means everything.
func targetSet(desired []*Desired, prior *states.State, targets []addrs.Target) map[string]bool {
	if len(targets) == 0 {
		return nil
	}
	byAddr := map[string]*Desired{}
	for _, d := range desired {
		byAddr[d.Addr.String()] = d
	}
	set := map[string]bool{}
	var include func(addr string)
	include = func(addr string) {
		if set[addr] {
			return
		}
		set[addr] = true
		if d := byAddr[addr]; d != nil {
			for _, dep := range d.Refs {
				include(dep.String())
			}
		}
	}
	for _, t := range targets {
		for _, d := range desired {
			if t.Matches(d.Addr) {
				include(d.Addr.String())
			}
		}
		for _, r := range prior.Resources() {
			if a, err := addrs.ParseInstance(r.Address); err == nil && t.Matches(a) {
				set[r.Address] = true
			}
		}
	}
	return set
}

func refStrings(refs map[string]addrs.Instance) map[string]string {
	if len(refs) == 0 {
		return nil
	}
	out := make(map[string]string, len(refs))
	for k, v := range refs {
		out[k] = v.String()
	}
	return out
}

func depStrings(d *Desired) []string {
	deps := d.Deps()
	if len(deps) == 0 {
		return nil
	}
	out := make([]string, len(deps))
	for i, a := range deps {
		out[i] = a.String()
	}
	return out
}

func schemaAttr(k providers.Kind, name string) (providers.AttributeSchema, bool) {
	ks, err := providers.SchemaOf(k)
	if err != nil {
		return providers.AttributeSchema{}, false
	}
	return ks.Attribute(name)
}

// newIdempotencyKey returns a fresh key for one planned create. It is random, not derived
// from the address, so a replacement never collides with the object it replaces.
func newIdempotencyKey() string { return providers.NewKey() }

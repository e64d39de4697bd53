package planner

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
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
	wanted := make(map[addrs.Instance]bool, len(desired))
	changes := make([]*plans.Change, len(desired))
	var diags hcl.Diagnostics
	var mu sync.Mutex
	forEach(len(desired), opts.Parallelism, func(i int) {
		d := desired[i]
		mu.Lock()
		wanted[d.Addr] = true
		mu.Unlock()
		if targeted != nil && !targeted[d.Addr] {
			return
		}
		c, cdiags := pl.diffOne(ctx, d, prior.Find(d.Addr), opts)
		// The change keeps what it needs of the instance: its attributes, held nowhere else
		// now, are let go while the rest is compared (Plan reads desired no more).
		desired[i] = nil
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
			Address: r.Address, Block: r.Address.Block, Kind: r.Kind, Provider: r.Provider, Action: plans.Delete,
			ID: r.ID, Before: visible(r.Kind, r.Attributes), Dependencies: r.Dependencies, Reason: reason,
		})
	}
	propagateReplace(out, pl.Host)
	addrs.Sort(out, func(c *plans.Change) addrs.Instance { return c.Address })
	return out, diags
}

func (pl *Planner) diffOne(ctx context.Context, d *Desired, r *states.Resource, opts Options) (*plans.Change, hcl.Diagnostics) {
	hp, _ := pl.Host.get(d.Addr.Provider.String())
	c := &plans.Change{
		Address: d.Addr, Block: d.Addr.Block, Kind: d.Addr.Kind, Provider: d.Addr.Provider,
		Refs: d.Refs, Dependencies: d.Deps(),
	}
	var prior providers.Attrs
	if r != nil && r.ID != "" {
		prior = r.Attributes
		c.ID = r.ID
	}
	resp := hp.p.Plan(ctx, providers.PlanRequest{Kind: d.Addr.Kind, ID: c.ID, Prior: prior, Proposed: d.Attrs.Clone()})
	if resp.Diagnostics.HasErrors() {
		return nil, providerDiags(resp.Diagnostics, fmt.Sprintf("%s (provider.%s)", c.Block, hp.name), d.Range, d.AttrRange)
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
	// The change is what differs among the attributes the provider manages, and the private
	// ones, in one pass over Diff's sorted list.
	for _, name := range providers.Diff(d.Addr.Kind, prior, planned) {
		if a, _ := schemaAttr(d.Addr.Kind, name); hp.attrs[d.Addr.Kind][name] || a.Private {
			c.Changed = append(c.Changed, name)
		}
	}
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
		if sameAttrs(prior, planned) {
			// Nothing differs at all, down to each value's type: the change shares the
			// state's attributes, and a large no-op plan holds one copy of each object.
			planned = prior
		}
		c.Before, c.After = prior, planned
	}
	return c, nil
}

// sameAttrs reports whether two attribute maps hold the same values of the same types, so
// that either renders and saves exactly as the other.
func sameAttrs(a, b providers.Attrs) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || !sameValue(av, bv) {
			return false
		}
	}
	return true
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y) && !math.IsNaN(x)
	case int:
		y, ok := b.(int)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case []string:
		y, ok := b.([]string)
		return ok && slices.Equal(x, y) && (x == nil) == (y == nil)
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && (x == nil) == (y == nil) && sameAttrs(x, y)
	case nil:
		return b == nil
	}
	return reflect.DeepEqual(a, b)
}

// propagateReplace replaces the instances that refer to a replaced one through an attribute
// their provider cannot change in place: a code pool belongs to one coupon for life.
func propagateReplace(changes []*plans.Change, h *Host) {
	byAddr := make(map[addrs.Instance]*plans.Change, len(changes))
	for _, c := range changes {
		byAddr[c.Address] = c
	}
	for again := true; again; {
		again = false
		for _, c := range changes {
			if c.Action != plans.NoOp && c.Action != plans.Update {
				continue
			}
			hp, ok := h.get(c.Provider.String())
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
func targetSet(desired []*Desired, prior *states.State, targets []addrs.Target) map[addrs.Instance]bool {
	if len(targets) == 0 {
		return nil
	}
	byAddr := map[addrs.Instance]*Desired{}
	for _, d := range desired {
		byAddr[d.Addr] = d
	}
	set := map[addrs.Instance]bool{}
	var include func(addr addrs.Instance)
	include = func(addr addrs.Instance) {
		if set[addr] {
			return
		}
		set[addr] = true
		if d := byAddr[addr]; d != nil {
			for _, dep := range d.Refs {
				include(dep)
			}
		}
	}
	for _, t := range targets {
		for _, d := range desired {
			if t.Matches(d.Addr) {
				include(d.Addr)
			}
		}
		for _, r := range prior.Resources() {
			if t.Matches(r.Address) {
				set[r.Address] = true
			}
		}
	}
	return set
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

package planner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
)

// unheld refuses the attributes a desired instance sets that its provider's kind does not
// hold, each at the attribute's place in the configuration: a `stores` on a channel that
// cannot limit a coupon to some stores, a per-customer limit on a register without one. Plan
// runs it against each started provider, and CheckHeld against the built-in providers'
// schemas, so validate and plan refuse the same things in the same words.
func unheld(d *Desired, provider string, ks providers.KindSupport) hcl.Diagnostics {
	var diags hcl.Diagnostics
	block := d.Addr.Block.String()
	for _, name := range ks.Unheld(d.Attrs) {
		rng := d.Range
		if r, ok := d.AttrRanges[name]; ok {
			rng = r
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Provider cannot do this",
			Detail: fmt.Sprintf("%s sets %s on its %s, but provider.%s cannot express %s for a %s.",
				block, name, d.Addr.Kind, provider, name, d.Addr.Kind),
			Subject: rng.Ptr()})
	}
	return diags
}

// CheckHeld refuses, without starting any provider, what the configuration asks of a
// built-in provider that the provider cannot hold: the attribute check plan runs (unheld),
// made against the kinds each built-in type reports before it is configured, which are what
// the type can do at all (a sandbox, what any of its systems can). It reads no secret, calls
// no system and touches no state, so `musubi validate` runs it. Plugins, whose schemas come
// from a running binary, and kinds a provider does not manage are left to plan.
func CheckHeld(ctx context.Context, cfg *lang.Config) hcl.Diagnostics {
	caps := staticCaps{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		typ, builtin := strings.CutPrefix(cfg.Providers[name].Source, "builtin/")
		if !builtin {
			continue
		}
		reg, ok := providers.Lookup(typ)
		if !ok {
			continue
		}
		p := reg.New()
		s := p.Schema(ctx)
		p.Close()
		if !s.Diagnostics.HasErrors() {
			caps[name] = s.Kinds
		}
	}
	var diags hcl.Diagnostics
	for _, d := range Expand(cfg, nil, caps) {
		kinds, ok := caps[d.Addr.Provider.String()]
		if !ok {
			continue
		}
		if ks, ok := kinds[d.Addr.Kind]; ok {
			diags = append(diags, unheld(d, d.Addr.Provider.String(), ks)...)
		}
	}
	sortDiags(diags)
	return diags
}

// staticCaps answers Expand from the built-in providers' schemas, by provider name. A
// provider it does not know is taken to manage everything and send nothing, as a Host takes
// one that is not started.
type staticCaps map[string]map[providers.Kind]providers.KindSupport

func (c staticCaps) Codeless(provider string) bool {
	return c[provider][providers.KindCoupon].Codeless
}

func (c staticCaps) Topics(provider string) []string {
	return c[provider][providers.KindSubscription].Topics
}

func (c staticCaps) Subscribes(provider string) bool {
	return c.Manages(provider, providers.KindSubscription)
}

func (c staticCaps) Sends(string) bool { return false }

func (c staticCaps) Manages(provider string, k providers.Kind) bool {
	kinds, ok := c[provider]
	if !ok {
		return true
	}
	_, ok = kinds[k]
	return ok
}

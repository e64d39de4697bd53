package planner

import (
	"context"
	"fmt"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// Import reads an object that already exists in a system (a coupon made by hand in its admin,
// say), records it in the state at addr, which the configuration must declare, and saves the
// state. The next plan shows any difference between the object and the configuration.
func (pl *Planner) Import(ctx context.Context, backend states.Backend, addr addrs.Instance, id, toolVersion string) error {
	if diags := checkAccounts(pl.State, pl.Host, pl.Config); diags.HasErrors() {
		return diags
	}
	var want *Desired
	for _, d := range Expand(pl.Config, pl.State, pl.Host) {
		if d.Addr == addr {
			want = d
		}
	}
	if want == nil {
		return fmt.Errorf("the configuration declares no %s; write its block first, then import", addr)
	}
	if pl.State.Find(addr) != nil {
		return fmt.Errorf("%s is already managed; remove it with musubi state rm first to import another object", addr)
	}
	hp, ok := pl.Host.get(addr.Provider.String())
	if !ok {
		return fmt.Errorf("provider.%s is not configured", addr.Provider)
	}
	resp := hp.p.Import(ctx, providers.ImportRequest{Kind: addr.Kind, ID: id})
	if err := resp.Diagnostics.Err(); err != nil {
		return fmt.Errorf("importing %s from provider.%s: %w", id, addr.Provider, err)
	}
	// A system does not hold private attributes (a pool's seed) or Musubi's references: they
	// come from the configuration.
	attrs := resp.Attributes.Clone()
	for name, v := range want.Attrs {
		if a, ok := schemaAttr(addr.Kind, name); ok && (a.Private || a.Type == providers.Ref) {
			attrs[name] = v
		}
	}
	pl.State.Put(&states.Resource{Address: addr, Kind: addr.Kind, Provider: addr.Provider, ID: id,
		Attributes: attrs, Dependencies: want.Deps()})
	recordAccounts(pl.State, pl.Host)
	return states.Save(ctx, backend, pl.State, toolVersion)
}

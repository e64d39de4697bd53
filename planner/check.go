package planner

import (
	"context"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/plugins"
	"github.com/musubi-hq/musubi/providers"
)

// Check refuses, without starting any provider, what plan refuses before it calls one,
// wherever the configuration alone tells: a backend other than the ones there are; a provider
// source naming no built-in provider; a provider block's attributes its type does not know,
// a credential written in a file, a required attribute missing; a kind a built-in provider
// does not manage (a message through a POS), an attribute its kind does not hold (a coupon's
// stores on a channel that cannot limit it to some stores); an identity source whose
// provider cannot bring its events in. Each check is the very function plan runs, against
// the schema each built-in type reports before it is configured, which is what the type can
// do at all, so validate and plan refuse the same things in the same words.
//
// It reads no secret, starts no plugin, calls no system and touches no state, so
// `musubi validate` runs it, on a configuration loaded without its environment variables
// (lang.LoadOptions.DeferEnv) too. Left to plan: what a provider checks once configured
// (its configuration's values, what the system it is configured for can do, its own checks
// of each resource), plugins, whose schemas come from a running binary, and what depends on
// the state (the account it was made with) or the live systems.
func Check(ctx context.Context, cfg *lang.Config) hcl.Diagnostics {
	_, _, diags := backendPath(cfg)
	caps := staticCaps{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		pb := cfg.Providers[name]
		typ, err := plugins.CheckSource(pb.Source)
		if err != nil {
			diags = append(diags, cannotStart(name, pb, err))
			continue
		}
		if typ == "" {
			continue // a plugin: its schema is the binary's, which plan starts
		}
		reg, _ := providers.Lookup(typ)
		p := reg.New()
		s := p.Schema(ctx)
		_, sends := p.(providers.Sender)
		_, receives := p.(providers.WebhookReceiver)
		_, polled := p.(providers.EventPoller)
		p.Close()
		if s.Diagnostics.HasErrors() {
			continue
		}
		_, cdiags := providerConfig(pb, s.Config)
		diags = append(diags, cdiags...)
		caps[name] = staticProvider{kinds: s.Kinds, sends: sends, receives: receives || polled}
	}
	for _, d := range Expand(cfg, nil, caps) {
		name := d.Addr.Provider.String()
		sp, ok := caps[name]
		if !ok {
			continue
		}
		if ds := unsupported(d, name, sp.kinds); ds != nil {
			diags = append(diags, ds...)
			continue
		}
		diags = append(diags, unheld(d, name, sp.kinds[d.Addr.Kind])...)
	}
	diags = append(diags, checkSources(cfg, caps)...)
	sortDiags(diags)
	return diags
}

// staticCaps answers Expand and checkSources from the built-in providers' types and the
// schemas they report before they are configured, by provider name. A provider it does not
// know (a plugin) is taken as a Host takes one that is not started: to manage everything,
// send nothing, and bring its events in.
type staticCaps map[string]staticProvider

// staticProvider is what a built-in provider's type can do at all.
type staticProvider struct {
	kinds map[providers.Kind]providers.KindSupport
	// sends: the type is a providers.Sender. Whom it addresses is configured, so a sender
	// that keeps no messages (a webhook) is taken to be a pure sender, as every configured
	// one is.
	sends bool
	// receives: the type takes its system's webhooks or is polled.
	receives bool
}

func (c staticCaps) Codeless(provider string) bool {
	return c[provider].kinds[providers.KindCoupon].Codeless
}

func (c staticCaps) Topics(provider string) []string {
	return c[provider].kinds[providers.KindSubscription].Topics
}

func (c staticCaps) Subscribes(provider string) bool {
	return c.Manages(provider, providers.KindSubscription)
}

func (c staticCaps) Receives(provider string) bool {
	sp, ok := c[provider]
	return !ok || sp.receives
}

func (c staticCaps) Sends(provider string) bool {
	return c[provider].sends
}

func (c staticCaps) Manages(provider string, k providers.Kind) bool {
	sp, ok := c[provider]
	if !ok {
		return true
	}
	_, ok = sp.kinds[k]
	return ok
}

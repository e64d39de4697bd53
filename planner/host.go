package planner

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/plugins"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Host starts and configures the providers a configuration declares and answers what each
// supports. Built-in providers run in-process; they share this one interface with plugins.
type Host struct {
	mu        sync.Mutex
	providers map[string]*hosted
}

type hosted struct {
	name     string
	p        providers.Provider
	schema   providers.SchemaResponse
	attrs    map[providers.Kind]map[string]bool
	forceNew map[providers.Kind]map[string]bool
	account  states.Account
}

// Source resolves a provider block's source to a provider. The default is plugins.Source:
// built-in providers in-process, plugin binaries as pinned by the lock file.
type Source func(p *lang.Provider) (providers.Provider, error)

// NewHost starts every provider of the configuration (or only those in use, when only is not
// nil) and configures it. Problems point at the provider block.
func NewHost(ctx context.Context, cfg *lang.Config, workDir string, source Source, only map[string]bool) (*Host, hcl.Diagnostics) {
	if source == nil {
		source = plugins.Source(workDir, nil)
	}
	h := &Host{providers: map[string]*hosted{}}
	if diags := requireEnv(cfg); diags != nil {
		return h, diags
	}
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		if only != nil && !only[name] {
			continue
		}
		pb := cfg.Providers[name]
		p, err := source(pb)
		if err != nil {
			diags = append(diags, cannotStart(name, pb, err))
			continue
		}
		hp := &hosted{name: name, p: p, schema: p.Schema(ctx)}
		conf, cdiags := providerConfig(pb, hp.schema.Config)
		hp.account = accountOf(pb, conf, hp.schema.Config)
		diags = append(diags, cdiags...)
		if cdiags.HasErrors() {
			p.Close()
			continue
		}
		resp := p.Configure(ctx, providers.ConfigureRequest{Name: name, Config: conf, Sensitive: pb.Sensitive, WorkDir: workDir})
		if resp.Diagnostics.HasErrors() {
			diags = append(diags, providerDiags(resp.Diagnostics, "provider."+name, pb.Range, func(a string) (hcl.Range, bool) {
				r, ok := pb.AttrRanges[a]
				return r, ok
			})...)
			p.Close()
			continue
		}
		// What a provider manages may depend on its configuration (the system a sandbox
		// simulates), so the kinds are those it reports once configured; a provider that
		// cannot say again keeps what it said first, and fails on its next call.
		if again := p.Schema(ctx); !again.Diagnostics.HasErrors() {
			hp.schema.Kinds = again.Kinds
		}
		hp.attrs, hp.forceNew = map[providers.Kind]map[string]bool{}, map[providers.Kind]map[string]bool{}
		for k, ks := range hp.schema.Kinds {
			hp.attrs[k] = setOf(ks.Attributes)
			hp.forceNew[k] = setOf(ks.ForceNew)
		}
		h.providers[name] = hp
	}
	return h, diags
}

// cannotStart reports a provider whose source names no provider that can run.
func cannotStart(name string, pb *lang.Provider, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot start provider " + name, Detail: err.Error(), Subject: pb.Range.Ptr()}
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// providerConfig checks a provider block against the provider's schema and converts it to
// plain Go values. A credential written literally in a file is refused: it would live in git.
// A value not known (from an environment variable not set when validating) is checked for
// all but its value, and left out.
func providerConfig(pb *lang.Provider, schema []providers.ConfigAttribute) (map[string]any, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	byName := map[string]providers.ConfigAttribute{}
	var names []string
	for _, a := range schema {
		byName[a.Name] = a
		names = append(names, a.Name)
	}
	sort.Strings(names)
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(pb.Config)) {
		rng := pb.AttrRanges[name]
		ca, ok := byName[name]
		if !ok {
			detail := fmt.Sprintf("provider %q has no attribute %q.", pb.Ref.Type, name)
			if len(names) > 0 {
				detail += " Its attributes: " + strings.Join(names, ", ") + "."
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported provider attribute", Detail: detail, Subject: rng.Ptr()})
			continue
		}
		if ca.Sensitive && !pb.Sensitive[name] {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Credential written in the configuration",
				Detail:  fmt.Sprintf("%s is a credential; read it from the environment with env(\"…\") so it never lands in git, state or plans.", name),
				Subject: rng.Ptr()})
			continue
		}
		v := pb.Config[name]
		if !v.IsWhollyKnown() {
			continue
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid provider attribute", Detail: err.Error(), Subject: rng.Ptr()})
			continue
		}
		var gv any
		if err := json.Unmarshal(b, &gv); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid provider attribute", Detail: err.Error(), Subject: rng.Ptr()})
			continue
		}
		out[name] = gv
	}
	for _, a := range schema {
		if _, set := pb.Config[a.Name]; a.Required && !set {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing provider attribute",
				Detail: fmt.Sprintf("provider %q needs %s: %s.", pb.Ref.Type, a.Name, a.Description), Subject: pb.Range.Ptr()})
		}
	}
	return out, diags
}

// providerDiags converts a provider's diagnostics, pointing at the attribute that caused each
// when the configuration says where it was written.
func providerDiags(ds providers.Diagnostics, what string, rng hcl.Range, attrRange func(string) (hcl.Range, bool)) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range ds {
		sev := hcl.DiagError
		if d.Severity == providers.Warning {
			sev = hcl.DiagWarning
		}
		subject := rng
		if r, ok := attrRange(d.Attribute); ok {
			subject = r
		}
		detail := d.Detail
		if what != "" {
			detail = what + ": " + detail
		}
		out = append(out, &hcl.Diagnostic{Severity: sev, Summary: d.Summary, Detail: detail, Subject: subject.Ptr()})
	}
	return out
}

// get returns a started provider by name.
func (h *Host) get(name string) (*hosted, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, ok := h.providers[name]
	return hp, ok
}

// Provider returns a configured provider by name ("sandbox.ec").
func (h *Host) Provider(name string) (providers.Provider, bool) {
	hp, ok := h.get(name)
	if !ok {
		return nil, false
	}
	return hp.p, true
}

// Names lists the started providers.
func (h *Host) Names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.providers))
}

// supports reports whether a provider manages a kind.
func (hp *hosted) supports(k providers.Kind) bool {
	_, ok := hp.schema.Kinds[k]
	return ok
}

// Codeless reports whether a provider's coupons take no codes (providers.KindSupport.Codeless).
func (h *Host) Codeless(provider string) bool {
	hp, ok := h.get(provider)
	return ok && hp.schema.Kinds[providers.KindCoupon].Codeless
}

var _ Capabilities = (*Host)(nil)

// Topics lists the event types a provider's webhooks deliver (providers.KindSupport.Topics),
// nil when the provider does not say or is not started.
func (h *Host) Topics(provider string) []string {
	hp, ok := h.get(provider)
	if !ok {
		return nil
	}
	return slices.Clone(hp.schema.Kinds[providers.KindSubscription].Topics)
}

// Subscribes reports whether a provider manages webhook subscriptions. A provider that is
// not started is taken to: the plan then says what it cannot do.
func (h *Host) Subscribes(provider string) bool {
	hp, ok := h.get(provider)
	return !ok || hp.supports(providers.KindSubscription)
}

// Receives reports whether a provider brings its system's events in by itself: it takes the
// system's webhooks (providers.WebhookReceiver) or the engine polls it (providers.EventPoller).
// A provider that is not started is taken to.
func (h *Host) Receives(provider string) bool {
	hp, ok := h.get(provider)
	if !ok {
		return true
	}
	_, receives := hp.p.(providers.WebhookReceiver)
	_, polled := hp.p.(providers.EventPoller)
	return receives || polled
}

// Sends reports whether a provider delivers messages: it is a providers.Sender that
// addresses customers by some identifier type (a sandbox simulating a POS has Send, and
// addresses nobody). A provider that is not started is taken not to: its messages are then
// planned, and the plan says why not.
func (h *Host) Sends(provider string) bool {
	hp, ok := h.get(provider)
	if !ok {
		return false
	}
	s, sends := hp.p.(providers.Sender)
	return sends && s.Messaging().Address != ""
}

// Manages reports whether a provider manages a kind. A provider that is not started is taken to.
func (h *Host) Manages(provider string, k providers.Kind) bool {
	hp, ok := h.get(provider)
	return !ok || hp.supports(k)
}

// Close stops every provider.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var first error
	for _, hp := range h.providers {
		if err := hp.p.Close(); err != nil && first == nil {
			first = fmt.Errorf("closing provider %s: %w", hp.name, err)
		}
	}
	h.providers = map[string]*hosted{}
	return first
}

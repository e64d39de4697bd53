// Package planner turns a loaded configuration into resource instances, compares them with
// the state and the live systems, and produces and applies plans. It knows no provider's API:
// everything goes through the providers.Provider interface.
package planner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// DefaultParallelism bounds concurrent provider calls, as Terraform's -parallelism does.
const DefaultParallelism = 10

// Options steer planning.
type Options struct {
	Mode plans.Mode
	// Targets limits the plan to these blocks or instances and what they depend on.
	Targets []addrs.Target
	// Replace forces these instances to be replaced even when unchanged.
	Replace []addrs.Target
	// SkipRefresh plans against the state without reading the live systems.
	SkipRefresh bool
	Parallelism int
	ToolVersion string
	// Now is when the plan is made, to tell scheduled messages whose time has passed;
	// time.Now when nil.
	Now func() time.Time
	// SkipEstimates leaves out what a pushed rule bundle would make of the engine's
	// customers (audience sizes, reach, message previews).
	SkipEstimates bool
	// PreviewCustomers are the made-up customers message previews are rendered for (the
	// programme's test customers); without them, one customer with no data.
	// PreviewFromEngine renders them for some of the engine's own customers instead, whose
	// data then appears in the plan.
	PreviewCustomers  []providers.SampleCustomer
	PreviewFromEngine bool
}

// Planner plans one configuration against one state.
type Planner struct {
	Config *lang.Config
	Host   *Host
	State  *states.State
}

// Plan refreshes the state from the live systems, compares it with what the configuration
// asks for and returns the plan. It never changes anything anywhere.
func (pl *Planner) Plan(ctx context.Context, opts Options) (*plans.Plan, hcl.Diagnostics) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	p := &plans.Plan{
		FormatVersion: plans.FormatVersion, ToolVersion: opts.ToolVersion, Mode: opts.Mode,
		Lineage: pl.State.Lineage, Serial: pl.State.Serial, ConfigHash: ConfigHash(pl.Config),
		Changes: []*plans.Change{},
	}
	if opts.Mode == "" {
		p.Mode = plans.Normal
	}
	p.Targets = slices.Clone(opts.Targets)
	diags := checkAccounts(pl.State, pl.Host, pl.Config)
	if diags.HasErrors() {
		return p, diags
	}
	var desired []*Desired
	var sends []*plans.Send
	if p.Mode != plans.Destroy {
		desired, sends = expand(pl.Config, pl.State, pl.Host)
		diags = append(diags, pl.validate(ctx, desired)...)
		diags = append(diags, checkSources(pl.Config, pl.Host)...)
	}
	if diags.HasErrors() {
		return p, diags
	}
	var prior *states.State
	if opts.SkipRefresh {
		prior = pl.State.Clone()
	} else {
		var rdiags hcl.Diagnostics
		start := time.Now()
		prior, p.Drift, p.Recovered, rdiags = pl.refresh(ctx, opts.Parallelism)
		slog.Debug("refreshed", "resources", pl.State.Len(), "drifted", len(p.Drift), "took", time.Since(start))
		diags = append(diags, rdiags...)
		if rdiags.HasErrors() {
			return p, diags
		}
	}
	p.Prior = prior
	if p.Mode == plans.RefreshOnly {
		return p, diags
	}
	changes, cdiags := pl.diff(ctx, desired, prior, opts)
	diags = append(diags, cdiags...)
	p.Changes = changes
	p.Sends = withBundle(sends, changes)
	if pushesBundle(changes) {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		p.Schedules = schedules(pl.Config, now())
	}
	var members map[string]int
	if pushesBundle(changes) && !opts.SkipEstimates {
		p.Estimates, members = pl.estimates(ctx, changes, opts)
	}
	p.Descriptions = descriptions(pl.Config, changes)
	describeEstimates(pl.Config, p.Descriptions, p.Estimates)
	if p.Mode != plans.Destroy {
		p.Policies = pl.checkPolicies(members)
	}
	return p, diags
}

// withBundle returns the messages through pure senders when the plan pushes a rule bundle:
// they live only in it, so they change, and go live, with it.
func withBundle(sends []*plans.Send, changes []*plans.Change) []*plans.Send {
	if pushesBundle(changes) {
		return sends
	}
	return nil
}

// pushesBundle reports whether the changes push a rule bundle to an engine.
func pushesBundle(changes []*plans.Change) bool {
	for _, c := range changes {
		if c.Kind == providers.KindRules && c.Action != plans.NoOp && c.Action != plans.Delete {
			return true
		}
	}
	return false
}

// sourceCaps is what checkSources needs to know of the providers; a Host has it.
type sourceCaps interface {
	Subscribes(provider string) bool
	Receives(provider string) bool
}

// checkSources refuses an identity_source whose provider cannot bring its events in: one
// that neither has its system send webhooks by API (a subscription), nor receives webhooks set
// up in the system's console, nor is polled, and is not the engine taking posted events.
func checkSources(cfg *lang.Config, caps sourceCaps) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(cfg.IdentitySources)) {
		s := cfg.IdentitySources[name]
		provider := s.Provider.String()
		if s.Provider.Type == providers.EngineType || caps.Subscribes(provider) || caps.Receives(provider) {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Provider cannot deliver events",
			Detail: fmt.Sprintf("identity_source.%s names provider.%s, which neither subscribes to its system's webhooks, nor receives them, nor is polled for events. "+
				"Name a provider that does, or an engine provider (provider.engine.NAME) for events your systems post to musubi serve.", name, provider),
			Subject: s.Range.Ptr()})
	}
	return diags
}

// validate checks every desired instance against what its provider can do.
func (pl *Planner) validate(ctx context.Context, desired []*Desired) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var mu sync.Mutex
	report := func(ds ...*hcl.Diagnostic) {
		mu.Lock()
		diags = append(diags, ds...)
		mu.Unlock()
	}
	forEach(len(desired), runtime.GOMAXPROCS(0)*2, func(i int) {
		d := desired[i]
		hp, ok := pl.Host.get(d.Addr.Provider.String())
		if !ok {
			if _, declared := pl.Config.Providers[d.Addr.Provider.String()]; !declared {
				report(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown provider",
					Detail: fmt.Sprintf("%s uses provider.%s, which is not declared.", d.Addr, d.Addr.Provider), Subject: d.Range.Ptr()})
			}
			return // a provider that failed to start was reported already
		}
		if ds := unsupported(d, hp.name, hp.schema.Kinds); ds != nil {
			report(ds...)
			return
		}
		report(unheld(d, hp.name, hp.schema.Kinds[d.Addr.Kind])...)
		resp := hp.p.Validate(ctx, providers.ValidateRequest{Kind: d.Addr.Kind, Attributes: d.Attrs})
		if len(resp.Diagnostics) > 0 {
			report(providerDiags(resp.Diagnostics, fmt.Sprintf("%s (provider.%s)", d.Addr.Block, hp.name), d.Range, d.AttrRange)...)
		}
	})
	sortDiags(diags)
	return diags
}

// unsupported refuses a desired instance of a kind its provider does not manage; nil when it
// does. Plan runs it against each started provider, and Check against the built-in
// providers' schemas, so validate and plan refuse the same things in the same words.
func unsupported(d *Desired, provider string, kinds map[providers.Kind]providers.KindSupport) hcl.Diagnostics {
	if _, ok := kinds[d.Addr.Kind]; ok {
		return nil
	}
	block := d.Addr.Block.String()
	manages := "manages only: " + strings.Join(kindNames(kinds), ", ")
	if len(kinds) == 0 {
		manages = "manages no resources"
	}
	article := "a"
	if strings.ContainsRune("aeiou", rune(d.Addr.Kind[0])) {
		article = "an"
	}
	detail := fmt.Sprintf("%s needs %s %s on provider.%s, which %s.", block, article, d.Addr.Kind, provider, manages)
	if d.Addr.Kind == providers.KindMessage {
		// Pure senders were planned no message: this provider cannot send at all.
		detail = fmt.Sprintf("%s sends a message through provider.%s, which neither keeps messages nor sends them (it %s). "+
			"Name a messaging provider in via.", block, provider, manages)
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Provider cannot do this", Detail: detail, Subject: d.Range.Ptr()}}
}

// kindNames lists kinds by name, sorted.
func kindNames(kinds map[providers.Kind]providers.KindSupport) []string {
	var out []string
	for k := range kinds {
		out = append(out, string(k))
	}
	slices.Sort(out)
	return out
}

// refresh reads every resource of the state from its system, in parallel. It returns the
// refreshed state, what drifted (marking Musubi's own interrupted updates and deletes), and
// which interrupted creates were found again.
func (pl *Planner) refresh(ctx context.Context, parallelism int) (*states.State, []*plans.Drift, []addrs.Instance, hcl.Diagnostics) {
	current := pl.State.Resources()
	refreshed := pl.State.CloneShallow() // resources below are replaced, never changed in place
	type result struct {
		drift     *plans.Drift
		recovered bool
		err       *hcl.Diagnostic
		// put replaces the resource in the refreshed state; remove takes it out.
		put    *states.Resource
		remove bool
	}
	results := make([]result, len(current))
	for i, r := range current {
		if _, ok := pl.Host.get(r.Provider.String()); ok {
			continue
		}
		if _, declared := pl.Config.Providers[r.Provider.String()]; !declared {
			results[i].err = &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Provider removed while it still manages resources",
				Detail: fmt.Sprintf("%s lives in provider.%s, which the configuration no longer declares. Declare the provider again so Musubi can delete the resource, or forget it with: musubi state rm %s", r.Address, r.Provider, r.Address)}
		}
	}
	// Each answer is compared as it comes, on the goroutine that read it, and let go: a large
	// state's live objects are never all held at once.
	pl.readAll(ctx, current, parallelism, func(i int, resp providers.ReadResponse) {
		r := current[i]
		hp, _ := pl.Host.get(r.Provider.String())
		res := &results[i]
		if resp.Diagnostics.HasErrors() {
			res.err = &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read " + r.Address.String(),
				Detail: fmt.Sprintf("provider.%s: %v", r.Provider, resp.Diagnostics.Err())}
			return
		}
		switch {
		case r.ID == "" && !resp.Found:
			// The interrupted create never happened; the create is planned again.
			res.remove = true
		case r.ID == "":
			nr := r.Clone()
			nr.ID, nr.Pending = resp.ID, nil
			nr.Attributes = mergeLive(r.Kind, hp, r.Attributes, resp.Attributes)
			res.put = nr
			res.recovered = true
		case !resp.Found:
			res.remove = true
			res.drift = &plans.Drift{Address: r.Address, Block: r.Address.Block, Kind: r.Kind, Provider: r.Provider,
				Deleted: true, Before: visible(r.Kind, r.Attributes)}
		default:
			live := mergeLive(r.Kind, hp, r.Attributes, resp.Attributes)
			changed := managedDiff(r.Kind, hp, r.Attributes, live)
			if len(changed) > 0 || r.Pending != nil {
				res.drift = &plans.Drift{Address: r.Address, Block: r.Address.Block, Kind: r.Kind, Provider: r.Provider,
					Changed: changed, Before: visible(r.Kind, r.Attributes), After: visible(r.Kind, live)}
				nr := r.Clone()
				nr.Attributes, nr.Pending = live, nil
				res.put = nr
			}
		}
		if d := res.drift; d != nil && r.Pending != nil {
			// An update or delete an apply started and did not see finish: what the system
			// holds is Musubi's own change, cut short.
			d.Interrupted = &plans.Interruption{Action: plans.Action(r.Pending.Action), Since: r.Pending.Since}
		}
	})
	var drift []*plans.Drift
	var recovered []addrs.Instance
	var diags hcl.Diagnostics
	for i, res := range results {
		switch {
		case res.remove:
			refreshed.Remove(current[i].Address)
		case res.put != nil:
			refreshed.Put(res.put)
		}
		if res.err != nil {
			diags = append(diags, res.err)
		}
		if res.drift != nil {
			drift = append(drift, res.drift)
		}
		if res.recovered {
			recovered = append(recovered, current[i].Address)
		}
	}
	return refreshed, drift, recovered, diags
}

// readAll reads the live object of every resource, with up to parallelism calls in flight:
// in batches where the provider reads many objects at once, else one by one. It hands each
// answer to handle, with the resource's index, on the goroutine that read it; handle may run
// for several resources at once, never twice for one.
func (pl *Planner) readAll(ctx context.Context, current []*states.Resource, parallelism int, handle func(i int, resp providers.ReadResponse)) {
	type call struct {
		hp      *hosted
		indexes []int
	}
	var calls []call
	open := map[addrs.Provider]int{} // provider -> its batch being filled, in calls
	for i, r := range current {
		hp, ok := pl.Host.get(r.Provider.String())
		if !ok {
			continue
		}
		if _, batches := hp.p.(providers.BatchReader); !batches {
			calls = append(calls, call{hp, []int{i}})
			continue
		}
		j, ok := open[r.Provider]
		if !ok || len(calls[j].indexes) == providers.MaxReadBatch {
			j = len(calls)
			open[r.Provider] = j
			calls = append(calls, call{hp: hp})
		}
		calls[j].indexes = append(calls[j].indexes, i)
	}
	forEach(len(calls), parallelism, func(n int) {
		c := calls[n]
		reqs := make([]providers.ReadRequest, len(c.indexes))
		for k, i := range c.indexes {
			r := current[i]
			reqs[k] = providers.ReadRequest{Kind: r.Kind, ID: r.ID, IdempotencyKey: pendingKey(r), Prior: r.Attributes, Refs: refIDs(pl.State, r)}
		}
		if br, ok := c.hp.p.(providers.BatchReader); ok {
			out := br.ReadBatch(ctx, reqs)
			if len(out) != len(reqs) {
				err := providers.Errorf("Provider bug", "provider.%s answered %d of %d reads in a batch", c.hp.name, len(out), len(reqs))
				out = make([]providers.ReadResponse, len(reqs))
				for k := range out {
					out[k].Diagnostics = err
				}
			}
			for k, i := range c.indexes {
				handle(i, out[k])
			}
			return
		}
		handle(c.indexes[0], c.hp.p.Read(ctx, reqs[0]))
	})
}

// descriptions collects the description of every block with a change.
func descriptions(cfg *lang.Config, changes []*plans.Change) map[addrs.Block]string {
	out := map[addrs.Block]string{}
	for _, c := range changes {
		if c.Action == plans.NoOp {
			continue
		}
		var d string
		switch c.Block.Type {
		case "campaign":
			if x := cfg.Campaigns[c.Block.Name]; x != nil {
				d = x.Description
			}
		case "segment":
			if x := cfg.Segments[c.Block.Name]; x != nil {
				d = x.Description
			}
		}
		if d != "" {
			out[c.Block] = d
		}
	}
	return out
}

func pendingKey(r *states.Resource) string {
	if r.Pending != nil {
		return r.Pending.IdempotencyKey
	}
	return ""
}

// refIDs resolves a state resource's dependencies to provider IDs for reads.
func refIDs(s *states.State, r *states.Resource) map[string]string {
	ks, err := providers.SchemaOf(r.Kind)
	if err != nil {
		return nil
	}
	var out map[string]string
	for _, a := range ks.Attributes {
		if a.Type != providers.Ref {
			continue
		}
		// Reference attributes hold addresses as text, as providers see them.
		addr, err := addrs.ParseInstance(r.Attributes.String(a.Name))
		if err != nil {
			continue
		}
		if dep := s.Find(addr); dep != nil && dep.ID != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[a.Name] = dep.ID
		}
	}
	return out
}

// mergeLive takes the live values of the attributes a provider manages, and keeps the
// recorded values of the rest (private, write-only and references the system does not echo).
func mergeLive(k providers.Kind, hp *hosted, recorded, live providers.Attrs) providers.Attrs {
	ks, _ := providers.SchemaOf(k)
	out := providers.Attrs{}
	for _, a := range ks.Attributes {
		if a.WriteOnly {
			continue
		}
		v, fromLive := live[a.Name]
		if !hp.attrs[k][a.Name] || a.Private || a.Type == providers.Ref {
			if _, has := live[a.Name]; !has || a.Type == providers.Ref {
				v, fromLive = recorded[a.Name], true
			}
		}
		if fromLive && !providers.IsZero(v) {
			out[a.Name] = v
		}
	}
	return out
}

// managedDiff lists the managed attributes whose values differ.
func managedDiff(k providers.Kind, hp *hosted, a, b providers.Attrs) []string {
	var out []string
	for _, name := range providers.Diff(k, a, b) {
		if hp.attrs[k][name] {
			out = append(out, name)
		}
	}
	return out
}

// visible drops private attributes from what plans show.
func visible(k providers.Kind, a providers.Attrs) providers.Attrs {
	ks, err := providers.SchemaOf(k)
	if err != nil || a == nil {
		return a
	}
	var out providers.Attrs
	for _, at := range ks.Attributes {
		if _, set := a[at.Name]; set && (at.Private || at.WriteOnly) {
			if out == nil {
				out = a.Clone() // copy only when something must go
			}
			delete(out, at.Name)
		}
	}
	if out == nil {
		return a
	}
	return out
}

// ConfigHash digests every configuration file and every variable value, so apply can tell
// whether a saved plan still matches the configuration.
func ConfigHash(cfg *lang.Config) string {
	h := sha256.New()
	names := make([]string, 0, len(cfg.Files))
	for n := range cfg.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "file %s %d\n", n, len(cfg.Files[n].Bytes))
		h.Write(cfg.Files[n].Bytes)
	}
	for _, n := range slices.Sorted(maps.Keys(cfg.Variables)) {
		v := cfg.Variables[n].Value
		if v.Type() == cty.NilType {
			continue
		}
		uv, _ := v.UnmarkDeep()
		b, _ := ctyjson.Marshal(uv, uv.Type())
		fmt.Fprintf(h, "var %s %s\n", n, b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// forEach runs fn(0..n-1) with at most limit running at once.
func forEach(n, limit int, fn func(i int)) {
	if limit < 1 {
		limit = 1
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}(i)
	}
	wg.Wait()
}

func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

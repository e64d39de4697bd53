package engine

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"cel.dev/cel-go/common/types"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

// Estimates: what a rule bundle would make of the customers the engine knows, before it is
// pushed, for `musubi plan`. Each profile is evaluated with the engine's own code (the
// customer's CEL value, updateSegments, the templates' Render), as ingest would evaluate it
// at the moment of the estimate, so the counts are the members an event would leave each
// segment with. Nothing is written anywhere.

// estimateChunk is how many profiles of a running engine are read under one hold of its lock,
// so an estimate over millions of customers never holds events back for long.
const estimateChunk = 10_000

// Estimate tells what a rule bundle would make of the customers of a store no engine runs
// on, or of one a server runs on (the store holds what it committed): it replays the identity
// log and reads the latest profile of every customer once, without keeping the profiles. It
// changes nothing in the store. A nil store is an engine with no data yet: the counts are 0
// and messages are previewed for a synthetic customer.
func Estimate(ctx context.Context, store Store, req providers.EstimateRequest) (*providers.EstimateResponse, error) {
	x, err := newEstimator(req, estimateNow())
	if err != nil {
		return nil, err
	}
	if store == nil {
		return x.finish(nil), nil
	}
	_, data, err := store.ActiveBundle(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the active rule bundle: %w", err)
	}
	if data != nil {
		if x.old, err = compileBundle(data); err != nil {
			x.old = nil // the active bundle no longer compiles: everything counts as new
		}
	}
	g, err := identity.New(identityRules(x.activeOrNew()))
	if err != nil {
		return nil, err
	}
	// The identity log is replayed beside the reading of the profiles: what reads a
	// customer's identifiers (a rule, a campaign's reach) waits for it.
	ready := make(chan struct{})
	x.e.graphReady = ready
	var idErr error
	go func() {
		defer close(ready)
		_, idErr = replayIdentity(ctx, store, g)
		x.e.graph = g
	}()

	workers := max(runtime.GOMAXPROCS(0), 1)
	type batch struct {
		ids    []string
		bodies [][]byte
	}
	batches := make(chan batch, workers*2)
	accs := make([]*estimateAcc, workers)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		accs[w] = x.newAcc()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if errs[w] != nil {
					continue
				}
				for i, body := range b.bodies {
					p, err := decodeProfile(body)
					if err != nil {
						errs[w] = fmt.Errorf("profile %s: %w", b.ids[i], err)
						break
					}
					x.add(accs[w], p, false)
				}
			}
			<-ready
			x.reach(accs[w])
		}()
	}
	var cur batch
	scanErr := latestProfiles(ctx, store, func(c string, body []byte) error {
		cur.ids = append(cur.ids, c)
		cur.bodies = append(cur.bodies, body)
		if len(cur.ids) == 1000 {
			batches <- cur
			cur = batch{}
		}
		return nil
	})
	if len(cur.ids) > 0 {
		batches <- cur
	}
	close(batches)
	wg.Wait()
	<-ready
	if idErr != nil {
		return nil, fmt.Errorf("rebuilding the identity graph: %w", idErr)
	}
	if scanErr != nil {
		return nil, fmt.Errorf("reading the profiles: %w", scanErr)
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return x.finish(accs), nil
}

// replayIdentity rebuilds the identity graph from the store's log: records are read and
// decoded a batch at a time on every core, and replayed in order. It returns how many.
func replayIdentity(ctx context.Context, store Store, g *identity.Graph) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		raw [][]byte
		out chan []identity.Record
		err error
	}
	jobs, order := make(chan *job, 4), make(chan *job, 16)
	var wg sync.WaitGroup
	for range max(runtime.GOMAXPROCS(0), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				recs := make([]identity.Record, len(j.raw))
				for i, raw := range j.raw {
					// go-json decodes a record four times as fast as encoding/json, and a
					// store holds one for every change of a customer's identifiers.
					if err := gojson.Unmarshal(raw, &recs[i]); err != nil && j.err == nil {
						j.err = err
					}
				}
				j.out <- recs
			}
		}()
	}
	var scanErr error
	go func() {
		defer close(order)
		defer close(jobs)
		cur := &job{out: make(chan []identity.Record, 1)}
		send := func() bool {
			select {
			case order <- cur:
			case <-ctx.Done():
				return false
			}
			jobs <- cur
			cur = &job{out: make(chan []identity.Record, 1)}
			return true
		}
		scanErr = store.Identity(ctx, func(rec []byte) error {
			cur.raw = append(cur.raw, rec)
			if len(cur.raw) == 1000 && !send() {
				return ctx.Err()
			}
			return nil
		})
		if len(cur.raw) > 0 {
			send()
		}
	}()
	var err error
	n := 0
	for j := range order {
		recs := <-j.out
		if err != nil {
			continue
		}
		if err = j.err; err != nil {
			cancel()
			continue
		}
		for _, r := range recs {
			if err = g.Replay(r); err != nil {
				cancel()
				break
			}
			n++
		}
	}
	wg.Wait()
	if err != nil {
		return n, err
	}
	return n, scanErr
}

// latestProfiles calls fn with the latest profile of every customer that has one, once each.
func latestProfiles(ctx context.Context, store Store, fn func(customer string, body []byte) error) error {
	if s, ok := store.(*SQLiteStore); ok {
		return s.latestProfiles(ctx, fn)
	}
	latest := map[string][]byte{}
	if err := store.Profiles(ctx, func(c string, body []byte) error {
		if body == nil {
			delete(latest, c)
		} else {
			latest[c] = body
		}
		return nil
	}); err != nil {
		return err
	}
	for _, c := range slices.Sorted(maps.Keys(latest)) {
		if err := fn(c, latest[c]); err != nil {
			return err
		}
	}
	return nil
}

// latestProfiles reads the profile log from its end: a customer's first row there is the one
// that counts (an empty body: deleted), the earlier ones are skipped. Unlike Profiles it
// leaves the writer's bookkeeping alone, so it may run beside a server on the same file.
func (s *SQLiteStore) latestProfiles(ctx context.Context, fn func(string, []byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT customer, body FROM profiles ORDER BY seq DESC`)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := map[string]struct{}{}
	for rows.Next() {
		var c string
		var b []byte
		if err := rows.Scan(&c, &b); err != nil {
			return err
		}
		if _, done := seen[c]; done {
			continue
		}
		seen[c] = struct{}{}
		if len(b) == 0 {
			continue
		}
		if err := fn(c, b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Estimate tells what a rule bundle would make of the running engine's customers (POST
// /v1/admin/estimate). Profiles are read a chunk at a time under the engine's lock, so
// events go on being processed meanwhile.
func (e *Engine) Estimate(ctx context.Context, req providers.EstimateRequest) (*providers.EstimateResponse, error) {
	x, err := newEstimator(req, e.now())
	if err != nil {
		return nil, inputError{err}
	}
	if active := e.prog.Load(); active.Hash != "" {
		x.old = active
	}
	x.e.graph = e.graph
	e.mu.RLock()
	ids := slices.Collect(maps.Keys(e.profiles))
	e.mu.RUnlock()
	workers := max(runtime.GOMAXPROCS(0), 1)
	accs := make([]*estimateAcc, workers)
	var wg sync.WaitGroup
	for w := range workers {
		accs[w] = x.newAcc()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for from := w * estimateChunk; from < len(ids); from += workers * estimateChunk {
				if ctx.Err() != nil {
					return
				}
				e.mu.RLock()
				for _, id := range ids[from:min(from+estimateChunk, len(ids))] {
					if p := e.profiles[id]; p != nil {
						x.add(accs[w], p, true)
					}
				}
				e.mu.RUnlock()
			}
			x.reach(accs[w])
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return x.finish(accs), nil
}

// estimator evaluates one bundle over profiles.
type estimator struct {
	// e is an engine of its own for the evaluation code: the identity graph it reads, and
	// metrics and a log the rule errors go to, apart from a running engine's.
	e        *Engine
	prog     *program
	old      *program // the active rules; nil when none
	req      providers.EstimateRequest
	now      time.Time
	segments []string // the bundle's segments, in order
	camps    []*rules.CCampaign
	channels [][]string // each campaign's message channels, at most 64
	samples  int
}

func newEstimator(req providers.EstimateRequest, now time.Time) (*estimator, error) {
	prog, err := compileBundle([]byte(req.Bundle))
	if err != nil {
		return nil, fmt.Errorf("the rule bundle: %w", err)
	}
	samples := min(max(req.Samples, 0), providers.MaxPreviewSamples)
	if len(req.Customers) > 0 {
		samples = 0 // the previews are the given customers'
	}
	x := &estimator{prog: prog, req: req, now: now, samples: samples,
		e: &Engine{log: slog.New(slog.DiscardHandler), metrics: newMetrics(), now: func() time.Time { return now }}}
	for _, s := range prog.Segments {
		x.segments = append(x.segments, s.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(prog.Campaigns)) {
		if c := prog.Campaigns[name]; c.Audience != "" {
			x.camps = append(x.camps, c)
			chs := messageChannels(c)
			x.channels = append(x.channels, chs[:min(len(chs), 64)])
		}
	}
	return x, nil
}

func (x *estimator) activeOrNew() *program {
	if x.old != nil {
		return x.old
	}
	return x.prog
}

// estimateAcc is one worker's counts and sample customers.
type estimateAcc struct {
	customers int
	now, new  []int
	members   []int
	reach     []int
	byChannel []map[string]int
	// samples are the sample customers with the smallest Uni-IDs, so the choice does not
	// depend on the order profiles are read in: any customer ([0]), and each campaign's
	// audience members ([1+j]).
	samples [][]*Profile
	// pending are each campaign's members with consent to one of its channels at least,
	// whose addresses reach looks up.
	pending [][]pendingReach
}

type pendingReach struct {
	customer  string
	consented uint64 // bit k: consent for the campaign's channel k
}

// reach counts the pending members the campaigns' channels can address: those with an
// identifier of a consented channel's address type.
func (x *estimator) reach(a *estimateAcc) {
	for j, l := range a.pending {
		for _, m := range l {
			ids := x.e.graph.Identifiers(m.customer)
			reached := false
			for k, via := range x.channels[j] {
				if m.consented&(1<<k) == 0 {
					continue
				}
				addr := x.req.Channels[via].Address
				if slices.ContainsFunc(ids, func(id identity.ID) bool { return id.Type == addr }) {
					a.byChannel[j][via]++
					reached = true
				}
			}
			if reached {
				a.reach[j]++
			}
		}
		a.pending[j] = nil
	}
}

func (x *estimator) newAcc() *estimateAcc {
	a := &estimateAcc{now: make([]int, len(x.segments)), new: make([]int, len(x.segments)),
		members: make([]int, len(x.camps)), reach: make([]int, len(x.camps)), byChannel: make([]map[string]int, len(x.camps)),
		samples: make([][]*Profile, 1+len(x.camps)), pending: make([][]pendingReach, len(x.camps))}
	for j := range a.byChannel {
		a.byChannel[j] = map[string]int{}
	}
	return a
}

// add evaluates the bundle for one profile. shared says p belongs to a running engine: it is
// copied before the evaluation moves its segments.
func (x *estimator) add(a *estimateAcc, p *Profile, shared bool) {
	a.customers++
	for i, s := range x.segments {
		if p.Segments.has(s) {
			a.now[i]++
		}
	}
	q := p
	if shared {
		c := *p
		c.Segments = p.Segments.clone()
		q = &c
	}
	c := x.e.customerValue(x.prog, q, x.now)
	x.e.updateSegments(x.prog, q, c, nil, true, x.now)
	for i, s := range x.segments {
		if q.Segments.has(s) {
			a.new[i]++
		}
	}
	sample := func(k int) {
		if x.samples == 0 {
			return
		}
		l := a.samples[k]
		if len(l) == x.samples && q.ID >= l[len(l)-1].ID {
			return
		}
		keep := q // decoded for this call: the worker's own
		if shared {
			keep = p.clone() // the running engine's profile changes under later events
			keep.Segments = q.Segments
		}
		i, _ := slices.BinarySearchFunc(l, keep.ID, func(s *Profile, id string) int { return strings.Compare(s.ID, id) })
		l = slices.Insert(l, i, keep)
		a.samples[k] = l[:min(len(l), x.samples)]
	}
	sample(0)
	for j, camp := range x.camps {
		if !q.Segments.has(camp.Audience) {
			continue
		}
		a.members[j]++
		// Whom consent lets through is known now; whom the channels can address is looked
		// up once the identity graph is in place (reach).
		var consented uint64
		for k, via := range x.channels[j] {
			if ch, ok := x.req.Channels[via]; ok && (ch.Consent == "" || q.Consent[ch.Consent]) {
				consented |= 1 << k
			}
		}
		if consented != 0 {
			a.pending[j] = append(a.pending[j], pendingReach{q.ID, consented})
		}
		sample(1 + j)
	}
}

// messageChannels lists the providers a campaign messages through, once each.
func messageChannels(c *rules.CCampaign) []string {
	var out []string
	for _, m := range c.Msgs {
		if !slices.Contains(out, m.Via) {
			out = append(out, m.Via)
		}
	}
	return out
}

// finish adds up the workers' counts, compares the bundle with the active rules and renders
// the previews.
func (x *estimator) finish(accs []*estimateAcc) *providers.EstimateResponse {
	total := x.newAcc()
	for _, a := range accs {
		total.customers += a.customers
		for i := range x.segments {
			total.now[i] += a.now[i]
			total.new[i] += a.new[i]
		}
		for j := range x.camps {
			total.members[j] += a.members[j]
			total.reach[j] += a.reach[j]
			for k, v := range a.byChannel[j] {
				total.byChannel[j][k] += v
			}
		}
		for k, l := range a.samples {
			total.samples[k] = append(total.samples[k], l...)
		}
	}
	resp := &providers.EstimateResponse{Customers: total.customers, NoData: total.customers == 0}
	status := x.segmentStatus()
	for i, s := range x.segments {
		resp.Segments = append(resp.Segments, providers.SegmentEstimate{Name: s, Status: status[s], Now: total.now[i], New: total.new[i]})
	}
	for j, c := range x.camps {
		ce := providers.CampaignEstimate{Name: c.Name, Audience: c.Audience, Members: total.members[j], Reach: total.reach[j]}
		if len(total.byChannel[j]) > 0 {
			ce.ByChannel = total.byChannel[j]
		}
		resp.Campaigns = append(resp.Campaigns, ce)
	}
	switch {
	case len(x.req.Customers) > 0:
		given := make([][]*Profile, 1+len(x.camps))
		if x.e.graph == nil {
			x.e.graph, _ = identity.New(identityRules(x.prog))
		}
		for _, c := range x.req.Customers[:min(len(x.req.Customers), providers.MaxPreviewSamples)] {
			p := &Profile{ID: c.Name, Consent: c.Consent, Attributes: c.Attributes, FirstSeen: x.now, LastSeen: x.now}
			// The made-up customer is in the segments its consent and attributes put it in, so
			// a variant on customer.segments shows as it would for such a customer.
			x.e.updateSegments(x.prog, p, x.e.customerValue(x.prog, p, x.now), nil, true, x.now)
			given[0] = append(given[0], p)
		}
		resp.Previews = x.previews(given)
	case x.samples > 0:
		for k, l := range total.samples {
			slices.SortFunc(l, func(a, b *Profile) int { return strings.Compare(a.ID, b.ID) })
			total.samples[k] = l[:min(len(l), x.samples)]
		}
		resp.Previews = x.previews(total.samples)
	}
	return resp
}

// segmentStatus compares each segment with the active rules: new, changed (its condition, or
// a trait or segment it reads, differs) or unchanged.
func (x *estimator) segmentStatus() map[string]string {
	out := map[string]string{}
	if x.old == nil {
		for _, s := range x.segments {
			out[s] = providers.EstimateNew
		}
		return out
	}
	oldSeg := map[string]string{}
	for _, s := range x.old.Bundle.Segments {
		oldSeg[s.Name] = s.Condition
	}
	oldTrait := map[string]rules.Trait{}
	for _, t := range x.old.Bundle.Traits {
		oldTrait[t.Name] = t
	}
	changedTrait := map[string]bool{}
	for _, t := range x.prog.Bundle.Traits {
		if o, ok := oldTrait[t.Name]; !ok || o != t {
			changedTrait[t.Name] = true
		}
	}
	for _, s := range x.prog.Bundle.Segments {
		cond, ok := oldSeg[s.Name]
		switch {
		case !ok:
			out[s.Name] = providers.EstimateNew
		case cond != s.Condition:
			out[s.Name] = providers.EstimateChanged
		default:
			out[s.Name] = providers.EstimateUnchanged
		}
	}
	// A segment reading a changed trait or segment changes with it.
	for moved := true; moved; {
		moved = false
		for _, s := range x.prog.Segments {
			if out[s.Name] != providers.EstimateUnchanged {
				continue
			}
			if slices.ContainsFunc(s.Traits, func(t string) bool { return changedTrait[t] }) ||
				slices.ContainsFunc(s.Segments, func(r string) bool { return out[r] != "" && out[r] != providers.EstimateUnchanged }) {
				out[s.Name], moved = providers.EstimateChanged, true
			}
		}
	}
	return out
}

// bundleMessage is a message of a bundle with what names it in a plan.
type bundleMessage struct {
	owner    string // campaign.NAME, trigger.NAME
	index    int    // among the owner's messages through the same provider
	msg      rules.Message
	cmsg     *rules.CMessage
	camp     *rules.CCampaign // the campaign whose code it carries, if any
	on       string           // a trigger's event type
	audience bool             // a campaign's broadcast: samples from its audience
}

func (b bundleMessage) key() string { return fmt.Sprintf("%s|%s|%d", b.owner, b.msg.Via, b.index) }

// bundleMessages lists a program's messages: campaigns' in name order, then triggers' actions.
func bundleMessages(p *program) []bundleMessage {
	var out []bundleMessage
	for _, c := range p.Bundle.Campaigns {
		cc := p.Campaigns[c.Name]
		index := map[string]int{}
		for i, m := range c.Messages {
			bm := bundleMessage{owner: "campaign." + c.Name, index: index[m.Via], msg: m, camp: cc, audience: c.Audience != ""}
			if cc != nil && i < len(cc.Msgs) {
				bm.cmsg = cc.Msgs[i]
			}
			index[m.Via]++
			out = append(out, bm)
		}
	}
	for _, t := range p.Triggers {
		index := map[string]int{}
		for _, a := range t.Actions {
			if a.Msg == nil {
				continue
			}
			bm := bundleMessage{owner: "trigger." + t.Name, index: index[a.Msg.Via], cmsg: a.Msg, on: t.On}
			if a.Message != nil {
				bm.msg = *a.Message
			}
			if a.Type == string(lang.ActionIssueCoupon) {
				bm.camp = p.Campaigns[a.Campaign]
			}
			index[a.Msg.Via]++
			out = append(out, bm)
		}
	}
	return out
}

// previews renders the bundle's new and changed messages for the sample customers: a
// campaign's for members of its audience, a trigger's for any customer; for a synthetic
// customer with no data when there is none.
func (x *estimator) previews(samples [][]*Profile) []providers.MessagePreview {
	was := map[string]rules.Message{}
	if x.old != nil {
		for _, m := range bundleMessages(x.old) {
			was[m.key()] = m.msg
		}
	}
	campIdx := map[string]int{}
	for j, c := range x.camps {
		campIdx[c.Name] = j
	}
	if x.e.graph == nil {
		x.e.graph, _ = identity.New(identityRules(x.prog))
	}
	var out []providers.MessagePreview
	for _, m := range bundleMessages(x.prog) {
		status := providers.EstimateNew
		if old, ok := was[m.key()]; ok {
			if reflect.DeepEqual(old, m.msg) {
				continue
			}
			status = providers.EstimateChanged
		}
		if m.cmsg == nil {
			continue
		}
		pv := providers.MessagePreview{Owner: m.owner, Via: m.cmsg.Via, Index: m.index, Status: status, Samples: []providers.PreviewSample{}}
		if m.camp != nil {
			pv.Code = sampleCode(m.camp)
		}
		who := samples[0]
		if j, ok := campIdx[strings.TrimPrefix(m.owner, "campaign.")]; ok && m.audience && len(samples[1+j]) > 0 {
			who = samples[1+j]
		}
		if len(who) == 0 {
			who = []*Profile{{Consent: map[string]bool{}, FirstSeen: x.now, LastSeen: x.now}}
		}
		for _, p := range who {
			pv.Samples = append(pv.Samples, x.render(m, p, pv.Code))
		}
		out = append(out, pv)
	}
	return out
}

// sampleCode is the code a preview shows: the campaign's shared code, or the first of its pool.
func sampleCode(c *rules.CCampaign) string {
	if c.Code != "" {
		return c.Code
	}
	if c.Codes != nil {
		if l := providers.GenerateCodes(c.Codes.Pattern, c.Codes.Charset, c.Codes.Seed, 1); len(l) > 0 {
			return l[0]
		}
	}
	return ""
}

// render renders a message for one customer in every variant, as the engine's send does.
func (x *estimator) render(m bundleMessage, p *Profile, code string) providers.PreviewSample {
	q := *p
	q.Segments = p.Segments.clone()
	vars := newCELVars(x.e.customerValue(x.prog, &q, x.now), sampleEvent(m.on, x.now), x.now)
	vars.code = noCode
	if m.camp != nil {
		vars.code = types.String(code)
	}
	if m.audience && m.camp != nil {
		vars.campaign = m.camp.Value
	}
	s := providers.PreviewSample{Customer: p.ID}
	var o Outcome
	if err := x.e.render(vars, "preview", m.cmsg, &o); err == nil {
		s.Gets = o.Variant
	}
	one := func(name string, tmpl, subj *lang.Template) {
		rv := providers.RenderedVariant{Name: name}
		text, err := tmpl.Render(vars)
		if err == nil && subj != nil {
			rv.Subject, err = subj.Render(vars)
		}
		rv.Text = text
		if err != nil {
			rv.Error = err.Error()
		}
		s.Variants = append(s.Variants, rv)
	}
	one("", m.cmsg.Template, m.cmsg.Subject)
	for _, v := range m.cmsg.Variants {
		one(v.Name, v.Template, cmp.Or(v.Subject, m.cmsg.Subject))
	}
	return s
}

// sampleEvent is the event a trigger's message is previewed with: one of the trigger's type
// with no data, so each field reads as its type's zero value.
func sampleEvent(typ string, now time.Time) *lang.Record {
	if typ == "" {
		return nil
	}
	et, ok := lang.LookupEventType(typ)
	if !ok {
		return nil
	}
	data := map[string]any{}
	if strings.HasPrefix(typ, lang.CustomEventPrefix) {
		data = map[string]any{"data": map[string]any{}}
	}
	r, err := et.Type.CoerceRecord(data, "data")
	if err != nil {
		return nil
	}
	r.Set("type", typ)
	r.Set("time", now)
	return r
}

// estimateNow is when an estimate over a store evaluates the rules (tests set it).
var estimateNow = time.Now

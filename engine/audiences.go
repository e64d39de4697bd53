package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

// Audiences: the systems that hold a segment as an audience (rules.Audience) are brought in
// step with the segment's members by their providers (providers.MemberSyncer). What a customer
// belongs to is their profile's, committed with the event that moved them; what each system
// holds is the engine's record of what it pushed (the store's audience_members). A sync pushes
// the difference, then records it, so a crash between the two pushes the same batch again,
// which the systems take as a no-op: nothing is lost, nothing applied twice. At start, and
// when new rules arrive, every audience is compared whole; in between only the customers whose
// segments moved are looked at.

// syncInterval is how often the engine looks for membership to push.
const syncInterval = time.Second

type audienceKey struct{ provider, segment string }

// audienceState is what the engine knows of one system's audience.
type audienceState struct {
	pushed    map[string]bool // customer → unmatched, as last pushed
	whole     bool            // compare it whole at the next sync
	holdUntil time.Time       // after a rate limit or an outage
	lastErr   string
	lastSync  time.Time
	// stale are members a system that cannot remove still holds (MemberRules.AddOnly), since
	// the first of them left.
	stale      map[string]bool
	staleSince time.Time
}

// A system that cannot remove members is rebuilt once its stale members reach a tenth of
// what it holds, or a day after the first of them left.
const (
	rebuildShare = 10
	rebuildAfter = 24 * time.Hour
)

type audiences struct {
	mu     sync.Mutex
	state  map[audienceKey]*audienceState
	dirty  map[string]map[string]struct{} // segment → customers whose membership moved
	whole  bool                           // compare every audience whole at the next sync
	kick   chan struct{}
	loaded bool
}

func newAudiences() *audiences {
	return &audiences{state: map[audienceKey]*audienceState{}, dirty: map[string]map[string]struct{}{}, whole: true,
		kick: make(chan struct{}, 1)}
}

// moved notes customers whose membership of segments changed; the processor calls it.
func (a *audiences) moved(customer string, segments ...[]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, segs := range segments {
		for _, s := range segs {
			a.note(s, customer)
		}
	}
}

// note marks a customer of a segment for the next sync; a.mu is held.
func (a *audiences) note(segment, customer string) {
	m := a.dirty[segment]
	if m == nil {
		m = map[string]struct{}{}
		a.dirty[segment] = m
	}
	m[customer] = struct{}{}
}

func (a *audiences) compareWhole() {
	a.mu.Lock()
	a.whole = true
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// AudienceStatus is one system's audience of a segment, as `musubi segments` shows it.
type AudienceStatus struct {
	Provider  string    `json:"provider"`
	Pushed    int       `json:"pushed"`    // members the system holds, as the engine pushed them
	Unmatched int       `json:"unmatched"` // members the system could not match
	Pending   int       `json:"pending"`   // moves not pushed yet
	LastSync  time.Time `json:"last_sync,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// SegmentStatus is a segment's size and its audiences.
type SegmentStatus struct {
	Name      string           `json:"name"`
	Members   int              `json:"members"`
	Audiences []AudienceStatus `json:"audiences,omitempty"`
}

// Segments reports every segment of the active rules: its members now and each system's
// audience of it.
func (e *Engine) Segments(ctx context.Context) ([]SegmentStatus, error) {
	if err := e.loadAudiences(ctx); err != nil {
		return nil, err
	}
	prog := e.prog.Load()
	counts := map[string]int{}
	e.mu.RLock()
	for _, p := range e.profiles {
		for s := range p.Segments.all() {
			counts[s]++
		}
	}
	e.mu.RUnlock()
	a := e.audiences
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []SegmentStatus
	for _, s := range prog.Segments {
		st := SegmentStatus{Name: s.Name, Members: counts[s.Name]}
		for _, t := range prog.Bundle.Audiences {
			if t.Segment != s.Name {
				continue
			}
			as := AudienceStatus{Provider: t.Provider}
			if _, ok := e.opts.Syncers[t.Provider]; !ok {
				as.LastError = "provider " + t.Provider + " keeps no members on this server"
			}
			if cur := a.state[audienceKey{t.Provider, t.Segment}]; cur != nil {
				for _, unmatched := range cur.pushed {
					if unmatched {
						as.Unmatched++
					} else {
						as.Pushed++
					}
				}
				as.LastSync, as.LastError = cur.lastSync, cmp.Or(as.LastError, cur.lastErr)
			}
			as.Pending = len(a.dirty[s.Name])
			st.Audiences = append(st.Audiences, as)
		}
		out = append(out, st)
	}
	return out, nil
}

// loadAudiences reads what the systems hold, once.
func (e *Engine) loadAudiences(ctx context.Context) error {
	a := e.audiences
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.loaded {
		return nil
	}
	err := e.store.AudienceMembers(ctx, func(provider, segment, customer string, unmatched bool) error {
		k := audienceKey{provider, segment}
		st := a.state[k]
		if st == nil {
			st = &audienceState{pushed: map[string]bool{}}
			a.state[k] = st
		}
		st.pushed[customer] = unmatched
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the audiences' members: %w", err)
	}
	a.loaded = true
	return nil
}

// SyncAudiences pushes to every system what its audiences lack or hold too much of. It
// returns once every audience it could reach is in step; systems that refused or asked to wait
// are left for a later sync.
func (e *Engine) SyncAudiences(ctx context.Context) error {
	if err := e.loadAudiences(ctx); err != nil {
		return err
	}
	prog := e.prog.Load()
	a := e.audiences
	a.mu.Lock()
	whole, dirty := a.whole, a.dirty
	a.whole, a.dirty = false, map[string]map[string]struct{}{}
	a.mu.Unlock()
	var errs []error
	for _, t := range prog.Bundle.Audiences {
		syncer, ok := e.opts.Syncers[t.Provider]
		if !ok {
			continue
		}
		st := a.get(audienceKey{t.Provider, t.Segment})
		a.mu.Lock()
		st.whole = st.whole || whole
		all := st.whole
		a.mu.Unlock()
		var candidates map[string]struct{}
		if !all {
			if candidates = dirty[t.Segment]; len(candidates) == 0 {
				continue
			}
		}
		if err := e.syncAudience(ctx, prog, t, st, syncer, candidates); err != nil {
			if !errors.Is(err, errHeld) {
				errs = append(errs, err)
			}
			a.mu.Lock()
			for c := range candidates { // looked at again next time
				a.note(t.Segment, c)
			}
			a.mu.Unlock()
			continue
		}
		a.mu.Lock()
		st.whole = false
		a.mu.Unlock()
	}
	return errors.Join(errs...)
}

// get returns the state of an audience, made on first use.
func (a *audiences) get(k audienceKey) *audienceState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state[k]
	if st == nil {
		st = &audienceState{pushed: map[string]bool{}}
		a.state[k] = st
	}
	return st
}

// errHeld says an audience waits, as its system asked after a rate limit or an outage.
var errHeld = errors.New("the system asked to wait")

// syncAudience brings one system's audience of a segment in step, looking at candidates only
// (nil: every customer).
func (e *Engine) syncAudience(ctx context.Context, prog *program, t rules.Audience, st *audienceState, syncer providers.MemberSyncer, candidates map[string]struct{}) error {
	a := e.audiences
	a.mu.Lock()
	hold := st.holdUntil
	a.mu.Unlock()
	if e.now().Before(hold) {
		return errHeld
	}
	mr := syncer.MemberRules()
	want := func(p *Profile) bool {
		return p != nil && p.Segments.has(t.Segment) && (mr.Consent == "" || p.Consent[mr.Consent])
	}
	// What the system should gain and lose.
	var add, remove []string
	e.mu.RLock()
	a.mu.Lock()
	consider := func(c string) {
		_, has := st.pushed[c]
		switch w := want(e.profiles[c]); {
		case w && !has:
			add = append(add, c)
		case !w && has:
			remove = append(remove, c)
		}
	}
	if candidates == nil {
		for c, p := range e.profiles {
			if p.Segments.has(t.Segment) {
				consider(c)
			}
		}
		for c := range st.pushed {
			consider(c)
		}
	} else {
		for c := range candidates {
			consider(c)
		}
	}
	a.mu.Unlock()
	e.mu.RUnlock()
	if mr.AddOnly {
		a.mu.Lock()
		if st.stale == nil {
			st.stale = map[string]bool{}
		}
		if len(st.stale) == 0 && len(remove) > 0 {
			st.staleSince = e.now()
		}
		for _, c := range remove {
			st.stale[c] = true
		}
		for _, c := range add {
			delete(st.stale, c)
		}
		rebuild := len(st.stale) > 0 && (len(st.stale)*rebuildShare >= len(st.pushed) || e.now().Sub(st.staleSince) >= rebuildAfter)
		a.mu.Unlock()
		if rb, ok := syncer.(providers.MemberRebuilder); ok && rebuild {
			return e.rebuildAudience(ctx, prog, t, st, rb, mr, want)
		}
		remove = nil // the system cannot lose members: they stay until a rebuild
	}
	add, remove = uniqueSorted(add), uniqueSorted(remove)
	batch := max(mr.Batch, 1)
	fields := fieldTypes(prog, t.Provider, mr)
	for first := true; len(add)+len(remove) > 0; first = false {
		// Paced as the system allows: one call every 1/PerSecond seconds.
		if !first && mr.PerSecond > 0 {
			if err := providers.Sleep(ctx, time.Duration(float64(time.Second)/mr.PerSecond)); err != nil {
				return err
			}
		}
		n := min(len(add), batch)
		addB := add[:n]
		remB := remove[:min(len(remove), batch-n)]
		add, remove = add[n:], remove[len(remB):]
		req := providers.SyncMembersRequest{Segment: t.Segment, IdempotencyKey: membersKey(t, addB, remB)}
		for _, c := range addB {
			req.Add = append(req.Add, e.member(c, fields))
		}
		for _, c := range remB {
			req.Remove = append(req.Remove, e.member(c, fields))
		}
		resp := syncer.SyncMembers(ctx, req)
		if err := resp.Diagnostics.Err(); err != nil {
			return e.syncFailed(t, st, err)
		}
		in := map[string]bool{}
		unmatched := map[string]bool{}
		for _, c := range resp.Unmatched {
			unmatched[c] = true
		}
		for _, c := range addB {
			in[c] = unmatched[c]
		}
		if err := e.store.PutAudienceMembers(ctx, t.Provider, t.Segment, in, remB); err != nil {
			return fmt.Errorf("recording audience %s on %s: %w", t.Segment, t.Provider, err)
		}
		a.mu.Lock()
		for c, u := range in {
			st.pushed[c] = u
		}
		for _, c := range remB {
			delete(st.pushed, c)
		}
		st.lastErr, st.lastSync, st.holdUntil = "", e.now(), time.Time{}
		a.mu.Unlock()
		e.metrics.audienceSyncs.WithLabelValues(t.Provider).Add(float64(len(addB) + len(remB)))
	}
	return nil
}

// rebuildAudience replaces a system's audience of a segment with one of exactly its members,
// for a system that cannot remove members.
func (e *Engine) rebuildAudience(ctx context.Context, prog *program, t rules.Audience, st *audienceState, rb providers.MemberRebuilder,
	mr providers.MemberRules, want func(*Profile) bool) error {
	var members []string
	e.mu.RLock()
	for c, p := range e.profiles {
		if want(p) {
			members = append(members, c)
		}
	}
	e.mu.RUnlock()
	members = uniqueSorted(members)
	fields := fieldTypes(prog, t.Provider, mr)
	req := providers.RebuildMembersRequest{Segment: t.Segment, IdempotencyKey: membersKey(t, members, []string{"rebuild"})}
	for _, c := range members {
		req.Members = append(req.Members, e.member(c, fields))
	}
	resp := rb.RebuildMembers(ctx, req)
	if err := resp.Diagnostics.Err(); err != nil {
		return e.syncFailed(t, st, err)
	}
	unmatched := map[string]bool{}
	for _, c := range resp.Unmatched {
		unmatched[c] = true
	}
	in := map[string]bool{}
	for _, c := range members {
		in[c] = unmatched[c]
	}
	a := e.audiences
	a.mu.Lock()
	var out []string
	for c := range st.pushed {
		if _, ok := in[c]; !ok {
			out = append(out, c)
		}
	}
	a.mu.Unlock()
	if err := e.store.PutAudienceMembers(ctx, t.Provider, t.Segment, in, out); err != nil {
		return fmt.Errorf("recording audience %s on %s: %w", t.Segment, t.Provider, err)
	}
	a.mu.Lock()
	st.pushed = in
	st.stale = nil
	st.lastSync, st.lastErr, st.holdUntil = e.now(), "", time.Time{}
	a.mu.Unlock()
	e.log.Info("audience rebuilt without the members who left", "provider", t.Provider, "segment", t.Segment, "members", len(in))
	return nil
}

// syncFailed records a failed call and how long to wait before the next.
func (e *Engine) syncFailed(t rules.Audience, st *audienceState, err error) error {
	a := e.audiences
	a.mu.Lock()
	st.lastErr = err.Error()
	var ae *providers.APIError
	if errors.As(err, &ae) && ae.Temporary() {
		st.holdUntil = e.now().Add(max(ae.RetryAfter, syncInterval))
	} else {
		st.holdUntil = e.now().Add(time.Minute) // reported; tried again a minute on
	}
	a.mu.Unlock()
	e.log.Warn("audience sync failed", "provider", t.Provider, "segment", t.Segment, "err", err)
	return fmt.Errorf("syncing audience %s on %s: %w", t.Segment, t.Provider, err)
}

// fieldTypes maps what a system knows members by to the programme's identifier types: its
// own record fields through the identity_sources on the provider, and the types it names.
func fieldTypes(prog *program, provider string, mr providers.MemberRules) map[string][]string {
	out := map[string][]string{}
	for _, s := range prog.SourcesByProvider[provider] {
		for typ, field := range s.Identifiers {
			if slices.Contains(mr.Fields, field) && !slices.Contains(out[field], typ) {
				out[field] = append(out[field], typ)
			}
		}
	}
	for _, typ := range mr.Types {
		out[typ] = append(out[typ], typ)
	}
	return out
}

// member is a customer as a system may know them: their identifiers of the types fields map.
func (e *Engine) member(customer string, fields map[string][]string) providers.Member {
	m := providers.Member{Customer: customer, Values: map[string][]string{}}
	ids := e.graph.Identifiers(customer)
	for key, types := range fields {
		for _, id := range ids {
			if slices.Contains(types, id.Type) {
				m.Values[key] = append(m.Values[key], id.Value)
			}
		}
	}
	return m
}

// membersKey names a batch by what it carries, so the same batch repeated has the same key.
func membersKey(t rules.Audience, add, remove []string) string {
	return idempotencyKey("members", t.Provider, t.Segment, strings.Join(add, ","), strings.Join(remove, ","))
}

func uniqueSorted(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// syncLoop syncs the audiences every syncInterval, and at once when new rules arrive.
func (e *Engine) syncLoop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		if err := e.SyncAudiences(ctx); err != nil && ctx.Err() == nil {
			e.log.Debug("audience sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.audiences.kick:
		}
	}
}

// leaveAudiences takes customers out of every system's audience that holds them, before a
// forget erases what would name them there. It says which audiences they left and which
// could not be reached.
func (e *Engine) leaveAudiences(ctx context.Context, customers []string) (removed, failed []string) {
	if err := e.loadAudiences(ctx); err != nil {
		return nil, []string{err.Error()}
	}
	prog := e.prog.Load()
	a := e.audiences
	for _, t := range prog.Bundle.Audiences {
		syncer, ok := e.opts.Syncers[t.Provider]
		if !ok {
			continue
		}
		st := a.get(audienceKey{t.Provider, t.Segment})
		var held []string
		a.mu.Lock()
		for _, c := range customers {
			if _, ok := st.pushed[c]; ok {
				held = append(held, c)
			}
		}
		a.mu.Unlock()
		if len(held) == 0 {
			continue
		}
		what := t.Provider + " " + t.Segment
		mr := syncer.MemberRules()
		if mr.AddOnly {
			// The system cannot take one out: its next sync rebuilds it without them.
			a.mu.Lock()
			if st.stale == nil {
				st.stale = map[string]bool{}
			}
			for _, c := range held {
				st.stale[c] = true
			}
			st.staleSince, st.whole = time.Time{}, true
			a.mu.Unlock()
			removed = append(removed, what+" (rebuilt without them)")
			continue
		}
		fields := fieldTypes(prog, t.Provider, mr)
		req := providers.SyncMembersRequest{Segment: t.Segment, IdempotencyKey: membersKey(t, nil, held)}
		for _, c := range held {
			req.Remove = append(req.Remove, e.member(c, fields))
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp := syncer.SyncMembers(sctx, req)
		cancel()
		if err := resp.Diagnostics.Err(); err != nil {
			failed = append(failed, what+": "+err.Error())
			continue
		}
		a.mu.Lock()
		for _, c := range held {
			delete(st.pushed, c)
		}
		a.mu.Unlock()
		removed = append(removed, what)
	}
	return removed, failed
}

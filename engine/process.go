package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
)

// Result is what became of one ingested event.
type Result struct {
	ID        string   `json:"id"`
	Customer  string   `json:"customer,omitempty"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Merged    []string `json:"merged,omitempty"` // customers merged into Customer by this event
	Entered   []string `json:"entered,omitempty"`
	Exited    []string `json:"exited,omitempty"`
	Fired     []string `json:"fired,omitempty"` // triggers whose actions ran (incl. derived events)
	Dropped   []string `json:"dropped,omitempty"`
	// Redeemed are the codes the event redeemed: a coupon.redeemed's, a purchase's campaign codes.
	Redeemed []string `json:"redeemed,omitempty"`
	// Suppressed: the event is a forgotten person's, dropped (see suppressions).
	Suppressed bool `json:"suppressed,omitempty"`
	// Answers are what the actions that ran gave out (codes drawn, texts rendered, steps
	// scheduled), for a caller that asks for them: a till printing a receipt.
	Answers []Outcome `json:"answers,omitempty"`
}

// answers is where the actions' outcomes are collected when they are wanted, else nil.
func (r *Result) answers(want bool) *[]Outcome {
	if !want {
		return nil
	}
	return &r.Answers
}

// engineChannel is the channel of the events the engine derives itself (segment moves, emits).
const engineChannel = "engine"

// maxDepth bounds chains of engine events (segment.entered → emit → ...).
const maxDepth = 4

// Ingest validates events against the active rules and processes them in order. Nothing is
// stored unless every event is valid: a bad event fails the whole request with an error naming
// it. It returns when the events are committed.
func (e *Engine) Ingest(ctx context.Context, evs []*Event) ([]Result, error) {
	return e.ingest(ctx, evs, true)
}

// ingest is Ingest; answers says whether the results carry what the actions gave out
// (Result.Answers). A caller that sends them nowhere leaves them out: an outcome is a few
// hundred bytes, and a purchase runs several actions.
func (e *Engine) ingest(ctx context.Context, evs []*Event, answers bool) ([]Result, error) {
	prog := e.prog.Load()
	now := e.now()
	var err error
	for i, ev := range evs {
		err := refuseRaised(ev.Type)
		if err == nil {
			err = ev.validate(prog, now)
		}
		if err != nil {
			if len(evs) > 1 {
				err = fmt.Errorf("event %d (id %q): %w", i, ev.ID, err)
			}
			return nil, inputError{err}
		}
		e.early(prog, ev)
	}
	// Encoded for the event log here, by the request's goroutine, not by the writer, which
	// every request waits for.
	for _, ev := range evs {
		if ev.body, err = marshalEvent(ev); err != nil {
			return nil, err
		}
	}
	release, err := e.claim(ctx, evs)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(evs))
	start := time.Now()
	err = e.submit(ctx, &job{events: len(evs), release: release, run: func(st *txState) error {
		for i, ev := range evs {
			r, err := e.process(st, ev, answers)
			if err != nil {
				return err
			}
			results[i] = r
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	e.metrics.ingestSeconds.Observe(time.Since(start).Seconds())
	for i := range results {
		e.metrics.events.WithLabelValues(evs[i].Type, strconv.FormatBool(results[i].Duplicate)).Inc()
	}
	return results, nil
}

// refuseRaised refuses, from outside, an event type the engine raises itself.
func refuseRaised(typ string) error {
	if lang.IsRaised(typ) {
		return fmt.Errorf("type: %s is raised by the engine itself, when a customer's profile changes; it cannot be posted", typ)
	}
	return nil
}

// claim settles which events are duplicates before any is processed: an event whose key
// another request is running, that came earlier in the same request, or that the event log
// already holds. The keys stay claimed until the request's writes are committed (release), so
// a copy arriving in between is found either by its claim or, after it, in the event log.
func (e *Engine) claim(ctx context.Context, evs []*Event) (release func(), err error) {
	mine := make([]string, 0, len(evs))
	e.claimMu.Lock()
	for _, ev := range evs {
		if _, taken := e.claims[ev.key]; taken {
			ev.dup = true
			continue
		}
		e.claims[ev.key] = struct{}{}
		mine = append(mine, ev.key)
	}
	e.claimMu.Unlock()
	release = func() {
		e.claimMu.Lock()
		for _, k := range mine {
			delete(e.claims, k)
		}
		e.claimMu.Unlock()
	}
	var known map[string]bool
	if maybe := e.seen.maybe(mine); len(maybe) > 0 {
		if known, err = e.store.KnownEvents(ctx, maybe); err != nil {
			release()
			return nil, fmt.Errorf("looking up event IDs: %w", err)
		}
	}
	e.seen.add(mine)
	for _, ev := range evs {
		if known[ev.key] {
			ev.dup = true
		}
	}
	return release, nil
}

// early does, in the request's goroutine, the part of processing an event that reads the
// event alone: the processor runs one event after another, so what is done here, on every
// core at once, is that much less for it to do.
func (e *Engine) early(prog *program, ev *Event) {
	ev.prog = prog
	// The event alone: no customer, and no now (what reads it is left to the processor).
	vars := newCELVars(nil, ev.fields, time.Time{})
	ruleOut(prog, ev, vars)
	observeEarly(prog, ev, vars)
	ev.ids, ev.idsDropped = e.identifiersOf(ev)
	ev.idRules = e.graph.Rules()
}

// traitInput is what an event adds to one trait (traitInputOf), once worked out.
type traitInput struct {
	v         any
	known, ok bool
}

// traitInput is what observeEarly found the event adds to trait i on its type, under prog;
// known is false when it was not worked out.
func (ev *Event) traitInput(prog *program, i int) (in traitInput, known bool) {
	if ev.prog != prog || ev.traitInputs == nil {
		return traitInput{}, false
	}
	return ev.traitInputs[i], ev.traitInputs[i].known
}

// observeEarly works out what the event adds to each trait that reads the event alone. A
// rule that fails to evaluate is left to the processor, which reports it.
func observeEarly(prog *program, ev *Event, vars *celVars) {
	ts := prog.TraitsByEvent[ev.Type]
	for i, t := range ts {
		if !t.EventOnly {
			continue
		}
		if ev.traitInputs == nil {
			ev.traitInputs = make([]traitInput, len(ts))
		}
		in := &ev.traitInputs[i]
		var err error
		in.v, in.ok, _, err = traitInputOf(t, vars)
		in.known = err == nil
	}
}

// identifiersOf normalises an event's identifiers; invalid ones are dropped with the reason.
func (e *Engine) identifiersOf(ev *Event) ([]identity.ID, []string) {
	rules := e.graph.Rules()
	if ev.idRules == rules && rules != nil {
		return ev.ids, ev.idsDropped
	}
	ids := make([]identity.ID, 0, len(ev.Identifiers))
	var dropped []string
	for _, typ := range sortedKeys(ev.Identifiers) {
		v, err := rules.Normalize(typ, ev.Identifiers[typ])
		if err != nil {
			dropped = append(dropped, typ+": "+err.Error())
			continue
		}
		ids = append(ids, identity.ID{Type: typ, Value: v})
	}
	return ids, dropped
}

// process runs one event and the engine events it leads to (segment moves, emitted events),
// inside the writer's transaction. answers says whether res collects the actions' outcomes.
func (e *Engine) process(st *txState, ev *Event, answers bool) (Result, error) {
	prog := e.prog.Load()
	now := e.now()
	res, derived, err := e.processOne(st, prog, ev, now, answers)
	if err == nil {
		err = e.processDerived(st, prog, &res, derived, now, answers)
	}
	return res, err
}

// processDerived runs the engine events an event led to, and those they lead to, adding what
// they did to res (the actions' outcomes when answers is set).
func (e *Engine) processDerived(st *txState, prog *program, res *Result, derived []*Event, now time.Time, answers bool) error {
	var err error
	for len(derived) > 0 && err == nil {
		d := derived[0]
		derived = derived[1:]
		if unheard(prog, d.Type) {
			continue
		}
		if verr := d.validate(prog, now); verr != nil {
			e.log.Warn("an engine event is invalid; skipped", "event", d.ID, "err", verr)
			continue
		}
		d.key = engineKey(d)
		var r Result
		var more []*Event
		r, more, err = e.processOne(st, prog, d, now, answers)
		res.Fired = append(res.Fired, r.Fired...)
		res.Entered = append(res.Entered, r.Entered...)
		res.Exited = append(res.Exited, r.Exited...)
		res.Redeemed = append(res.Redeemed, r.Redeemed...)
		res.Answers = append(res.Answers, r.Answers...)
		derived = append(derived, more...)
	}
	return err
}

// engineKey is the de-duplication key of an event the engine raised.
func engineKey(d *Event) string { return "engine:" + d.ID }

// unheard reports a segment move no trait or trigger of the program listens to. It changes
// nothing, so it is neither run nor kept in the event log: a purchase typically moves a
// customer in or out of several segments, and storing each move was most of the cost of
// ingesting it. (A trait added later on segment moves counts from then on.)
func unheard(prog *program, typ string) bool {
	if typ != "segment.entered" && typ != "segment.exited" {
		return false
	}
	return len(prog.TraitsByEvent[typ]) == 0 && len(prog.TriggersByEvent[typ]) == 0
}

// processOne runs one event: identity, event log, profile, traits, segments, triggers. Memory
// changes are made under the profile lock, which decisions read under. answers says whether
// the result collects the outcomes of the actions that ran.
func (e *Engine) processOne(st *txState, prog *program, ev *Event, now time.Time, answers bool) (Result, []*Event, error) {
	res := Result{ID: ev.ID}
	if ev.dup {
		res.Duplicate, res.Customer = true, e.knownCustomer(ev)
		return res, nil, nil
	}
	if res.Suppressed = e.suppressed(ev); res.Suppressed {
		return res, nil, nil
	}
	redeem := redeems(ev)
	if redeem {
		// A code counts once per order: the same order reported again redeems nothing.
		if code, order := redemptionKey(ev); e.redeemed.seen(code, order) {
			res.Duplicate, res.Customer = true, e.knownCustomer(ev)
			return res, nil, nil
		}
	}
	var customer string
	var profileChanged bool
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(ev.Identifiers) > 0 {
		ids, dropped := e.identifiersOf(ev)
		res.Dropped = slices.Clip(dropped)
		if len(ids) > 0 {
			r, err := e.graph.Resolve(ids, ev.Time)
			if errors.Is(err, identity.ErrTooManyIdentifiers) {
				return res, nil, inputError{err} // refused before the graph changed
			}
			if err != nil {
				return res, nil, err
			}
			for _, d := range r.Dropped {
				res.Dropped = append(res.Dropped, d.ID.Type+": "+d.Reason)
			}
			if r.Created || len(r.Attached) > 0 || len(r.Merges) > 0 {
				rec, err := json.Marshal(r.Record())
				if err != nil {
					return res, nil, err
				}
				st.tx.AppendIdentity(rec)
				profileChanged = true
			}
			customer = r.Customer
			for _, m := range r.Merges {
				res.Merged = append(res.Merged, m.From)
				e.mergeProfiles(st, prog, m.Into, m.From)
				e.metrics.merges.Inc()
			}
		}
	}
	if customer == "" && ev.Customer != "" {
		customer = e.graph.Canonical(ev.Customer)
		if len(e.graph.Identifiers(customer)) == 0 {
			customer = ""
		}
	}
	if customer == "" {
		// No identifiers (an anonymous buyer at a till), or every one was blocked or invalid:
		// the event is kept tied to nobody, and its triggers run for nobody.
		body, err := ev.marshal()
		if err != nil {
			return res, nil, err
		}
		st.tx.InsertEvent(ev.key, "", ev.Type, ev.Time, body)
		return e.processAnonymous(st, prog, ev, res, now, answers)
	}
	res.Customer = customer
	if redeem {
		r := e.fillRedemption(prog, ev, customer)
		e.redeemed.add(r.key, r.order, customer)
		st.tx.RecordRedemption(r.key, r.order, r.campaign, customer, ev.Time)
		res.Redeemed = []string{r.code}
	}
	body, err := ev.marshal()
	if err != nil {
		return res, nil, err
	}
	st.tx.InsertEvent(ev.key, customer, ev.Type, ev.Time, body)
	p := e.profiles[customer]
	if p == nil {
		p = newProfile(customer, ev.Time)
		e.profiles[customer] = p
		profileChanged = true
	}
	st.touch(p)
	if applyProfileFields(p, ev) {
		profileChanged = true
	}
	changed := e.updateTraits(prog, p, ev, now)
	c := e.customerValue(prog, p, now)
	entered, exited := e.updateSegments(prog, p, c, changed, profileChanged, now)
	e.countMoves(entered, exited)
	if len(entered)+len(exited) > 0 && len(prog.Bundle.Audiences) > 0 {
		e.audiences.moved(customer, entered, exited)
	}
	res.Entered, res.Exited = entered, exited
	if len(entered) > 0 {
		e.broadcast(st, prog, p, c, entered, now, false)
	}
	e.cancelWaits(st, prog, p, c, ev, now)
	fired, _, derived, err := e.runTriggers(st, prog, p, c, ev, now, res.answers(answers))
	if err != nil {
		return res, nil, err
	}
	res.Fired = fired
	// A purchase's redemptions and segment moves are events too: triggers and traits may
	// listen to them. Segment moves nothing listens to are not even made (see unheard).
	if ev.depth < maxDepth {
		if ev.Type == "purchase" {
			derived = append(derived, redemptionsOf(prog, ev, customer)...)
		}
		for _, name := range entered {
			if !unheard(prog, "segment.entered") {
				derived = append(derived, e.segmentEvent(ev, customer, "segment.entered", name))
			}
		}
		for _, name := range exited {
			if !unheard(prog, "segment.exited") {
				derived = append(derived, e.segmentEvent(ev, customer, "segment.exited", name))
			}
		}
	} else {
		derived = nil
	}
	return res, derived, nil
}

// processAnonymous runs the triggers of an event with no customer, for a profile of no one
// that is not kept: actions that need no one to come back to (draw a code, answer the
// caller) run; sends find no address, held actions no one to hold them for. Nothing is
// merged, no segment or trait moves.
func (e *Engine) processAnonymous(st *txState, prog *program, ev *Event, res Result, now time.Time, answers bool) (Result, []*Event, error) {
	if len(prog.TriggersByEvent[ev.Type]) == 0 {
		return res, nil, nil
	}
	p := newProfile("", ev.Time)
	c := e.customerValue(prog, p, now)
	fired, _, derived, err := e.runTriggers(st, prog, p, c, ev, now, res.answers(answers))
	res.Fired = fired
	return res, derived, err
}

func (e *Engine) segmentEvent(parent *Event, customer, typ, segment string) *Event {
	return &Event{ID: parent.key + "/" + typ + "/" + segment, Type: typ, Time: parent.Time, Customer: customer,
		Channel: engineChannel, Data: map[string]any{"segment": segment}, depth: parent.depth + 1}
}

// applyProfileFields applies consent and attribute changes an event carries. Following a
// messaging account is consent to its messages; unfollowing withdraws it.
func applyProfileFields(p *Profile, ev *Event) bool {
	changed := false
	if ev.Time.Before(p.FirstSeen) {
		p.FirstSeen = ev.Time
	}
	if ev.Time.After(p.LastSeen) {
		p.LastSeen = ev.Time
	}
	setConsent := func(ch string, v bool) {
		if p.Consent == nil {
			p.Consent = map[string]bool{}
		}
		if p.Consent[ch] != v {
			p.Consent[ch] = v
			changed = true
		}
	}
	for ch, v := range ev.Consent {
		setConsent(ch, v)
	}
	switch ev.Type {
	case "follow", "unfollow":
		ch := ev.Channel
		if ch == "" {
			ch = "line"
		}
		setConsent(ch, ev.Type == "follow")
	case "survey.submitted":
		if m, ok := ev.fields.Get("consent").(map[string]any); ok {
			for ch, v := range m {
				if b, ok := v.(bool); ok {
					setConsent(ch, b)
				}
			}
		}
	}
	setAttr := func(k string, v any) {
		if p.Attributes == nil {
			p.Attributes = map[string]any{}
		}
		if fmt.Sprint(p.Attributes[k]) != fmt.Sprint(v) {
			p.Attributes[k] = v
			changed = true
		}
	}
	if ev.Type == "location.changed" {
		// The profile learns the move itself, so "moved to a new city" needs no help from the
		// sender: the city before it is kept as previous_city.
		if city, _ := ev.fields.Get("city").(string); city != "" {
			if old, _ := p.Attributes["home_city"].(string); old != "" && old != city {
				setAttr("previous_city", old)
			}
			setAttr("home_city", city)
		}
		if loc, ok := ev.fields.Get("location").(map[string]any); ok {
			setAttr("location", loc)
		}
	}
	for k, v := range ev.Attributes {
		setAttr(k, v)
	}
	return changed
}

// updateTraits folds the event into the traits that listen to its type and returns the
// names of the traits it touched.
func (e *Engine) updateTraits(prog *program, p *Profile, ev *Event, now time.Time) []string {
	ts := prog.TraitsByEvent[ev.Type]
	if len(ts) == 0 {
		return nil
	}
	var vars *celVars
	var changed []string
	for i, t := range ts {
		var v any
		var ok bool
		if in, known := ev.traitInput(prog, i); known {
			v, ok = in.v, in.ok
		} else {
			if vars == nil {
				vars = newCELVars(nil, ev.fields, now)
			}
			var rule string
			var err error
			if v, ok, rule, err = traitInputOf(t, vars); err != nil {
				e.celError(rule, err)
			}
		}
		if !ok {
			continue
		}
		if p.Traits == nil {
			p.Traits = map[string]*TraitState{}
		}
		s := p.Traits[t.Name]
		if s == nil {
			s = &TraitState{}
			p.Traits[t.Name] = s
		}
		s.observe(t, ev.Time, v)
		s.prune(t, now)
		changed = append(changed, t.Name)
	}
	return changed
}

// traitInputOf is what an event adds to trait t: the value of t's value expression (1 to
// count), or ok false when t's where rules the event out. When a rule fails to evaluate, err
// says why and rule names it.
func traitInputOf(t *rules.CTrait, vars *celVars) (v any, ok bool, rule string, err error) {
	if t.Where != nil {
		in, err := t.Where.EvalBool(vars)
		if err != nil {
			return nil, false, "trait." + t.Name + ".where", err
		}
		if !in {
			return nil, false, "", nil
		}
	}
	if t.ValueExpr == nil {
		return int64(1), true, "", nil
	}
	rv, err := t.ValueExpr.Eval(vars)
	if err != nil {
		return nil, false, "trait." + t.Name + ".value", err
	}
	return rv.Value(), true, "", nil
}

func (e *Engine) celError(where string, err error) {
	e.metrics.celErrors.WithLabelValues(where).Inc()
	e.log.Warn("a rule failed to evaluate", "rule", where, "err", err)
}

// customerValue makes the CEL value of `customer` for a profile.
func (e *Engine) customerValue(prog *program, p *Profile, now time.Time) *customerVal {
	c := &customerVal{e: e, prog: prog, p: p, now: now}
	c.kinds, c.names = prog.customerFields()
	return c
}

// updateSegments re-evaluates the segments that read something that changed (all of them
// when the profile itself changed) and records the moves in the profile.
func (e *Engine) updateSegments(prog *program, p *Profile, c *customerVal, traits []string, all bool, now time.Time) (entered, exited []string) {
	if len(prog.Segments) == 0 {
		return nil, nil
	}
	// c reads p.Segments itself (customerValue), so later segments see the moves made here.
	vars := newCELVars(c, nil, now)
	layout := prog.segmentLayout()
	// Segments may read other segments: a second pass picks up what the first moved.
	var movedIn, movedOut []string
	for pass := 0; pass < 2; pass++ {
		e0, x0 := len(entered), len(exited)
		for _, s := range prog.Segments {
			if !all && !intersects(s.Traits, traits) && !intersects(s.Segments, movedIn) && !intersects(s.Segments, movedOut) {
				continue
			}
			in, err := s.Condition.EvalBool(vars)
			if err != nil {
				e.celError("segment."+s.Name, err)
				continue
			}
			if in == p.Segments.at(layout, s.Index) {
				continue
			}
			p.Segments.setAt(layout, s.Index, in)
			if in {
				entered = append(entered, s.Name)
			} else {
				exited = append(exited, s.Name)
			}
		}
		if all || len(entered) == e0 && len(exited) == x0 {
			break
		}
		movedIn, movedOut = entered[e0:], exited[x0:]
	}
	return entered, exited
}

// countMoves counts segment moves made for good: a decision's are not.
func (e *Engine) countMoves(entered, exited []string) {
	for _, s := range entered {
		e.metrics.segmentMoved(s, "entered").Inc()
	}
	for _, s := range exited {
		e.metrics.segmentMoved(s, "exited").Inc()
	}
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// mergeProfiles folds the profile of a merged-away customer into the survivor's.
func (e *Engine) mergeProfiles(st *txState, prog *program, into, from string) {
	e.moveWaits(st, into, from)
	src := e.profiles[from]
	if src == nil {
		return
	}
	dst := e.profiles[into]
	if dst == nil {
		src.ID = into
		e.profiles[into] = src
		delete(e.profiles, from)
		st.touch(src)
		st.deleted[from] = true
		return
	}
	if src.FirstSeen.Before(dst.FirstSeen) {
		dst.FirstSeen = src.FirstSeen
	}
	// Consent and attributes: the most recently active profile's word wins.
	newer := src.LastSeen.After(dst.LastSeen)
	for k, v := range src.Consent {
		if _, has := dst.Consent[k]; !has || newer {
			if dst.Consent == nil {
				dst.Consent = map[string]bool{}
			}
			dst.Consent[k] = v
		}
	}
	for k, v := range src.Attributes {
		if _, has := dst.Attributes[k]; !has || newer {
			if dst.Attributes == nil {
				dst.Attributes = map[string]any{}
			}
			dst.Attributes[k] = v
		}
	}
	if src.LastSeen.After(dst.LastSeen) {
		dst.LastSeen = src.LastSeen
	}
	byName := map[string]*rules.CTrait{}
	for _, t := range prog.Traits {
		byName[t.Name] = t
	}
	for name, s := range src.Traits {
		t := byName[name]
		if t == nil {
			continue
		}
		if dst.Traits == nil {
			dst.Traits = map[string]*TraitState{}
		}
		if dst.Traits[name] == nil {
			dst.Traits[name] = s
			continue
		}
		dst.Traits[name].merge(t, s)
	}
	for _, x := range src.Fired {
		if had, _ := dst.Fired.get(x.name); x.at.After(had) {
			dst.Fired.set(x.name, x.at)
		}
	}
	dst.Sent = append(dst.Sent, src.Sent...)
	// Segment membership is recomputed by the caller against the union of both: the person
	// was in a segment if either profile was, so a merge into a profile outside it is no
	// entry (no second welcome), and one the merged profile no longer qualifies for is an exit.
	for name := range src.Segments.all() {
		dst.Segments.add(name)
	}
	delete(e.profiles, from)
	st.touch(dst)
	st.deleted[from] = true
}

// actionKey is an action's idempotency key, worked out when first needed: most messages go
// to customers with no address on the channel, and are counted, not kept.
type actionKey struct {
	parts []string
	key   string
}

func (k *actionKey) String() string {
	if k.key == "" {
		k.key = idempotencyKey(k.parts...)
	}
	return k.key
}

// idempotencyKey is the key every send carries: the same (trigger, action, event, customer)
// always makes the same key, so no retry or crash sends twice.
func idempotencyKey(parts ...string) string {
	h := identity.Digest(parts...)
	var out [3 + 32]byte
	copy(out[:], "mk_")
	hex.Encode(out[3:], h[:16])
	return string(out[:])
}

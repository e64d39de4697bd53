package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
)

// ErrNoCustomer is returned for an ID or identifier no customer has.
var ErrNoCustomer = errors.New("no such customer")

// CustomerView explains a customer: identifiers, the merges that made the profile, consent,
// traits and segments.
type CustomerView struct {
	ID          string           `json:"id"`
	Identifiers []identity.ID    `json:"identifiers"`
	Merges      []identity.Merge `json:"merges"`
	Consent     map[string]bool  `json:"consent,omitempty"`
	Attributes  map[string]any   `json:"attributes,omitempty"`
	Traits      map[string]any   `json:"traits,omitempty"`
	Segments    []string         `json:"segments"`
	FirstSeen   time.Time        `json:"first_seen,omitzero"`
	LastSeen    time.Time        `json:"last_seen,omitzero"`
	// Pending are the customer's actions held back to run later, soonest first.
	Pending []Step `json:"pending"`
}

// UnmergeResult is what an unmerge restored.
type UnmergeResult struct {
	Merge    string        `json:"merge"`
	Restored string        `json:"restored"` // the customer that exists again
	Kept     string        `json:"kept"`     // the customer it was merged into
	Moved    []identity.ID `json:"moved"`
	Events   int           `json:"events"` // events re-attributed to the restored customer
}

// ForgetResult is what a forget erased.
type ForgetResult struct {
	Customer    string        `json:"customer"`
	Identifiers []identity.ID `json:"identifiers"`
	Customers   []string      `json:"customers"` // every ID the person had (merged-away ones too)
	// Audiences are the systems' audiences the person was taken out of first ("TYPE.NAME
	// segment"); AudienceErrors those that could not be reached, to be cleaned there.
	Audiences      []string `json:"audiences,omitempty"`
	AudienceErrors []string `json:"audience_errors,omitempty"`
}

// resolveCustomer finds a customer by Uni-ID or by "TYPE:VALUE" (email:hanako@example.jp).
func (e *Engine) resolveCustomer(ref string) (string, error) {
	if typ, val, ok := strings.Cut(ref, ":"); ok {
		v, err := e.graph.Rules().Normalize(typ, val)
		if err != nil {
			return "", fmt.Errorf("%s: %w", ref, err)
		}
		if c, ok := e.graph.Lookup(identity.ID{Type: typ, Value: v}); ok {
			return c, nil
		}
		return "", fmt.Errorf("%w with %s %s", ErrNoCustomer, typ, v)
	}
	c := e.graph.Canonical(ref)
	if len(e.graph.Identifiers(c)) == 0 {
		return "", fmt.Errorf("%w %s", ErrNoCustomer, ref)
	}
	return c, nil
}

// Customer explains one customer.
func (e *Engine) Customer(ctx context.Context, ref string) (*CustomerView, error) {
	id, err := e.resolveCustomer(ref)
	if err != nil {
		return nil, err
	}
	prog := e.prog.Load()
	now := e.now()
	v := &CustomerView{ID: id, Identifiers: e.graph.Identifiers(id), Merges: e.graph.Merges(id), Segments: []string{}}
	// Read before the profile lock: the processor waits for no store read.
	if v.Pending, err = e.store.Steps(ctx, []string{id}); err != nil {
		return nil, fmt.Errorf("reading the pending steps: %w", err)
	}
	if v.Pending == nil {
		v.Pending = []Step{}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if p := e.profiles[id]; p != nil {
		v.Consent, v.Attributes, v.FirstSeen, v.LastSeen = p.Consent, p.Attributes, p.FirstSeen, p.LastSeen
		v.Traits = map[string]any{}
		for _, t := range prog.Traits {
			if s := p.Traits[t.Name]; s != nil {
				v.Traits[t.Name] = s.value(t, now)
			}
		}
		for _, s := range prog.Segments {
			if p.Segments.has(s.Name) {
				v.Segments = append(v.Segments, s.Name)
			}
		}
	}
	if v.Merges == nil {
		v.Merges = []identity.Merge{}
	}
	return v, nil
}

// labels lists every ID events of a customer may be stored under: its own and those of the
// customers merged into it, recursively.
func (e *Engine) labels(id string) []string {
	out := []string{id}
	for i := 0; i < len(out); i++ {
		for _, m := range e.graph.Merges(out[i]) {
			if !slices.Contains(out, m.From) {
				out = append(out, m.From)
			}
		}
	}
	return out
}

// Unmerge undoes one merge of a customer: the merged-away customer exists again with the
// identifiers it brought, and both profiles are rebuilt from the event log, so traits and
// segments are what they would be had the merge never happened.
func (e *Engine) Unmerge(ctx context.Context, ref, mergeID string) (*UnmergeResult, error) {
	id, err := e.resolveCustomer(ref)
	if err != nil {
		return nil, err
	}
	var res *UnmergeResult
	err = e.submitTx(ctx, func(st *txState) error {
		var m *identity.Merge
		for _, x := range e.graph.Merges(id) {
			if x.ID == mergeID {
				m = &x
				break
			}
		}
		if m == nil {
			return inputError{fmt.Errorf("customer %s has no merge %s; musubi customer show %s lists its merges", id, mergeID, id)}
		}
		labels := e.labels(id)
		u, err := e.graph.Unmerge(mergeID, e.now())
		if err != nil {
			return inputError{err}
		}
		rec, err := json.Marshal(u.Record())
		if err != nil {
			return err
		}
		st.tx.AppendIdentity(rec)
		n, err := e.rebuild(ctx, st, labels, []string{m.Into, m.From})
		if err != nil {
			return err
		}
		res = &UnmergeResult{Merge: mergeID, Restored: m.From, Kept: m.Into, Moved: m.Moved, Events: n}
		return nil
	})
	return res, err
}

// rebuild recomputes the profiles of customers from the events stored under labels: each
// event goes to whichever customer its identifiers now resolve to. Trigger bookkeeping
// (cooldowns, sends) stays with the customers that have it; nothing fires again.
func (e *Engine) rebuild(ctx context.Context, st *txState, labels, customers []string) (int, error) {
	prog := e.prog.Load()
	now := e.now()
	type stored struct {
		ev  *Event
		key string
	}
	var evs []stored
	err := e.store.Events(ctx, labels, func(key string, body []byte) error {
		ev := &Event{}
		if err := json.Unmarshal(body, ev); err != nil {
			return err
		}
		evs = append(evs, stored{ev: ev, key: key})
		return nil
	})
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fresh := map[string]*Profile{}
	for _, c := range customers {
		old := e.profiles[c]
		p := newProfile(c, now)
		if old != nil {
			p.Fired, p.Sent = old.Fired, old.Sent
		}
		fresh[c] = p
	}
	moved := 0
	for _, s := range evs {
		ev := s.ev
		if err := ev.validate(prog, ev.Time); err != nil {
			continue // the rules changed since; the event no longer applies
		}
		ev.key = s.key
		owner := e.knownCustomer(ev)
		p := fresh[owner]
		if p == nil {
			continue
		}
		st.tx.MoveEvents([]string{s.key}, owner)
		if owner != customers[0] && ev.Channel != engineChannel {
			moved++ // the customer's own events; what the engine derived from them follows
		}
		if p.LastSeen.Equal(now) {
			p.FirstSeen, p.LastSeen = ev.Time, ev.Time
		}
		applyProfileFields(p, ev)
		e.updateTraits(prog, p, ev, now)
	}
	for _, p := range fresh {
		c := e.customerValue(prog, p, now)
		entered, exited := e.updateSegments(prog, p, c, nil, true, now)
		e.countMoves(entered, exited)
		e.audiences.moved(p.ID, entered, exited)
		e.profiles[p.ID] = p
		st.touch(p)
	}
	return moved, nil
}

// Forget erases a person everywhere the engine keeps data: identifiers (from the identity
// log's records too), profile, events, queued messages and code assignments. What was already
// sent stays in the ledger without address or text, so it is never sent again. The person's
// identifiers and event keys are suppressed from then on (see suppressions).
func (e *Engine) Forget(ctx context.Context, ref string) (*ForgetResult, error) {
	id, err := e.resolveCustomer(ref)
	if err != nil {
		return nil, err
	}
	// Out of the systems' audiences first: once erased, nothing says who to take out.
	removed, failed := e.leaveAudiences(ctx, e.labels(id))
	var res *ForgetResult
	err = e.submitTx(ctx, func(st *txState) error {
		labels := e.labels(id)
		// Read before anything changes: everything before this job is committed.
		var keys []string
		if err := e.store.Events(ctx, labels, func(key string, _ []byte) error {
			keys = append(keys, key)
			return nil
		}); err != nil {
			return err
		}
		ids, rec, err := e.graph.Forget(id)
		if err != nil {
			return inputError{err}
		}
		body, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		st.tx.AppendIdentity(body)
		st.tx.Forget(labels)
		e.codes.forget(labels)
		e.redeemed.forget(labels)
		// The suppressions hold from the next event on, before this commits.
		sup := e.forgetDigests(ids, keys)
		e.suppress.change(sup)
		st.tx.record(func(tx Tx) error {
			if err := tx.RedactIdentity(ids); err != nil {
				return err
			}
			return tx.Suppress(digestBytes(sup))
		})
		e.mu.Lock()
		for _, l := range labels {
			delete(e.profiles, l)
			delete(e.waits, l)
			delete(st.dirty, l)
			st.deleted[l] = true
		}
		e.mu.Unlock()
		res = &ForgetResult{Customer: id, Identifiers: ids, Customers: labels, Audiences: removed, AudienceErrors: failed}
		return nil
	})
	return res, err
}

package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

// Redemptions. A purchase whose coupon_codes hold a campaign's code (its shared code, or one
// of the unique codes the engine hands out) is also a coupon.redeemed, which the engine raises
// as it raises segment moves; a system that reports redemptions itself posts coupon.redeemed.
// Either way the engine fills in what it knows: the campaign, the customer the code was issued
// to (owner), whether the campaign is a referral, and whether it is the customer's first order
// with the code. A code counts once per order. The code index and the owners are in memory, so
// a purchase costs no store read.

const redeemedType = "coupon.redeemed"

// codeRef is what a code given at a checkout is: a campaign's shared code (idx -1) or one of
// its unique codes.
type codeRef struct {
	campaign *rules.CCampaign
	code     string // as the campaign spells it
	idx      int
}

// codeKey is how codes are matched: checkouts take them in any case (Shopify's codes are not
// case-sensitive) and a cashier may type a space around one.
func codeKey(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// codeIndex maps the codes of the program's campaigns, by codeKey, to what they are. It is
// made on first use: a pool's codes are generated, not stored.
func (p *program) codeIndex() map[string]codeRef {
	p.idxOnce.Do(func() {
		idx := map[string]codeRef{}
		add := func(r codeRef) {
			if _, taken := idx[codeKey(r.code)]; !taken {
				idx[codeKey(r.code)] = r
			}
		}
		for _, name := range sortedKeys(p.Campaigns) {
			c := p.Campaigns[name]
			if c.Code != "" {
				add(codeRef{campaign: c, code: c.Code, idx: -1})
			}
			for i, code := range p.codeList(c) {
				add(codeRef{campaign: c, code: code, idx: i})
			}
		}
		p.codeIdx = idx
	})
	return p.codeIdx
}

// own records that a campaign's code number idx is customer's, given at at. The caller holds
// c.mu, or has the counters to itself.
func (c *codeCounters) own(campaign string, idx int, customer string, at time.Time) {
	if c.owners == nil {
		c.owners, c.given = map[string][]string{}, map[string][]int64{}
	}
	l := c.owners[campaign]
	if idx >= len(l) {
		l = slices.Grow(l, idx+1-len(l))[:idx+1]
	}
	l[idx] = customer
	c.owners[campaign] = l
	g := c.given[campaign]
	if idx >= len(g) {
		g = slices.Grow(g, idx+1-len(g))[:idx+1]
	}
	g[idx] = at.UnixMilli()
	c.given[campaign] = g
}

// givenAt is when a campaign's code number idx was given, zero when it was not.
func (c *codeCounters) givenAt(campaign string, idx int) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.given[campaign]; idx < len(g) && g[idx] != 0 {
		return time.UnixMilli(g[idx]).UTC()
	}
	return time.Time{}
}

// owner is the customer a campaign's code number idx was given to, "" for none.
func (c *codeCounters) owner(campaign string, idx int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.owners[campaign]; idx < len(l) {
		return l[idx]
	}
	return ""
}

// forget drops customers as owners: their codes stay taken, and are nobody's.
func (c *codeCounters) forget(customers []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.owners {
		for i, owner := range l {
			if owner != "" && slices.Contains(customers, owner) {
				l[i] = ""
			}
		}
	}
}

// redemptions is the ledger of codes redeemed, by codeKey.
type redemptions struct {
	mu    sync.RWMutex
	codes map[string]*codeUses
}

type codeUses struct {
	orders map[string]string   // order → the customer who redeemed the code in it
	by     map[string]struct{} // the customers who redeemed it
}

// seen reports that code was redeemed in order before.
func (r *redemptions) seen(code, order string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u := r.codes[code]
	if u == nil {
		return false
	}
	_, ok := u.orders[order]
	return ok
}

// usedBy reports that any of customers (a customer and those merged into it) redeemed code.
func (r *redemptions) usedBy(code string, customers []string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u := r.codes[code]
	if u == nil {
		return false
	}
	for _, c := range customers {
		if _, ok := u.by[c]; ok {
			return true
		}
	}
	return false
}

func (r *redemptions) add(code, order, customer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.codes[code]
	if u == nil {
		u = &codeUses{orders: map[string]string{}, by: map[string]struct{}{}}
		r.codes[code] = u
	}
	u.orders[order] = customer
	u.by[customer] = struct{}{}
}

// forget erases customers' redemptions, as the store's forget does.
func (r *redemptions) forget(customers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for code, u := range r.codes {
		for order, c := range u.orders {
			if slices.Contains(customers, c) {
				delete(u.orders, order)
			}
		}
		for _, c := range customers {
			delete(u.by, c)
		}
		if len(u.orders) == 0 {
			delete(r.codes, code)
		}
	}
}

// loadRedemptions reads whom codes were given to and the redemptions, at start.
func (e *Engine) loadRedemptions(ctx context.Context) error {
	if err := e.store.CodeOwners(ctx, func(campaign string, idx int, customer string, at time.Time) error {
		e.codes.own(campaign, idx, customer, at)
		return nil
	}); err != nil {
		return fmt.Errorf("reading whom codes were given to: %w", err)
	}
	e.redeemed = &redemptions{codes: map[string]*codeUses{}}
	if err := e.store.Redemptions(ctx, func(code, order, customer string) error {
		e.redeemed.add(code, order, customer)
		return nil
	}); err != nil {
		return fmt.Errorf("reading the redemptions: %w", err)
	}
	return nil
}

// RecordRedemption records a redemption for the store.
func (t *pendingTx) RecordRedemption(code, orderID, campaign, customer string, at time.Time) {
	t.record(func(tx Tx) error { return tx.RecordRedemption(code, orderID, campaign, customer, at) })
}

// redemptionsOf makes the coupon.redeemed events of a purchase: one for each code of a
// campaign it carries. customer is who made it ("" in a decision on an unknown customer,
// whose identifiers the events then carry).
func redemptionsOf(prog *program, ev *Event, customer string) []*Event {
	codes, _ := ev.fields.Get("coupon_codes").([]any)
	if len(codes) == 0 {
		return nil // nearly every purchase
	}
	idx := prog.codeIndex()
	var out []*Event
	var done []string
	for _, v := range codes {
		s, _ := v.(string)
		k := codeKey(s)
		ref, ok := idx[k]
		if !ok || slices.Contains(done, k) {
			continue
		}
		done = append(done, k)
		data := map[string]any{"code": ref.code, "campaign": ref.campaign.Name}
		for _, f := range []string{"order_id", "total", "currency"} {
			if v := ev.fields.Get(f); v != nil {
				data[f] = v
			}
		}
		d := &Event{ID: ev.key + "/" + redeemedType + "/" + ref.code, Type: redeemedType, Time: ev.Time, Customer: customer,
			Source: ev.Source, Channel: ev.Channel, StoreID: ev.StoreID, Data: data, depth: ev.depth + 1}
		if customer == "" {
			d.Identifiers = ev.Identifiers
		}
		out = append(out, d)
	}
	return out
}

// redemption is what the engine knows of a coupon.redeemed.
type redemption struct {
	key, order string // the code's codeKey, and the order (see redemptionKey)
	code       string // as the campaign spells it, when the engine knows the code
	campaign   string
	owner      string
	referral   bool
	firstUse   bool
	// expired: the code was redeemed after it stopped being good, its campaign's end or its
	// valid_for from when it was given (the till took it anyway: the engine says so).
	expired bool
}

// redeems reports a coupon.redeemed that names its code: one that does not is an event like
// any other.
func redeems(ev *Event) bool {
	if ev.Type != redeemedType {
		return false
	}
	code, _ := ev.fields.Get("code").(string)
	return code != ""
}

// redemptionKey is a coupon.redeemed's code and order: a code counts once per order, and an
// event that names no order is an order of its own. The code is "" when the event has none.
func redemptionKey(ev *Event) (code, order string) {
	s, _ := ev.fields.Get("code").(string)
	code = codeKey(s)
	order, _ = ev.fields.Get("order_id").(string)
	if order == "" {
		order = "event:" + ev.key
	}
	return code, order
}

// fillRedemption works out what the engine knows of a coupon.redeemed by customer and sets
// it in the event: the code's campaign and owner (the sender's owner, when it names one), the
// campaign's referral, and whether customer redeems the code for the first time.
func (e *Engine) fillRedemption(prog *program, ev *Event, customer string) redemption {
	r := redemption{}
	r.key, r.order = redemptionKey(ev)
	r.code, _ = ev.fields.Get("code").(string)
	r.campaign, _ = ev.fields.Get("campaign").(string)
	r.owner, _ = ev.fields.Get("owner").(string)
	if ref, ok := prog.codeIndex()[r.key]; ok {
		r.code, r.campaign = ref.code, ref.campaign.Name
		if r.owner == "" && ref.idx >= 0 {
			r.owner = e.codes.owner(ref.campaign.Name, ref.idx)
		}
	}
	if r.owner != "" { // a sender may name the owner by Uni-ID or by TYPE:VALUE, as the CLI does
		if c, err := e.resolveCustomer(r.owner); err == nil {
			r.owner = c
		}
	}
	if c := prog.Campaigns[r.campaign]; c != nil {
		r.referral = c.Referral
		r.expired = !c.Until.IsZero() && ev.Time.After(c.Until)
		if ref, ok := prog.codeIndex()[r.key]; ok && ref.idx >= 0 && c.ValidFor > 0 {
			if at := e.codes.givenAt(c.Name, ref.idx); !at.IsZero() && ev.Time.After(at.Add(c.ValidFor)) {
				r.expired = true
			}
		}
	}
	r.firstUse = customer == "" || !e.redeemed.usedBy(r.key, e.labels(customer))
	if ev.Data == nil {
		ev.Data = map[string]any{}
	}
	for k, v := range map[string]any{"code": r.code, "campaign": r.campaign, "owner": r.owner, "referral": r.referral, "first_use": r.firstUse, "expired": r.expired} {
		ev.fields.Set(k, v)
		ev.Data[k] = v
	}
	ev.body = nil // encoded again, with what was filled in
	return r
}

// ownerOf is whom an action addressed to the code's owner runs for, or why it does not run.
// A referral rewards the owner for a friend's first order with the code, and never for the
// owner's own use of it.
func ownerOf(prog *program, ev *Event, friend string) (owner, reason string) {
	owner, _ = ev.fields.Get("owner").(string)
	code, _ := ev.fields.Get("code").(string)
	campaign, _ := ev.fields.Get("campaign").(string)
	referral, _ := ev.fields.Get("referral").(bool)
	first, _ := ev.fields.Get("first_use").(bool)
	switch {
	case owner == "":
		if c := prog.Campaigns[campaign]; c != nil && c.Code != "" && codeKey(c.Code) == codeKey(code) {
			return "", fmt.Sprintf("code %s is campaign %s's shared code: it has no owner", code, campaign)
		}
		return "", fmt.Sprintf("code %s was issued to no customer: it has no owner", code)
	case referral && owner == friend:
		return owner, "the owner redeemed their own referral code: a referral rewards only other customers' orders"
	case referral && !first:
		return owner, "the customer redeemed this referral code in an earlier order: its owner is rewarded once per friend"
	}
	return owner, ""
}

// runForOwner runs an action addressed to the owner of the redeemed code as it runs for any
// customer, with the owner's profile: the owner's address, consent, caps and quiet hours, and
// `customer` in its templates is the owner. A referral reward's idempotency key is made of
// (trigger, action, campaign, owner, friend), so a friend brings the owner one reward, and an
// issue_coupon draws a code of its own for each friend.
func (e *Engine) runForOwner(st *txState, prog *program, friend *Profile, t *rules.CTrigger, i int, a *rules.CAction, ev *Event, now time.Time) (Outcome, *Event, error) {
	owner, reason := ownerOf(prog, ev, friend.ID)
	var p *Profile
	switch {
	case reason != "":
	case owner == friend.ID:
		p = friend
	case st == nil: // a decision reads the owner's profile and changes nothing
		e.mu.RLock()
		if src := e.profiles[owner]; src != nil {
			p = src.clone()
		}
		e.mu.RUnlock()
	default:
		p = e.profiles[owner]
	}
	if p == nil {
		if reason == "" {
			reason = "the code's owner " + owner + " is not a known customer"
		}
		if st != nil {
			e.metrics.outcome("suppressed").Inc()
		}
		return Outcome{Type: a.Type, Campaign: a.Campaign, Customer: owner, Status: "suppressed", Reason: reason}, nil, nil
	}
	vars := newCELVars(e.customerValue(prog, p, now), ev.fields, now)
	vars.code = noCode
	key := &actionKey{parts: []string{t.Name, strconv.Itoa(i), ev.key, p.ID}}
	if referral, _ := ev.fields.Get("referral").(bool); referral {
		campaign, _ := ev.fields.Get("campaign").(string)
		key.parts = []string{t.Name, strconv.Itoa(i), "referral", campaign, p.ID, friend.ID}
	}
	var of string
	if p != friend {
		of = friend.ID
	}
	o, em, err := e.runAction(st, prog, p, vars, t, a, key, ev, now, of)
	o.Customer = p.ID
	if st != nil && p != friend {
		st.touch(p)
	}
	return o, em, err
}

// Redemption is a code an event redeems, as /v1/decide shows it: what the engine knows of it
// and, for a purchase, what the triggers on coupon.redeemed would do.
type Redemption struct {
	Code     string `json:"code"`
	Campaign string `json:"campaign,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Referral bool   `json:"referral,omitempty"`
	FirstUse bool   `json:"first_use"`
	// Expired: the code was no longer good when redeemed (see redemption.expired).
	Expired bool `json:"expired,omitempty"`
	// Repeat: the code was redeemed in this order before, so nothing runs again.
	Repeat    bool       `json:"repeat,omitempty"`
	Decisions []Decision `json:"decisions,omitempty"`
}

func (r redemption) view(repeat bool) Redemption {
	return Redemption{Code: r.code, Campaign: r.campaign, Owner: r.owner, Referral: r.referral, FirstUse: r.firstUse, Expired: r.expired, Repeat: repeat}
}

// decideRedemptions answers, for a purchase in a decision, what each code it carries would
// redeem, on the decision's copy of the customer's profile.
func (e *Engine) decideRedemptions(prog *program, p *Profile, ev *Event, customer string, now time.Time) ([]Redemption, error) {
	var out []Redemption
	for _, d := range redemptionsOf(prog, ev, customer) {
		if err := d.validate(prog, now); err != nil {
			continue // as process skips it
		}
		d.key = engineKey(d)
		code, order := redemptionKey(d)
		repeat := e.redeemed.seen(code, order)
		v := e.fillRedemption(prog, d, customer).view(repeat)
		if !repeat {
			var err error
			if v.Decisions, err = e.dryRun(prog, p, d, false, now); err != nil {
				return nil, err
			}
		}
		out = append(out, v)
	}
	return out, nil
}

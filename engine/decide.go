package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
)

// DecideRequest asks what the rules would do for an event, without doing it: the live cart
// at a self-checkout, a page view. The event is validated like an ingested one.
type DecideRequest struct {
	Event *Event `json:"event"`
}

// DecideResponse is what would happen.
type DecideResponse struct {
	// Customer is the known customer the identifiers resolve to; empty for an unknown one.
	Customer  string     `json:"customer,omitempty"`
	Segments  []string   `json:"segments"`
	Decisions []Decision `json:"decisions"`
	Offers    []Offer    `json:"offers"`
	Bundle    string     `json:"bundle"`
	// Redemptions are the codes the event would redeem: a coupon.redeemed's own, or each
	// campaign code a purchase carries, with what the triggers on coupon.redeemed would do.
	Redemptions []Redemption `json:"redemptions,omitempty"`
}

// Offer is a campaign's answer for the cart: eligible, or how far from it.
type Offer struct {
	Campaign string  `json:"campaign"`
	Eligible bool    `json:"eligible"`
	Reason   string  `json:"reason,omitempty"`
	Percent  float64 `json:"percent,omitempty"`
	Amount   int64   `json:"amount,omitempty"`
	Currency string  `json:"currency,omitempty"`
	MinTotal int64   `json:"min_total,omitempty"`
	// Remaining is what the cart lacks to reach the minimum total ("spend ¥200 more").
	Remaining int64 `json:"remaining,omitempty"`
}

// Decide evaluates the triggers and campaign eligibility for an event exactly as ingesting
// it would, on a copy of the customer's profile: nothing is stored, no code drawn, no message
// queued, no cooldown started.
func (e *Engine) Decide(ctx context.Context, req DecideRequest) (*DecideResponse, error) {
	start := time.Now()
	defer func() { e.metrics.decideSeconds.Observe(time.Since(start).Seconds()) }()
	ev := req.Event
	if ev == nil {
		return nil, inputError{fmt.Errorf("event: required")}
	}
	prog := e.prog.Load()
	now := e.now()
	if ev.ID == "" {
		ev.ID = "decide"
	}
	if err := ev.validate(prog, now); err != nil {
		return nil, inputError{fmt.Errorf("event.%w", err)}
	}
	customer := e.knownCustomer(ev)
	e.mu.RLock()
	var p *Profile
	if src := e.profiles[customer]; src != nil {
		p = src.clone()
	}
	e.mu.RUnlock()
	if p == nil {
		p = newProfile(customer, ev.Time)
	}
	var redeemed []Redemption
	if redeems(ev) {
		code, order := redemptionKey(ev)
		repeat := e.redeemed.seen(code, order)
		redeemed = append(redeemed, e.fillRedemption(prog, ev, customer).view(repeat))
		if repeat { // redeemed in this order before: ingesting it would run nothing
			return &DecideResponse{Customer: customer, Decisions: []Decision{}, Offers: []Offer{}, Bundle: prog.Hash,
				Segments: []string{}, Redemptions: redeemed}, nil
		}
	}
	decisions, err := e.dryRun(prog, p, ev, applyProfileFields(p, ev), now)
	if err != nil {
		return nil, err
	}
	if ev.Type == "purchase" {
		if redeemed, err = e.decideRedemptions(prog, p, ev, customer, now); err != nil {
			return nil, err
		}
	}
	resp := &DecideResponse{Customer: customer, Decisions: decisions, Bundle: prog.Hash, Segments: []string{}, Redemptions: redeemed}
	if resp.Decisions == nil {
		resp.Decisions = []Decision{}
	}
	for _, s := range prog.Segments {
		if p.Segments.has(s.Name) {
			resp.Segments = append(resp.Segments, s.Name)
		}
	}
	resp.Offers = offers(prog, p, ev, now)
	return resp, nil
}

// dryRun runs an event on a decision's copy of a profile: its traits, segments and triggers.
func (e *Engine) dryRun(prog *program, p *Profile, ev *Event, profileChanged bool, now time.Time) ([]Decision, error) {
	changed := e.updateTraits(prog, p, ev, now)
	c := e.customerValue(prog, p, now)
	e.updateSegments(prog, p, c, changed, profileChanged, now)
	_, decisions, _, err := e.runTriggers(nil, prog, p, c, ev, now, nil)
	return decisions, err
}

// offers answers, for each campaign with a coupon, whether the event's cart qualifies.
func offers(prog *program, p *Profile, ev *Event, now time.Time) []Offer {
	total, hasTotal := cartTotal(ev)
	out := []Offer{}
	for _, name := range sortedKeys(prog.Campaigns) {
		c := prog.Campaigns[name]
		if c.Percent == 0 && c.Amount == 0 {
			continue
		}
		o := Offer{Campaign: name, Percent: c.Percent, Amount: c.Amount, Currency: c.Currency, MinTotal: c.MinTotal}
		switch {
		case !c.From.IsZero() && now.Before(c.From):
			o.Reason = "starts " + c.From.Format(time.RFC3339)
		case !c.Until.IsZero() && now.After(c.Until):
			o.Reason = "ended " + c.Until.Format(time.RFC3339)
		case c.Audience != "" && !p.Segments.has(c.Audience):
			o.Reason = "not in segment " + c.Audience
		case c.MinTotal > 0 && !hasTotal:
			o.Reason = "the event has no cart total"
		case c.MinTotal > 0 && total < c.MinTotal:
			o.Remaining = c.MinTotal - total
			o.Reason = fmt.Sprintf("cart total %d is %d short of %d", total, o.Remaining, c.MinTotal)
		default:
			o.Eligible = true
		}
		out = append(out, o)
	}
	return out
}

func cartTotal(ev *Event) (int64, bool) {
	if cart, ok := ev.fields.Get("cart").(map[string]any); ok {
		if t, ok := cart["total"].(int64); ok {
			return t, true
		}
	}
	if t, ok := ev.fields.Get("total").(int64); ok {
		return t, true
	}
	return 0, false
}

// knownCustomer is the customer an event's identifiers name, strongest identifier first,
// without changing the graph; or the customer it names itself; or "".
func (e *Engine) knownCustomer(ev *Event) string {
	ids, _ := e.identifiersOf(ev)
	for _, id := range sortByPriority(ids, e.graph.Rules().Priority) {
		if c, ok := e.graph.Lookup(id); ok {
			return c
		}
	}
	if ev.Customer != "" {
		return e.graph.Canonical(ev.Customer)
	}
	return ""
}

// sortByPriority orders identifiers strongest first, as resolution does.
func sortByPriority(ids []identity.ID, priority []string) []identity.ID {
	rank := func(t string) int {
		for i, p := range priority {
			if p == t {
				return i
			}
		}
		return len(priority)
	}
	out := append([]identity.ID(nil), ids...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && rank(out[j].Type) < rank(out[j-1].Type); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

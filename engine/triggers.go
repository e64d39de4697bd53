package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
)

// Decision is what a trigger did (or, for /v1/decide, would do) for one event.
type Decision struct {
	Trigger string    `json:"trigger"`
	Fired   bool      `json:"fired"`
	Reason  string    `json:"reason,omitempty"` // why it did not fire: condition, cooldown, rule error
	Actions []Outcome `json:"actions,omitempty"`
}

// Outcome is what one action did.
type Outcome struct {
	Type     string `json:"type"`
	Via      string `json:"via,omitempty"`
	Customer string `json:"customer,omitempty"` // whom it ran for, when addressed to the code's owner
	To       string `json:"to,omitempty"`
	Campaign string `json:"campaign,omitempty"`
	Code     string `json:"code,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Text     string `json:"text,omitempty"`
	Variant  string `json:"variant,omitempty"`
	// Status: queued, held (quiet hours), suppressed (consent, cap, no codes left), unreachable
	// (the customer has no address on the channel: nothing is kept in the outbox), emitted,
	// issued, answered, scheduled (held back to run at At), or for decisions would_send,
	// would_issue, would_answer, would_schedule.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Key    string `json:"key,omitempty"`
	// At is when a held action runs (scheduled, would_schedule).
	At time.Time `json:"at,omitzero"`
	// ExpiresAt is when the code given stops being good, when it does.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// runTriggers evaluates the triggers on the event's type for a customer and returns the
// names of those that fired. With st nil it is a dry run (decisions): nothing is written, no
// code is drawn, no cooldown starts. Both paths run this one function, so a decision and the
// event it predicts always agree. Only a dry run returns decisions, with the triggers that did
// not fire and why, and each action's outcome: the live path needs the names, and the
// reasons (a formatted cooldown for every trigger still cooling down) and decisions were a
// large part of its cost.
//
// answers, when not nil, collects what the actions that ran gave out, for the caller.
func (e *Engine) runTriggers(st *txState, prog *program, p *Profile, c *customerVal, ev *Event, now time.Time, answers *[]Outcome) (fired []string, decisions []Decision, derived []*Event, err error) {
	triggers := prog.TriggersByEvent[ev.Type]
	if len(triggers) == 0 {
		return nil, nil, nil, nil
	}
	dry := st == nil
	vars := newCELVars(c, ev.fields, now)
	vars.code = noCode
	for i, t := range triggers {
		if ok, reason := e.fires(t, p, vars, now, dry, ev.eventPart(prog, i)); !ok {
			if dry {
				decisions = append(decisions, Decision{Trigger: t.Name, Reason: reason})
			}
			continue
		}
		fired = append(fired, t.Name)
		d := Decision{Trigger: t.Name, Fired: true}
		if !dry && p.ID != "" {
			p.Fired.set(t.Name, now)
		}
		if !dry {
			e.metrics.triggerFired(t.Name).Inc()
		}
		for i, a := range t.Actions {
			var o Outcome
			var em *Event
			if t.Timed(a) {
				o, err = e.schedule(st, prog, p, t, i, a, ev)
			} else {
				o, em, err = e.runOne(st, prog, p, vars, t, i, ev, now, nil)
			}
			if err != nil {
				return nil, nil, nil, err
			}
			if dry {
				d.Actions = append(d.Actions, o)
			} else if answers != nil {
				*answers = append(*answers, o)
			}
			if em != nil {
				derived = append(derived, em)
			}
		}
		if dry {
			decisions = append(decisions, d)
		}
	}
	return fired, decisions, derived, nil
}

// fires reports whether a trigger fires for the event, and if not, when explain is set, why:
// its cooldown, its condition, a rule error. part is what ruleOut found of the condition's
// event part: false (the trigger cannot fire), true (only the rest of the condition is left
// to evaluate) or not known.
func (e *Engine) fires(t *rules.CTrigger, p *Profile, vars *celVars, now time.Time, explain bool, part eventPart) (ok bool, reason string) {
	ruledOut := part == partFalse
	if ruledOut && !explain {
		return false, "" // the cooldown would only change the reason
	}
	if t.CooldownDur > 0 {
		if last, fired := p.Fired.get(t.Name); fired && now.Sub(last) < t.CooldownDur {
			if explain {
				reason = fmt.Sprintf("cooldown: fired %s ago, cooldown %s", now.Sub(last).Round(time.Second), lang.FormatDuration(t.CooldownDur))
			}
			return false, reason
		}
	}
	if t.Condition == nil {
		return true, ""
	}
	cond := t.Condition
	switch {
	case ruledOut:
		return false, "condition is false"
	case part == partTrue && t.EventWhole:
		return true, ""
	case part == partTrue && t.Rest != nil:
		cond = t.Rest
	}
	ok, err := cond.EvalBool(vars)
	switch {
	case err != nil:
		e.celError("trigger."+t.Name+".condition", err)
		return false, "rule error: " + err.Error()
	case !ok:
		return false, "condition is false"
	}
	return true, ""
}

// ruleOut evaluates the event parts of the conditions of the triggers on the event's type,
// and records which are false and which true. It runs in the request's goroutine, so the
// processor, which runs one event after another, has that much less to do. An event part
// that fails to evaluate decides nothing: the whole condition is evaluated later, as it
// always is. A redemption is left alone: the engine fills in its owner, first_use, referral
// and expired only when it processes it, and a condition on them must see them.
func ruleOut(prog *program, ev *Event, vars *celVars) {
	if redeems(ev) {
		return
	}
	triggers := prog.TriggersByEvent[ev.Type]
	for i, t := range triggers {
		if t.EventPart == nil {
			continue
		}
		if ev.parts == nil {
			ev.parts = make([]eventPart, len(triggers))
		}
		if ok, err := t.EventPart.EvalBool(vars); err == nil {
			ev.parts[i] = partFalse
			if ok {
				ev.parts[i] = partTrue
			}
		}
	}
}

// eventPart is what a trigger condition's event part was found to be ahead of the processor.
type eventPart uint8

const (
	partUnknown eventPart = iota // not evaluated, or it failed to: the whole condition says
	partFalse                    // the trigger cannot fire
	partTrue                     // the rest of the condition says
)

// eventPart is what ruleOut found of the event part of trigger i on the event's type, under
// prog.
func (ev *Event) eventPart(prog *program, i int) eventPart {
	if ev.prog != prog || ev.parts == nil {
		return partUnknown
	}
	return ev.parts[i]
}

// runOne runs action i of a trigger now, for the customer of p or the one it names (to). key
// is its idempotency key; nil for the one it has when it runs with its event.
func (e *Engine) runOne(st *txState, prog *program, p *Profile, vars *celVars, t *rules.CTrigger, i int, ev *Event, now time.Time, key *actionKey) (Outcome, *Event, error) {
	a := t.Actions[i]
	if a.To == lang.RecipientCodeOwner {
		return e.runForOwner(st, prog, p, t, i, a, ev, now)
	}
	if key == nil {
		key = &actionKey{parts: []string{t.Name, strconv.Itoa(i), ev.key, p.ID}}
	}
	return e.runAction(st, prog, p, vars, t, a, key, ev, now, "")
}

// runAction runs one action for the customer of p. friend, when set, is the customer whose
// redemption of p's code the action rewards (see runForOwner).
func (e *Engine) runAction(st *txState, prog *program, p *Profile, vars *celVars, t *rules.CTrigger, a *rules.CAction, key *actionKey, ev *Event, now time.Time, friend string) (Outcome, *Event, error) {
	o := Outcome{Type: a.Type, Campaign: a.Campaign}
	switch a.Type {
	case string(lang.ActionEmit):
		data := map[string]any{}
		for k, x := range a.Data {
			v, err := x.Eval(vars)
			if err != nil {
				e.celError("trigger."+t.Name+".data."+k, err)
				o.Status, o.Reason = "suppressed", "rule error: "+err.Error()
				return o, nil, nil
			}
			data[k] = v.Value()
		}
		o.Status = "emitted"
		if st == nil {
			o.Status = "would_emit"
			return o, nil, nil
		}
		if ev.depth >= maxDepth {
			o.Status, o.Reason = "suppressed", "too many chained engine events"
			return o, nil, nil
		}
		return o, &Event{ID: ev.key + "/" + t.Name + "/emit", Type: a.Event, Time: now, Customer: p.ID,
			Channel: engineChannel, Data: data, depth: ev.depth + 1}, nil
	case string(lang.ActionAnswer):
		o.Status = "answered"
		if st == nil {
			o.Status = "would_answer"
		}
		text, err := a.Answer.Render(vars)
		if err != nil {
			e.celError("trigger."+t.Name+".answer", err)
			o.Status, o.Reason = "suppressed", "rule error: "+err.Error()
		}
		o.Text = text
		return o, nil, nil
	case string(lang.ActionIssueCoupon):
		c := prog.Campaigns[a.Campaign]
		var scope []string // whose code it is beside the customer's: a friend's, or an event's
		switch {
		case friend != "":
			scope = []string{"friend", friend}
		case p.ID == "":
			// No customer: the code is the event's, a bearer code printed for whoever holds it.
			scope = []string{"event", ev.key}
		}
		draw := func() (string, string) { return e.drawCode(st, prog, c, now, p.ID, scope...) }
		if a.Msg != nil {
			o, em, err := e.send(st, prog, p, vars, e.texts(prog).rule(t.Name), a.Msg, key, o, now, draw)
			if o.Code != "" && o.Status != "suppressed" {
				o.ExpiresAt = e.codeExpiry(c, a, vars, now)
			}
			return o, em, err
		}
		code, reason := draw()
		o.Code, o.Status, o.Reason = code, "issued", reason
		switch {
		case reason != "":
			o.Status = "suppressed"
			return o, nil, nil
		case st == nil:
			o.Status = "would_issue"
		}
		o.ExpiresAt = e.codeExpiry(c, a, vars, now)
		if a.Answer != nil {
			vars.code = types.String(code)
			text, err := a.Answer.Render(vars)
			vars.code = noCode
			if err != nil {
				e.celError("trigger."+t.Name+".answer", err)
				o.Reason = "rule error: " + err.Error()
			}
			o.Text = text
		}
		return o, nil, nil
	}
	if a.Msg == nil {
		return o, nil, nil
	}
	return e.send(st, prog, p, vars, e.texts(prog).rule(t.Name), a.Msg, key, o, now, nil)
}

// codeExpiry is when a code a campaign gives now stops being good: the campaign's end, its
// valid_for from now, the issue_coupon's valid_until from the event, whichever comes first;
// zero when never.
func (e *Engine) codeExpiry(c *rules.CCampaign, a *rules.CAction, vars *celVars, now time.Time) time.Time {
	exp := c.Until
	earlier := func(t time.Time) {
		if !t.IsZero() && (exp.IsZero() || t.Before(exp)) {
			exp = t
		}
	}
	if c.ValidFor > 0 {
		earlier(now.Add(c.ValidFor))
	}
	if a.ValidUntil != nil {
		v, err := a.ValidUntil.Eval(vars)
		if err != nil {
			e.celError("valid_until", err)
		} else if t, ok := v.Value().(time.Time); ok {
			earlier(t)
		}
	}
	return exp
}

// drawCode gives a customer a campaign's code: its shared code, or one of its pool that is
// the customer's for good, whichever trigger or broadcast asks for it — or, as a reward for a
// friend's redemption, one for good for that friend. In a dry run (st nil) nothing is drawn.
// reason says why there is no code.
func (e *Engine) drawCode(st *txState, prog *program, c *rules.CCampaign, now time.Time, customer string, scope ...string) (code, reason string) {
	switch {
	case c.Code != "":
		return c.Code, ""
	case c.Codes == nil:
		return "", "campaign " + c.Name + " has no code"
	case st == nil:
		return "", ""
	}
	key := idempotencyKey(append([]string{"code", c.Name, customer}, scope...)...)
	idx, full := st.tx.AllocateCode(c.Name, c.Codes.Count, customer, key, now)
	if full {
		return "", fmt.Sprintf("campaign %s has given out all %d codes", c.Name, c.Codes.Count)
	}
	e.metrics.codes.WithLabelValues(c.Name).Inc()
	return prog.codeList(c)[idx], ""
}

// send renders a message and queues it, after the delivery rules: an address on the channel,
// consent, the frequency cap; quiet hours hold it. In a dry run it reports what would happen.
// draw, when set, gives the coupon code the message carries, once the rules let it go out.
func (e *Engine) send(st *txState, prog *program, p *Profile, vars *celVars, name string, m *rules.CMessage, key *actionKey, o Outcome, now time.Time, draw func() (string, string)) (Outcome, *Event, error) {
	o.Via = m.Via
	item := &OutboxItem{Customer: p.ID, Name: name, Via: m.Via, Status: StatusPending, NextAt: now, CreatedAt: now}
	o.Status, o.Reason = e.gate(prog, p, vars.customer, m.Via, now, item)
	o.To = item.To
	if o.Status == statusUnreachable && st != nil {
		// Most customers are not on most channels: a trigger's message to each of them is
		// counted, not kept, or the outbox would fill with messages that could never be sent.
		e.metrics.outcome(o.Status).Inc()
		return o, nil, nil
	}
	o.Key = key.String()
	item.Key = o.Key
	if (o.Status == "queued" || o.Status == "held") && draw != nil {
		code, reason := draw()
		if reason != "" {
			o.Status, o.Reason = "suppressed", reason
		}
		o.Code = code
		vars.code = types.String(code)
		defer func() { vars.code = noCode }()
	}
	if o.Status == "queued" || o.Status == "held" {
		if err := e.render(vars, name, m, &o); err != nil {
			o.Status, o.Reason = "suppressed", "rule error: "+err.Error()
		}
	}
	item.Subject, item.Text = o.Subject, o.Text
	if st == nil {
		if o.Status == "queued" || o.Status == "held" {
			o.Status = "would_send"
		}
		return o, nil, nil
	}
	if (o.Status == "queued" || o.Status == "held") && len(prog.FrequencyCaps) > 0 {
		// Kept for the caps only: without any, the profile has nothing to note.
		p.Sent = append(p.Sent, Sent{Channel: channelOf(m.Via), At: now})
		pruneSent(p, prog, now)
		st.touch(p)
	}
	e.metrics.outcome(o.Status).Inc()
	item.Status, item.Reason = outboxStatus(o.Status), o.Reason
	st.tx.EnqueueOutbox(item)
	if item.Status == StatusPending {
		st.delivered = true
	}
	return o, nil, nil
}

// render fills the outcome's text and subject from the first matching variant, or the message.
func (e *Engine) render(vars *celVars, name string, m *rules.CMessage, o *Outcome) error {
	tmpl, subj := m.Template, m.Subject
	for _, v := range m.Variants {
		ok, err := v.When.EvalBool(vars)
		if err != nil {
			e.celError(name+".variant."+v.Name, err)
			continue
		}
		if ok {
			o.Variant, tmpl = v.Name, v.Template
			if v.Subject != nil {
				subj = v.Subject
			}
			break
		}
	}
	text, err := tmpl.Render(vars)
	if err != nil {
		e.celError(name+".template", err)
		return err
	}
	o.Text = text
	if subj != nil {
		if o.Subject, err = subj.Render(vars); err != nil {
			e.celError(name+".subject", err)
			return err
		}
	}
	return nil
}

func outboxStatus(s string) string {
	switch s {
	case "queued", "held":
		return StatusPending
	case "dead":
		return StatusDead
	}
	return StatusSuppressed
}

// statusUnreachable is the outcome of a message to a customer with no address on its channel.
const statusUnreachable = "unreachable"

// gate applies the delivery rules to a message for a customer, filling the recipient. c is
// the customer's CEL value: the recipient is the first of its identifiers of the provider's
// address type, in the identity graph's order, as the rules saw them (looking them up in the
// graph again for every message was most of the cost of one that cannot be sent).
func (e *Engine) gate(prog *program, p *Profile, c *customerVal, via string, now time.Time, item *OutboxItem) (status, reason string) {
	sender, ok := e.opts.Senders[via]
	if !ok {
		return "dead", "provider " + via + " is not configured on this server"
	}
	ms := sender.Messaging()
	item.To = c.firstIdentifier(ms.Address)
	texts := e.texts(prog)
	if item.To == "" {
		return statusUnreachable, texts.unreachable[via]
	}
	if ms.Consent != "" && !p.Consent[ms.Consent] {
		return "suppressed", texts.noConsent[via]
	}
	ch := channelOf(via)
	for i, fc := range prog.FrequencyCaps {
		if fc.Channel != "*" && fc.Channel != ch {
			continue
		}
		n := 0
		for _, s := range p.Sent {
			if (fc.Channel == "*" || s.Channel == ch) && now.Sub(s.At) < fc.Per {
				n++
			}
		}
		if n >= fc.Max {
			return "suppressed", texts.capReason[i]
		}
	}
	if q := prog.QuietHours; q != nil {
		if in, _ := lang.InDailyWindow(now, q.From, q.Until, q.Timezone); in {
			item.NextAt = quietEnd(now, q)
			return "held", "quiet hours until " + item.NextAt.In(prog.Location).Format("2006-01-02 15:04 MST")
		}
	}
	return "queued", ""
}

// quietEnd is when the quiet hours that contain t end.
func quietEnd(t time.Time, q *rules.QuietHours) time.Time {
	loc, err := lang.LoadLocation(q.Timezone)
	if err != nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	var h, m int
	fmt.Sscanf(q.Until, "%d:%d", &h, &m)
	end := time.Date(lt.Year(), lt.Month(), lt.Day(), h, m, 0, 0, loc)
	if !end.After(lt) {
		end = end.AddDate(0, 0, 1)
	}
	return end.UTC()
}

// channelOf is the provider type of "TYPE.NAME": frequency caps count per channel type.
func channelOf(via string) string {
	t, _, _ := strings.Cut(via, ".")
	return t
}

// pruneSent forgets sends older than the longest cap.
func pruneSent(p *Profile, prog *program, now time.Time) {
	var longest time.Duration
	for _, fc := range prog.FrequencyCaps {
		longest = max(longest, fc.Per)
	}
	n := 0
	for _, s := range p.Sent {
		if now.Sub(s.At) < longest {
			p.Sent[n] = s
			n++
		}
	}
	p.Sent = p.Sent[:n]
}

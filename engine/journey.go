package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
)

// Journeys: actions that run later. A trigger's delay, time of day (at) or wait holds its
// actions back: each becomes a Step in the store, written with the event that scheduled it,
// and stepLoop runs the steps that are due, in the processor like any event, with the
// idempotency key the action would have had at once. A step that runs finds the customer as
// they are then (merged, forgotten, out of the condition) and the event that fired it.

// stepTick is how often the store is asked for due steps: a step runs at most this late.
const stepTick = 500 * time.Millisecond

// stepBatch bounds the steps one job runs.
const stepBatch = 2000

// wait is a step a later event may cancel, held in memory with the event that scheduled it
// so that the unless conditions can read trigger.event without reading the store.
type wait struct {
	key, trigger string
	event        *lang.Record
}

// waitingVal is `trigger` in an unless condition: its one field is the trigger's event.
type waitingVal struct{ event *lang.Record }

func (w waitingVal) Field(int) (any, bool) { return w.event, true }
func (w waitingVal) Map() map[string]any   { return map[string]any{"event": w.event.Map()} }

// schedule keeps action i of a trigger as a step, due after the trigger's and the action's
// timing from the event's time. In a dry run it says when it would run.
func (e *Engine) schedule(st *txState, prog *program, p *Profile, t *rules.CTrigger, i int, a *rules.CAction, ev *Event) (Outcome, error) {
	o := Outcome{Type: a.Type, Campaign: a.Campaign, Status: "scheduled", At: t.Due(a, ev.Time, prog.Location)}
	if a.Msg != nil {
		o.Via = a.Msg.Via
	}
	if p.ID == "" {
		o.Status, o.At = "suppressed", time.Time{}
		o.Reason = "an event without a customer runs only actions that need no one to come back to"
		return o, nil
	}
	o.Key = idempotencyKey(t.Name, strconv.Itoa(i), ev.key, p.ID)
	if st == nil {
		o.Status = "would_schedule"
		return o, nil
	}
	body, err := ev.marshal()
	if err != nil {
		return o, err
	}
	s := &Step{Key: o.Key, Customer: p.ID, Trigger: t.Name, Action: i, Type: a.Type, Due: o.At, Waits: t.Waits(),
		CreatedAt: e.now(), EventKey: ev.key, EventType: ev.Type, Event: body}
	st.tx.ScheduleStep(s)
	if s.Waits {
		e.waits[p.ID] = append(e.waits[p.ID], wait{key: s.Key, trigger: t.Name, event: ev.fields})
	}
	e.metrics.step("scheduled").Inc()
	return o, nil
}

// cancelWaits drops the customer's waiting steps that the event cancels: a wait's unless on
// the event's type whose condition holds for the event and the one that fired the trigger.
// It runs before the event's own triggers, so a trigger never cancels its own wait.
func (e *Engine) cancelWaits(st *txState, prog *program, p *Profile, c *customerVal, ev *Event, now time.Time) {
	if len(prog.UnlessByEvent[ev.Type]) == 0 {
		return
	}
	ws := e.waits[p.ID]
	if len(ws) == 0 {
		return
	}
	vars := newCELVars(c, ev.fields, now)
	kept := ws[:0]
	var gone []string
	for _, w := range ws {
		if t := prog.TriggersByName[w.trigger]; t != nil && e.cancels(t, w, vars, ev.Type) {
			gone = append(gone, w.key)
			continue
		}
		kept = append(kept, w)
	}
	if len(gone) == 0 {
		return
	}
	clear(ws[len(kept):])
	if len(kept) == 0 {
		delete(e.waits, p.ID)
	} else {
		e.waits[p.ID] = kept
	}
	st.tx.CancelSteps(p.ID, gone)
	e.metrics.step("cancelled").Add(float64(len(gone)))
}

func (e *Engine) cancels(t *rules.CTrigger, w wait, vars *celVars, typ string) bool {
	for i, u := range t.Unless {
		if u.On != typ {
			continue
		}
		if u.Condition == nil {
			return true
		}
		vars.trigger = waitingVal{w.event}
		ok, err := u.Condition.EvalBool(vars)
		if err != nil {
			e.celError(fmt.Sprintf("trigger.%s.wait.unless[%d]", t.Name, i), err)
			continue
		}
		if ok {
			return true
		}
	}
	return false
}

// takeWait removes a waiting step from memory, reporting whether it was there: a step that
// is not was cancelled, in a group the store may not have committed when it was read.
func (e *Engine) takeWait(customer, key string) bool {
	ws := e.waits[customer]
	for i, w := range ws {
		if w.key == key {
			ws = append(ws[:i], ws[i+1:]...)
			if len(ws) == 0 {
				delete(e.waits, customer)
			} else {
				e.waits[customer] = ws
			}
			return true
		}
	}
	return false
}

// moveWaits gives a merged-away customer's steps to the survivor.
func (e *Engine) moveWaits(st *txState, into, from string) {
	st.tx.MoveSteps(from, into)
	if ws := e.waits[from]; len(ws) > 0 {
		e.waits[into] = append(e.waits[into], ws...)
		delete(e.waits, from)
	}
}

// runStep runs a due step, or drops it: its customer is gone, its trigger or action is no
// longer in the rules, it was cancelled, or (recheck) the condition no longer holds. The
// caller deletes it from the store in the same transaction.
func (e *Engine) runStep(st *txState, prog *program, s Step, now time.Time) error {
	customer := e.graph.Canonical(s.Customer)
	e.mu.Lock()
	o, em, err := e.runStepLocked(st, prog, s, customer, now)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if o.Reason != "" && o.Status == "dropped" {
		e.metrics.step("dropped").Inc()
		e.log.Debug("a held action was dropped", "trigger", s.Trigger, "customer", customer, "reason", o.Reason)
		return nil
	}
	e.metrics.step("run").Inc()
	if em != nil {
		var res Result
		return e.processDerived(st, prog, &res, []*Event{em}, now, false)
	}
	return nil
}

func (e *Engine) runStepLocked(st *txState, prog *program, s Step, customer string, now time.Time) (Outcome, *Event, error) {
	drop := func(reason string) (Outcome, *Event, error) {
		return Outcome{Status: "dropped", Reason: reason}, nil, nil
	}
	if taken := e.takeWait(customer, s.Key); s.Waits && !taken {
		return drop("cancelled")
	}
	p := e.profiles[customer]
	if p == nil {
		return drop("the customer is gone")
	}
	t := prog.TriggersByName[s.Trigger]
	if t == nil || s.Action >= len(t.Actions) || t.Actions[s.Action].Type != s.Type {
		return drop("the action is no longer in the rules")
	}
	ev, err := restoreEvent(s)
	if err != nil {
		return drop("its event cannot be read: " + err.Error())
	}
	// The profile is written only if the action changes it (a send's record for the caps).
	vars := newCELVars(e.customerValue(prog, p, now), ev.fields, now)
	vars.code = noCode
	if t.Recheck && t.Condition != nil {
		ok, err := t.Condition.EvalBool(vars)
		if err != nil {
			e.celError("trigger."+t.Name+".condition", err)
		}
		if !ok || err != nil {
			return drop("the condition no longer holds")
		}
	}
	return e.runOne(st, prog, p, vars, t, s.Action, ev, now, &actionKey{key: s.Key})
}

// restoreEvent reads a step's event back as rules see it.
func restoreEvent(s Step) (*Event, error) {
	ev, err := decodeEvent(s.Event)
	if err != nil {
		return nil, err
	}
	if err := ev.coerce(); err != nil {
		return nil, err
	}
	ev.key, ev.body = s.EventKey, s.Event
	return ev, nil
}

// stepLoop runs the steps that come due, in batches, as jobs of the processor.
func (e *Engine) stepLoop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(stepTick)
	defer t.Stop()
	for {
		if _, err := e.RunDueSteps(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("running due steps failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunDueSteps runs the steps due now, in batches, and reports how many it ran. While one
// batch commits the next is read and processed: the store is read past the last step handed
// over, so no step is read twice while its deletion is not yet committed.
func (e *Engine) RunDueSteps(ctx context.Context) (int, error) {
	now := e.now()
	var after StepCursor
	var prev *job
	ran := 0
	wait := func() error {
		if prev == nil {
			return nil
		}
		select {
		case <-prev.done:
			return prev.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		steps, err := e.store.DueSteps(ctx, now, after, stepBatch)
		if err != nil {
			return ran, err
		}
		if len(steps) == 0 {
			return ran, wait()
		}
		after = steps[len(steps)-1].Cursor()
		j := e.stepsJob(steps)
		if err := e.enqueue(ctx, j); err != nil {
			return ran, err
		}
		if err := wait(); err != nil {
			return ran, err
		}
		prev = j
		ran += len(steps)
	}
}

// stepsJob runs a batch of due steps and deletes them, in one job of the processor.
func (e *Engine) stepsJob(steps []Step) *job {
	return &job{events: len(steps), run: func(st *txState) error {
		prog, now := e.prog.Load(), e.now()
		seqs := make([]int64, len(steps))
		for i, s := range steps {
			seqs[i] = s.Seq
		}
		st.tx.DoneSteps(seqs)
		for _, s := range steps {
			if err := e.runStep(st, prog, s, now); err != nil {
				return err
			}
		}
		return nil
	}}
}

// loadWaits rebuilds the in-memory index of the steps a later event may cancel.
func (e *Engine) loadWaits(ctx context.Context) error {
	return e.store.WaitingSteps(ctx, func(s Step) error {
		ev, err := restoreEvent(s)
		if err != nil {
			e.log.Warn("a waiting step's event cannot be read; it will be dropped when due", "trigger", s.Trigger, "err", err)
			return nil
		}
		e.waits[s.Customer] = append(e.waits[s.Customer], wait{key: s.Key, trigger: s.Trigger, event: ev.fields})
		return nil
	})
}

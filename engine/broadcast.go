package engine

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

// Campaign broadcasts. A campaign with messages sends each of them once to every customer of
// its audience while it runs: to those in the segment when it starts (or when its rules are
// pushed while it runs), and to those who enter the segment later. They go through the same
// delivery rules, outbox, pacing and idempotency keys as a trigger's messages; a campaign with
// codes gives each customer one of them. A customer who could not be reached (no address, no
// consent, a frequency cap, quiet hours hold it) is tried again when the campaign is swept
// next, until the campaign ends.
//
// A message with a send_at waits for it: before then it goes to nobody, neither to the
// audience nor to customers entering it. The first sweep at or after send_at sends it to the
// audience's members of that moment, and customers who enter later get it on entry. The
// sweep loop wakes up at the next send_at, and sweeps once more after a restart: what has
// gone out is recorded in each profile, and the idempotency keys are those of any broadcast,
// so nothing is sent twice.

// broadcastPrefix marks a campaign's messages among a profile's fired rules and in the outbox.
const broadcastPrefix = "campaign."

// sweepInterval is how often running campaigns are swept for audience members not yet reached.
const sweepInterval = time.Minute

// sweepChunk is how many customers one sweep job covers, so a sweep of a large audience does
// not hold up the events behind it.
const sweepChunk = 500

// broadcast sends the campaigns whose audience is one of segments to a customer, if they run
// now and the customer has not had them: the messages without a send_at, and those whose
// send_at has come. c is the customer's CEL value. A sweep (retry) only sends what the
// delivery rules let through now: what they held back was recorded when the customer entered
// the audience, and is not recorded again every sweep.
func (e *Engine) broadcast(st *txState, prog *program, p *Profile, c *customerVal, segments []string, now time.Time, retry bool) {
	for _, name := range prog.broadcasts {
		camp := prog.Campaigns[name]
		if !slices.Contains(segments, camp.Audience) || !camp.Live(now) {
			continue
		}
		due := dueMessages(camp, p, now)
		if len(due) == 0 {
			continue
		}
		vars := newCELVars(c, nil, now)
		vars.code, vars.campaign = noCode, camp.Value
		var draw func() (string, string) // a campaign without a coupon only says something
		if camp.Code != "" || camp.Codes != nil {
			draw = func() (string, string) { return e.drawCode(st, prog, camp, now, p.ID) }
		}
		sent := map[string]bool{}
		for _, i := range due {
			m := camp.Msgs[i]
			if retry {
				if status, _ := e.gate(prog, p, c, m.Via, now, &OutboxItem{}); status != "queued" && status != "held" {
					continue
				}
			}
			key := &actionKey{parts: []string{broadcastPrefix + name, strconv.Itoa(i), p.ID}}
			o, _, _ := e.send(st, prog, p, vars, broadcastPrefix+name, m, key, Outcome{Type: "send", Campaign: name}, now, draw)
			if o.Status == "queued" || o.Status == "held" {
				sent[sentMark(name, i, m)] = true
			}
		}
		for mark := range sent {
			p.Fired.set(mark, now)
			st.touch(p)
		}
	}
}

// sentMark is what a profile's Fired records once a campaign's message went to the customer:
// the campaign's name for its messages without a send_at, which go together, and the
// message's own name for a scheduled one, which goes at its time.
func sentMark(campaign string, i int, m *rules.CMessage) string {
	if m.SendAt.IsZero() {
		return broadcastPrefix + campaign
	}
	return broadcastPrefix + campaign + ".message[" + strconv.Itoa(i) + "]"
}

// dueMessages lists the indexes of a campaign's messages that are due for a customer at now:
// not sent yet, and without a send_at or with one that has come.
func dueMessages(camp *rules.CCampaign, p *Profile, now time.Time) []int {
	var out []int
	for i, m := range camp.Msgs {
		if now.Before(m.SendAt) {
			continue
		}
		if _, had := p.Fired.get(sentMark(camp.Name, i, m)); !had {
			out = append(out, i)
		}
	}
	return out
}

// nextSendAt is the first send_at after now of a campaign that still runs then: when the
// sweep loop must wake up. It is zero when no message waits.
func nextSendAt(prog *program, now time.Time) time.Time {
	var next time.Time
	for _, name := range prog.broadcasts {
		camp := prog.Campaigns[name]
		for _, m := range camp.Msgs {
			at := m.SendAt
			if at.After(now) && camp.Live(at) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next
}

// broadcastsOf lists the campaigns that broadcast: those with messages, by name.
func broadcastsOf(p *rules.Program) []string {
	var out []string
	for name, c := range p.Campaigns {
		if len(c.Msgs) > 0 && c.Audience != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// SweepCampaigns sends the running campaigns' messages that are due (without a send_at, or
// whose send_at has come by the engine's clock) to the members of their audiences who have
// not had them. The engine sweeps every minute and at each send_at; it returns once the sweep
// is committed.
func (e *Engine) SweepCampaigns(ctx context.Context) error {
	prog := e.prog.Load()
	now := e.now()
	for _, name := range prog.broadcasts {
		camp := prog.Campaigns[name]
		if !camp.Live(now) {
			continue
		}
		var ids []string
		e.mu.RLock()
		for id, p := range e.profiles {
			if p.Segments.has(camp.Audience) && len(dueMessages(camp, p, now)) > 0 {
				ids = append(ids, id)
			}
		}
		e.mu.RUnlock()
		slices.Sort(ids)
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), sweepChunk)]
			ids = ids[len(chunk):]
			err := e.submit(ctx, &job{events: len(chunk), run: func(st *txState) error {
				if e.prog.Load() != prog {
					return nil // new rules: the next sweep uses them
				}
				e.mu.Lock()
				defer e.mu.Unlock()
				for _, id := range chunk {
					p := e.profiles[id]
					if p == nil || !p.Segments.has(camp.Audience) {
						continue
					}
					e.broadcast(st, prog, p, e.customerValue(prog, p, now), []string{camp.Audience}, now, true)
				}
				return nil
			}})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sweepLoop sweeps the running campaigns now, every sweepInterval, at the next send_at of a
// scheduled message, and when new rules arrive.
func (e *Engine) sweepLoop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTimer(sweepInterval)
	defer t.Stop()
	for {
		if err := e.SweepCampaigns(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("campaign sweep", "err", err)
		}
		t.Reset(sweepWait(e.prog.Load(), e.now()))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.sweep:
		}
	}
}

// sweepWait is how long the sweep loop sleeps after a sweep at now: until the next send_at, at
// most sweepInterval.
func sweepWait(prog *program, now time.Time) time.Duration {
	if next := nextSendAt(prog, now); !next.IsZero() {
		return min(sweepInterval, next.Sub(now))
	}
	return sweepInterval
}

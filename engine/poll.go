package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultPollInterval is the wait between polls of a provider that sets none.
const DefaultPollInterval = time.Minute

// maxPollBackoff bounds the wait after polls that keep failing: a system down for a day is
// tried again every quarter of an hour, not once a day.
const maxPollBackoff = 15 * time.Minute

// pollMetrics count the polls of every polled provider.
type pollMetrics struct {
	polls, events, refused *prometheus.CounterVec
}

// startPollers starts a loop per poller (Options.Pollers); they end with ctx.
func (e *Engine) startPollers(ctx context.Context) {
	if len(e.opts.Pollers) == 0 {
		return
	}
	m := &pollMetrics{
		polls:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_polls_total", Help: "Polls of providers' systems, by provider and result: ok, error."}, []string{"provider", "result"}),
		events:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_polled_events_total", Help: "Events polled from providers' systems and ingested (repeats included)."}, []string{"provider"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "musubi_polled_events_refused_total", Help: "Polled events refused as invalid and skipped."}, []string{"provider"}),
	}
	e.metrics.Registry.MustRegister(m.polls, m.events, m.refused)
	for _, name := range slices.Sorted(maps.Keys(e.opts.Pollers)) {
		e.wg.Add(1)
		go e.pollLoop(ctx, name, e.opts.Pollers[name], m)
	}
}

// pollLoop polls one provider until ctx ends: at once, then after each interval, or again at
// once while the provider says more is waiting. A failed poll is logged and counted and
// tried again after a backoff; it never stops the engine.
func (e *Engine) pollLoop(ctx context.Context, name string, p providers.EventPoller, m *pollMetrics) {
	defer e.wg.Done()
	interval := cmp.Or(p.PollInterval(), DefaultPollInterval)
	failures := 0
	idle := "" // why polls are not running, logged when it changes
	for {
		more, why, err := e.pollOnce(ctx, name, p, m)
		if ctx.Err() != nil {
			return
		}
		wait := interval
		switch {
		case err != nil:
			failures++
			m.polls.WithLabelValues(name, "error").Inc()
			wait = pollBackoff(interval, failures, err)
			e.log.Warn("polling failed; trying again later", "provider", name, "failures", failures, "retry_in", wait, "err", err)
		case why != "":
			if why != idle {
				e.log.Info("not polling", "provider", name, "why", why)
			}
		default:
			if failures > 0 {
				e.log.Info("polling works again", "provider", name, "after_failures", failures)
			}
			failures = 0
			m.polls.WithLabelValues(name, "ok").Inc()
			if more {
				wait = 0
			}
		}
		idle = why
		if providers.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// pollBackoff is the wait after the failures-th failed poll in a row: the interval, doubling,
// at most maxPollBackoff (or the interval, when longer), and at least what a 429 asked for.
func pollBackoff(interval time.Duration, failures int, err error) time.Duration {
	ceiling := max(interval, maxPollBackoff)
	wait := interval
	for i := 1; i < failures && wait < ceiling; i++ {
		wait *= 2
	}
	wait = min(wait, ceiling)
	var ae *providers.APIError
	if errors.As(err, &ae) && ae.RetryAfter > wait {
		wait = ae.RetryAfter
	}
	return wait
}

// pollOnce reads one batch of a provider's events into the identity_source it feeds. It
// returns why it did not poll when the active rules give it no one source to feed.
//
// The cursor is stored after Ingest returned, that is once the events are committed, in a
// transaction of its own. A crash in between leaves the old cursor: the next poll reads the
// same events again, and their IDs, which the event log holds by then, make them duplicates
// that are dropped. So the cursor is never ahead of the events it produced, and no event is
// lost or counted twice.
func (e *Engine) pollOnce(ctx context.Context, name string, p providers.EventPoller, m *pollMetrics) (more bool, why string, err error) {
	source, why := polledSource(e.prog.Load(), name)
	if why != "" {
		return false, why, nil
	}
	cursor, err := e.store.PollCursor(ctx, name)
	if err != nil {
		return false, "", fmt.Errorf("reading the poll cursor: %w", err)
	}
	res, err := p.PollEvents(ctx, cursor)
	if err != nil {
		return false, "", err
	}
	// Once polled, the events are taken and the cursor stored even while the engine stops:
	// a stop between the two would read the same sales again at the next start.
	done := context.WithoutCancel(ctx)
	if len(res.Events) > 0 {
		if err := e.ingestPolled(done, name, source, res.Events, m); err != nil {
			return false, "", err
		}
	}
	if res.Cursor != cursor {
		if err := e.store.PutPollCursor(done, name, res.Cursor); err != nil {
			return false, "", fmt.Errorf("storing the poll cursor: %w", err)
		}
	}
	return res.More, "", nil
}

// polledSource is the identity_source a polled provider feeds: its only one. A poll has no
// URL to name one of several, so a provider feeding several is not polled.
func polledSource(p *program, provider string) (source, why string) {
	var fed []string
	for _, s := range p.SourcesByProvider[provider] {
		fed = append(fed, s.Name)
	}
	switch len(fed) {
	case 0:
		return "", fmt.Sprintf("no identity_source in the active rules uses provider %s", provider)
	case 1:
		return fed[0], ""
	}
	slices.Sort(fed)
	return "", fmt.Sprintf("provider %s feeds several identity sources (%s); a polled provider can feed only one", provider, strings.Join(fed, ", "))
}

// ingestPolled ingests one poll's events. An invalid event must not hold the cursor back for
// good, so when the batch is refused the events go in one by one and the invalid ones are
// logged, counted and skipped.
func (e *Engine) ingestPolled(ctx context.Context, provider, source string, ies []providers.InboundEvent, m *pollMetrics) error {
	evs := make([]*Event, len(ies))
	for i, ie := range ies {
		evs[i] = inboundEvent(provider, source, ie)
	}
	_, err := e.ingest(ctx, evs, false)
	if err == nil || !isInputError(err) {
		if err == nil {
			m.events.WithLabelValues(provider).Add(float64(len(evs)))
		}
		return err
	}
	for _, ie := range ies {
		_, err := e.ingest(ctx, []*Event{inboundEvent(provider, source, ie)}, false) // afresh: validation fills in events
		switch {
		case isInputError(err):
			m.refused.WithLabelValues(provider).Inc()
			e.log.Warn("a polled event is invalid; skipped", "provider", provider, "event", ie.ID, "err", err)
		case err != nil:
			return err
		default:
			m.events.WithLabelValues(provider).Inc()
		}
	}
	return nil
}

// inboundEvent is the engine's event of one a provider reported, by webhook or poll. A
// provider's event IDs are one space whichever way they came and whatever source a webhook's
// URL names, so a sale a webhook brought and a poll reads again is one event.
func inboundEvent(provider, source string, ie providers.InboundEvent) *Event {
	return &Event{ID: ie.ID, Type: ie.Type, Time: ie.Time, Channel: ie.Channel, StoreID: ie.StoreID,
		Source: source, Record: ie.Record, Data: ie.Data, scope: "webhook/" + provider}
}

package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Delivery tuning.
const (
	maxAttempts  = 8
	firstBackoff = time.Second
	maxBackoff   = 10 * time.Minute
	sendTimeout  = 30 * time.Second
	pollInterval = time.Second
)

func (e *Engine) kickDelivery() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// recoverOutbox is called at start. Items are only ever "pending" until a send succeeds, so
// an item whose send was cut short by a crash is simply pending: it goes again with the same
// idempotency key, and the channel recognises it.
func (e *Engine) recoverOutbox(ctx context.Context) error {
	items, err := e.store.Outbox(ctx, StatusPending, 1)
	if err != nil {
		return err
	}
	if len(items) > 0 {
		e.kickDelivery()
	}
	return nil
}

// deliverLoop sends due outbox items, a few at a time.
func (e *Engine) deliverLoop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if err := e.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("outbox delivery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-t.C:
		}
	}
}

// DeliverDue sends every outbox item that is due now and returns when they are done.
func (e *Engine) DeliverDue(ctx context.Context) error {
	for {
		items, err := e.store.DueOutbox(ctx, e.now(), 64)
		if err != nil || len(items) == 0 {
			return err
		}
		sem := make(chan struct{}, e.opts.DeliveryWorkers)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for i := range items {
			it := &items[i]
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := e.deliver(ctx, it); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil || ctx.Err() != nil {
			return firstErr
		}
	}
}

// deliver sends one item and records the outcome: sent; retried later with backoff (429 and
// outages, honouring Retry-After); or dead, visible in `musubi outbox`.
func (e *Engine) deliver(ctx context.Context, it *OutboxItem) error {
	sender := e.opts.Senders[it.Via]
	now := e.now()
	it.Attempts++
	if sender == nil {
		it.Status, it.LastError = StatusDead, "provider "+it.Via+" is not configured on this server"
		return e.saveOutbox(ctx, it)
	}
	perSecond := sender.Messaging().Rate
	if r, ok := e.prog.Load().SendRates[it.Via]; ok {
		perSecond = r
	}
	pace := e.pacers.get(it.Via, perSecond)
	if err := pace.wait(ctx); err != nil {
		return nil // shutting down: the item stays pending
	}
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	start := time.Now()
	resp := sender.Send(sctx, providers.SendRequest{Name: it.Name, To: it.To, Customer: it.Customer,
		Subject: it.Subject, Text: it.Text, IdempotencyKey: it.Key})
	cancel()
	if ctx.Err() != nil {
		return nil // shutting down: the item stays pending and goes again after the restart
	}
	e.metrics.sendSeconds.WithLabelValues(it.Via).Observe(time.Since(start).Seconds())
	err := resp.Diagnostics.Err()
	switch {
	case err == nil:
		it.Status, it.SentAt, it.MessageID, it.LastError = StatusSent, e.now(), resp.ID, ""
		e.metrics.deliveries.WithLabelValues(it.Via, "sent").Inc()
		if resp.Duplicate {
			// A send cut short (a crash, a lost response) had reached the channel.
			e.log.Info("the channel already had this message (same idempotency key); recorded as sent, not sent again",
				"key", it.Key, "via", it.Via, "message_id", resp.ID)
		}
	case temporary(err) && it.Attempts < maxAttempts:
		wait := backoff(it.Attempts)
		var ae *providers.APIError
		if errors.As(err, &ae) && ae.RetryAfter > wait {
			wait = ae.RetryAfter
		}
		if ae != nil && ae.Code == providers.ErrRateLimited {
			// The system wants every send of this account to wait, not just this one.
			pace.hold(max(ae.RetryAfter, firstBackoff))
		}
		it.NextAt, it.LastError = now.Add(wait), err.Error()
		e.metrics.deliveries.WithLabelValues(it.Via, "retry").Inc()
		e.log.Warn("send failed; will retry", "key", it.Key, "via", it.Via, "attempt", it.Attempts, "retry_in", wait, "err", err)
	default:
		it.Status, it.LastError = StatusDead, err.Error()
		e.metrics.deliveries.WithLabelValues(it.Via, "dead").Inc()
		e.log.Error("send failed for good; the message is in the dead letters", "key", it.Key, "via", it.Via, "attempt", it.Attempts, "err", err)
	}
	return e.saveOutbox(ctx, it)
}

func (e *Engine) saveOutbox(ctx context.Context, it *OutboxItem) error {
	return e.store.Update(ctx, func(tx Tx) error { return tx.UpdateOutbox(it) })
}

// backoff doubles from a second up to ten minutes, with jitter so retries of many messages
// do not arrive together.
func backoff(attempt int) time.Duration {
	d := firstBackoff << min(attempt-1, 20)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// temporary reports whether a failed send may succeed later: rate limits and outages, and
// errors no provider classified (a broken connection).
func temporary(err error) bool {
	var ae *providers.APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	return true
}

// Views of the outbox besides the stored statuses: pending items are either queued (going
// out as soon as possible, or again after a failed attempt) or held (waiting for quiet hours
// to end).
const (
	ViewQueued = "queued"
	ViewHeld   = "held"
)

// OutboxStatuses are the statuses ListOutbox, GET /v1/admin/outbox?status= and
// `musubi outbox --status` take.
var OutboxStatuses = []string{ViewQueued, ViewHeld, StatusPending, StatusSent, StatusDead, StatusSuppressed}

// Held reports whether a pending item waits for quiet hours to end.
func (it *OutboxItem) Held(now time.Time) bool {
	return it.Status == StatusPending && it.Attempts == 0 && strings.HasPrefix(it.Reason, "quiet hours") && it.NextAt.After(now)
}

// ListOutbox lists a store's outbox items with a status or view ("" for all), oldest first,
// at most limit. It reads the store only, so it is safe beside a running engine.
func ListOutbox(ctx context.Context, s Store, status string, now time.Time, limit int) ([]OutboxItem, error) {
	if !slices.Contains(OutboxStatuses, status) && status != "" {
		return nil, inputError{fmt.Errorf("status %q: use one of %s", status, strings.Join(OutboxStatuses, ", "))}
	}
	if status != ViewQueued && status != ViewHeld {
		return s.Outbox(ctx, status, limit)
	}
	// Filter the pending items; there are few compared with the ledger of sent ones.
	items, err := s.Outbox(ctx, StatusPending, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	out := items[:0]
	for _, it := range items {
		if it.Held(now) == (status == ViewHeld) {
			out = append(out, it)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ErrNoOutboxItem is returned for a dead letter that does not exist.
var ErrNoOutboxItem = errors.New("no such dead letter")

// RetryOutbox sends a dead letter again, by its sequence number or idempotency key: it goes
// back to pending with its attempts reset and its last error kept. It keeps its idempotency
// key, so a message that did reach the channel before it was given up is not delivered twice.
func (e *Engine) RetryOutbox(ctx context.Context, ref string) (*OutboxItem, error) {
	var out *OutboxItem
	err := e.submitTx(ctx, func(st *txState) error {
		// In the writer: a forget cannot blank the item between this read and the update.
		// Only the dead letters are read: they are few, the ledger of sent messages is not.
		items, err := e.store.Outbox(ctx, StatusDead, math.MaxInt32)
		if err != nil {
			return err
		}
		var it *OutboxItem
		for i := range items {
			if strconv.FormatInt(items[i].Seq, 10) == ref || items[i].Key == ref {
				it = &items[i]
				break
			}
		}
		switch {
		case it == nil:
			return inputError{fmt.Errorf("%w %s (only dead letters are retried; musubi outbox --status dead lists them)", ErrNoOutboxItem, ref)}
		case it.Customer == "":
			return inputError{fmt.Errorf("outbox item %d belonged to a customer who was forgotten; it cannot be sent", it.Seq)}
		case it.To == "":
			return inputError{fmt.Errorf("outbox item %d was never addressed (%s); it cannot be sent as it is", it.Seq, cmp.Or(it.LastError, it.Reason))}
		}
		it.Status, it.Attempts, it.NextAt = StatusPending, 0, e.now()
		st.tx.UpdateOutbox(it)
		st.delivered = true
		out = it
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.log.Info("dead letter queued again", "seq", out.Seq, "key", out.Key, "via", out.Via)
	return out, nil
}

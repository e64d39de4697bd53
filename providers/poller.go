package providers

import (
	"context"
	"time"
)

// EventPoller is implemented by providers whose systems keep their events to be read rather
// than post them, or post them unreliably (Smaregi's transactions: its webhooks are unsigned
// and not replayed while the receiver is down). `musubi serve` calls PollEvents on a schedule
// for each poller that feeds an identity_source, and keeps the cursor in the engine's store.
type EventPoller interface {
	// PollEvents returns the events that came after cursor and the cursor that follows them.
	// The cursor is the provider's own, opaque to the engine; "" is the first poll, which
	// starts from now, not from the system's history. The engine stores the returned cursor
	// only once the events are committed, so after a crash the same cursor is polled again:
	// the events' IDs, stable across polls, make the repeats duplicates the engine drops.
	// An error leaves the cursor where it was; the engine logs it and tries again later.
	PollEvents(ctx context.Context, cursor string) (PollResult, error)
	// PollInterval is the wait between polls that found nothing more to read (the
	// provider's poll_interval); zero is the engine's default.
	PollInterval() time.Duration
}

// PollResult is what one poll read.
type PollResult struct {
	Events []InboundEvent
	// Cursor is where the next poll starts.
	Cursor string
	// More is set when the poll stopped at a page limit with more to read: the engine polls
	// again without waiting the interval.
	More bool
}

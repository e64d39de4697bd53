package providers

import (
	"context"
	"time"
)

// DefaultClock fills the clock of a provider or client that tests did not replace: now with
// time.Now, sleep with Sleep.
func DefaultClock(now *func() time.Time, sleep *func(ctx context.Context, d time.Duration) error) {
	if *now == nil {
		*now = time.Now
	}
	if *sleep == nil {
		*sleep = Sleep
	}
}

// Sleep waits d or until ctx is done, whichever comes first: the wait of a retry, a
// rate limit or a throttle that a cancelled apply or a stopping engine cuts short.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

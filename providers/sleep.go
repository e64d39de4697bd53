package providers

import (
	"context"
	"time"
)

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

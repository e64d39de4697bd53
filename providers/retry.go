package providers

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter is the longest wait a Retry-After can ask for. A day: a message or change
// held up longer is stale, and the engine holds every send through a provider for as long
// as its 429 asks, so a bogus value must not stall a channel for a week.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After value: delay-seconds (also with a fraction, as Shopify
// sends "2.0") or an HTTP date, at most MaxRetryAfter. A date past now, a negative number,
// garbage or nothing is 0: no wait was asked for.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if whole, frac, _ := strings.Cut(v, "."); whole != "" && digits(whole) && digits(frac) {
		s, _ := strconv.ParseFloat(v, 64) // only digits: the error can only be a range error, with s = +Inf
		if s >= MaxRetryAfter.Seconds() {
			return MaxRetryAfter // before converting: a huge number would overflow a Duration
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}

func digits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// Retry is how a provider repeats a call that failed with a temporary error (a 429, a 5xx,
// no answer): up to Attempts tries, each wait the Retry-After the system asked for, else a
// backoff doubling from Backoff. The zero Retry tries once.
type Retry struct {
	// Attempts bounds the tries, the first included.
	Attempts int
	// Backoff is the first wait when the system asked for none; it doubles each try, up to
	// MaxBackoff (zero: MaxWait).
	Backoff, MaxBackoff time.Duration
	// Jitter adds a random wait of up to this to each backoff, so clients that failed
	// together do not come back together.
	Jitter time.Duration
	// MaxWait is the longest Retry-After waited out in-process. A longer one ends the tries:
	// the error, carrying it, goes back to the caller, which can come back later (the
	// engine's outbox reschedules the send) instead of holding an apply or a worker.
	MaxWait time.Duration
	// Sleep waits between tries; nil is Sleep. Tests replace it so they never wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Do calls call (attempt counts from 1) until it succeeds, fails for good or has been tried
// Attempts times, and returns its last error. A failure is repeated only when it is an
// *APIError that is Temporary and that repeatable, the provider's own rule of which calls
// cannot act twice, allows (nil allows every one). A done ctx ends the tries.
func (r Retry) Do(ctx context.Context, call func(attempt int) error, repeatable func(*APIError) bool) error {
	sleep := r.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for attempt := 1; ; attempt++ {
		err := call(attempt)
		var ae *APIError
		if err == nil || attempt >= r.Attempts || !errors.As(err, &ae) || !ae.Temporary() ||
			(repeatable != nil && !repeatable(ae)) || ctx.Err() != nil {
			return err
		}
		wait := ae.RetryAfter
		if wait > r.MaxWait {
			return err
		}
		if wait <= 0 {
			wait = r.backoff(attempt)
		}
		if sleep(ctx, wait) != nil {
			return err
		}
	}
}

// backoff is the wait after the attempt-th try when the system asked for none.
func (r Retry) backoff(attempt int) time.Duration {
	ceiling := cmp.Or(r.MaxBackoff, r.MaxWait)
	d := min(r.Backoff, ceiling)
	for i := 1; i < attempt && d < ceiling; i++ {
		d += min(d, ceiling-d) // doubles up to the ceiling, never past it: no overflow
	}
	if r.Jitter > 0 {
		d += rand.N(r.Jitter)
	}
	return d
}

package providers_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

var now = time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, v string
		want    time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"zero", "0", 0},
		{"spaces", " 12 ", 12 * time.Second},
		{"leading zeros", "007", 7 * time.Second},
		{"decimal seconds", "2.0", 2 * time.Second},
		{"fraction", "0.25", 250 * time.Millisecond},
		{"trailing point", "3.", 3 * time.Second},
		{"RFC 1123 date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"RFC 850 date", now.Add(time.Hour).Format(time.RFC850), time.Hour},
		{"ANSI C date", now.Add(2 * time.Minute).Format(time.ANSIC), 2 * time.Minute},
		{"past date", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"the date now", now.Format(http.TimeFormat), 0},
		{"far date", now.Add(30 * 24 * time.Hour).Format(http.TimeFormat), providers.MaxRetryAfter},
		{"huge seconds", "9999999999", providers.MaxRetryAfter},
		{"beyond int64", "99999999999999999999999999", providers.MaxRetryAfter},
		{"beyond float64", "1" + strings.Repeat("0", 400), providers.MaxRetryAfter},
		{"a day exactly", "86400", providers.MaxRetryAfter},
		{"just under a day", "86399.5", 86399500 * time.Millisecond},
		{"negative", "-1", 0},
		{"negative decimal", "-2.0", 0},
		{"plus sign", "+5", 0},
		{"exponent", "1e3", 0},
		{"infinity", "Inf", 0},
		{"not a number", "NaN", 0},
		{"hex", "0x10", 0},
		{"two points", "1.2.3", 0},
		{"only a point", ".", 0},
		{"garbage", "soon", 0},
		{"empty", "", 0},
	} {
		if got := providers.ParseRetryAfter(c.v, now); got != c.want {
			t.Errorf("%s: ParseRetryAfter(%q) = %s, want %s", c.name, c.v, got, c.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "2.0", "-1", "10000000000", "Wed, 21 Oct 2026 07:28:00 GMT", "soon", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := providers.ParseRetryAfter(v, now); d < 0 || d > providers.MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %s", v, d)
		}
	})
}

// script answers the tries of a call in turn, repeating its last answer, and records the
// waits between them.
type script struct {
	answers []error
	calls   int
	waits   []time.Duration
}

func (s *script) call(attempt int) error {
	s.calls++
	if attempt != s.calls {
		panic("attempts are not counted from 1")
	}
	return s.answers[min(s.calls, len(s.answers))-1]
}

func (s *script) sleep(_ context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return nil
}

func (s *script) retry() providers.Retry {
	return providers.Retry{Attempts: 4, Backoff: 250 * time.Millisecond, MaxWait: 30 * time.Second, Sleep: s.sleep}
}

var (
	outage    = &providers.APIError{Code: providers.ErrUnavailable, Status: 503}
	throttled = &providers.APIError{Code: providers.ErrRateLimited, Status: 429, RetryAfter: 3 * time.Second}
	refused   = &providers.APIError{Code: providers.ErrInvalid, Status: 400}
)

func TestRetryBacksOffThenSucceeds(t *testing.T) {
	t.Parallel()
	s := &script{answers: []error{outage, outage, outage, nil}}
	if err := s.retry().Do(context.Background(), s.call, nil); err != nil || s.calls != 4 {
		t.Fatalf("%v after %d calls", err, s.calls)
	}
	if want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}; !slices.Equal(s.waits, want) {
		t.Fatalf("waits %v, want %v", s.waits, want)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	s := &script{answers: []error{throttled, outage, nil}}
	if err := s.retry().Do(context.Background(), s.call, nil); err != nil {
		t.Fatal(err)
	}
	// The backoff counts the tries, whichever waits came before.
	if want := []time.Duration{3 * time.Second, 500 * time.Millisecond}; !slices.Equal(s.waits, want) {
		t.Fatalf("waits %v, want %v", s.waits, want)
	}
}

func TestRetryBoundsAttempts(t *testing.T) {
	t.Parallel()
	s := &script{answers: []error{throttled}}
	err := s.retry().Do(context.Background(), s.call, nil)
	if err != throttled || s.calls != 4 || len(s.waits) != 3 {
		t.Fatalf("%v after %d calls and waits %v, want the last error after 4 calls", err, s.calls, s.waits)
	}
	var zero providers.Retry
	s = &script{answers: []error{outage}}
	if err := zero.Do(context.Background(), s.call, nil); err != outage || s.calls != 1 {
		t.Fatalf("the zero Retry: %v after %d calls, want one try", err, s.calls)
	}
}

func TestRetryStopsOnWhatMayNotBeRepeated(t *testing.T) {
	t.Parallel()
	plain := errors.New("not classified")
	for _, c := range []struct {
		name       string
		err        error
		repeatable func(*providers.APIError) bool
	}{
		{"a refusal", refused, nil},
		{"a used-up quota", &providers.APIError{Code: providers.ErrQuota, Status: 429}, nil},
		{"an unclassified error", plain, nil},
		{"what the provider's rule refuses", outage, func(ae *providers.APIError) bool { return ae.Code == providers.ErrRateLimited }},
	} {
		s := &script{answers: []error{c.err, nil}}
		if err := s.retry().Do(context.Background(), s.call, c.repeatable); err != c.err || s.calls != 1 || len(s.waits) != 0 {
			t.Errorf("%s: %v after %d calls, want it returned at once", c.name, err, s.calls)
		}
	}
	s := &script{answers: []error{throttled, nil}}
	rateLimitsOnly := func(ae *providers.APIError) bool { return ae.Code == providers.ErrRateLimited }
	if err := s.retry().Do(context.Background(), s.call, rateLimitsOnly); err != nil || s.calls != 2 {
		t.Fatalf("what the rule allows: %v after %d calls", err, s.calls)
	}
}

func TestRetryGivesUpPastTheLongestWait(t *testing.T) {
	t.Parallel()
	long := &providers.APIError{Code: providers.ErrRateLimited, Status: 429, RetryAfter: time.Hour}
	s := &script{answers: []error{long, nil}}
	err := s.retry().Do(context.Background(), s.call, nil)
	var ae *providers.APIError
	if !errors.As(err, &ae) || ae.RetryAfter != time.Hour || s.calls != 1 || len(s.waits) != 0 {
		t.Fatalf("%v after %d calls and waits %v, want the error with its Retry-After at once", err, s.calls, s.waits)
	}
}

func TestRetryBackoffIsCapped(t *testing.T) {
	t.Parallel()
	s := &script{answers: []error{outage}}
	r := providers.Retry{Attempts: 80, Backoff: time.Second, MaxBackoff: 4 * time.Second, MaxWait: time.Minute, Sleep: s.sleep}
	r.Do(context.Background(), s.call, nil)
	if s.waits[2] != 4*time.Second || s.waits[78] != 4*time.Second {
		t.Fatalf("waits %v, want them capped at 4s", s.waits)
	}
	// Without a MaxBackoff the longest wait caps it.
	s = &script{answers: []error{outage}}
	r = providers.Retry{Attempts: 80, Backoff: time.Second, MaxWait: time.Minute, Sleep: s.sleep}
	r.Do(context.Background(), s.call, nil)
	if s.waits[78] != time.Minute {
		t.Fatalf("waits %v, want them capped at a minute", s.waits)
	}
}

func TestRetryJitter(t *testing.T) {
	t.Parallel()
	s := &script{answers: []error{outage}}
	r := providers.Retry{Attempts: 50, Backoff: time.Second, Jitter: 100 * time.Millisecond, MaxWait: time.Second, Sleep: s.sleep}
	r.Do(context.Background(), s.call, nil)
	varied := false
	for _, w := range s.waits {
		if w < time.Second || w >= time.Second+100*time.Millisecond {
			t.Fatalf("wait %s, want 1s plus under 100ms", w)
		}
		varied = varied || w != s.waits[0]
	}
	if !varied {
		t.Fatalf("waits %v, want them spread", s.waits)
	}
}

func TestRetryStopsWhenTheContextIsDone(t *testing.T) {
	t.Parallel()
	// The real sleep: a cancel ends the wait at once.
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	slow := providers.Retry{Attempts: 3, MaxWait: time.Hour}
	long := &providers.APIError{Code: providers.ErrRateLimited, Status: 429, RetryAfter: 30 * time.Minute}
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	err := slow.Do(ctx, func(int) error { calls++; return long }, nil)
	if err != long || calls != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("%v after %d calls and %s, want the error once the wait was cut", err, calls, time.Since(start))
	}
	// Cancelled during a call: no wait, no further try.
	s := &script{answers: []error{outage, nil}}
	ctx, cancel = context.WithCancel(context.Background())
	err = s.retry().Do(ctx, func(a int) error { cancel(); return s.call(a) }, nil)
	if err != outage || s.calls != 1 || len(s.waits) != 0 {
		t.Fatalf("%v after %d calls and waits %v", err, s.calls, s.waits)
	}
}

package engine

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// A server that asks to wait, in seconds or until a date, is heard: the wait goes back to
// the caller with the error, as every provider's does.
func TestClientReadsRetryAfter(t *testing.T) {
	for _, c := range []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7 * time.Second},
		{time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 80 * time.Second, 90 * time.Second},
		{"-5", 0, 0},
		{"99999999999999", providers.MaxRetryAfter, providers.MaxRetryAfter},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", c.header)
			http.Error(w, `{"error": "slow down"}`, http.StatusTooManyRequests)
		}))
		_, err := (&Client{URL: srv.URL}).Bundle(context.Background())
		srv.Close()
		var ae *providers.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("Retry-After %q: %v, want an API error", c.header, err)
		}
		if ae.Code != providers.ErrRateLimited || ae.RetryAfter < c.min || ae.RetryAfter > c.max {
			t.Errorf("Retry-After %q: %v (wait %v), want rate_limited waiting %v to %v", c.header, err, ae.RetryAfter, c.min, c.max)
		}
	}
}

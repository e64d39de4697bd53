package providertest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func TestFaults(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer srv.Close()
	c := &http.Client{}
	f := Inject(c)
	get := func(ctx context.Context) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "7" {
			t.Error("the injected answer lost its header")
		}
		return resp.StatusCode, nil
	}
	f.Fail(429, http.Header{"Retry-After": {"7"}}, 2)
	for _, want := range []int{429, 429, 200} {
		if got, err := get(context.Background()); got != want || err != nil {
			t.Fatalf("got %d %v, want %d", got, err, want)
		}
	}
	f.Lose()
	if _, err := get(context.Background()); !errors.Is(err, ErrLost) || reached.Load() != 2 {
		t.Fatalf("a lost answer: %v after %d requests reached the server, want ErrLost after 2", err, reached.Load())
	}
	f.Stall()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := get(ctx); !errors.Is(err, context.DeadlineExceeded) || reached.Load() != 2 {
		t.Fatalf("a stalled request: %v, %d reached the server", err, reached.Load())
	}
	f.FailAll(503, nil)
	for range 3 {
		if got, _ := get(context.Background()); got != 503 {
			t.Fatalf("FailAll: got %d", got)
		}
	}
	f.FailAll(0, nil)
	if got, _ := get(context.Background()); got != 200 || reached.Load() != 3 {
		t.Fatalf("after FailAll(0): got %d", got)
	}
}

// visible finds strings wherever a response keeps them: fields, pointers, errors, maps.
func TestVisible(t *testing.T) {
	type inner struct{ hidden string }
	v := []any{
		providers.CreateResponse{ID: "id-1", Attributes: providers.Attrs{"key-2": []string{"elem-3"}},
			Diagnostics: providers.FromError("sum-4", &providers.APIError{Code: providers.ErrAuth, RequestID: "req-5"})},
		errors.New("err-6"), &inner{hidden: "unexported-7"}, []byte("bytes-8"), (*providers.APIError)(nil),
	}
	text := visible(v)
	for _, s := range []string{"id-1", "key-2", "elem-3", "sum-4", "req-5", "auth", "err-6", "unexported-7", "bytes-8"} {
		if !strings.Contains(text, s) {
			t.Errorf("%s is missing from %q", s, text)
		}
	}
	if leaked(text, []string{"REQ-5"}) == "" || leaked(text, []string{"absent"}) != "" {
		t.Error("leaked does not find what is there, in any case, and only that")
	}
}

package contracttest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server is a contract server of a made-up API: it counts the work it does and words a
// failure as "STATUS WAIT".
type server struct {
	*Control
	work atomic.Int32
	url  string
}

func newServer(t *testing.T, lost func(http.ResponseWriter)) *server {
	s := &server{Control: New(Vendor{Ops: []string{"read", "create"}, RetryAfter: 2 * time.Second, Lost: lost,
		Fail: func(w http.ResponseWriter, status int, retryAfter time.Duration) {
			w.WriteHeader(status)
			io.WriteString(w, strconv.Itoa(status)+" "+retryAfter.String())
		}})}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(s.Control, w, r, strings.TrimPrefix(r.URL.Path, "/"), func(w http.ResponseWriter, r *http.Request) {
			s.work.Add(1)
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, "done "+string(b))
		})
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}

// call posts body to op and returns the status and body of the answer, or the error.
func (s *server) call(t *testing.T, op, body string) (string, error) {
	t.Helper()
	resp, err := http.Post(s.url+"/"+op, "text/plain", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status[:3] + " " + string(b), nil
}

func TestInjectRefuses(t *testing.T) {
	s := newServer(t, nil)
	for _, c := range []struct {
		op string
		f  Fault
		ok bool
	}{
		{"read", Fault{Status: 500}, true},
		{"reed", Fault{Status: 500}, false},
		{"read", Fault{Times: 2}, false},
		{"read", Fault{Status: 302}, false},
		{"read", Fault{Status: 500, Lose: true}, false},
		{"read", Fault{Lose: true, Drop: true}, false},
		{"read", Fault{Delay: -time.Second}, false},
		{"read", Fault{Status: 429, RetryAfter: -time.Second}, false},
	} {
		if err := s.Inject(c.op, c.f); (err == nil) != c.ok {
			t.Errorf("Inject(%q, %+v) = %v", c.op, c.f, err)
		}
	}
}

// Faults of an op are met in the order they were set, each as many times as it says; other
// ops are untouched, and every call is counted and recorded.
func TestFaultsInOrder(t *testing.T) {
	s := newServer(t, nil)
	if err := s.Fail("read", 503, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Inject("read", Fault{Status: 429, RetryAfter: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range []string{"read", "create", "read", "read", "read"} {
		a, err := s.call(t, op, op)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	want := []string{"503 503 2s", "200 done create", "503 503 2s", "429 429 1m0s", "200 done read"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("answers %q, want %q", got, want)
	}
	if s.Calls("read") != 4 || s.Calls("create") != 1 || s.work.Load() != 2 {
		t.Fatalf("%d reads, %d creates, %d done", s.Calls("read"), s.Calls("create"), s.work.Load())
	}
	rec := s.Received()
	if len(rec) != 5 || rec[1].Op != "create" || rec[1].Method != http.MethodPost || rec[1].Path != "/create" ||
		string(rec[1].Body) != "create" || rec[1].At.IsZero() {
		t.Fatalf("received %+v", rec)
	}
}

// A lost call is done and its connection dropped, or answered as the vendor answers a lost
// call; a dropped one is not done.
func TestLoseAndDrop(t *testing.T) {
	s := newServer(t, nil)
	if err := s.Lose("create", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.call(t, "create", "x"); err == nil || s.work.Load() != 1 {
		t.Fatalf("lost call: %v after %d done, want no answer after the work", err, s.work.Load())
	}
	if err := s.Inject("create", Fault{Drop: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.call(t, "create", "x"); err == nil || s.work.Load() != 1 {
		t.Fatalf("dropped call: %v after %d done, want no answer and no work", err, s.work.Load())
	}
	timeout := newServer(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusGatewayTimeout) })
	if err := timeout.Lose("read", 1); err != nil {
		t.Fatal(err)
	}
	if a, err := timeout.call(t, "read", "x"); err != nil || a != "504 " || timeout.work.Load() != 1 {
		t.Fatalf("lost call: %q, %v after %d done, want the vendor's 504 after the work", a, err, timeout.work.Load())
	}
}

func TestDelay(t *testing.T) {
	s := newServer(t, nil)
	if err := s.Inject("read", Fault{Delay: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a, err := s.call(t, "read", "x")
	if err != nil || a != "200 done x" || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("delayed call: %q, %v after %s", a, err, time.Since(start))
	}
}

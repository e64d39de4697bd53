package providertest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Faults sits in front of a system's HTTP API and makes it misbehave on cue, so the suites
// need none of a contract server's own controls: the next requests fail with a status,
// hang until their caller gives up, or reach the system and lose their answer.
type Faults struct {
	next  http.RoundTripper
	mu    sync.Mutex
	queue []fault
	every *fault
}

type fault struct {
	status int
	header http.Header
	stall  bool
	lose   bool
}

// ErrLost is the error a request whose answer was lost returns.
var ErrLost = errors.New("connection reset after the request was sent (injected)")

// Inject puts a Faults in front of c's transport and returns it.
func Inject(c *http.Client) *Faults {
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	f := &Faults{next: next}
	c.Transport = f
	return f
}

// Fail answers the next times requests with status and header, without reaching the system.
func (f *Faults) Fail(status int, header http.Header, times int) {
	for range times {
		f.push(fault{status: status, header: header})
	}
}

// FailAll answers every request with status and header, without reaching the system, until
// it is called with status 0 (as Leaks.Fail is).
func (f *Faults) FailAll(status int, header http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.every = nil
	if status != 0 {
		f.every = &fault{status: status, header: header}
	}
}

// Stall makes the next request wait, without reaching the system, until its caller gives up.
func (f *Faults) Stall() { f.push(fault{stall: true}) }

// Lose lets the next request reach the system and then drops the answer.
func (f *Faults) Lose() { f.push(fault{lose: true}) }

func (f *Faults) push(ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, ft)
}

// RoundTrip implements http.RoundTripper.
func (f *Faults) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	ft := f.every
	if len(f.queue) > 0 {
		ft = &f.queue[0]
		f.queue = f.queue[1:]
	}
	f.mu.Unlock()
	switch {
	case ft == nil:
		return f.next.RoundTrip(req)
	case ft.lose:
		resp, err := f.next.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, ErrLost
	}
	if req.Body != nil {
		req.Body.Close()
	}
	if ft.stall {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	// A body both common error shapes read: {"message"} and {"errors":[{"message"}]}.
	msg := fmt.Sprintf("injected failure (HTTP %d)", ft.status)
	body := fmt.Sprintf(`{"message":%q,"errors":[{"message":%q}]}`, msg, msg)
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range ft.header {
		h[k] = v
	}
	return &http.Response{StatusCode: ft.status, Status: fmt.Sprintf("%d %s", ft.status, http.StatusText(ft.status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
}

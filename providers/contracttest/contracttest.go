// Package contracttest is the control surface every contract server of a vendor's API shares
// (linetest, shopifytest, squaretest, smaregitest, sendgridtest): with the same methods,
// tests and scripts make the next calls of an operation fail, lose their answers or wait,
// and read back what a server received. The package decides which call meets which fault;
// the server words the failure in its vendor's shapes, as the vendor documents them.
//
// A server embeds a *Control made by New and runs each call through Serve.
package contracttest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fault is what the next calls of an operation meet.
type Fault struct {
	// Status is an HTTP error status answered instead of doing the call's work.
	Status int
	// RetryAfter is the wait a 429 or 503 asks for; zero takes the server's default.
	RetryAfter time.Duration
	// Lose does the work and then loses the answer, as a connection dropped on the way back.
	Lose bool
	// Drop drops the connection before any work, as a request lost on the way in.
	Drop bool
	// Delay holds the call this long before it is served or fails.
	Delay time.Duration
	// Times is how many calls meet the fault; below 1 is one.
	Times int
}

// Call is one call a server received.
type Call struct {
	Op     string
	At     time.Time
	Method string
	Path   string
	Body   []byte
}

// Vendor is how a server words what its faults answer.
type Vendor struct {
	// Ops name the kinds of calls faults target, in the server's terms.
	Ops []string
	// RetryAfter is the wait a 429 or 503 asks for when its fault names none.
	RetryAfter time.Duration
	// Fail writes the vendor's error answer for an HTTP status.
	Fail func(w http.ResponseWriter, status int, retryAfter time.Duration)
	// Lost answers a call whose work is done and whose answer is lost; nil drops the
	// connection.
	Lost func(w http.ResponseWriter)
}

// Control holds a server's pending faults and the calls it received. Its methods are safe
// for concurrent use.
type Control struct {
	vendor Vendor

	mu       sync.Mutex
	pending  []*pending
	calls    map[string]int
	received []Call
}

type pending struct {
	op    string
	fault Fault
}

// New returns the control surface of a server.
func New(v Vendor) *Control {
	return &Control{vendor: v, calls: map[string]int{}}
}

// Ops returns the operations faults target.
func (c *Control) Ops() []string { return slices.Clone(c.vendor.Ops) }

// Inject makes the next f.Times calls of op meet f, after the faults already set on op.
func (c *Control) Inject(op string, f Fault) error {
	if !slices.Contains(c.vendor.Ops, op) {
		return fmt.Errorf("unknown operation %q; want one of %s", op, strings.Join(c.vendor.Ops, ", "))
	}
	outcomes := 0
	for _, set := range []bool{f.Status != 0, f.Lose, f.Drop} {
		if set {
			outcomes++
		}
	}
	switch {
	case f.Status != 0 && (f.Status < 400 || f.Status > 599):
		return fmt.Errorf("status %d is not an HTTP error", f.Status)
	case outcomes > 1:
		return fmt.Errorf("a fault fails, loses or drops a call, not several of these")
	case outcomes == 0 && f.Delay <= 0:
		return fmt.Errorf("a fault needs a status, a loss, a drop or a delay")
	case f.Delay < 0 || f.RetryAfter < 0:
		return fmt.Errorf("delay %s and retry after %s: want durations of 0 or more", f.Delay, f.RetryAfter)
	}
	f.Times = max(f.Times, 1)
	if f.RetryAfter == 0 {
		f.RetryAfter = c.vendor.RetryAfter
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, &pending{op: op, fault: f})
	return nil
}

// Fail makes the next times calls of op answer an HTTP error status, doing nothing.
func (c *Control) Fail(op string, status, times int) error {
	return c.Inject(op, Fault{Status: status, Times: times})
}

// Lose makes the next times calls of op do their work and lose their answers.
func (c *Control) Lose(op string, times int) error {
	return c.Inject(op, Fault{Lose: true, Times: times})
}

// Calls returns how many calls of op the server received, failed ones included.
func (c *Control) Calls(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// Received lists the calls the server received, oldest first.
func (c *Control) Received() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.received)
}

// take records a call and returns the fault it meets: the zero Fault when none is set.
func (c *Control) take(r *http.Request, op string) Fault {
	body, _ := ReadBody(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
	c.received = append(c.received, Call{Op: op, At: time.Now(), Method: r.Method, Path: r.URL.Path, Body: body})
	for i, p := range c.pending {
		if p.op != op {
			continue
		}
		if p.fault.Times--; p.fault.Times == 0 {
			c.pending = slices.Delete(c.pending, i, i+1)
		}
		return p.fault
	}
	return Fault{}
}

// Serve runs one call of op: it is recorded, meets its fault if one is set, and is
// otherwise answered by h. It is a function rather than a method so that it stays out of
// the controls of the servers that embed Control.
func Serve(c *Control, w http.ResponseWriter, r *http.Request, op string, h http.HandlerFunc) {
	f := c.take(r, op)
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the caller gave up waiting
		}
	}
	switch {
	case f.Status != 0:
		c.vendor.Fail(w, f.Status, f.RetryAfter)
	case f.Drop:
		drop(w)
	case f.Lose:
		h(httptest.NewRecorder(), r)
		if c.vendor.Lost != nil {
			c.vendor.Lost(w)
		} else {
			drop(w)
		}
	default:
		h(w, r)
	}
}

// ReadBody reads a request's body and puts a copy back, for the handlers after it.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

// RandomHex returns n random bytes in hex, for the tokens, secrets and IDs a server makes up.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Snapshot returns copies of the objects a server holds, in cmp's order, for tests to read
// without racing the server. Call it under the server's lock.
func Snapshot[K comparable, V any](objects map[K]*V, cmp func(a, b *V) int) []V {
	out := make([]V, 0, len(objects))
	for _, o := range slices.SortedFunc(maps.Values(objects), cmp) {
		out = append(out, *o)
	}
	return out
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

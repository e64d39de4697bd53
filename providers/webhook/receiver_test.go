package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers/signature"
)

// signed is a delivery as Musubi posts it, signed at at.
func signed(t *testing.T, key string, at time.Time) (http.Header, []byte) {
	t.Helper()
	r := newReceiver(t)
	p, _ := configured(t, r.URL, nil)
	p.Now = func() time.Time { return at }
	if err := p.Send(context.Background(), nudge(key)).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	d := r.deliveries()[0]
	return d.header, d.body
}

// A receiver refuses a signed request posted again as it was, and one signed too long ago;
// Musubi's own retry, signed afresh, is a new request with the same payload id.
func TestReceiverRefusesOldAndReplayedRequests(t *testing.T) {
	t.Parallel()
	clock := now
	rc := NewReceiver(secret)
	rc.Now = func() time.Time { return clock }
	header, body := signed(t, "trigger.pickup_ready/evt_1/cus_0042", now)

	pl, err := rc.Verify(header, body)
	if err != nil || pl.ID != "trigger.pickup_ready/evt_1/cus_0042" {
		t.Fatalf("first delivery: %+v, %v", pl, err)
	}
	clock = now.Add(time.Minute)
	_, err = rc.Verify(header, body)
	if !errors.Is(err, ErrReplayed) || err.Error() != "the request was accepted already: a replay: message trigger.pickup_ready/evt_1/cus_0042 signed at 2027-03-01T09:00:00Z" {
		t.Errorf("the same request again: %v", err)
	}
	// Another v1 beside the valid one makes another header, not another request.
	more := header.Clone()
	more.Set(signature.MusubiHeader, header.Get(signature.MusubiHeader)+",v1=00ff")
	if _, err := rc.Verify(more, body); !errors.Is(err, ErrReplayed) {
		t.Errorf("the same request with another v1: %v", err)
	}

	retry := header.Clone()
	retry.Set(signature.MusubiHeader, signature.SignMusubi(secret, now.Add(time.Second), body))
	if pl, err := rc.Verify(retry, body); err != nil || pl.ID != "trigger.pickup_ready/evt_1/cus_0042" {
		t.Errorf("a retry signed afresh: %+v, %v; want it taken, for the receiver to know by its id", pl, err)
	}

	clock = now.Add(DefaultTolerance + time.Second)
	if _, err := rc.Verify(header, body); !errors.Is(err, signature.ErrStale) || !strings.Contains(err.Error(), "signed 5m1s ago, more than the 5m0s allowed") {
		t.Errorf("after the tolerance: %v", err)
	}

	// Without a memory, only the time is checked.
	clock = now.Add(time.Minute)
	stateless := &Receiver{Secret: secret, Now: func() time.Time { return clock }}
	for i := range 2 {
		if _, err := stateless.Verify(header, body); err != nil {
			t.Errorf("without a memory, delivery %d: %v", i+1, err)
		}
	}
	if _, err := Verify(secret, header, body); !errors.Is(err, signature.ErrStale) {
		t.Errorf("Verify on this machine's clock, far from the request's: %v", err)
	}
	fresh := header.Clone()
	fresh.Set(signature.MusubiHeader, signature.SignMusubi(secret, time.Now(), body))
	if _, err := Verify(secret, fresh, body); err != nil {
		t.Errorf("Verify of a request signed just now: %v", err)
	}
}

// Of the same request posted many times at once, one is taken.
func TestReceiverTakesAReplayOnceUnderLoad(t *testing.T) {
	t.Parallel()
	rc := NewReceiver(secret)
	rc.Now = func() time.Time { return now }
	header, body := signed(t, "k", now)
	var taken, replays atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch _, err := rc.Verify(header, body); {
			case err == nil:
				taken.Add(1)
			case errors.Is(err, ErrReplayed):
				replays.Add(1)
			}
		}()
	}
	wg.Wait()
	if taken.Load() != 1 || replays.Load() != 15 {
		t.Errorf("%d taken, %d replays; want 1 and 15", taken.Load(), replays.Load())
	}
}

// The memory forgets a key once its time is over, so it holds one tolerance of requests.
func TestMemoryForgetsExpiredKeys(t *testing.T) {
	t.Parallel()
	m := NewMemory().(*memory)
	for i := range 3000 {
		at := now.Add(time.Duration(i) * time.Second)
		if !m.Remember(fmt.Sprint(i), at, at.Add(DefaultTolerance)) {
			t.Fatalf("key %d is new", i)
		}
	}
	if n, live := len(m.keys), int(DefaultTolerance/time.Second)+1; n > max(minSweep, 2*live) {
		t.Errorf("the memory holds %d keys, over twice the %d of one tolerance", n, live)
	}
	last := now.Add(2999 * time.Second)
	if m.Remember("2999", last, last.Add(DefaultTolerance)) {
		t.Error("a key within its time was taken again")
	}
	if !m.Remember("0", last, last.Add(DefaultTolerance)) {
		t.Error("a key past its time was refused")
	}
}

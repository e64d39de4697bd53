package providertest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// SenderHarness describes a Sender under test, as the engine's outbox uses it: one send per
// outbox item, repeated with the same idempotency key after a crash or a temporary error,
// paced by RetryAfter, abandoned when the context ends.
type SenderHarness struct {
	// New returns a sender configured against a fresh system.
	New func(t *testing.T) providers.Sender
	// To is an address the system delivers to.
	To string
	// Deliveries returns the messages the system accepted, oldest first.
	Deliveries func(t *testing.T, s providers.Sender) []Delivery
	// KeyAs turns an idempotency key into the form the system receives it in (LINE's retry
	// key is a UUID made from it); nil when the system receives it as it is.
	KeyAs func(key string) string
	// Unknown makes the system refuse an address and returns it: one it does not know or,
	// where it cannot tell, one not of its form. Nil skips.
	Unknown func(t *testing.T, s providers.Sender) string
	// Throttle makes the system refuse the next send for a rate limit, through every attempt
	// the sender makes, and returns the wait the system names (0 where it cannot name one).
	// Nil skips.
	Throttle func(t *testing.T, s providers.Sender) time.Duration
	// Stall makes the next send hang until its caller gives up. It may let the system act
	// first only where the system recognises a repeated key. Nil skips.
	Stall func(t *testing.T, s providers.Sender)
	// Lose lets the system act on the next send and loses its answer. Nil skips: where the
	// system cannot recognise a repeated key, a retry after a lost answer sends again.
	Lose func(t *testing.T, s providers.Sender)
	// Secrets returns what must never show in a send's response. Nil for none.
	Secrets func(t *testing.T, s providers.Sender) []string
}

// Delivery is one message a system accepted.
type Delivery struct {
	To string
	// Key is the idempotency key as the system received it; empty where it takes none (SMTP),
	// and the sender then remembers keys itself.
	Key string
}

// promptly bounds how long a send may take to give up once its context has ended.
const promptly = 5 * time.Second

var identifierRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// RunSender runs the Sender suite.
func RunSender(t *testing.T, h SenderHarness) {
	t.Run("messaging", func(t *testing.T) { testMessaging(t, h) })
	t.Run("send", func(t *testing.T) { testSend(t, h) })
	t.Run("recipient", func(t *testing.T) { testRecipient(t, h) })
	t.Run("rate-limited", func(t *testing.T) { testRateLimited(t, h) })
	t.Run("cancelled", func(t *testing.T) { testContextEnds(t, h, false) })
	t.Run("stalled", func(t *testing.T) { testContextEnds(t, h, true) })
	t.Run("lost-answer", func(t *testing.T) { testLostAnswer(t, h) })
	t.Run("concurrent", func(t *testing.T) { testConcurrentSends(t, h) })
}

type sendFixture struct {
	t       *testing.T
	h       SenderHarness
	s       providers.Sender
	secrets []string
}

func newSendFixture(t *testing.T, h SenderHarness) *sendFixture {
	s := h.New(t)
	if p, ok := s.(providers.Provider); ok {
		t.Cleanup(func() { p.Close() })
	}
	f := &sendFixture{t: t, h: h, s: s}
	if h.Secrets != nil {
		f.secrets = h.Secrets(t, s)
	}
	return f
}

func (f *sendFixture) request(key string) providers.SendRequest {
	return providers.SendRequest{Name: "trigger.cart_nudge", To: f.h.To, Customer: "cus_0042",
		Subject: "もう少しで10%オフ", Text: "あと200円で10%オフになります。", IdempotencyKey: key}
}

// send sends and checks the response shows no secret.
func (f *sendFixture) send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	f.t.Helper()
	r := f.s.Send(ctx, req)
	if s := leaked(visible(r), f.secrets); s != "" {
		f.t.Errorf("a send's response shows a secret: %s", s)
	}
	return r
}

// sent sends and fails the test unless the send succeeded.
func (f *sendFixture) sent(req providers.SendRequest) providers.SendResponse {
	f.t.Helper()
	r := f.send(context.Background(), req)
	if err := r.Diagnostics.Err(); err != nil {
		f.t.Fatalf("send %s: %v", req.IdempotencyKey, err)
	}
	return r
}

func (f *sendFixture) deliveries() []Delivery {
	f.t.Helper()
	return f.h.Deliveries(f.t, f.s)
}

// expectDeliveries checks the system holds n messages.
func (f *sendFixture) expectDeliveries(n int, after string) {
	f.t.Helper()
	if got := len(f.deliveries()); got != n {
		f.t.Fatalf("after %s the system holds %d messages, want %d", after, got, n)
	}
}

func (f *sendFixture) keyAs(key string) string {
	if f.h.KeyAs == nil {
		return key
	}
	return f.h.KeyAs(key)
}

// temporary is the outbox's rule: rate limits, outages and unclassified errors are retried.
func temporary(err error) bool {
	var ae *providers.APIError
	return !errors.As(err, &ae) || ae.Temporary()
}

func testMessaging(t *testing.T, h SenderHarness) {
	ms := newSendFixture(t, h).s.Messaging()
	if !identifierRE.MatchString(ms.Address) {
		t.Errorf("Messaging().Address is %q, want an identifier type such as email or line_user", ms.Address)
	}
	if ms.Consent != "" && !identifierRE.MatchString(ms.Consent) {
		t.Errorf("Messaging().Consent is %q, want a consent channel or empty", ms.Consent)
	}
	if ms.Rate < 0 || math.IsNaN(ms.Rate) || math.IsInf(ms.Rate, 0) {
		t.Errorf("Messaging().Rate is %v, want sends a second or 0", ms.Rate)
	}
}

// testSend: a send is delivered once and carries its key; a repeat of the key is reported as
// a duplicate and delivers nothing; another key is another message.
func testSend(t *testing.T, h SenderHarness) {
	f := newSendFixture(t, h)
	key := "trigger.cart_nudge/evt_1/cus_0042"
	if r := f.sent(f.request(key)); r.Duplicate {
		t.Fatal("the first send of a key reported a duplicate")
	}
	got := f.deliveries()
	if len(got) != 1 || got[0].To != h.To {
		t.Fatalf("after one send the system holds %+v, want one message to %s", got, h.To)
	}
	if got[0].Key != "" && got[0].Key != f.keyAs(key) {
		t.Errorf("the message carries key %q, want %q", got[0].Key, f.keyAs(key))
	}
	if r := f.sent(f.request(key)); !r.Duplicate {
		t.Error("a repeated key was not reported as a duplicate")
	}
	f.expectDeliveries(1, "a repeated key")
	other := "trigger.cart_nudge/evt_2/cus_0042"
	if r := f.sent(f.request(other)); r.Duplicate {
		t.Error("a send with another key was reported as a duplicate")
	}
	got = f.deliveries()
	if len(got) != 2 {
		t.Fatalf("after a send with another key the system holds %d messages, want 2", len(got))
	}
	if got[1].Key != "" && got[1].Key != f.keyAs(other) {
		t.Errorf("the second message carries key %q, want %q", got[1].Key, f.keyAs(other))
	}
}

// refused checks a send failed for good: the outbox gives it up at once instead of retrying.
func refused(t *testing.T, what string, r providers.SendResponse, codes ...providers.ErrorCode) {
	t.Helper()
	err := r.Diagnostics.Err()
	if err == nil {
		t.Fatalf("%s was sent", what)
	}
	if c := providers.CodeOf(err); !slices.Contains(codes, c) {
		t.Errorf("%s: error class %q, want one of %v (%v)", what, c, codes, err)
	}
}

func testRecipient(t *testing.T, h SenderHarness) {
	f := newSendFixture(t, h)
	req := f.request("no-recipient")
	req.To = ""
	refused(t, "a message without a recipient", f.send(context.Background(), req), providers.ErrInvalid)
	if h.Unknown != nil {
		req = f.request("unknown-recipient")
		req.To = h.Unknown(t, f.s)
		refused(t, "a message to an address the system refuses", f.send(context.Background(), req), providers.ErrNotFound, providers.ErrInvalid)
	}
	f.expectDeliveries(0, "refused recipients")
}

// testRateLimited: a rate limit is rate_limited with the wait the system named, so the
// outbox holds every send of the account that long; the retry then goes out once.
func testRateLimited(t *testing.T, h SenderHarness) {
	if h.Throttle == nil {
		t.Skip("no way to make the system rate-limit")
	}
	f := newSendFixture(t, h)
	wait := h.Throttle(t, f.s)
	r := f.send(context.Background(), f.request("limited"))
	var ae *providers.APIError
	if err := r.Diagnostics.Err(); !errors.As(err, &ae) || ae.Code != providers.ErrRateLimited {
		t.Fatalf("a rate-limited send: %v, want a rate_limited error", err)
	}
	if wait > 0 && ae.RetryAfter != wait {
		t.Errorf("RetryAfter is %s; the system asked for %s", ae.RetryAfter, wait)
	}
	f.expectDeliveries(0, "a rate-limited send")
	if r := f.sent(f.request("limited")); r.Duplicate {
		t.Error("the retry of a rate-limited send was reported as a duplicate")
	}
	f.expectDeliveries(1, "the retry of a rate-limited send")
}

// testContextEnds: a send stops promptly once its context ends, cancelled before the send
// or reaching its deadline while the system stalls, with an error the outbox retries; the
// retry with the same key then leaves exactly one message.
func testContextEnds(t *testing.T, h SenderHarness, stall bool) {
	if stall && h.Stall == nil {
		t.Skip("no way to stall the system")
	}
	f := newSendFixture(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	ended, _ := ctx.Deadline()
	if stall {
		h.Stall(t, f.s)
	} else {
		cancel()
		ended = time.Now()
	}
	r := f.send(ctx, f.request("ended"))
	if late := time.Since(ended); late > promptly {
		t.Errorf("the send returned %s after its context ended", late.Round(time.Millisecond))
	}
	err := r.Diagnostics.Err()
	if err == nil {
		t.Fatal("a send whose context ended reported success")
	}
	if !temporary(err) {
		t.Errorf("a send whose context ended failed for good (%v): the outbox would not retry it", err)
	}
	f.sent(f.request("ended"))
	f.expectDeliveries(1, "the retry of a send whose context ended")
}

// testLostAnswer: the system delivered but the sender never heard. The retry, whether the
// sender's own or the outbox's, must be recognised: one message, reported as a duplicate.
func testLostAnswer(t *testing.T, h SenderHarness) {
	if h.Lose == nil {
		t.Skip("the system cannot recognise a repeated key")
	}
	f := newSendFixture(t, h)
	h.Lose(t, f.s)
	if err := f.send(context.Background(), f.request("lost")).Diagnostics.Err(); err != nil && !temporary(err) {
		t.Errorf("a send whose answer was lost failed for good (%v): the outbox would not retry it", err)
	}
	if r := f.sent(f.request("lost")); !r.Duplicate {
		t.Error("the retry of a send the system had delivered was not reported as a duplicate")
	}
	f.expectDeliveries(1, "a lost answer and a retry")
}

// testConcurrentSends: the outbox sends from several workers at once.
func testConcurrentSends(t *testing.T, h SenderHarness) {
	f := newSendFixture(t, h)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = f.s.Send(context.Background(), f.request(fmt.Sprint("concurrent-", i))).Diagnostics.Err()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := f.deliveries()
	if len(got) != n {
		t.Fatalf("%d concurrent sends left %d messages", n, len(got))
	}
	seen := map[string]bool{}
	for _, d := range got {
		if d.Key != "" && seen[d.Key] {
			t.Errorf("two messages carry key %s", d.Key)
		}
		seen[d.Key] = true
	}
}

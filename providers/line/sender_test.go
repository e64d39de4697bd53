package line

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/line/linetest"
)

// user returns the n-th test user's LINE user ID.
func user(n int) string { return fmt.Sprintf("U%032x", n) }

func send(p *Provider, to, text, key string) providers.SendResponse {
	return p.Send(context.Background(), providers.SendRequest{Name: "trigger.cart_nudge", To: to, Customer: "c1", Text: text, IdempotencyKey: key})
}

func TestMessaging(t *testing.T) {
	t.Parallel()
	if m := New().Messaging(); m.Address != "line_user" || m.Consent != "line" {
		t.Fatalf("Messaging() = %+v, want line_user gated by line consent", m)
	}
}

func TestRetryKeyIsADeterministicUUIDv5(t *testing.T) {
	t.Parallel()
	k := RetryKey("trigger.cart_nudge/evt-1/c1")
	u, err := uuid.Parse(k)
	if err != nil || u.Version() != 5 || len(k) != 36 {
		t.Fatalf("RetryKey = %q (version %d, %v), want a hex UUIDv5", k, u.Version(), err)
	}
	if RetryKey("trigger.cart_nudge/evt-1/c1") != k || RetryKey("trigger.cart_nudge/evt-2/c1") == k {
		t.Fatal("RetryKey must be the same for the same key and differ for another")
	}
}

// A repeated send is refused by LINE with 409 and reported as a duplicate of the first,
// which is the only delivery.
func TestSendRepeatIsADuplicate(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	first := send(p, user(1), "あと200円で10%オフ", "evt-1/c1")
	if err := first.Diagnostics.Err(); err != nil || first.Duplicate || first.ID == "" {
		t.Fatalf("first send: %+v %v", first, err)
	}
	again := send(p, user(1), "あと200円で10%オフ", "evt-1/c1")
	if err := again.Diagnostics.Err(); err != nil || !again.Duplicate || again.ID != first.ID {
		t.Fatalf("repeated send: %+v %v, want a duplicate of %s", again, err, first.ID)
	}
	d := srv.Deliveries()
	if len(d) != 1 || d[0].RetryKey != RetryKey("evt-1/c1") || d[0].To[0] != user(1) {
		t.Fatalf("deliveries %+v, want one push with the key's UUIDv5", d)
	}
	if other := send(p, user(1), "あと200円で10%オフ", "evt-2/c1"); other.Duplicate || len(srv.Deliveries()) != 2 {
		t.Fatal("a send with another key must be delivered")
	}
}

// LINE pushed the message but the answer was lost: the retry carries the same key, LINE
// answers 409, and the send succeeds without a second delivery.
func TestSendLostResponseIsRetriedOnce(t *testing.T) {
	t.Parallel()
	srv, p, w := contract(t)
	srv.Lose(linetest.OpSend, 1)
	r := send(p, user(2), "hello", "evt-3/c2")
	if err := r.Diagnostics.Err(); err != nil || !r.Duplicate {
		t.Fatalf("send after a lost response: %+v %v, want success reported as a duplicate", r, err)
	}
	if n := len(srv.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	if got := srv.Calls(linetest.OpSend); got != 2 || len(w.Waits()) != 1 {
		t.Fatalf("%d push calls and waits %v, want 2 calls and one wait", got, w.Waits())
	}
}

func TestSendRateLimitAndQuota(t *testing.T) {
	t.Parallel()
	t.Run("rate limit retried", func(t *testing.T) {
		t.Parallel()
		srv, p, w := contract(t)
		srv.Fail(linetest.OpSend, http.StatusTooManyRequests, 2)
		if r := send(p, user(3), "hi", "k1"); r.Diagnostics.HasErrors() {
			t.Fatal(r.Diagnostics.Err())
		}
		if got := w.Waits(); !slices.Equal(got, []time.Duration{time.Second, time.Second}) {
			t.Fatalf("waits %v, want LINE's second twice", got)
		}
	})
	t.Run("rate limit persists", func(t *testing.T) {
		t.Parallel()
		srv, p, _ := contract(t)
		srv.Fail(linetest.OpSend, http.StatusTooManyRequests, 10)
		r := send(p, user(3), "hi", "k1")
		var ae *providers.APIError
		if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrRateLimited || r.Diagnostics[0].Err.RetryAfter != time.Second {
			t.Fatalf("got %v, want rate_limited with a second's Retry-After", err)
		}
		ae = r.Diagnostics[0].Err
		if ae.RequestID == "" || ae.Status != http.StatusTooManyRequests || !strings.Contains(ae.Message, "rate limit") {
			t.Fatalf("the error keeps LINE's status, message and request ID: %+v", ae)
		}
		if n := srv.Calls(linetest.OpSend); n != defaultRetrying.attempts {
			t.Fatalf("%d calls, want %d", n, defaultRetrying.attempts)
		}
	})
	t.Run("monthly limit", func(t *testing.T) {
		t.Parallel()
		srv, p, w := contract(t)
		srv.SetMonthlyLimit(1)
		if r := send(p, user(4), "one", "k1"); r.Diagnostics.HasErrors() {
			t.Fatal(r.Diagnostics.Err())
		}
		r := send(p, user(4), "two", "k2")
		if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrQuota || !strings.Contains(err.Error(), linetest.MonthlyLimitMessage) {
			t.Fatalf("got %v, want quota with LINE's message", err)
		}
		if n := srv.Calls(linetest.OpSend); n != 2 || len(w.Waits()) != 0 {
			t.Fatalf("%d calls, %d waits: a used-up month is not retried", n, len(w.Waits()))
		}
	})
	t.Run("long Retry-After left to the caller", func(t *testing.T) {
		t.Parallel()
		srv, p, w := contract(t)
		p.retry.maxWait = 500 * time.Millisecond
		srv.Fail(linetest.OpSend, http.StatusTooManyRequests, 1)
		if err := send(p, user(3), "hi", "k1").Diagnostics.Err(); providers.CodeOf(err) != providers.ErrRateLimited || len(w.Waits()) != 0 {
			t.Fatalf("got %v after waits %v, want rate_limited without waiting", err, w.Waits())
		}
	})
}

func TestSendTextLimits(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	cases := []struct {
		name  string
		text  string
		parts int // 0: refused before calling LINE
	}{
		{"5000 characters", strings.Repeat("a", 5000), 1},
		{"5000 UTF-16 units", strings.Repeat("🍎", 2500), 1},
		{"5002 UTF-16 units", strings.Repeat("🍎", 2501), 2},
		{"paragraphs", strings.Repeat(strings.Repeat("あ", 99)+"\n", 120), 3},
		{"five messages", strings.Repeat("b", 25000), 5},
		{"more than five", strings.Repeat("b", 25001), 0},
		{"empty", "", 0},
	}
	for i, c := range cases {
		before := len(srv.Deliveries())
		r := send(p, user(5), c.text, fmt.Sprint("limits-", i))
		if c.parts == 0 {
			if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid || len(srv.Deliveries()) != before {
				t.Errorf("%s: %v, want invalid without a call", c.name, r.Diagnostics.Err())
			}
			continue
		}
		if err := r.Diagnostics.Err(); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		d := srv.Deliveries()
		if got := d[len(d)-1].Texts; len(got) != c.parts || strings.Join(got, "") != c.text {
			t.Errorf("%s: sent %d messages, want %d holding the whole text", c.name, len(got), c.parts)
		}
	}
	if r := send(p, "someone@example.com", "hi", "k"); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid {
		t.Errorf("a non-LINE address: %v, want invalid", r.Diagnostics.Err())
	}
	if r := send(p, user(5), "hi", ""); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid {
		t.Errorf("no idempotency key: %v, want invalid", r.Diagnostics.Err())
	}
}

func TestSplitTextKeepsParagraphs(t *testing.T) {
	t.Parallel()
	para := strings.Repeat("x", 3999) + "\n"
	parts, err := splitText(para + para)
	if err != nil || len(parts) != 2 || parts[0] != para || parts[1] != para {
		t.Fatalf("split %d parts (%v), want the two paragraphs", len(parts), err)
	}
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = user(1000 + i)
	}
	return out
}

// A multicast to 1,201 users goes as three requests of at most 500; a repeat after a lost
// answer sends only what did not go.
func TestBroadcastMulticastChunks(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	p.retry.attempts = 1
	ctx := context.Background()
	b := Broadcast{To: users(1201), Text: "本日限定セール", IdempotencyKey: "campaign.flash/2027-03-01"}
	srv.Lose(linetest.OpSend, 1)
	if _, err := p.Broadcast(ctx, b); providers.CodeOf(err) != providers.ErrUnavailable {
		t.Fatalf("broadcast with a lost answer: %v, want unavailable", err)
	}
	res, err := p.Broadcast(ctx, b)
	if err != nil || len(res.RequestIDs) != 3 || res.Duplicates != 1 {
		t.Fatalf("repeat: %+v %v, want 3 requests of which 1 duplicate", res, err)
	}
	var sizes []int
	seen := map[string]int{}
	for _, d := range srv.Deliveries() {
		sizes = append(sizes, len(d.To))
		for _, u := range d.To {
			seen[u]++
		}
	}
	if !slices.Equal(sizes, []int{500, 500, 201}) || len(seen) != 1201 {
		t.Fatalf("multicasts of %v reaching %d users, want 500, 500, 201 reaching 1201", sizes, len(seen))
	}
	for u, n := range seen {
		if n != 1 {
			t.Fatalf("%s got the text %d times", u, n)
		}
	}
}

func TestBroadcastNarrowcast(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	ctx := context.Background()
	group := func(members int) string {
		r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: fmt.Sprint("aud-", members),
			Attributes: providers.Attrs{"segment": fmt.Sprint("s", members), "description": "test"}})
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		if err := p.AddMembers(ctx, r.ID, users(members)); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	big, small := group(60), group(10)

	b := Broadcast{AudienceID: big, Text: "春のセール開始", IdempotencyKey: "campaign.spring/start"}
	res, err := p.Broadcast(ctx, b)
	if err != nil || len(res.RequestIDs) != 1 || res.Duplicates != 0 {
		t.Fatalf("narrowcast: %+v %v", res, err)
	}
	pr, err := p.NarrowcastProgress(ctx, res.RequestIDs[0])
	if err != nil || pr.Phase != "succeeded" || pr.Targets != 60 {
		t.Fatalf("progress %+v %v, want succeeded to 60", pr, err)
	}
	again, err := p.Broadcast(ctx, b)
	if err != nil || again.Duplicates != 1 || again.RequestIDs[0] != res.RequestIDs[0] || len(srv.Deliveries()) != 1 {
		t.Fatalf("repeated narrowcast: %+v %v, want the first request back and one delivery", again, err)
	}

	res, err = p.Broadcast(ctx, Broadcast{AudienceID: small, Text: "x", IdempotencyKey: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if pr, _ := p.NarrowcastProgress(ctx, res.RequestIDs[0]); pr.Phase != "failed" || pr.ErrorCode != 4 {
		t.Fatalf("narrowcast to 10 users: %+v, want failed with LINE's error code 4", pr)
	}
	if _, err := p.Broadcast(ctx, Broadcast{AudienceID: big, To: users(1), Text: "x", IdempotencyKey: "k"}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Fatalf("both an audience and users: %v, want invalid", err)
	}
}

// AddMembers uploads at most 10,000 IDs a request, as LINE's JSON upload allows.
func TestAddMembersChunks(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	ctx := context.Background()
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "k",
		Attributes: providers.Attrs{"segment": "big_spenders", "description": "Spent ¥30,000 or more"}})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	before := srv.Calls(linetest.OpUpdate)
	if err := p.AddMembers(ctx, r.ID, users(25_000)); err != nil {
		t.Fatal(err)
	}
	id, _ := parseAudienceID(r.ID)
	a, _ := srv.Audience(id)
	if calls := srv.Calls(linetest.OpUpdate) - before; calls != 3 || len(a.UserIDs) != 25_000 {
		t.Fatalf("%d uploads holding %d users, want 3 holding 25000", calls, len(a.UserIDs))
	}
	if err := p.AddMembers(ctx, r.ID, []string{"not-a-user"}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Fatalf("a bad user ID: %v, want invalid", err)
	}
}

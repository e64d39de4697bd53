package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers/sandbox"
)

// Hanako is known online (email, EC account) and in store (member, phone, LINE); an EC
// event carrying her email and phone shows they are one person.
const (
	ecPurchase  = `{"id": "ec-1", "type": "purchase", "source": "ec", "channel": "ec", "record": {"email": "Hanako@Example.jp", "customer_id": "EC-1"}, "data": {"total": 5000}}`
	posPurchase = `{"id": "pos-7", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-2222-3333", "member_code": "M-2001"}, "data": {"total": 1200}}`
	lineFollow  = `{"id": "line-7", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U7777", "phone": "090-2222-3333"}}`
	linking     = `{"id": "ec-2", "type": "cart.updated", "source": "ec", "channel": "ec", "record": {"email": "hanako@example.jp", "phone": "090-2222-3333"}, "data": {"cart": {"total": 1000}}}`
)

func TestMergeUnmergeForget(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	online := f.ingest(ecPurchase)[0].Customer
	store := f.ingest(posPurchase)[0].Customer
	if r := f.ingest(lineFollow)[0]; r.Customer != store || strings.Join(r.Fired, ",") != "welcome_regular" {
		t.Fatalf("follow: %+v", r)
	}

	// The merge: one customer, traits summed. The store profile was already in loyal_store,
	// so the merged person does not enter it again and gets no second welcome code.
	r := f.ingest(linking)[0]
	if len(r.Merged) != 1 || len(r.Entered) != 0 || len(r.Fired) != 0 {
		t.Fatalf("linking event: %+v", r)
	}
	v, err := f.eng.Customer(ctx, "member:M-2001")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Merges) != 1 || v.Traits["spend_90d"] != int64(6200) || strings.Join(v.Segments, ",") != "loyal_store" || len(v.Identifiers) != 5 {
		t.Fatalf("merged: %+v", v)
	}
	if items, _ := f.store.Outbox(ctx, "", 10); len(items) != 1 {
		t.Fatalf("outbox after the merge: %+v", items)
	}

	// Unmerge: both exist again, each with its own events' traits.
	u, err := f.eng.Unmerge(ctx, "email:hanako@example.jp", v.Merges[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Restored == u.Kept || (u.Restored != online && u.Restored != store) {
		t.Fatalf("unmerge: %+v (online %s, store %s)", u, online, store)
	}
	a, err1 := f.eng.Customer(ctx, "email:hanako@example.jp")
	b, err2 := f.eng.Customer(ctx, "member:M-2001")
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || a.Traits["spend_90d"] != int64(5000) || b.Traits["spend_90d"] != int64(1200) || strings.Join(b.Segments, ",") != "loyal_store" {
		t.Fatalf("after unmerge:\n%+v\n%+v", a, b)
	}
	// Each event is filed under its customer again, the engine's own with the rest.
	for _, c := range []struct{ id, want string }{
		{a.ID, "ec:ec-1 ec:ec-2"},
		{b.ID, "engine:line:line-7/segment.entered/loyal_store line:line-7 pos:pos-7"},
	} {
		var keys []string
		f.store.Events(ctx, []string{c.id}, func(k string, _ []byte) error { keys = append(keys, k); return nil })
		slices.Sort(keys)
		if got := strings.Join(keys, " "); got != c.want {
			t.Errorf("events of %s after unmerge: %s, want %s", c.id, got, c.want)
		}
	}
	if _, err := f.eng.Unmerge(ctx, a.ID, v.Merges[0].ID); !IsInputError(err) {
		t.Fatalf("unmerging twice: %v", err)
	}

	// Forget the store customer: identifiers, profile, events gone; the sent message stays
	// in the ledger without address or text.
	if err := f.eng.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	fr, err := f.eng.Forget(ctx, "phone:090-2222-3333")
	if err != nil {
		t.Fatal(err)
	}
	if fr.Customer != b.ID || len(fr.Identifiers) != 3 {
		t.Fatalf("forget: %+v", fr)
	}
	check := func(when string) {
		t.Helper()
		if _, err := f.eng.Customer(ctx, "member:M-2001"); !errors.Is(err, ErrNoCustomer) {
			t.Fatalf("%s: the forgotten customer is still there: %v", when, err)
		}
		if _, err := f.eng.Customer(ctx, b.ID); !errors.Is(err, ErrNoCustomer) {
			t.Fatalf("%s: the forgotten Uni-ID is still there: %v", when, err)
		}
		items, _ := f.store.Outbox(ctx, "", 10)
		if len(items) != 1 || items[0].Status != StatusSent || items[0].To != "" || items[0].Text != "" || items[0].Customer != "" {
			t.Fatalf("%s: outbox %+v", when, items)
		}
		n := 0
		f.store.Events(ctx, []string{b.ID}, func(string, []byte) error { n++; return nil })
		if n != 0 {
			t.Fatalf("%s: %d events of the forgotten customer kept", when, n)
		}
		if c, err := f.eng.Customer(ctx, "email:hanako@example.jp"); err != nil || c.Traits["spend_90d"] != int64(5000) {
			t.Fatalf("%s: the other customer: %+v %v", when, c, err)
		}
	}
	check("after forget")
	f.restart()
	check("after a restart")
	// The same phone number later is refused: it is suppressed (TestUnsuppress lifts it).
	if r := f.ingest(strings.Replace(posPurchase, "pos-7", "pos-8", 1))[0]; r.Customer != "" || r.Duplicate || !r.Suppressed {
		t.Fatalf("after forget: %+v", r)
	}
}

// A dead letter goes back to the queue on request and is then delivered, once; other
// items and unknown ones are refused.
func TestRetryDeadLetter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	f.line.Store().AddFault(ctx, sandbox.Fault{Provider: "sandbox.line", Op: "send", Nth: 1, Status: 401})
	f.ingest(purchase)
	f.ingest(follow)
	f.eng.DeliverDue(ctx)
	dead, err := ListOutbox(ctx, f.store, StatusDead, f.clock.Now(), 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	if _, err := f.eng.RetryOutbox(ctx, "99"); !errors.Is(err, ErrNoOutboxItem) {
		t.Fatalf("unknown item: %v", err)
	}
	it, err := f.eng.RetryOutbox(ctx, dead[0].Key)
	if err != nil || it.Status != StatusPending || it.Attempts != 0 || it.LastError == "" {
		t.Fatalf("retry: %+v %v", it, err)
	}
	if q, _ := ListOutbox(ctx, f.store, ViewQueued, f.clock.Now(), 10); len(q) != 1 {
		t.Fatalf("queued: %+v", q)
	}
	f.eng.DeliverDue(ctx)
	if n := len(f.deliveries()); n != 1 {
		t.Fatalf("%d deliveries after the retry, want 1", n)
	}
	if _, err := f.eng.RetryOutbox(ctx, "1"); !errors.Is(err, ErrNoOutboxItem) || !strings.Contains(err.Error(), "no such dead letter 1 (only dead letters are retried") {
		t.Fatalf("retrying a sent item: %v", err)
	}
	if _, err := ListOutbox(ctx, f.store, "lost", f.clock.Now(), 10); !IsInputError(err) {
		t.Fatalf("unknown status: %v", err)
	}
}

// A message held by quiet hours is listed as held, not queued.
func TestOutboxViews(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	f.clock.Set(time.Date(2027, 2, 16, 22, 30, 0, 0, time.FixedZone("JST", 9*3600)))
	f.ingest(purchase)
	f.ingest(follow)
	held, _ := ListOutbox(ctx, f.store, ViewHeld, f.clock.Now(), 10)
	queued, _ := ListOutbox(ctx, f.store, ViewQueued, f.clock.Now(), 10)
	pending, _ := ListOutbox(ctx, f.store, StatusPending, f.clock.Now(), 10)
	if len(held) != 1 || len(queued) != 0 || len(pending) != 1 {
		t.Fatalf("held %d, queued %d, pending %d", len(held), len(queued), len(pending))
	}
}

// One engine per store: a second claim names the first; a claim dies with its holder's lock.
func TestStoreLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.db")
	if _, held, err := Holder(path); held || err != nil {
		t.Fatalf("before: %v %v", held, err)
	}
	l, err := LockStore(path, LockInfo{Command: "musubi serve"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetURL("http://127.0.0.1:8787"); err != nil {
		t.Fatal(err)
	}
	h, held, err := Holder(path)
	if !held || err != nil || h.URL != "http://127.0.0.1:8787" || h.Command != "musubi serve" {
		t.Fatalf("holder: %+v %v %v", h, held, err)
	}
	_, err = LockStore(path, LockInfo{Command: "musubi customer forget"})
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "in use by musubi serve (pid ") || !strings.Contains(err.Error(), "listening on http://127.0.0.1:8787") {
		t.Fatalf("second claim: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockStore(path, LockInfo{Command: "musubi customer forget"})
	if err != nil {
		t.Fatal(err)
	}
	l2.Unlock()
}

// Work submitted after Close fails cleanly instead of panicking.
func TestSubmitAfterClose(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	f.eng.Close()
	evs, _ := DecodeEvents([]byte(purchase))
	if _, err := f.eng.Ingest(context.Background(), evs); !errors.Is(err, ErrClosed) {
		t.Fatalf("ingest after close: %v", err)
	}
	f.eng.Close()
}

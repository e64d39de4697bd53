package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/providers/pgtest"
)

// The store conformance suite: every test here runs against both stores, SQLite and
// PostgreSQL, which must answer alike. TestOnPostgres runs engine tests written for the
// SQLite store on PostgreSQL too.

// storeKinds are the stores the suite runs on.
var storeKinds = []string{"sqlite", "postgres"}

// newStoreOpener returns a function that opens the same new, empty store of the kind each
// time it is called (a second call is a restart); the test closes what it opens.
func newStoreOpener(t testing.TB, kind string) func() Store {
	t.Helper()
	var dsn, path string
	if kind == "postgres" {
		dsn = pgtest.DSN(t)
	} else {
		path = filepath.Join(t.TempDir(), "engine.db")
	}
	return func() Store {
		t.Helper()
		s, err := openTestStore(dsn, path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func openTestStore(dsn, path string) (Store, error) {
	if dsn != "" {
		return OpenPG(context.Background(), dsn)
	}
	return OpenSQLite(path)
}

// forEachStore runs fn as a subtest on each kind of store.
func forEachStore(t *testing.T, fn func(t *testing.T, open func() Store)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { fn(t, newStoreOpener(t, kind)) })
	}
}

// onPostgres says whether an engine test runs under TestOnPostgres: its fixture stores the
// engine in PostgreSQL.
func onPostgres(t testing.TB) bool { return strings.HasPrefix(t.Name(), "TestOnPostgres/") }

// openStore opens the fixture's store.
func (f *fixture) openStore() Store {
	f.t.Helper()
	s, err := openTestStore(f.dsn, filepath.Join(f.dir, "engine.db"))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// ingestBenchStore is BenchmarkIngest's store: a SQLite file in dir, or with MUSUBI_BENCH_STORE=pg
// a database on the tests' PostgreSQL (MUSUBI_BENCH_STORE=postgres://… names another).
func ingestBenchStore(b testing.TB, dir string) (Store, error) {
	switch v := os.Getenv("MUSUBI_BENCH_STORE"); {
	case v == "pg":
		return OpenPG(context.Background(), pgtest.DSN(b))
	case IsPostgres(v):
		return OpenPG(context.Background(), v)
	}
	return OpenSQLite(filepath.Join(dir, "engine.db"))
}

// TestOnPostgres runs engine tests on the PostgreSQL store: ingest and restart, identity
// merges, unmerges and forgets, held actions, the outbox's exactly-once delivery, codes and
// redemptions, audiences.
func TestOnPostgres(t *testing.T) {
	for _, test := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"StorePurchaseAndFollow", TestStorePurchaseAndFollowBecomeOneCustomerWhoGetsOneCode},
		{"LostResponse", TestLostResponseIsRetriedWithoutASecondDelivery},
		{"RetriesAndDeadLetters", TestRetriesAndDeadLetters},
		{"MergeUnmergeForget", TestMergeUnmergeForget},
		{"ForgetErasesEveryCopy", TestForgetErasesEveryCopy},
		{"DelayedAction", TestDelayedActionRunsOnceOnTimeAcrossARestart},
		{"WaitIsCancelled", TestWaitIsCancelledByALaterMatchingEvent},
		{"StepsFollowMergesAndForgets", TestStepsFollowMergesAndForgets},
		{"Referral", TestReferralRewardsTheOwnerOncePerFriend},
		{"AnOrderRedeemsACodeOnce", TestAnOrderRedeemsACodeOnce},
		{"AudienceFollowsItsSegment", TestAudienceFollowsItsSegment},
		{"CampaignBroadcast", TestCampaignBroadcast},
		{"NULInAnEvent", TestNULInAnEvent},
		{"RestartRebuildsTheSameCustomers", TestRestartRebuildsTheSameCustomers},
	} {
		t.Run(test.name, test.fn)
	}
}

// storeText is what a PostgreSQL store holds, every row of every table as text, for the
// forget test to search as it searches the SQLite files.
func storeText(t testing.TB, dsn string) []byte {
	t.Helper()
	s, err := OpenPG(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	for _, table := range []string{"meta", "bundles", "events", "identity_log", "profiles", "outbox", "codes", "redemptions",
		"suppressions", "poll_cursors", "steps", "audience_members"} {
		rows, err := s.pool.Query(context.Background(), `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					out.Write(b)
				} else {
					fmt.Fprint(&out, v)
				}
				out.WriteByte(0)
			}
		}
		rows.Close()
	}
	return bytes.ToLower(out.Bytes())
}

func profilesOf(t *testing.T, s Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.Profiles(context.Background(), func(c string, body []byte) error {
		if body == nil {
			delete(out, c)
		} else {
			out[c] = string(body)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func update(t *testing.T, s Store, fn func(Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2027, 2, 16, 3, 0, 0, 0, time.UTC)

// Events are kept once per key, the first body winning, in one transaction or across; they
// are read back by customer oldest first, looked up by key, and moved between customers.
func TestStoreEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		s := open()
		defer s.Close()
		update(t, s, func(tx Tx) error {
			return errors.Join(
				tx.InsertEvent("k2", "c1", "purchase", t0.Add(time.Second), []byte(`{"n":2}`)),
				tx.InsertEvent("k1", "c1", "purchase", t0, []byte(`{"n":1}`)),
				tx.InsertEvent("k1", "c1", "purchase", t0, []byte(`{"n":"again"}`)),
				tx.InsertEvent("k3", "c2", "visit", t0, []byte{0, 1, 0xff}))
		})
		update(t, s, func(tx Tx) error { return tx.InsertEvent("k2", "c9", "purchase", t0, []byte(`{"n":"late"}`)) })
		var got []string
		if err := s.Events(ctx, []string{"c1", "c2"}, func(k string, b []byte) error {
			got = append(got, k+"="+string(b))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := []string{"k1={\"n\":1}", "k3=\x00\x01\xff", "k2={\"n\":2}"}; !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
		known, err := s.KnownEvents(ctx, []string{"k1", "k3", "nope"})
		if err != nil || len(known) != 2 || !known["k1"] || !known["k3"] {
			t.Errorf("known %v %v", known, err)
		}
		var keys []string
		s.EventKeys(ctx, func(k string) error { keys = append(keys, k); return nil })
		if slices.Sort(keys); !slices.Equal(keys, []string{"k1", "k2", "k3"}) {
			t.Errorf("keys %v", keys)
		}
		// Text PostgreSQL cannot hold as it is comes back as it was, and stays distinct.
		odd := []string{"n\x00", "n\uFFFE0", "n\uFFFE", "n\uFFFE\uFFFE\x00"}
		update(t, s, func(tx Tx) error {
			for i, k := range odd {
				tx.InsertEvent(k, "c\x00", "t\x00", t0.Add(time.Duration(i)*time.Second), []byte{0})
			}
			return tx.InsertEvent(odd[0], "c\x00", "t", t0, []byte{1})
		})
		got = nil
		s.Events(ctx, []string{"c\x00"}, func(k string, b []byte) error { got = append(got, k+string(b)); return nil })
		if want := []string{"n\x00\x00", "n\uFFFE0\x00", "n\uFFFE\x00", "n\uFFFE\uFFFE\x00\x00"}; !slices.Equal(got, want) {
			t.Errorf("odd keys %q, want %q", got, want)
		}
		if known, _ := s.KnownEvents(ctx, odd); len(known) != 4 {
			t.Errorf("odd keys known: %v", known)
		}
		update(t, s, func(tx Tx) error { return tx.MoveEvents([]string{"k1"}, "c2") })
		got = nil
		s.Events(ctx, []string{"c2"}, func(k string, _ []byte) error { got = append(got, k); return nil })
		if !slices.Equal(got, []string{"k1", "k3"}) {
			t.Errorf("after the move, c2 has %v", got)
		}
	})
}

// A customer's last profile counts, within a transaction and across them and a reopen; a
// deleted profile is gone, and put again is back.
func TestStoreProfiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		s := open()
		update(t, s, func(tx Tx) error {
			return errors.Join(tx.PutProfile("a", []byte("a1")), tx.PutProfile("b", []byte("b1")), tx.PutProfile("a", []byte("a2")),
				tx.PutProfile("c", []byte("c1")), tx.DeleteProfile("c"), tx.DeleteProfile("nobody"))
		})
		update(t, s, func(tx Tx) error {
			return errors.Join(tx.DeleteProfile("b"), tx.PutProfile("d", []byte{0, 1}), tx.DeleteProfile("a"), tx.PutProfile("a", []byte("a3")))
		})
		if err := s.Update(context.Background(), func(tx Tx) error { return tx.PutProfile("e", nil) }); err == nil {
			t.Error("an empty profile was taken")
		}
		want := map[string]string{"a": "a3", "d": "\x00\x01"}
		if got := profilesOf(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("profiles %q, want %q", got, want)
		}
		s.Close()
		s = open()
		defer s.Close()
		if got := profilesOf(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after a reopen, profiles %q, want %q", got, want)
		}
	})
}

// A transaction that fails leaves nothing behind, buffered rows included, and the next one
// commits.
func TestStoreFailedUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		s := open()
		defer s.Close()
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx Tx) error {
			tx.InsertEvent("a", "c", "t", t0, []byte("{}"))
			tx.PutProfile("c", []byte("p"))
			tx.EnqueueOutbox(&OutboxItem{Key: "o", Customer: "c", Status: StatusPending, NextAt: t0, CreatedAt: t0})
			tx.AppendIdentity([]byte(`{}`))
			tx.ScheduleStep(&Step{Key: "s", Customer: "c", Due: t0, CreatedAt: t0, Event: []byte("{}")})
			tx.UpdateOutbox(&OutboxItem{Key: "o", Status: StatusSent, NextAt: t0}) // writes the buffers
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		update(t, s, func(tx Tx) error { return tx.InsertEvent("b", "c", "t", t0, []byte("{}")) })
		known, _ := s.KnownEvents(ctx, []string{"a", "b"})
		items, _ := s.Outbox(ctx, "", 10)
		n, _ := s.CountSteps(ctx)
		var ids int
		s.Identity(ctx, func([]byte) error { ids++; return nil })
		if known["a"] || !known["b"] || len(items) != 0 || n != 0 || ids != 0 || len(profilesOf(t, s)) != 0 {
			t.Errorf("after a failed transaction: events %v, outbox %d, steps %d, identity %d, profiles %d", known, len(items), n, ids, len(profilesOf(t, s)))
		}
	})
}

// An outbox key is queued once (suppressed records aside); updates are seen by later
// statements of the same transaction and by readers; times keep their milliseconds.
func TestStoreOutbox(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		s := open()
		defer s.Close()
		at := t0.Add(123 * time.Millisecond)
		item := func(key, status string, next time.Time) *OutboxItem {
			return &OutboxItem{Key: key, Customer: "c1", Name: "trigger.welcome", Via: "line.oa", To: "U1", Subject: "s", Text: "こんにちは",
				Status: status, NextAt: next, CreatedAt: at}
		}
		update(t, s, func(tx Tx) error {
			return errors.Join(tx.EnqueueOutbox(item("k1", StatusPending, at.Add(time.Minute))), tx.EnqueueOutbox(item("k1", StatusPending, at)),
				tx.EnqueueOutbox(item("k2", StatusPending, at)), tx.EnqueueOutbox(item("x", StatusSuppressed, at)), tx.EnqueueOutbox(item("x", StatusSuppressed, at)))
		})
		update(t, s, func(tx Tx) error {
			if err := tx.EnqueueOutbox(item("k2", StatusPending, at)); err != nil {
				return err
			}
			sent := item("k2", StatusSent, at)
			sent.Attempts, sent.SentAt, sent.MessageID = 1, at.Add(time.Second), "m-1"
			return tx.UpdateOutbox(sent)
		})
		all, err := s.Outbox(ctx, "", 10)
		if err != nil || len(all) != 4 {
			t.Fatalf("outbox %+v %v", all, err)
		}
		if all[0].Key != "k1" || all[1].Key != "k2" || all[2].Key != "x" || all[3].Key != "x" || all[0].Seq >= all[1].Seq {
			t.Errorf("order %+v", all)
		}
		if k1 := all[0]; !k1.NextAt.Equal(at.Add(time.Minute)) || !k1.CreatedAt.Equal(at) || !k1.SentAt.IsZero() || k1.Text != "こんにちは" || k1.Via != "line.oa" {
			t.Errorf("k1 %+v", k1)
		}
		if k2 := all[1]; k2.Status != StatusSent || !k2.SentAt.Equal(at.Add(time.Second)) || k2.Attempts != 1 || k2.MessageID != "m-1" {
			t.Errorf("k2 %+v", k2)
		}
		if p, _ := s.Outbox(ctx, StatusPending, 10); len(p) != 1 || p[0].Key != "k1" {
			t.Errorf("pending %+v", p)
		}
		if d, _ := s.DueOutbox(ctx, at.Add(59*time.Second), 10); len(d) != 0 {
			t.Errorf("due early %+v", d)
		}
		if d, _ := s.DueOutbox(ctx, at.Add(time.Minute), 10); len(d) != 1 {
			t.Errorf("due %+v", d)
		}
	})
}

// Identity records come back in the order appended; a redaction rewrites those naming the
// identifiers; a forget erases a customer's rows and keeps the outbox's ledger nameless.
func TestStoreIdentityAndForget(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		s := open()
		defer s.Close()
		rec := func(i int, ids ...identity.ID) []byte {
			b, _ := identityRecordJSON(i, ids)
			return b
		}
		hanako := identity.ID{Type: "email", Value: "hanako@example.jp"}
		update(t, s, func(tx Tx) error {
			for i := range 300 {
				tx.AppendIdentity(rec(i, identity.ID{Type: "phone", Value: fmt.Sprint(i)}))
			}
			tx.AppendIdentity(rec(300, hanako, identity.ID{Type: "phone", Value: "1"}))
			tx.InsertEvent("e1", "hanako", "purchase", t0, []byte(`{"order":"ord-1"}`))
			tx.InsertEvent("e2", "taro", "purchase", t0, []byte(`{}`))
			tx.PutProfile("hanako", []byte("p"))
			tx.PutProfile("taro", []byte("p"))
			tx.EnqueueOutbox(&OutboxItem{Key: "o1", Customer: "hanako", To: "U1", Text: "hi", Status: StatusPending, NextAt: t0, CreatedAt: t0})
			tx.EnqueueOutbox(&OutboxItem{Key: "o2", Customer: "hanako", To: "U1", Text: "hi", Status: StatusSent, NextAt: t0, CreatedAt: t0, MessageID: "m"})
			tx.AssignCode("spring", 0, "hanako", "code-key", t0)
			tx.RecordRedemption("SPR-1", "ord-1", "spring", "hanako", t0)
			tx.ScheduleStep(&Step{Key: "s1", Customer: "hanako", Due: t0, CreatedAt: t0, Event: []byte("{}")})
			return nil
		})
		if err := s.PutAudienceMembers(ctx, "line.oa", "loyal", map[string]bool{"hanako": false, "taro": true}, nil); err != nil {
			t.Fatal(err)
		}
		var n int
		var order []string
		s.Identity(ctx, func(b []byte) error {
			if n < 3 || n == 300 {
				order = append(order, string(b))
			}
			n++
			return nil
		})
		if n != 301 || order[1] != string(rec(1, identity.ID{Type: "phone", Value: "1"})) {
			t.Fatalf("%d identity records: %q", n, order)
		}
		update(t, s, func(tx Tx) error {
			return errors.Join(tx.Forget([]string{"hanako"}), tx.RedactIdentity([]identity.ID{hanako}))
		})
		var all []byte
		s.Identity(ctx, func(b []byte) error { all = append(all, b...); return nil })
		if bytes.Contains(all, []byte("hanako@")) || !bytes.Contains(all, []byte(`"1"`)) {
			t.Errorf("identity after the redaction: %s", all[len(all)-200:])
		}
		var evs []string
		s.Events(ctx, []string{"hanako", "taro"}, func(k string, _ []byte) error { evs = append(evs, k); return nil })
		items, _ := s.Outbox(ctx, "", 10)
		owners := map[string]string{}
		s.CodeOwners(ctx, func(c string, i int, owner string, at time.Time) error {
			if !at.Equal(t0) {
				t.Errorf("code %s %d given at %s, want %s", c, i, at, t0)
			}
			owners[fmt.Sprint(c, i)] = owner
			return nil
		})
		var reds, members int
		s.Redemptions(ctx, func(string, string, string) error { reds++; return nil })
		s.AudienceMembers(ctx, func(_, _, c string, u bool) error {
			if c != "taro" || !u {
				t.Errorf("member %s %v", c, u)
			}
			members++
			return nil
		})
		steps, _ := s.CountSteps(ctx)
		issued, byKey, _ := s.CodesIssued(ctx)
		if !slices.Equal(evs, []string{"e2"}) || len(profilesOf(t, s)) != 1 || owners["spring0"] != "" || reds != 0 || members != 1 || steps != 0 ||
			issued["spring"] != 1 || byKey["code-key"] != 0 {
			t.Errorf("after the forget: events %v, profiles %v, owners %v, redemptions %d, members %d, steps %d, issued %v %v",
				evs, profilesOf(t, s), owners, reds, members, steps, issued, byKey)
		}
		if len(items) != 2 || items[0].Status != StatusSuppressed || items[0].Reason != "customer forgotten" || items[1].Status != StatusSent ||
			items[0].To != "" || items[1].Text != "" || items[1].Customer != "" || items[1].MessageID != "" {
			t.Errorf("outbox after the forget: %+v", items)
		}
	})
}

func identityRecordJSON(i int, ids []identity.ID) ([]byte, error) {
	return json.Marshal(identity.Record{Op: identity.OpResolve, Customer: fmt.Sprint("c", i), Attached: ids})
}

// Steps are found by due time after a cursor, by customer, and by whether they wait; they
// are cancelled, done, moved and counted.
func TestStoreSteps(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		s := open()
		defer s.Close()
		update(t, s, func(tx Tx) error {
			for i := range 5 {
				st := &Step{Key: fmt.Sprint("s", i), Customer: fmt.Sprint("c", i%2), Trigger: "t", Action: i, Type: "send",
					Due: t0.Add(time.Duration(i/2) * time.Minute), Waits: i == 3, CreatedAt: t0, EventKey: "e", EventType: "purchase", Event: []byte{'{', byte('0' + i), '}'}}
				if err := tx.ScheduleStep(st); err != nil {
					return err
				}
			}
			return nil
		})
		due, err := s.DueSteps(ctx, t0.Add(time.Minute), StepCursor{}, 10)
		if err != nil || len(due) != 4 {
			t.Fatalf("due %+v %v", due, err)
		}
		if due[0].Key != "s0" || due[1].Key != "s1" || due[2].Key != "s2" || due[3].Key != "s3" || !due[2].Due.Equal(t0.Add(time.Minute)) ||
			due[3].Action != 3 || !due[3].Waits || string(due[3].Event) != "{3}" {
			t.Errorf("due %+v", due)
		}
		if next, _ := s.DueSteps(ctx, t0.Add(time.Minute), due[1].Cursor(), 1); len(next) != 1 || next[0].Key != "s2" {
			t.Errorf("after the cursor %+v", next)
		}
		var waiting []string
		s.WaitingSteps(ctx, func(st Step) error { waiting = append(waiting, st.Key); return nil })
		if !slices.Equal(waiting, []string{"s3"}) {
			t.Errorf("waiting %v", waiting)
		}
		update(t, s, func(tx Tx) error {
			return errors.Join(tx.CancelSteps("c1", []string{"s3", "s0"}), tx.DoneSteps([]int64{due[0].Seq}), tx.MoveSteps("c0", "c1"))
		})
		got, _ := s.Steps(ctx, []string{"c0", "c1"})
		var keys []string
		for _, st := range got {
			keys = append(keys, st.Customer+":"+st.Key)
		}
		if n, _ := s.CountSteps(ctx); n != 3 || !slices.Equal(keys, []string{"c1:s1", "c1:s2", "c1:s4"}) {
			t.Errorf("%d steps: %v", n, keys)
		}
	})
}

// The rest of the store: bundles, the suppression key and digests, poll cursors, audience
// members, code assignments and redemptions, across a reopen.
func TestStoreSettings(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		s := open()
		if h, d, err := s.ActiveBundle(ctx); h != "" || d != nil || err != nil {
			t.Errorf("a new store's bundle: %q %v", h, err)
		}
		if err := errors.Join(s.PutBundle(ctx, "h1", []byte("one"), "test"), s.PutBundle(ctx, "h2", []byte("two"), "test"),
			s.PutBundle(ctx, "h1", []byte("one"), "test")); err != nil {
			t.Fatal(err)
		}
		key, hashes, err := s.Suppressions(ctx)
		if err != nil || len(key) != 16 || len(hashes) != 0 {
			t.Fatalf("suppressions %x %v %v", key, hashes, err)
		}
		update(t, s, func(tx Tx) error {
			return errors.Join(tx.Suppress([][]byte{{1}, {2}, {1}}), tx.Unsuppress([]byte{2}),
				tx.AssignCode("spring", 0, "c1", "k0", t0), tx.AssignCode("spring", 1, "c2", "k1", t0),
				tx.RecordRedemption("SPR-1", "o1", "spring", "c1", t0), tx.RecordRedemption("SPR-1", "o1", "spring", "c9", t0))
		})
		if c, _ := s.PollCursor(ctx, "smaregi.main"); c != "" {
			t.Errorf("cursor %q", c)
		}
		errs := errors.Join(s.PutPollCursor(ctx, "smaregi.main", "1"), s.PutPollCursor(ctx, "smaregi.main", "2"),
			s.PutAudienceMembers(ctx, "line.oa", "s", map[string]bool{"c1": false, "c2": false}, nil),
			s.PutAudienceMembers(ctx, "line.oa", "s", map[string]bool{"c2": true}, []string{"c1", "c3"}))
		if errs != nil {
			t.Fatal(errs)
		}
		s.Close()
		s = open()
		defer s.Close()
		if h, d, _ := s.ActiveBundle(ctx); h != "h1" || string(d) != "one" {
			t.Errorf("bundle %q %q", h, d)
		}
		if h, _ := s.(interface {
			ActiveHash(context.Context) (string, error)
		}).ActiveHash(ctx); h != "h1" {
			t.Errorf("active hash %q", h)
		}
		key2, hashes, _ := s.Suppressions(ctx)
		if !bytes.Equal(key, key2) || len(hashes) != 1 || hashes[0][0] != 1 {
			t.Errorf("suppressions after a reopen: %x %x", key2, hashes)
		}
		if c, _ := s.PollCursor(ctx, "smaregi.main"); c != "2" {
			t.Errorf("cursor %q", c)
		}
		var members []string
		s.AudienceMembers(ctx, func(p, seg, c string, u bool) error { members = append(members, fmt.Sprint(p, seg, c, u)); return nil })
		if !slices.Equal(members, []string{"line.oasc2true"}) {
			t.Errorf("members %v", members)
		}
		issued, byKey, _ := s.CodesIssued(ctx)
		var reds []string
		s.Redemptions(ctx, func(code, order, c string) error { reds = append(reds, code+order+c); return nil })
		if issued["spring"] != 2 || byKey["k1"] != 1 || !slices.Equal(reds, []string{"SPR-1o1c1"}) {
			t.Errorf("codes %v %v, redemptions %v", issued, byKey, reds)
		}
		if err := s.PutBundle(ctx, "", nil, ""); err != nil {
			t.Fatal(err)
		}
		if h, d, _ := s.ActiveBundle(ctx); h != "" || d != nil {
			t.Errorf("after removing, bundle %q", h)
		}
	})
}

// An event whose ID, identifiers and fields hold NUL characters (PostgreSQL's text cannot) is
// stored, its message queued, and the same event again is a duplicate; the engine goes on.
func TestNULInAnEvent(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	events := `[{"id": "pos-n\u0000ul", "type": "purchase", "source": "pos", "channel": "pos", "store_id": "shi\u0000buya",
		"record": {"phone_number": "090-1234-5678", "member_code": "M-1\u00001"}, "data": {"order_id": "T-\u00001", "total": 3200, "currency": "JPY"}},
		{"id": "line-\u0000", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U4af\u00004980629b1c2d3e4f5a6b7c8d9e0f1", "phone": "090-1234-5678"}}]`
	res := f.ingest(events)
	if len(res) != 2 || res[1].Customer != res[0].Customer || len(res[1].Fired) != 1 {
		t.Fatalf("results %+v", res)
	}
	f.restart()
	for _, r := range f.ingest(events) {
		if !r.Duplicate {
			t.Errorf("again: %+v", r)
		}
	}
	if items, _ := f.store.Outbox(context.Background(), "", 10); len(items) != 1 {
		t.Errorf("outbox %+v", items)
	}
	if err := f.eng.Broken(); err != nil {
		t.Fatal(err)
	}
}

// A restart rebuilds the same customers from the store: identifiers, merges, traits,
// segments, held actions, with events and several group commits between.
func TestRestartRebuildsTheSameCustomers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	var batch []string
	for i := range 120 {
		phone := fmt.Sprintf("090-7000-%04d", i%60)
		batch = append(batch, fmt.Sprintf(`{"id": "pos-%d", "type": "purchase", "source": "pos", "channel": "pos", "store_id": "shibuya",
			"record": {"phone_number": %q, "member_code": "M-%d"}, "data": {"order_id": "T-%d", "total": %d, "currency": "JPY"}}`, i, phone, i%60, i, 1000+i))
		if i%3 == 0 {
			batch = append(batch, fmt.Sprintf(`{"id": "line-%d", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U%032d", "phone": %q}}`, i, i, phone))
		}
		if len(batch) >= 25 {
			f.ingest("[" + strings.Join(batch, ",") + "]")
			batch = nil
		}
	}
	f.ingest("[" + strings.Join(batch, ",") + "]")
	view := func() string {
		t.Helper()
		var out []string
		for i := range 60 {
			c, err := f.eng.Customer(ctx, fmt.Sprintf("phone:090-7000-%04d", i))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(c)
			out = append(out, string(b))
		}
		return fmt.Sprint(f.eng.Graph().Len(), out)
	}
	before := view()
	f.restart()
	if after := view(); after != before {
		t.Errorf("after a restart:\n%s\nbefore:\n%s", after, before)
	}
}

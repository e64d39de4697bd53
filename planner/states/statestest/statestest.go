// Package statestest is the behaviour every state backend shares, as one suite of tests run
// against each: the lock excludes, waits and names its holder; writes refuse an older serial
// and another lineage; the journal of an apply that did not finish is replayed by the next
// Read, from another handle (another machine); force-unlock frees a lock.
package statestest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// Harness opens a backend under test.
type Harness struct {
	// Open returns a handle on one shared, initially empty state; every call stands for
	// another machine (or process) using the same state.
	Open func(t *testing.T) states.Backend
	// Abandon, if set, makes a lock's holder vanish without unlocking, as a killed process
	// does.
	Abandon func(t *testing.T, u states.Unlocker)
}

// Run runs the suite. newHarness is called once per test, for a fresh, empty state.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		{"EmptyState", testEmpty},
		{"WriteRead", testWriteRead},
		{"SerialAndLineageChecks", testSerialChecks},
		{"StaleCopy", testStaleCopy},
		{"LockExcludes", testLockExcludes},
		{"LockWaits", testLockWaits},
		{"LockTimesOut", testLockTimesOut},
		{"DeadHolderReleases", testDeadHolder},
		{"JournalReplay", testJournalReplay},
		{"JournalWithoutState", testJournalWithoutState},
		{"ForceUnlock", testForceUnlock},
		{"ForceUnlockUnlocked", testForceUnlockUnlocked},
		{"Push", testPush},
		{"MigrateFromLocal", testMigrate},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

var (
	couponAt = addrs.MustParseInstance("campaign.spring.coupon[sandbox.ec]")
	poolAt   = addrs.MustParseInstance("campaign.spring.code_pool[sandbox.ec]")
	msgAt    = addrs.MustParseInstance("trigger.nudge.message[sandbox.line]")
)

// Sample returns a state of serial 1 with a coupon and its code pool.
func Sample() *states.State {
	s := states.New("test")
	s.Serial = 1
	s.Put(&states.Resource{Address: couponAt, Kind: providers.KindCoupon, Provider: couponAt.Provider, ID: "cpn_1",
		Attributes: providers.Attrs{"percent": int64(10)}})
	s.Put(&states.Resource{Address: poolAt, Kind: providers.KindCodePool, Provider: poolAt.Provider, ID: "pool_1",
		Attributes: providers.Attrs{"count": int64(500)}, Dependencies: []addrs.Instance{couponAt}})
	return s
}

func ids(s *states.State) string {
	var out []string
	for _, r := range s.Resources() {
		out = append(out, r.Address.String()+"="+r.ID)
	}
	return strings.Join(out, " ")
}

func lock(t *testing.T, b states.Backend, op string, timeout time.Duration) (states.Unlocker, states.LockInfo) {
	t.Helper()
	info := states.NewLockInfo(op, "test")
	u, err := b.Lock(context.Background(), info, timeout)
	if err != nil {
		t.Fatalf("lock for %s: %v", op, err)
	}
	return u, info
}

func read(t *testing.T, b states.Backend) *states.State {
	t.Helper()
	s, err := b.Read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return s
}

func testEmpty(t *testing.T, h Harness) {
	s := read(t, h.Open(t))
	if s.Serial != 0 || s.Len() != 0 || s.Recovered || s.Lineage == "" {
		t.Fatalf("empty state: serial %d, %d resources, recovered %v, lineage %q", s.Serial, s.Len(), s.Recovered, s.Lineage)
	}
}

func testWriteRead(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := h.Open(t), h.Open(t)
	s := Sample()
	if err := a.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := read(t, b)
	if got.Serial != 1 || got.Lineage != s.Lineage || ids(got) != ids(s) || got.Recovered {
		t.Fatalf("read back serial %d lineage %s [%s], want 1 %s [%s]", got.Serial, got.Lineage, ids(got), s.Lineage, ids(s))
	}
	if p := got.Find(couponAt).Attributes["percent"]; fmt.Sprint(p) != "10" {
		t.Fatalf("percent read back as %#v", p)
	}
	if deps := got.Find(poolAt).Dependencies; len(deps) != 1 || deps[0] != couponAt {
		t.Fatalf("dependencies read back as %v", deps)
	}
}

func testSerialChecks(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Open(t)
	s := Sample()
	if err := b.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	var conflict *states.ConflictError
	same := s.Clone()
	if err := b.Write(ctx, same); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "older copy") {
		t.Fatalf("a second write of serial 1: %v, want a ConflictError", err)
	}
	older := s.Clone()
	older.Serial = 0
	if err := b.Write(ctx, older); !errors.As(err, &conflict) || conflict.Stored.Serial != 1 || conflict.Writing.Serial != 0 {
		t.Fatalf("a write of serial 0 over 1: %v, want a ConflictError", err)
	}
	other := Sample()
	other.Serial = 9
	if err := b.Write(ctx, other); !errors.As(err, &conflict) || !strings.Contains(err.Error(), "another state") || !strings.Contains(err.Error(), s.Lineage) {
		t.Fatalf("a write of another lineage: %v, want a ConflictError naming the stored lineage", err)
	}
	next := s.Clone()
	next.Advance("test")
	if err := b.Write(ctx, next); err != nil {
		t.Fatalf("a write of the next serial: %v", err)
	}
	if err := b.Overwrite(ctx, other); err != nil {
		t.Fatalf("overwriting with another lineage: %v", err)
	}
	if got := read(t, h.Open(t)); got.Lineage != other.Lineage || got.Serial != 9 {
		t.Fatalf("after overwrite: lineage %s serial %d, want %s 9", got.Lineage, got.Serial, other.Lineage)
	}
}

// Two machines read the same serial; the second to write is refused, not allowed to undo
// the first one's changes.
func testStaleCopy(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := h.Open(t), h.Open(t)
	if err := a.Write(ctx, Sample()); err != nil {
		t.Fatal(err)
	}
	sa, sb := read(t, a), read(t, b)
	sa.Remove(poolAt)
	if err := states.Save(ctx, a, sa, "test"); err != nil {
		t.Fatal(err)
	}
	sb.Remove(couponAt)
	var conflict *states.ConflictError
	if err := states.Save(ctx, b, sb, "test"); !errors.As(err, &conflict) || conflict.Stored.Serial != 2 {
		t.Fatalf("a write from a stale copy: %v, want a ConflictError at serial 2", err)
	}
	if got := read(t, b); got.Find(couponAt) == nil || got.Find(poolAt) != nil {
		t.Fatalf("state after the refused write: %s", ids(got))
	}
}

func testLockExcludes(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := h.Open(t), h.Open(t)
	first, info := lock(t, a, "apply", 0)
	_, err := b.Lock(ctx, states.NewLockInfo("plan", "test"), 0)
	var le *states.LockError
	if !errors.As(err, &le) {
		t.Fatalf("a second lock: %v, want a LockError", err)
	}
	if le.Info.ID != info.ID || le.Info.Operation != "apply" || le.Info.PID != info.PID || le.Info.Host != info.Host ||
		!strings.Contains(err.Error(), "musubi force-unlock "+info.ID) {
		t.Fatalf("the lock error does not name its holder: %v", err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	second, _ := lock(t, b, "plan", 0)
	if err := second.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func testLockWaits(t *testing.T, h Harness) {
	a, b := h.Open(t), h.Open(t)
	first, _ := lock(t, a, "apply", 0)
	var wg sync.WaitGroup
	wg.Add(1)
	var released time.Time
	go func() {
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		released = time.Now()
		first.Unlock()
	}()
	second, _ := lock(t, b, "plan", 10*time.Second)
	got := time.Now()
	wg.Wait()
	if got.Before(released) {
		t.Fatal("took the lock before its holder released it")
	}
	if late := got.Sub(released); late > 2*time.Second {
		t.Fatalf("took the lock %s after its release", late)
	}
	second.Unlock()
}

func testLockTimesOut(t *testing.T, h Harness) {
	a, b := h.Open(t), h.Open(t)
	first, _ := lock(t, a, "apply", 0)
	defer first.Unlock()
	start := time.Now()
	_, err := b.Lock(context.Background(), states.NewLockInfo("plan", "test"), 300*time.Millisecond)
	var le *states.LockError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "waited") {
		t.Fatalf("lock after waiting: %v, want a LockError saying it waited", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the 300ms timeout", waited)
	}
}

func testDeadHolder(t *testing.T, h Harness) {
	if h.Abandon == nil {
		t.Skip("the harness cannot make a holder vanish")
	}
	a, b := h.Open(t), h.Open(t)
	first, _ := lock(t, a, "apply", 0)
	h.Abandon(t, first)
	second, _ := lock(t, b, "plan", 5*time.Second)
	second.Unlock()
}

// An apply on one machine records steps and dies before writing the state; the next Read,
// on another machine, replays them, and the next write clears them.
func testJournalReplay(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := h.Open(t), h.Open(t)
	if err := a.Write(ctx, Sample()); err != nil {
		t.Fatal(err)
	}
	k, _ := lock(t, a, "apply", 0)
	base := read(t, a)
	j, err := a.Journal(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	changed := base.Find(couponAt).Clone()
	changed.Attributes["percent"] = int64(15)
	msg := &states.Resource{Address: msgAt, Kind: providers.KindMessage, Provider: msgAt.Provider,
		Pending: &states.Pending{IdempotencyKey: "key-1", Since: time.Now().UTC().Truncate(time.Second)}}
	for _, err := range []error{j.Put(changed), j.Remove(poolAt), j.Put(msg)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	msg = msg.Clone()
	msg.ID, msg.Pending = "msg_1", nil
	if err := j.Put(msg); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	k.Unlock() // the process dies: its lock goes, its journal stays

	k2, _ := lock(t, b, "plan", 0)
	got := read(t, b)
	if !got.Recovered || got.Serial != 1 || got.Find(poolAt) != nil || fmt.Sprint(got.Find(couponAt).Attributes["percent"]) != "15" ||
		got.Find(msgAt) == nil || got.Find(msgAt).ID != "msg_1" || got.Find(msgAt).Pending != nil {
		t.Fatalf("replayed state: recovered %v serial %d [%s]", got.Recovered, got.Serial, ids(got))
	}
	if again := read(t, b); ids(again) != ids(got) {
		t.Fatalf("a second read replays differently: [%s], then [%s]", ids(got), ids(again))
	}
	if err := states.Save(ctx, b, got, "test"); err != nil {
		t.Fatal(err)
	}
	k2.Unlock()
	after := read(t, a)
	if after.Recovered || after.Serial != 2 || ids(after) != ids(got) {
		t.Fatalf("after the write: recovered %v serial %d [%s]", after.Recovered, after.Serial, ids(after))
	}
}

// An apply that dies before the first state was written leaves a journal on nothing; it
// still recovers, with the lineage the apply began.
func testJournalWithoutState(t *testing.T, h Harness) {
	ctx := context.Background()
	a := h.Open(t)
	base := read(t, a)
	j, err := a.Journal(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Put(Sample().Find(couponAt)); err != nil {
		t.Fatal(err)
	}
	j.Close()
	got := read(t, h.Open(t))
	if !got.Recovered || got.Lineage != base.Lineage || got.Find(couponAt) == nil {
		t.Fatalf("recovered: %v lineage %s (want %s) [%s]", got.Recovered, got.Lineage, base.Lineage, ids(got))
	}
}

func testForceUnlock(t *testing.T, h Harness) {
	ctx := context.Background()
	a, b := h.Open(t), h.Open(t)
	hung, info := lock(t, a, "apply", 0)
	if _, err := b.ForceUnlock(ctx, "not-the-id", states.UnlockOptions{Force: true}); err == nil || !strings.Contains(err.Error(), info.ID) {
		t.Fatalf("force-unlock with the wrong ID: %v, want an error naming %s", err, info.ID)
	}
	// The holder is this very process, so it is running on this machine.
	var hre *states.HolderRunningError
	if _, err := b.ForceUnlock(ctx, info.ID, states.UnlockOptions{}); !errors.As(err, &hre) {
		t.Fatalf("force-unlock of a running holder: %v, want a HolderRunningError", err)
	}
	if _, err := b.ForceUnlock(ctx, info.ID, states.UnlockOptions{Force: true, Confirm: func(states.LockInfo) bool { return false }}); !errors.Is(err, states.ErrNotConfirmed) {
		t.Fatalf("force-unlock not confirmed: %v", err)
	}
	running, err := b.ForceUnlock(ctx, info.ID, states.UnlockOptions{Force: true})
	if err != nil {
		t.Fatalf("force-unlock -force: %v", err)
	}
	if running == nil || running.Info.ID != info.ID {
		t.Fatalf("force-unlock did not report the running holder: %+v", running)
	}
	next, _ := lock(t, b, "apply", 5*time.Second)
	// The hung holder wakes up and unlocks: that must not free the new holder's lock.
	hung.Unlock()
	if _, err := h.Open(t).Lock(ctx, states.NewLockInfo("plan", "test"), 0); err == nil {
		t.Fatal("the old holder's unlock freed the new holder's lock")
	}
	next.Unlock()
}

func testForceUnlockUnlocked(t *testing.T, h Harness) {
	ctx := context.Background()
	a := h.Open(t)
	k, info := lock(t, a, "apply", 0)
	k.Unlock()
	if _, err := a.ForceUnlock(ctx, info.ID, states.UnlockOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Fatalf("force-unlock of a free lock: %v, want \"not locked\"", err)
	}
}

// state push: the next serial of the same state goes in; an older copy, another lineage, or
// over the steps of an interrupted apply only with force.
func testPush(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Open(t)
	if err := b.Write(ctx, Sample()); err != nil {
		t.Fatal(err)
	}
	pulled := read(t, b)
	edited := pulled.Clone()
	edited.Remove(poolAt)
	if err := states.Push(ctx, b, read(t, b), edited, "test", false); err != nil {
		t.Fatalf("pushing an edited pull: %v", err)
	}
	if got := read(t, b); got.Serial != 2 || got.Find(poolAt) != nil {
		t.Fatalf("after the push: serial %d [%s]", got.Serial, ids(got))
	}
	var conflict *states.ConflictError
	if err := states.Push(ctx, b, read(t, b), pulled.Clone(), "test", false); !errors.As(err, &conflict) {
		t.Fatalf("pushing an older copy: %v, want a ConflictError", err)
	}
	other := Sample()
	if err := states.Push(ctx, b, read(t, b), other, "test", false); !errors.As(err, &conflict) {
		t.Fatalf("pushing another lineage: %v, want a ConflictError", err)
	}
	j, err := b.Journal(ctx, read(t, b))
	if err != nil {
		t.Fatal(err)
	}
	j.Put(pulled.Find(poolAt))
	j.Close()
	if err := states.Push(ctx, b, read(t, b), read(t, b), "test", false); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("pushing over a journal: %v", err)
	}
	other = Sample()
	if err := states.Push(ctx, b, read(t, b), other, "test", true); err != nil {
		t.Fatalf("push -force: %v", err)
	}
	if got := read(t, b); got.Lineage != other.Lineage || got.Serial != 3 || got.Recovered {
		t.Fatalf("after push -force: lineage %s serial %d recovered %v", got.Lineage, got.Serial, got.Recovered)
	}
}

// A local state file moves into the backend, keeping its lineage and serial, once.
func testMigrate(t *testing.T, h Harness) {
	ctx := context.Background()
	from := states.NewLocal(t.TempDir() + "/musubi.state.json")
	s := Sample()
	s.Serial = 7
	if err := from.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	to := h.Open(t)
	info := states.NewLockInfo("init -migrate-state", "test")
	m, err := states.Migrate(ctx, from, to, info, 0, "test")
	if err != nil || m.Already || m.Serial != 7 || m.Resources != 2 {
		t.Fatalf("migrate: %+v, %v", m, err)
	}
	if got := read(t, h.Open(t)); got.Lineage != s.Lineage || got.Serial != 7 || ids(got) != ids(s) {
		t.Fatalf("migrated: lineage %s serial %d [%s]", got.Lineage, got.Serial, ids(got))
	}
	if m, err := states.Migrate(ctx, from, to, info, 0, "test"); err != nil || !m.Already {
		t.Fatalf("migrating again: %+v, %v", m, err)
	}
	otherFrom := states.NewLocal(t.TempDir() + "/musubi.state.json")
	if err := otherFrom.Write(ctx, Sample()); err != nil {
		t.Fatal(err)
	}
	if _, err := states.Migrate(ctx, otherFrom, to, info, 0, "test"); err == nil || !strings.Contains(err.Error(), "already holds a state") {
		t.Fatalf("migrating another state over it: %v", err)
	}
	if _, err := states.Migrate(ctx, states.NewLocal(t.TempDir()+"/none.json"), h.Open(t), info, 0, "test"); err == nil || !strings.Contains(err.Error(), "no state to migrate") {
		t.Fatalf("migrating nothing: %v", err)
	}
}

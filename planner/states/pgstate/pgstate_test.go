package pgstate

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/planner/states/statestest"
	"github.com/musubi-hq/musubi/providers/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, dsn, name string) *Backend {
	t.Helper()
	b, err := New(Config{ConnString: dsn, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Every test of the suite has a state of its own name in one database.
func TestConformance(t *testing.T) {
	dsn := pgtest.DSN(t)
	statestest.Run(t, func(t *testing.T) statestest.Harness {
		return statestest.Harness{
			Open: func(t *testing.T) states.Backend { return open(t, dsn, t.Name()) },
			Abandon: func(t *testing.T, u states.Unlocker) {
				u.(*pgLock).conn.PgConn().Conn().Close() // the connection drops, as with a killed process
			},
		}
	})
}

// A holder whose lock force-unlock took (its session ended) writes nothing more: neither a
// journal step nor the state, which the new holder may be changing.
func TestLostLockRefusesWrites(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, "production"), open(t, dsn, "production")
	if err := a.Write(ctx, statestest.Sample()); err != nil {
		t.Fatal(err)
	}
	info := states.NewLockInfo("apply", "test")
	if _, err := a.Lock(ctx, info, 0); err != nil {
		t.Fatal(err)
	}
	base, err := a.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	j, err := a.Journal(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ForceUnlock(ctx, info.ID, states.UnlockOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	var lost *LostLockError
	if err := j.Remove(base.Resources()[0].Address); !errors.As(err, &lost) {
		t.Fatalf("a journal step after losing the lock: %v, want a LostLockError", err)
	}
	next := base.Clone()
	next.Advance("test")
	if err := a.Write(ctx, next); !errors.As(err, &lost) || !strings.Contains(err.Error(), info.ID) {
		t.Fatalf("a write after losing the lock: %v, want a LostLockError", err)
	}
	if got, _ := b.Read(ctx); got.Serial != 1 || got.Len() != 2 {
		t.Fatalf("state after the refused writes: serial %d, %d resources", got.Serial, got.Len())
	}
}

// States of other names (environments) in one database have their own locks and serials.
func TestNamesAreSeparate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	prod, staging := open(t, dsn, "production"), open(t, dsn, "staging")
	k, err := prod.Lock(ctx, states.NewLockInfo("apply", "test"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Unlock()
	k2, err := staging.Lock(ctx, states.NewLockInfo("apply", "test"), 0)
	if err != nil {
		t.Fatalf("staging is locked by production's lock: %v", err)
	}
	k2.Unlock()
	if err := prod.Write(ctx, statestest.Sample()); err != nil {
		t.Fatal(err)
	}
	if s, _ := staging.Read(ctx); s.Len() != 0 {
		t.Fatalf("staging reads production's state")
	}
	// The same name in another schema is another state too.
	other, err := New(Config{ConnString: dsn, Schema: "musubi_other", Name: "production"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if s, err := other.Read(ctx); err != nil || s.Len() != 0 {
		t.Fatalf("another schema: %v, %d resources", err, s.Len())
	}
	if _, err := other.Lock(ctx, states.NewLockInfo("apply", "test"), 0); err != nil {
		t.Fatalf("another schema's state is locked: %v", err)
	}
}

// The connection string holds a password: no message shows it.
func TestConnStringStaysSecret(t *testing.T) {
	const secret = "s3cr3t-pass"
	for _, dsn := range []string{
		"postgres://musubi:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 password=" + secret + " connect_timeout=2 sslmode=disable",
		"postgres://musubi:" + secret + "@[::1/db",
	} {
		b, err := New(Config{ConnString: dsn, Name: "production"})
		if err == nil {
			if strings.Contains(b.Describe(), secret) {
				t.Errorf("Describe shows the password: %s", b.Describe())
			}
			_, err = b.Read(context.Background())
			b.Close()
		}
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("error %v shows the password, or there is no error", err)
		}
	}
}

// A lock held elsewhere waits for its holder; the wait gives up at the timeout, naming it.
func TestLockErrorNamesTheHolder(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn, "production"), open(t, dsn, "production")
	info := states.NewLockInfo("apply", "1.2.3")
	k, err := a.Lock(ctx, info, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Unlock()
	_, err = b.Lock(ctx, states.NewLockInfo("plan", "1.2.3"), 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), `pg state "production"`) || !strings.Contains(err.Error(), "(apply, pid") {
		t.Fatalf("lock error: %v", err)
	}
}

// Several musubis meeting a new database at once create its tables once.
func TestFirstUseAtOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			b, err := New(Config{ConnString: dsn, Name: "production"})
			if err == nil {
				_, err = b.Read(context.Background())
				b.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkJournalPut is one journal step of an apply holding the lock: a row committed.
func BenchmarkJournalPut(b *testing.B) {
	ctx := context.Background()
	be, err := New(Config{ConnString: pgtest.DSN(b), Name: "production"})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	k, err := be.Lock(ctx, states.NewLockInfo("apply", "bench"), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer k.Unlock()
	s := statestest.Sample()
	j, err := be.Journal(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	r := s.Resources()[0]
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := j.Put(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

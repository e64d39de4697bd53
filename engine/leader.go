package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Several musubi serve may run on one PostgreSQL store, on as many machines: one leads (it
// runs the engine: ingest, delivery, held actions, polls), the others stand by, ready to
// take over. Leading takes three things, each guarding against a failure the others miss:
//
//   - a session advisory lock, held by a connection of its own: a leader whose process dies
//     loses its session, and with it the lock, at once;
//   - a heartbeat, written through that connection: a leader that is alive but answers no
//     more (paused, cut off) stops renewing it, and after the lease a standby ends the old
//     leader's sessions (by their application_name), which frees the lock;
//   - an epoch, incremented by each new leader and checked by every write transaction of
//     the leader under a share lock of the leader row (see PGStore.Update): whatever an old
//     leader still tries to write once another took over fails with ErrFenced, and the old
//     leader stops, so two engines never write the same store.

// leaderLock is the advisory lock key of a store's leader (in the store's database).
const leaderLock int64 = 0x6d7573756269 // "musubi"

// DefaultLease is how long a leader may go without renewing its heartbeat before a standby
// ends its sessions and takes over.
const DefaultLease = 5 * time.Second

// standbyPoll is how often a standby tries the leader lock.
const standbyPoll = 250 * time.Millisecond

// Leader is this process's lead of a store, from Lead until Lost or Release.
type Leader struct {
	s     *PGStore
	conn  *pgx.Conn
	Epoch int64
	lease time.Duration
	log   *slog.Logger

	lost     chan struct{}
	lostOnce sync.Once
	err      atomic.Pointer[error]
	stop     chan struct{}
	done     chan struct{}
	release  sync.Once
	stopOnce sync.Once
}

// LeaderInfo is who leads a store, as the leader row says.
type LeaderInfo struct {
	Address string
	Epoch   int64
	// Age is how long ago the leader last renewed its heartbeat.
	Age time.Duration
}

// LeaderInfo reads the leader row.
func (s *PGStore) LeaderInfo(ctx context.Context) (LeaderInfo, error) {
	var li LeaderInfo
	var age int64
	err := s.pool.QueryRow(ctx, `SELECT address, epoch, `+nowMillis+` - at FROM leader, leader_heartbeat`).Scan(&li.Address, &li.Epoch, &age)
	li.Age = time.Duration(age) * time.Millisecond
	return li, err
}

// nowMillis is the database server's clock in Unix milliseconds: heartbeats are written and
// judged by the one clock.
const nowMillis = `(extract(epoch from clock_timestamp()) * 1000)::bigint`

// Lead waits until this process leads the store, then returns its lead: the lock is taken,
// the epoch incremented and recorded as the one the store writes under. address is what
// standbys tell clients of the leader; seen, when not nil, is told each leader address
// seen while waiting. lease is the heartbeat's (DefaultLease when 0).
func (s *PGStore) Lead(ctx context.Context, address string, lease time.Duration, log *slog.Logger, seen func(LeaderInfo)) (*Leader, error) {
	if lease <= 0 {
		lease = DefaultLease
	}
	if log == nil {
		log = slog.Default()
	}
	s.epoch.Store(-1) // no writes until this process leads
	conn, err := pgx.ConnectConfig(ctx, s.cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("engine store %s: %w", s.DSN(), err)
	}
	fail := func(err error) (*Leader, error) {
		conn.Close(context.Background())
		return nil, err
	}
	waited := false
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaderLock).Scan(&got); err != nil {
			return fail(fmt.Errorf("engine store %s: taking the leader lock: %w", s.DSN(), err))
		}
		if got {
			break
		}
		var li LeaderInfo
		var app string
		var age int64
		if err := conn.QueryRow(ctx, `SELECT address, epoch, app, `+nowMillis+` - at FROM leader, leader_heartbeat`).Scan(&li.Address, &li.Epoch, &app, &age); err != nil {
			return fail(fmt.Errorf("engine store %s: reading the leader: %w", s.DSN(), err))
		}
		li.Age = time.Duration(age) * time.Millisecond
		if seen != nil {
			seen(li)
		}
		if !waited {
			log.Info("another musubi serve leads the store; standing by", "leader", li.Address, "epoch", li.Epoch)
			waited = true
		}
		if li.Age > lease && app != "" {
			log.Warn("the leader has not renewed its lease; ending its sessions to take over", "leader", li.Address, "epoch", li.Epoch,
				"silent_for", li.Age.Round(time.Millisecond))
			if err := s.endSessions(ctx, conn, app); err != nil {
				log.Warn("ending the old leader's sessions failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(standbyPoll):
		}
	}
	// The old leader may be in a write transaction, which holds the leader row: the increment
	// waits for it to end. One that does not end within the lease is a leader that stopped
	// answering in the middle of it: its sessions are ended.
	var epoch int64
	for {
		var app string
		conn.QueryRow(ctx, `SELECT app FROM leader WHERE id = 1`).Scan(&app)
		uctx, cancel := context.WithTimeout(ctx, lease)
		err := conn.QueryRow(uctx, `UPDATE leader SET epoch = epoch + 1, address = $1, app = $2 WHERE id = 1 RETURNING epoch`,
			address, s.app).Scan(&epoch)
		cancel()
		if err == nil {
			_, err = conn.Exec(ctx, `UPDATE leader_heartbeat SET at = `+nowMillis)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil || conn.IsClosed() {
			return fail(fmt.Errorf("engine store %s: taking the lead: %w", s.DSN(), err))
		}
		if err := s.endSessions(ctx, conn, app); err != nil {
			return fail(err)
		}
	}
	s.epoch.Store(epoch)
	l := &Leader{s: s, conn: conn, Epoch: epoch, lease: lease, log: log, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.heartbeat()
	log.Info("took the lead of the store; opening the engine from it", "epoch", epoch)
	return l, nil
}

// endSessions ends the sessions of another musubi serve (by application_name).
func (s *PGStore) endSessions(ctx context.Context, conn *pgx.Conn, app string) error {
	if app == "" || app == s.app {
		return nil
	}
	_, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, app)
	return err
}

// heartbeat renews the lease a fifth of it at a time; a renewal that fails, or finds the epoch
// moved on, loses the lead.
func (l *Leader) heartbeat() {
	defer close(l.done)
	t := time.NewTicker(l.lease / 5)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.lease/2)
		tag, err := l.conn.Exec(ctx, `UPDATE leader_heartbeat SET at = `+nowMillis+` WHERE (SELECT epoch FROM leader) = $1`, l.Epoch)
		cancel()
		if err == nil && tag.RowsAffected() == 0 {
			err = ErrFenced
		}
		if err != nil {
			l.lose(fmt.Errorf("renewing the lead: %w", err))
			return
		}
	}
}

func (l *Leader) lose(err error) {
	l.lostOnce.Do(func() {
		l.s.epoch.CompareAndSwap(l.Epoch, -1) // write nothing more
		l.err.Store(&err)
		l.log.Error("this musubi serve lost the lead of the store; stepping down", "epoch", l.Epoch, "err", err)
		close(l.lost)
	})
}

// Lost is closed when the lead is lost: the store refuses this process's writes from then on.
func (l *Leader) Lost() <-chan struct{} { return l.lost }

// Err says why the lead was lost.
func (l *Leader) Err() error {
	if e := l.err.Load(); e != nil {
		return *e
	}
	return nil
}

// stopHeartbeat stops renewing the lease.
func (l *Leader) stopHeartbeat() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Release gives up the lead: the store writes nothing more for this process, the lock is
// unlocked and the connection closed, so a standby takes over at once.
func (l *Leader) Release() {
	l.release.Do(func() {
		l.stopHeartbeat()
		l.s.epoch.CompareAndSwap(l.Epoch, -1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, leaderLock)
		l.conn.Close(ctx)
	})
}

// IsFenced says whether err is a write refused because another musubi serve leads now.
func IsFenced(err error) bool { return errors.Is(err, ErrFenced) }

// PostgresLeader returns the address of the musubi serve leading the store at dsn, for the
// commands that talk to it; an error when none leads.
func PostgresLeader(ctx context.Context, dsn string) (string, error) {
	s, err := OpenPG(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer s.Close()
	li, err := s.LeaderInfo(ctx)
	switch {
	case err != nil:
		return "", fmt.Errorf("engine store %s: reading the leader: %w", s.DSN(), err)
	case li.Address == "":
		return "", fmt.Errorf("no musubi serve has led the engine store %s yet: start one with --store", s.DSN())
	case li.Age > DefaultLease:
		return "", fmt.Errorf("no musubi serve leads the engine store %s: the last, at %s, has been silent for %s", s.DSN(), li.Address, li.Age.Round(time.Second))
	}
	return li.Address, nil
}

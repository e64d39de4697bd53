// Package pgstate keeps Musubi's state in PostgreSQL, so that a team, or CI runners on several
// machines, share one state: `backend "pg" { conn_str = env("MUSUBI_PG") }`.
//
// Each state has a name (one per environment), so staging and production can share a
// database. In the configured schema ("musubi" unless set):
//
//   - states holds each state document with its lineage and serial. A write is a transaction
//     that refuses another lineage or a serial not above the stored one.
//   - journal holds the steps of a running apply, one row each, written as they happen; the
//     next Read, on any machine, replays the steps of an apply that was killed.
//   - locks says who holds each state's lock. The lock itself is a session advisory lock held
//     on a connection of its own for as long as the lock lasts, so the server frees it when
//     its holder dies or loses its connection.
//
// The tables are created on first use by versioned migrations (migrations/*.sql, run with
// goose, which records them in the state_migrations table of the schema).
package pgstate

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DefaultSchema and DefaultName are used when the backend block does not say.
const (
	DefaultSchema = "musubi"
	DefaultName   = "default"
)

// Config chooses a database, a schema in it, and a state.
type Config struct {
	// ConnString is a PostgreSQL connection string (URL or key=value). It may hold a password:
	// it is never printed, and errors name only the host and database.
	ConnString string
	// Schema holds the tables; it is created if missing.
	Schema string
	// Name names the state, so several (one per environment) share the tables.
	Name string
}

// Backend is the PostgreSQL state backend. It opens its connections on first use; Close
// closes them.
type Backend struct {
	cfg     Config
	pgcfg   *pgx.ConnConfig
	where   string
	lockKey int64 // the advisory lock of the state lock
	saveKey int64 // the advisory lock a write transaction takes, for writers without the lock

	mu     sync.Mutex
	pool   *pgxpool.Pool
	ready  bool
	holder *pgLock // the lock this backend holds, checked before writing
}

var _ states.Backend = (*Backend)(nil)

// New checks the configuration and returns the backend, without connecting.
func New(cfg Config) (*Backend, error) {
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.ConnString == "" {
		return nil, errors.New("the pg backend needs conn_str, a PostgreSQL connection string, e.g. conn_str = env(\"MUSUBI_PG\")")
	}
	pc, err := pgx.ParseConfig(cfg.ConnString)
	if err != nil {
		// The parser's message may quote the string, and the string may hold a password.
		return nil, errors.New("the pg backend's conn_str is not a PostgreSQL connection string (postgres://USER@HOST/DB or host=… dbname=…)")
	}
	pc.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	if pc.RuntimeParams["application_name"] == "" {
		pc.RuntimeParams["application_name"] = "musubi"
	}
	b := &Backend{cfg: cfg, pgcfg: pc,
		where:   fmt.Sprintf("pg state %q (schema %s, database %s on %s)", cfg.Name, cfg.Schema, pc.Database, pc.Host),
		lockKey: key("lock", cfg.Schema, cfg.Name), saveKey: key("write", cfg.Schema, cfg.Name)}
	return b, nil
}

// key is an advisory lock key for a purpose, a schema and a state name.
func key(purpose, schema, name string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "musubi state %s\x00%s\x00%s", purpose, schema, name)
	return int64(h.Sum64())
}

// Describe implements states.Backend.
func (b *Backend) Describe() string { return b.where }

// Close closes the backend's connections; a lock still held is released.
func (b *Backend) Close() error {
	b.mu.Lock()
	h := b.holder
	b.mu.Unlock()
	if h != nil {
		h.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pool != nil {
		b.pool.Close()
		b.pool = nil
		b.ready = false
	}
	return nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID keeps two musubis from migrating the same database at once.
const migrationLockID = 0x6d7573756269 // "musubi"

// open returns the pool, creating the schema and its tables on first use.
func (b *Backend) open(ctx context.Context) (*pgxpool.Pool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ready {
		return b.pool, nil
	}
	if b.pool == nil {
		pcfg, err := pgxpool.ParseConfig("")
		if err != nil {
			return nil, err
		}
		pcfg.ConnConfig = b.pgcfg.Copy()
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, b.fail("connecting", err)
		}
		b.pool = pool
	}
	if err := b.migrate(ctx); err != nil {
		return nil, err
	}
	b.ready = true
	return b.pool, nil
}

// migrate creates the schema if it is missing and brings its tables to the newest version.
func (b *Backend) migrate(ctx context.Context) error {
	var exists bool
	if err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, b.cfg.Schema).Scan(&exists); err != nil {
		return b.fail("connecting", err)
	}
	if !exists {
		if _, err := b.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{b.cfg.Schema}.Sanitize()); err != nil {
			return b.fail("creating schema "+b.cfg.Schema, err)
		}
	}
	db := stdlib.OpenDB(*b.pgcfg.Copy())
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 120))
	if err != nil {
		return err
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName("state_migrations"), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return b.fail("creating the state tables", err)
	}
	return nil
}

// fail wraps an error of the database with what was being done and where.
func (b *Backend) fail(doing string, err error) error {
	return fmt.Errorf("%s (%s): %w", doing, b.where, err)
}

// Read implements states.Backend: the state and the steps of an apply that did not finish,
// read in one snapshot.
func (b *Backend) Read(ctx context.Context) (*states.State, error) {
	pool, err := b.open(ctx)
	if err != nil {
		return nil, err
	}
	var s *states.State
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var doc []byte
		err := tx.QueryRow(ctx, `SELECT state FROM states WHERE name = $1`, b.cfg.Name).Scan(&doc)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			if s, err = states.Decode(doc); err != nil {
				return fmt.Errorf("the %s: %w", b.where, err)
			}
		}
		rows, err := tx.Query(ctx, `SELECT seq, step FROM journal WHERE name = $1 ORDER BY seq`, b.cfg.Name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var raw []byte
			if err := rows.Scan(&seq, &raw); err != nil {
				return err
			}
			var step states.Step
			if err := json.Unmarshal(raw, &step); err != nil {
				return fmt.Errorf("journal step %d of the %s: %w", seq, b.where, err)
			}
			if err := states.Replay(&s, step, "the journal of the "+b.where); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, b.fail("reading the state", err)
	}
	if s == nil {
		s = states.New("")
	}
	return s, nil
}

// Write implements states.Backend.
func (b *Backend) Write(ctx context.Context, s *states.State) error { return b.write(ctx, s, true) }

// Overwrite implements states.Backend.
func (b *Backend) Overwrite(ctx context.Context, s *states.State) error {
	return b.write(ctx, s, false)
}

// write replaces the state and clears the journal in one transaction. A writer holding the
// lock checks that it still does: a holder whose lock was taken from it (force-unlock ended
// its session) must not write over whoever has the lock now.
func (b *Backend) write(ctx context.Context, s *states.State, check bool) error {
	doc, err := states.Encode(s)
	if err != nil {
		return err
	}
	pool, err := b.open(ctx)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, b.saveKey); err != nil {
			return err
		}
		if err := b.checkHeld(ctx, tx); err != nil {
			return err
		}
		if check {
			var h states.Head
			err := tx.QueryRow(ctx, `SELECT serial, lineage FROM states WHERE name = $1`, b.cfg.Name).Scan(&h.Serial, &h.Lineage)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return err
			default:
				if err := states.CheckWrite(b.where, &h, s); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO states (name, lineage, serial, state, updated_at) VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (name) DO UPDATE SET lineage = excluded.lineage, serial = excluded.serial, state = excluded.state, updated_at = now()`,
			b.cfg.Name, s.Lineage, int64(s.Serial), string(doc)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM journal WHERE name = $1`, b.cfg.Name)
		return err
	})
	var conflict *states.ConflictError
	var lost *LostLockError
	if errors.As(err, &conflict) || errors.As(err, &lost) {
		return err
	}
	if err != nil {
		return b.fail("writing the state", err)
	}
	return nil
}

// LostLockError refuses a write by a holder whose lock is gone: its session was ended
// (musubi force-unlock) or its connection dropped, and someone else may hold the lock now.
type LostLockError struct {
	Backend string
	ID      string
}

func (e *LostLockError) Error() string {
	return fmt.Sprintf("the lock %s of the %s was lost (its connection ended: force-unlocked, or the network dropped it): refusing to write, since another musubi may hold the lock now; the steps so far are in the journal, and the next command recovers them", e.ID, e.Backend)
}

// querier runs a query on a connection, a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// held is the condition that the server process of parameter pid holds the advisory lock
// whose key's halves are parameters hi and lo.
func held(pid, hi, lo string) string {
	return `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ` + pid + `
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND classid = ` + hi + `::bigint::oid AND objid = ` + lo + `::bigint::oid AND objsubid = 1)`
}

// checkHeld returns a *LostLockError when this backend took the lock and no longer holds it.
func (b *Backend) checkHeld(ctx context.Context, q querier) error {
	b.mu.Lock()
	h := b.holder
	b.mu.Unlock()
	if h == nil {
		return nil // -lock=false
	}
	hi, lo := split(b.lockKey)
	var ok bool
	if err := q.QueryRow(ctx, `SELECT `+held("$1", "$2", "$3"), h.pid, hi, lo).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return &LostLockError{Backend: b.where, ID: h.id}
	}
	return nil
}

// split gives the two halves of an advisory lock key as pg_locks shows them.
func split(k int64) (hi, lo int64) { return int64(uint64(k) >> 32), int64(uint64(k) & 0xffffffff) }

// Lock implements states.Backend. The lock is a session advisory lock on a connection of its
// own, kept until Unlock; its holder's LockInfo goes in the locks table.
func (b *Backend) Lock(ctx context.Context, info states.LockInfo, timeout time.Duration) (states.Unlocker, error) {
	if _, err := b.open(ctx); err != nil {
		return nil, err
	}
	cc := b.pgcfg.Copy()
	cc.RuntimeParams["application_name"] = "musubi state lock: " + info.Operation
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, b.fail("connecting", err)
	}
	infoJSON, _ := json.Marshal(info)
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, b.lockKey).Scan(&ok); err != nil {
			conn.Close(context.Background())
			return nil, b.fail("locking the state", err)
		}
		if ok {
			_, err := conn.Exec(ctx, `INSERT INTO locks (name, id, info, backend_pid, created_at) VALUES ($1, $2, $3, pg_backend_pid(), now())
				ON CONFLICT (name) DO UPDATE SET id = excluded.id, info = excluded.info, backend_pid = excluded.backend_pid, created_at = now()`,
				b.cfg.Name, info.ID, string(infoJSON))
			if err != nil {
				conn.Close(context.Background())
				return nil, b.fail("recording the lock", err)
			}
			k := &pgLock{b: b, conn: conn, id: info.ID, pid: int32(conn.PgConn().PID())}
			b.mu.Lock()
			b.holder = k
			b.mu.Unlock()
			return k, nil
		}
		waited := time.Since(start)
		if waited >= timeout {
			_, held, err := b.lockHolder(ctx, conn)
			conn.Close(context.Background())
			if err != nil {
				return nil, b.fail("reading who holds the lock", err)
			}
			if held == nil {
				return nil, fmt.Errorf("the %s is locked by a musubi that has not said who it is yet", b.where)
			}
			return nil, &states.LockError{Info: *held, Waited: waited, Backend: b.where}
		}
		select {
		case <-ctx.Done():
			conn.Close(context.Background())
			return nil, ctx.Err()
		case <-time.After(min(delay, timeout-waited)):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// lockHolder returns the server process holding the state lock (0 when none does) and what
// the locks table says of it, when the row is that holder's own and not a dead one's.
func (b *Backend) lockHolder(ctx context.Context, q querier) (int32, *states.LockInfo, error) {
	hi, lo := split(b.lockKey)
	var pid *int32
	var raw []byte
	err := q.QueryRow(ctx, `SELECT l.pid, k.info FROM pg_locks l LEFT JOIN locks k ON k.name = $3 AND k.backend_pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1`, hi, lo, b.cfg.Name).Scan(&pid, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if raw == nil {
		return *pid, nil, nil
	}
	var info states.LockInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return 0, nil, err
	}
	return *pid, &info, nil
}

type pgLock struct {
	b    *Backend
	conn *pgx.Conn
	id   string
	pid  int32
	once sync.Once
	err  error
}

// Unlock releases the advisory lock and removes the holder's row, then closes the lock's
// connection. Were the connection gone already, the server has freed the lock with it.
func (k *pgLock) Unlock() error {
	k.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := k.conn.Exec(ctx, `DELETE FROM locks WHERE name = $1 AND id = $2`, k.b.cfg.Name, k.id); err == nil {
			_, k.err = k.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, k.b.lockKey)
		}
		k.conn.Close(ctx)
		k.b.mu.Lock()
		if k.b.holder == k {
			k.b.holder = nil
		}
		k.b.mu.Unlock()
	})
	return k.err
}

// ForceUnlock implements states.Backend. An advisory lock belongs to the server session that
// took it and cannot be taken from it while the session lives: force-unlock ends the holder's
// session (pg_terminate_backend), which the database allows a superuser, a member of
// pg_signal_backend, or the same role. The holder, if it is still running, then finds its
// lock gone and writes nothing more.
func (b *Backend) ForceUnlock(ctx context.Context, id string, opts states.UnlockOptions) (*states.LiveHolder, error) {
	pool, err := b.open(ctx)
	if err != nil {
		return nil, err
	}
	pid, info, err := b.lockHolder(ctx, pool)
	if err != nil {
		return nil, b.fail("reading who holds the lock", err)
	}
	if pid == 0 {
		// A dead holder's row, if any, says nothing true any more.
		pool.Exec(ctx, `DELETE FROM locks WHERE name = $1`, b.cfg.Name)
		return nil, fmt.Errorf("the %s is not locked", b.where)
	}
	if info == nil {
		return nil, fmt.Errorf("the %s is locked by server process %d, which has not said who it is; if it hangs, a database administrator can end it with: SELECT pg_terminate_backend(%d)", b.where, pid, pid)
	}
	if info.ID != id {
		return nil, fmt.Errorf("the lock's ID is %s, not %s", info.ID, id)
	}
	running := info.Running()
	if running != nil && !opts.Force {
		return nil, &states.HolderRunningError{Holder: running, Backend: b.where}
	}
	if opts.Confirm != nil && !opts.Confirm(*info) {
		return nil, states.ErrNotConfirmed
	}
	var ended bool
	if err := pool.QueryRow(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&ended); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42501" {
			return nil, fmt.Errorf("the lock is held by server process %d, and this database user may not end it (%s). A database administrator can, with: SELECT pg_terminate_backend(%d)", pid, pe.Message, pid)
		}
		return nil, b.fail("ending the lock holder's session", err)
	}
	if !ended {
		return nil, fmt.Errorf("server process %d, which holds the lock, did not end within 5s; try again", pid)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM locks WHERE name = $1 AND id = $2`, b.cfg.Name, id); err != nil {
		return running, b.fail("removing the lock's record", err)
	}
	return running, nil
}

// Journal implements states.Backend: a row per step, committed before the call returns, so
// the step survives this process and this machine.
func (b *Backend) Journal(ctx context.Context, base *states.State) (states.Journal, error) {
	pool, err := b.open(ctx)
	if err != nil {
		return nil, err
	}
	j := &journal{b: b, pool: pool}
	if err := j.write(states.Step{Lineage: base.Lineage}); err != nil {
		return nil, err
	}
	return j, nil
}

type journal struct {
	b      *Backend
	pool   *pgxpool.Pool
	mu     sync.Mutex
	closed bool
}

func (j *journal) Put(r *states.Resource) error { return j.write(states.Step{Put: r}) }

func (j *journal) Remove(addr addrs.Instance) error { return j.write(states.Step{Remove: addr}) }

func (j *journal) Close() error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	return nil
}

// write inserts a step, if this backend still holds the lock it took.
func (j *journal) write(step states.Step) error {
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return errors.New("journal is closed")
	}
	raw, err := json.Marshal(step)
	if err != nil {
		return err
	}
	ctx := context.Background()
	b := j.b
	b.mu.Lock()
	h := b.holder
	b.mu.Unlock()
	var tag pgconn.CommandTag
	if h == nil {
		tag, err = j.pool.Exec(ctx, `INSERT INTO journal (name, step) VALUES ($1, $2)`, b.cfg.Name, string(raw))
	} else {
		hi, lo := split(b.lockKey)
		tag, err = j.pool.Exec(ctx, `INSERT INTO journal (name, step) SELECT $1, $2 WHERE `+held("$3", "$4", "$5"),
			b.cfg.Name, string(raw), h.pid, hi, lo)
	}
	if err != nil {
		return b.fail("writing the journal", err)
	}
	if tag.RowsAffected() == 0 {
		return &LostLockError{Backend: b.where, ID: h.id}
	}
	return nil
}

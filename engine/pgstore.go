package engine

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/providers"
)

// pgMigrations are the PostgreSQL store's schema, applied in order by goose at open.
//
//go:embed pgmigrations/*.sql
var pgMigrations embed.FS

// IsPostgres says whether a store setting (--store, an engine provider's path) names a
// PostgreSQL database (postgres://… or postgresql://…) rather than a SQLite file.
func IsPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// OpenStore opens the store a setting names: a PostgreSQL database or a SQLite file.
func OpenStore(ctx context.Context, store string) (Store, error) {
	if IsPostgres(store) {
		return OpenPG(ctx, store)
	}
	return OpenSQLite(store)
}

// RedactDSN is a PostgreSQL URL without its password, for messages and logs.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

// PGStore is the engine store on PostgreSQL: the same tables as the SQLite store, written
// the same way (one transaction per group commit, the hot inserts buffered and written a
// few statements a commit), so several machines can share it: one musubi serve leads and
// writes, the others wait to take over (see leader.go).
type PGStore struct {
	pool *pgxpool.Pool
	cfg  *pgxpool.Config
	dsn  string
	// app is the application_name of this store's sessions, which a standby taking over
	// from a leader that stopped answering ends (see Lead).
	app string
	// wmu keeps one write transaction at a time, as the SQLite store does.
	wmu sync.Mutex
	// epoch, when not 0, is the leader epoch this store writes under: every transaction
	// checks the database still says so (fencing).
	epoch atomic.Int64
}

// ErrFenced is returned by the writes of a leader another musubi serve took over from: what
// it holds in memory may no longer be what the store says, so it stops.
var ErrFenced = errors.New("another musubi serve leads this store now")

// OpenPG connects to the database and brings its schema up to date.
func OpenPG(ctx context.Context, dsn string) (*PGStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("engine store %s: %w", RedactDSN(dsn), err)
	}
	var id [6]byte
	rand.Read(id[:])
	app := "musubi-" + hex.EncodeToString(id[:])
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	// Times are Unix milliseconds, never the server's time zone; keep sessions in UTC anyway.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.MaxConns = max(cfg.MaxConns, 8)
	s := &PGStore{cfg: cfg, dsn: dsn, app: app}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("engine store %s: %w", RedactDSN(dsn), err)
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("engine store %s: %w", RedactDSN(dsn), err)
	}
	return s, nil
}

// migrate applies the schema's migrations not yet applied, under goose's session lock, so
// servers starting together migrate once.
func (s *PGStore) migrate(ctx context.Context) error {
	db := stdlib.OpenDB(*s.cfg.ConnConfig.Copy())
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	migrations, err := fs.Sub(pgMigrations, "pgmigrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker),
		goose.WithTableName("musubi_engine_schema"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	return nil
}

// DSN is the database's URL without its password.
func (s *PGStore) DSN() string { return RedactDSN(s.dsn) }

// Close closes the connections.
func (s *PGStore) Close() error {
	s.pool.Close()
	return nil
}

// Update runs fn in one transaction (read committed: only the leader writes, one
// transaction at a time). A leader's transaction first checks, under a share lock on the
// leader row, that the epoch is still its own: a standby taking over increments it, waiting
// for that lock, so no write of the old leader commits after the new one started.
func (s *PGStore) Update(ctx context.Context, fn func(Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("engine store %s: %w", s.DSN(), err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	switch mine := s.epoch.Load(); mine {
	case 0: // not run by a leader (tests, musubi apply)
	case -1:
		return ErrFenced
	default:
		var cur int64
		if err := tx.QueryRow(ctx, `SELECT epoch FROM leader WHERE id = 1 FOR SHARE`).Scan(&cur); err != nil {
			return fmt.Errorf("engine store %s: checking the leader epoch: %w", s.DSN(), err)
		}
		if cur != mine {
			return fmt.Errorf("%w (epoch %d, this server's %d)", ErrFenced, cur, mine)
		}
	}
	t := &pgTx{ctx: ctx, tx: tx}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.flush(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("engine store %s: %w", s.DSN(), err)
	}
	return nil
}

// exec runs one statement in its own transaction.
func (s *PGStore) exec(ctx context.Context, q string, args ...any) error {
	return s.Update(ctx, func(t Tx) error { return t.(*pgTx).exec(q, args...) })
}

// ActiveBundle returns the active bundle.
func (s *PGStore) ActiveBundle(ctx context.Context) (string, []byte, error) {
	var hash string
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT b.hash, b.bundle FROM meta m JOIN bundles b ON b.hash = m.value WHERE m.key = 'active_bundle'`).Scan(&hash, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	return hash, data, err
}

// ActiveHash reports the active bundle's hash, for the server that watches for pushes.
func (s *PGStore) ActiveHash(ctx context.Context) (string, error) {
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'active_bundle'`).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return hash, err
}

// PutBundle stores and activates a bundle; an empty hash deactivates the current one.
func (s *PGStore) PutBundle(ctx context.Context, hash string, data []byte, by string) error {
	return s.Update(ctx, func(t Tx) error {
		tx := t.(*pgTx)
		if hash == "" {
			return tx.exec(`DELETE FROM meta WHERE key = 'active_bundle'`)
		}
		if err := tx.exec(`INSERT INTO bundles (hash, bundle, pushed_at, pushed_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (hash) DO UPDATE SET bundle = excluded.bundle, pushed_at = excluded.pushed_at, pushed_by = excluded.pushed_by`,
			hash, data, time.Now().UTC().Format(time.RFC3339Nano), by); err != nil {
			return err
		}
		return tx.exec(`INSERT INTO meta (key, value) VALUES ('active_bundle', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, hash)
	})
}

// scanAll calls fn for each row of a query.
func (s *PGStore) scanAll(ctx context.Context, q string, args []any, dest []any, fn func() error) error {
	rows, err := s.pool.Query(ctx, q, pgText(args)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for _, d := range dest {
			if p, ok := d.(*string); ok {
				*p = fromPGText(*p)
			}
		}
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Identity streams the identity records in order.
func (s *PGStore) Identity(ctx context.Context, fn func([]byte) error) error {
	var rec []byte
	return s.scanAll(ctx, `SELECT record FROM identity_log ORDER BY seq`, nil, []any{&rec}, func() error { return fn(rec) })
}

// Profiles streams the profiles, each customer once.
func (s *PGStore) Profiles(ctx context.Context, fn func(string, []byte) error) error {
	var c string
	var b []byte
	return s.scanAll(ctx, `SELECT customer, body FROM profiles`, nil, []any{&c, &b}, func() error { return fn(c, b) })
}

// Events streams the customers' events, oldest first.
func (s *PGStore) Events(ctx context.Context, customers []string, fn func(string, []byte) error) error {
	if len(customers) == 0 {
		return nil
	}
	var k string
	var b []byte
	return s.scanAll(ctx, `SELECT key, body FROM events WHERE customer = ANY($1) ORDER BY at, key`, []any{customers},
		[]any{&k, &b}, func() error { return fn(k, b) })
}

func (s *PGStore) outbox(ctx context.Context, q string, args ...any) ([]OutboxItem, error) {
	var out []OutboxItem
	var it OutboxItem
	var next, created, sent int64
	err := s.scanAll(ctx, `SELECT `+outboxColumns+` FROM outbox `+q, args, []any{&it.Seq, &it.Key, &it.Customer, &it.Name, &it.Via, &it.To,
		&it.Subject, &it.Text, &it.Status, &it.Reason, &it.Attempts, &next, &created, &sent, &it.MessageID, &it.LastError}, func() error {
		it.NextAt, it.CreatedAt, it.SentAt = fromMillis(next), fromMillis(created), time.Time{}
		if sent != 0 {
			it.SentAt = fromMillis(sent)
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

// Outbox lists items by status.
func (s *PGStore) Outbox(ctx context.Context, status string, limit int) ([]OutboxItem, error) {
	return s.outbox(ctx, `WHERE $1 = '' OR status = $1 ORDER BY seq LIMIT $2`, status, limit)
}

// DueOutbox lists the pending items due at now.
func (s *PGStore) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	return s.outbox(ctx, `WHERE status = 'pending' AND next_at <= $1 ORDER BY next_at, seq LIMIT $2`, now.UnixMilli(), limit)
}

// EventKeys streams the event log's keys.
func (s *PGStore) EventKeys(ctx context.Context, fn func(string) error) error {
	var k string
	return s.scanAll(ctx, `SELECT key FROM events`, nil, []any{&k}, func() error { return fn(k) })
}

// KnownEvents looks the keys up in the event log.
func (s *PGStore) KnownEvents(ctx context.Context, keys []string) (map[string]bool, error) {
	known := map[string]bool{}
	if len(keys) == 0 {
		return known, nil
	}
	var k string
	err := s.scanAll(ctx, `SELECT key FROM events WHERE key = ANY($1)`, []any{keys}, []any{&k}, func() error {
		known[k] = true
		return nil
	})
	return known, err
}

// CodesIssued reads the code assignments.
func (s *PGStore) CodesIssued(ctx context.Context) (map[string]int, map[string]int, error) {
	issued, byKey := map[string]int{}, map[string]int{}
	var c, k string
	var idx int
	err := s.scanAll(ctx, `SELECT campaign, idx, key FROM codes`, nil, []any{&c, &idx, &k}, func() error {
		issued[c] = max(issued[c], idx+1)
		byKey[k] = idx
		return nil
	})
	return issued, byKey, err
}

// CodeOwners reads who each code number was given to.
func (s *PGStore) CodeOwners(ctx context.Context, fn func(campaign string, idx int, customer string, at time.Time) error) error {
	var c, owner string
	var idx int
	var at int64
	return s.scanAll(ctx, `SELECT campaign, idx, customer, at FROM codes`, nil, []any{&c, &idx, &owner, &at}, func() error { return fn(c, idx, owner, fromMillis(at)) })
}

// Redemptions reads the codes redeemed, by order.
func (s *PGStore) Redemptions(ctx context.Context, fn func(code, orderID, customer string) error) error {
	var code, order, c string
	return s.scanAll(ctx, `SELECT code, order_id, customer FROM redemptions`, nil, []any{&code, &order, &c}, func() error { return fn(code, order, c) })
}

// Suppressions returns the suppression key, made the first time, and the digests.
func (s *PGStore) Suppressions(ctx context.Context) ([]byte, [][]byte, error) {
	var k string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'suppression_key'`).Scan(&k)
	if errors.Is(err, pgx.ErrNoRows) {
		// Made by the first engine to open the store (a leader: the write is fenced); a
		// standby's read-only copy finds it there.
		if err := s.exec(ctx, `INSERT INTO meta (key, value) VALUES ('suppression_key', $1) ON CONFLICT (key) DO NOTHING`, providers.NewKey()); err != nil {
			return nil, nil, err
		}
		err = s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'suppression_key'`).Scan(&k)
	}
	if err != nil {
		return nil, nil, err
	}
	key, err := hex.DecodeString(k)
	if err != nil {
		return nil, nil, fmt.Errorf("the suppression key: %w", err)
	}
	var hashes [][]byte
	var h []byte
	err = s.scanAll(ctx, `SELECT hash FROM suppressions`, nil, []any{&h}, func() error {
		hashes = append(hashes, h)
		return nil
	})
	return key, hashes, err
}

// PollCursor returns a provider's stored poll cursor, "" when it has none.
func (s *PGStore) PollCursor(ctx context.Context, provider string) (string, error) {
	var cursor string
	err := s.pool.QueryRow(ctx, `SELECT cursor FROM poll_cursors WHERE provider = $1`, pgText([]any{provider})...).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return fromPGText(cursor), err
}

// PutPollCursor stores a provider's poll cursor.
func (s *PGStore) PutPollCursor(ctx context.Context, provider, cursor string) error {
	return s.exec(ctx, `INSERT INTO poll_cursors (provider, cursor, at) VALUES ($1, $2, $3)
		ON CONFLICT (provider) DO UPDATE SET cursor = excluded.cursor, at = excluded.at`, provider, cursor, time.Now().UnixMilli())
}

// AudienceMembers implements Store.
func (s *PGStore) AudienceMembers(ctx context.Context, fn func(provider, segment, customer string, unmatched bool) error) error {
	var p, seg, c string
	var u bool
	return s.scanAll(ctx, `SELECT provider, segment, customer, unmatched FROM audience_members`, nil, []any{&p, &seg, &c, &u},
		func() error { return fn(p, seg, c, u) })
}

// PutAudienceMembers implements Store.
func (s *PGStore) PutAudienceMembers(ctx context.Context, provider, segment string, in map[string]bool, out []string) error {
	customers := make([]string, 0, len(in))
	unmatched := make([]bool, 0, len(in))
	for c, u := range in {
		customers = append(customers, c)
		unmatched = append(unmatched, u)
	}
	return s.Update(ctx, func(t Tx) error {
		tx := t.(*pgTx)
		if len(customers) > 0 {
			if err := tx.exec(`INSERT INTO audience_members (provider, segment, customer, unmatched)
				SELECT $1, $2, c, u FROM unnest($3::text[], $4::boolean[]) AS m (c, u)
				ON CONFLICT (provider, segment, customer) DO UPDATE SET unmatched = excluded.unmatched`,
				provider, segment, customers, unmatched); err != nil {
				return err
			}
		}
		if len(out) == 0 {
			return nil
		}
		return tx.exec(`DELETE FROM audience_members WHERE provider = $1 AND segment = $2 AND customer = ANY($3)`, provider, segment, out)
	})
}

// DueSteps lists the steps due at now, after the given one (zero: from the first).
func (s *PGStore) DueSteps(ctx context.Context, now time.Time, after StepCursor, limit int) ([]Step, error) {
	return s.steps(ctx, `WHERE (due, seq) > ($1, $2) AND due <= $3 ORDER BY due, seq LIMIT $4`, after.Due, after.Seq, now.UnixMilli(), limit)
}

// Steps lists the customers' pending steps.
func (s *PGStore) Steps(ctx context.Context, customers []string) ([]Step, error) {
	var out []Step
	for _, c := range customers {
		got, err := s.steps(ctx, `WHERE customer = $1 ORDER BY due, seq`, c)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func (s *PGStore) steps(ctx context.Context, q string, args ...any) ([]Step, error) {
	var out []Step
	err := s.scanSteps(ctx, q, args, func(st Step) error {
		out = append(out, st)
		return nil
	})
	return out, err
}

func (s *PGStore) scanSteps(ctx context.Context, q string, args []any, fn func(Step) error) error {
	var st Step
	var due, created int64
	return s.scanAll(ctx, stepSelect+q, args, []any{&st.Key, &st.Customer, &st.Trigger, &st.Action, &st.Type, &due, &st.Waits,
		&created, &st.EventKey, &st.EventType, &st.Event, &st.Seq}, func() error {
		s := st
		s.Due, s.CreatedAt = fromMillis(due), fromMillis(created)
		s.Event = slices.Clone(st.Event)
		return fn(s)
	})
}

// WaitingSteps streams the steps a later event may cancel.
func (s *PGStore) WaitingSteps(ctx context.Context, fn func(Step) error) error {
	return s.scanSteps(ctx, `WHERE waits ORDER BY seq`, nil, fn)
}

// CountSteps counts the pending steps.
func (s *PGStore) CountSteps(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM steps`).Scan(&n)
	return n, err
}

// pgTx is one write transaction. Events, profiles and outbox items are buffered and written
// a statement per table (arrays unnested), before anything else of the transaction reads or
// changes the tables and at the commit: a statement per row was most of a commit's time.
type pgTx struct {
	ctx      context.Context
	tx       pgx.Tx
	events   []eventRow
	profiles []profileRow
	outbox   []OutboxItem
	identity [][]byte
}

func (t *pgTx) exec(q string, args ...any) error {
	_, err := t.tx.Exec(t.ctx, q, pgText(args)...)
	return err
}

// do flushes the buffers and runs a statement.
func (t *pgTx) do(q string, args ...any) (pgconn.CommandTag, error) {
	if err := t.flush(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.tx.Exec(t.ctx, q, pgText(args)...)
}

func (t *pgTx) run(q string, args ...any) error {
	_, err := t.do(q, args...)
	return err
}

func (t *pgTx) flush() error {
	for _, f := range []func() error{t.flushIdentity, t.flushEvents, t.flushProfiles, t.flushOutbox} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) InsertEvent(key, customer, typ string, at time.Time, body []byte) error {
	t.events = append(t.events, eventRow{key, customer, typ, at.UnixMilli(), body})
	return nil
}

func (t *pgTx) flushEvents() error {
	if len(t.events) == 0 {
		return nil
	}
	n := len(t.events)
	keys, customers, types := make([]string, n), make([]string, n), make([]string, n)
	ats, bodies := make([]int64, n), make([][]byte, n)
	for i, r := range t.events {
		keys[i], customers[i], types[i], ats[i], bodies[i] = r.key, r.customer, r.typ, r.at, r.body
	}
	t.events = t.events[:0]
	return t.exec(`INSERT INTO events (key, customer, type, at, body)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[]) ON CONFLICT (key) DO NOTHING`,
		keys, customers, types, ats, bodies)
}

func (t *pgTx) AppendIdentity(rec []byte) error {
	t.identity = append(t.identity, rec)
	return nil
}

func (t *pgTx) flushIdentity() error {
	if len(t.identity) == 0 {
		return nil
	}
	recs := t.identity
	t.identity = nil
	// In order: seq numbers are taken as the sorted rows are inserted.
	return t.exec(`INSERT INTO identity_log (record) SELECT r FROM unnest($1::bytea[]) WITH ORDINALITY AS l (r, n) ORDER BY n`, recs)
}

func (t *pgTx) PutProfile(customer string, body []byte) error {
	if len(body) == 0 {
		return errors.New("an empty profile")
	}
	t.profiles = append(t.profiles, profileRow{customer, body})
	return nil
}

func (t *pgTx) DeleteProfile(customer string) error {
	t.profiles = append(t.profiles, profileRow{customer, nil})
	return nil
}

// flushProfiles writes each customer's last profile of the buffer, or deletes it.
func (t *pgTx) flushProfiles() error {
	if len(t.profiles) == 0 {
		return nil
	}
	last := make(map[string]int, len(t.profiles))
	for i, r := range t.profiles {
		last[r.customer] = i
	}
	var put, gone []string
	var bodies [][]byte
	for i, r := range t.profiles {
		switch {
		case last[r.customer] != i:
		case len(r.body) == 0:
			gone = append(gone, r.customer)
		default:
			put = append(put, r.customer)
			bodies = append(bodies, r.body)
		}
	}
	t.profiles = t.profiles[:0]
	if len(gone) > 0 {
		if err := t.exec(`DELETE FROM profiles WHERE customer = ANY($1)`, gone); err != nil {
			return err
		}
	}
	if len(put) == 0 {
		return nil
	}
	return t.exec(`INSERT INTO profiles (customer, body) SELECT * FROM unnest($1::text[], $2::bytea[])
		ON CONFLICT (customer) DO UPDATE SET body = excluded.body`, put, bodies)
}

func (t *pgTx) EnqueueOutbox(it *OutboxItem) error {
	t.outbox = append(t.outbox, *it)
	return nil
}

func (t *pgTx) flushOutbox() error {
	if len(t.outbox) == 0 {
		return nil
	}
	n := len(t.outbox)
	cols := make([][]string, 11)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	attempts := make([]int64, n)
	times := [3][]int64{make([]int64, n), make([]int64, n), make([]int64, n)}
	for i, it := range t.outbox {
		for c, v := range []string{it.Key, it.Customer, it.Name, it.Via, it.To, it.Subject, it.Text, it.Status, it.Reason, it.MessageID, it.LastError} {
			cols[c][i] = v
		}
		attempts[i] = int64(it.Attempts)
		times[0][i], times[1][i], times[2][i] = it.NextAt.UnixMilli(), it.CreatedAt.UnixMilli(), millisOrZero(it.SentAt)
	}
	t.outbox = t.outbox[:0]
	return t.exec(`INSERT INTO outbox (key, customer, name, via, to_addr, subject, text, status, reason, message_id, last_error, attempts, next_at, created_at, sent_at)
		SELECT k, c, nm, v, t, s, x, st, r, m, e, a, na, ca, sa FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[])
			WITH ORDINALITY AS o (k, c, nm, v, t, s, x, st, r, m, e, a, na, ca, sa, n)
		ORDER BY n
		ON CONFLICT (key) WHERE status <> 'suppressed' DO NOTHING`,
		cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9], cols[10], attempts, times[0], times[1], times[2])
}

func (t *pgTx) UpdateOutbox(it *OutboxItem) error {
	return t.run(`UPDATE outbox SET status = $1, reason = $2, attempts = $3, next_at = $4, sent_at = $5,
		message_id = $6, last_error = $7 WHERE key = $8 AND status <> 'suppressed'`, it.Status, it.Reason, it.Attempts, it.NextAt.UnixMilli(),
		millisOrZero(it.SentAt), it.MessageID, it.LastError, it.Key)
}

func (t *pgTx) AssignCode(campaign string, idx int, customer, key string, at time.Time) error {
	return t.run(`INSERT INTO codes (campaign, idx, customer, key, at) VALUES ($1, $2, $3, $4, $5)`,
		campaign, idx, customer, key, at.UnixMilli())
}

func (t *pgTx) RecordRedemption(code, orderID, campaign, customer string, at time.Time) error {
	return t.run(`INSERT INTO redemptions (code, order_id, campaign, customer, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		code, orderID, campaign, customer, at.UnixMilli())
}

// Forget erases the customers' rows as the SQLite store does. PostgreSQL keeps the old row
// versions in its files until VACUUM reuses the space (see docs/engine.md).
func (t *pgTx) Forget(customers []string) error {
	if len(customers) == 0 {
		return nil
	}
	for _, q := range []string{
		`DELETE FROM profiles WHERE customer = ANY($1)`,
		`DELETE FROM events WHERE customer = ANY($1)`,
		`UPDATE outbox SET to_addr = '', subject = '', text = '', customer = '', message_id = '', last_error = '',
			status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END,
			reason = CASE WHEN status = 'pending' THEN 'customer forgotten' ELSE reason END WHERE customer = ANY($1)`,
		`UPDATE codes SET customer = '' WHERE customer = ANY($1)`,
		`DELETE FROM redemptions WHERE customer = ANY($1)`,
		`DELETE FROM audience_members WHERE customer = ANY($1)`,
		`DELETE FROM steps WHERE customer = ANY($1)`,
	} {
		if err := t.run(q, customers); err != nil {
			return err
		}
	}
	return nil
}

// RedactIdentity rewrites the identity records naming any of ids without them.
func (t *pgTx) RedactIdentity(ids []identity.ID) error {
	if len(ids) == 0 {
		return nil
	}
	if err := t.flush(); err != nil {
		return err
	}
	vals, err := identityValues(ids)
	if err != nil {
		return err
	}
	rows, err := t.tx.Query(t.ctx, `SELECT seq, record FROM identity_log l WHERE EXISTS (SELECT 1 FROM unnest($1::bytea[]) AS v (b) WHERE position(v.b IN l.record) > 0)`, vals)
	if err != nil {
		return err
	}
	var found []logRecord
	for rows.Next() {
		var r logRecord
		if err := rows.Scan(&r.seq, &r.body); err != nil {
			rows.Close()
			return err
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return redactRecords(found, ids, func(seq int64, body []byte) error {
		return t.exec(`UPDATE identity_log SET record = $1 WHERE seq = $2`, body, seq)
	})
}

func (t *pgTx) Suppress(hashes [][]byte) error {
	if len(hashes) == 0 {
		return nil
	}
	return t.run(`INSERT INTO suppressions (hash) SELECT DISTINCT unnest($1::bytea[]) ON CONFLICT DO NOTHING`, hashes)
}

func (t *pgTx) Unsuppress(hash []byte) error {
	return t.run(`DELETE FROM suppressions WHERE hash = $1`, hash)
}

func (t *pgTx) MoveEvents(keys []string, customer string) error {
	if len(keys) == 0 {
		return nil
	}
	return t.run(`UPDATE events SET customer = $1 WHERE key = ANY($2)`, customer, keys)
}

func (t *pgTx) ScheduleStep(s *Step) error {
	return t.run(`INSERT INTO steps (`+stepColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		s.Key, s.Customer, s.Trigger, s.Action, s.Type, s.Due.UnixMilli(), s.Waits, s.CreatedAt.UnixMilli(), s.EventKey, s.EventType, s.Event)
}

func (t *pgTx) CancelSteps(customer string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return t.run(`DELETE FROM steps WHERE customer = $1 AND key = ANY($2)`, customer, keys)
}

func (t *pgTx) DoneSteps(seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	return t.run(`DELETE FROM steps WHERE seq = ANY($1)`, seqs)
}

func (t *pgTx) MoveSteps(from, into string) error {
	return t.run(`UPDATE steps SET customer = $1 WHERE customer = $2`, into, from)
}

var _ Store = (*PGStore)(nil)

// pgText makes the text arguments of a statement what PostgreSQL's text holds: valid UTF-8
// without NUL. A NUL (which an event's JSON may carry as \u0000) is written as U+FFFE "0"
// and U+FFFE itself doubled, which reading undoes (fromPGText), so a key with a NUL is kept
// and found as it is; a statement failing on it instead would stop the engine. Invalid
// UTF-8 (which decoded JSON never holds) becomes U+FFFD. Bodies (bytea) are kept as they are.
func pgText(args []any) []any {
	var out []any
	for i, a := range args {
		var c any
		switch v := a.(type) {
		case string:
			if !badText(v) {
				continue
			}
			c = toPGText(v)
		case []string:
			if !slices.ContainsFunc(v, badText) {
				continue
			}
			cl := make([]string, len(v))
			for j, x := range v {
				cl[j] = toPGText(x)
			}
			c = cl
		default:
			continue
		}
		if out == nil {
			out = slices.Clone(args)
		}
		out[i] = c
	}
	if out == nil {
		return args
	}
	return out
}

const pgEscape = "\uFFFE"

func badText(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || strings.Contains(s, pgEscape) || !utf8.ValidString(s)
}

func toPGText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, pgEscape, pgEscape+pgEscape)
	return strings.ReplaceAll(s, "\x00", pgEscape+"0")
}

// fromPGText undoes toPGText.
func fromPGText(s string) string {
	if !strings.Contains(s, pgEscape) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, pgEscape)
		if i < 0 || i+len(pgEscape) >= len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		switch rest := s[i+len(pgEscape):]; {
		case rest[0] == '0':
			b.WriteByte(0)
			s = rest[1:]
		case strings.HasPrefix(rest, pgEscape):
			b.WriteString(pgEscape)
			s = rest[len(pgEscape):]
		default:
			b.WriteString(pgEscape)
			s = rest
		}
	}
}

package engine

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/providers"

	_ "modernc.org/sqlite" // pure-Go SQLite: one file, no server
)

// DefaultStorePath is where the engine keeps its state, relative to the configuration.
const DefaultStorePath = ".musubi/engine.db"

// Store is the engine's durable state. The engine keeps its working set in memory and writes
// through a Store in group-committed transactions; everything needed to rebuild the memory
// after a crash (identity records, profiles, the event log, the outbox, code allocations, the
// active rule bundle) is in it. SQLiteStore is the embedded implementation; a server database
// implements the same interface.
type Store interface {
	// Update runs fn in one transaction.
	Update(ctx context.Context, fn func(Tx) error) error
	// ActiveBundle returns the active rule bundle, or nil data when none was pushed.
	ActiveBundle(ctx context.Context) (hash string, data []byte, err error)
	// PutBundle stores a bundle and makes it active.
	PutBundle(ctx context.Context, hash string, data []byte, by string) error
	// Identity calls fn with every identity record in order.
	Identity(ctx context.Context, fn func(rec []byte) error) error
	// Profiles calls fn with the stored profiles. A customer may come more than once: the
	// later body replaces the earlier, and a nil body means the profile was deleted.
	Profiles(ctx context.Context, fn func(customer string, body []byte) error) error
	// Events calls fn with the stored events of the given customers, oldest first, with
	// their de-duplication keys.
	Events(ctx context.Context, customers []string, fn func(key string, body []byte) error) error
	// Outbox lists outbox items by status ("" for all), oldest first, at most limit.
	Outbox(ctx context.Context, status string, limit int) ([]OutboxItem, error)
	// DueOutbox lists pending items whose time has come.
	DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// EventKeys calls fn with the key of every event in the log.
	EventKeys(ctx context.Context, fn func(key string) error) error
	// KnownEvents reports which of the event keys the event log holds.
	KnownEvents(ctx context.Context, keys []string) (map[string]bool, error)
	// CodesIssued counts the codes given out per campaign and says which code number each
	// idempotency key got.
	CodesIssued(ctx context.Context) (issued, byKey map[string]int, err error)
	// CodeOwners calls fn with every code number given out, the customer it went to ("" once
	// that customer was forgotten) and when.
	CodeOwners(ctx context.Context, fn func(campaign string, idx int, customer string, at time.Time) error) error
	// Redemptions calls fn with every code redeemed, the order it was redeemed in and by whom.
	Redemptions(ctx context.Context, fn func(code, orderID, customer string) error) error
	// Suppressions returns the store's random key for suppression digests, made on first use,
	// and the digests stored.
	Suppressions(ctx context.Context) (key []byte, hashes [][]byte, err error)
	// PollCursor returns where the next poll of a provider starts ("" before its first).
	PollCursor(ctx context.Context, provider string) (string, error)
	// PutPollCursor stores a provider's cursor, once the events of the poll that returned
	// it are committed (see pollOnce).
	PutPollCursor(ctx context.Context, provider, cursor string) error
	// AudienceMembers calls fn with every customer a system's audience holds as the engine
	// last pushed it (unmatched: the system could not match them).
	AudienceMembers(ctx context.Context, fn func(provider, segment, customer string, unmatched bool) error) error
	// PutAudienceMembers records what a sync pushed: customers now in the audience (unmatched
	// or not) and customers taken out.
	PutAudienceMembers(ctx context.Context, provider, segment string, in map[string]bool, out []string) error
	// DueSteps lists the pending steps due at now that come after the cursor (the zero
	// cursor: from the first), soonest first, at most limit.
	DueSteps(ctx context.Context, now time.Time, after StepCursor, limit int) ([]Step, error)
	// Steps lists the pending steps of the given customers, soonest first.
	Steps(ctx context.Context, customers []string) ([]Step, error)
	// WaitingSteps calls fn with every pending step a later event may cancel (Step.Waits),
	// with its event.
	WaitingSteps(ctx context.Context, fn func(Step) error) error
	// CountSteps counts the pending steps.
	CountSteps(ctx context.Context) (int, error)
	Close() error
}

// Tx is one transaction of the engine.
type Tx interface {
	// InsertEvent records an event by its de-duplication key; a key the log holds already
	// is left as it is. The store may write it only when the transaction commits.
	InsertEvent(key, customer, typ string, at time.Time, body []byte) error
	// AppendIdentity appends an identity record.
	AppendIdentity(rec []byte) error
	PutProfile(customer string, body []byte) error
	DeleteProfile(customer string) error
	// EnqueueOutbox adds an item, unless one with the same key exists (then nothing changes).
	// The store may write it only when the transaction commits; later statements of the
	// transaction see it.
	EnqueueOutbox(it *OutboxItem) error
	// UpdateOutbox saves an item's delivery state.
	UpdateOutbox(it *OutboxItem) error
	// AssignCode records that customer got the campaign's code number idx under key, at at.
	AssignCode(campaign string, idx int, customer, key string, at time.Time) error
	// RecordRedemption records that customer redeemed code in an order; the same code and
	// order again changes nothing.
	RecordRedemption(code, orderID, campaign, customer string, at time.Time) error
	// Forget erases a person's events, profiles, outbox addresses and texts, and code
	// assignments. Once it commits, no deleted byte is left in the store's files.
	Forget(customers []string) error
	// RedactIdentity removes the identifiers from every identity record naming them.
	RedactIdentity(ids []identity.ID) error
	// Suppress stores suppression digests; Unsuppress removes one.
	Suppress(hashes [][]byte) error
	Unsuppress(hash []byte) error
	// MoveEvents re-labels events of one customer to another (after a merge or an unmerge).
	MoveEvents(keys []string, customer string) error
	// ScheduleStep keeps an action to run later; a step with the same key is left as it is.
	ScheduleStep(s *Step) error
	// CancelSteps removes a customer's pending steps by key (a wait's unless came).
	CancelSteps(customer string, keys []string) error
	// DoneSteps removes pending steps that came due (run or dropped), by Step.Seq.
	DoneSteps(seqs []int64) error
	// MoveSteps gives one customer's pending steps to another (after a merge).
	MoveSteps(from, into string) error
}

// OutboxItem is one message waiting for, or done with, delivery.
type OutboxItem struct {
	Seq       int64     `json:"seq"`
	Key       string    `json:"key"` // idempotency key: (trigger, action, event, customer)
	Customer  string    `json:"customer"`
	Name      string    `json:"name"` // trigger.NAME
	Via       string    `json:"via"`  // provider TYPE.NAME
	To        string    `json:"to"`
	Subject   string    `json:"subject,omitempty"`
	Text      string    `json:"text"`
	Status    string    `json:"status"` // pending, sent, dead, suppressed
	Reason    string    `json:"reason,omitempty"`
	Attempts  int       `json:"attempts"`
	NextAt    time.Time `json:"next_at"`
	CreatedAt time.Time `json:"created_at"`
	SentAt    time.Time `json:"sent_at,omitzero"`
	MessageID string    `json:"message_id,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// Outbox statuses.
const (
	StatusPending    = "pending"
	StatusSent       = "sent"
	StatusDead       = "dead"
	StatusSuppressed = "suppressed"
)

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (hash TEXT PRIMARY KEY, bundle BLOB NOT NULL, pushed_at TEXT NOT NULL, pushed_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, customer TEXT NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL, body BLOB NOT NULL) WITHOUT ROWID;
-- Events have no index by customer: customers are spread over the whole log, so such an
-- index took a page write at a random place per event, two thirds of the cost of storing
-- it. What reads a customer's events (unmerge, forget) is rare and reads the log whole.
DROP INDEX IF EXISTS events_customer;
CREATE TABLE IF NOT EXISTS identity_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, record BLOB NOT NULL);
-- Profiles are a log: every change appends the customer's new profile (an empty body when it
-- was deleted) and the last row of a customer is the one that counts. Updating a table keyed
-- by customer wrote a page at a random place per event, the largest cost of ingesting it;
-- appends fill pages in order. compactProfiles drops superseded rows from the head.
CREATE TABLE IF NOT EXISTS profiles (seq INTEGER PRIMARY KEY, customer TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, customer TEXT NOT NULL, name TEXT NOT NULL,
	via TEXT NOT NULL, to_addr TEXT NOT NULL, subject TEXT NOT NULL, text TEXT NOT NULL, status TEXT NOT NULL,
	reason TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
	sent_at INTEGER NOT NULL, message_id TEXT NOT NULL, last_error TEXT NOT NULL);
-- Suppressed messages are a record of what the rules held back; they are never sent, so
-- they need no idempotency key index nor a place in the delivery queue. A busy programme
-- suppresses several messages an event, and indexing them was most of the cost of keeping them.
CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox (key) WHERE status != 'suppressed';
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS codes (campaign TEXT NOT NULL, idx INTEGER NOT NULL, customer TEXT NOT NULL, key TEXT NOT NULL UNIQUE, at INTEGER NOT NULL, PRIMARY KEY (campaign, idx));
CREATE TABLE IF NOT EXISTS redemptions (code TEXT NOT NULL, order_id TEXT NOT NULL, campaign TEXT NOT NULL, customer TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (code, order_id)) WITHOUT ROWID;
-- HMAC-SHA256 digests of forgotten identifiers and event keys (see suppressions).
CREATE TABLE IF NOT EXISTS suppressions (hash BLOB PRIMARY KEY) WITHOUT ROWID;
-- Where the next poll of each polled provider starts (see pollOnce).
CREATE TABLE IF NOT EXISTS poll_cursors (provider TEXT PRIMARY KEY, cursor TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
-- Actions held back to run later (see Step): found by due time, and by customer for merges,
-- forgets and musubi customer show.
-- A step's key is unique by construction (an event is processed once), so it has no index of its
-- own: due steps are deleted by seq, cancelled ones by customer.
CREATE TABLE IF NOT EXISTS steps (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, customer TEXT NOT NULL, trigger TEXT NOT NULL,
	action INTEGER NOT NULL, type TEXT NOT NULL, due INTEGER NOT NULL, waits INTEGER NOT NULL, created_at INTEGER NOT NULL,
	event_key TEXT NOT NULL, event_type TEXT NOT NULL, event BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS steps_due ON steps (due);
CREATE INDEX IF NOT EXISTS steps_customer ON steps (customer);
CREATE TABLE IF NOT EXISTS audience_members (provider TEXT NOT NULL, segment TEXT NOT NULL, customer TEXT NOT NULL, unmatched INTEGER NOT NULL, PRIMARY KEY (provider, segment, customer)) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
`

// SQLiteStore is the embedded store: one SQLite file in WAL mode.
type SQLiteStore struct {
	path string
	// w is the one connection that writes. Only it changes the file, so its page cache stays
	// valid from one commit to the next; a connection whose cache another connection's
	// commit made stale throws the whole cache away at its next transaction, which cost a
	// quarter of the writer's time when commits moved from connection to connection. db is
	// the pool that reads.
	w  *sql.DB
	db *sql.DB
	// conn is w's connection, held for the store's life, and stmts the statements prepared on
	// it: they outlive each transaction, so a commit does not parse its inserts again (a
	// statement prepared in a transaction ends with it). wmu keeps one transaction at a time.
	wmu       sync.Mutex
	conn      *sql.Conn
	stmts     map[string]*sql.Stmt
	profiles  profileLog
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// legacy is set for a store written before deletes were zeroed (see scrub); scrubbing
	// while the WAL may still hold what a forget erased.
	legacy    bool
	scrubbing atomic.Bool
}

// busyTimeout is how long a statement waits for another connection's lock, in milliseconds.
const busyTimeout = 30000

// OpenSQLite opens (creating if needed) the store file.
func OpenSQLite(path string) (*SQLiteStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := ownerOnly(path); err != nil {
		return nil, fmt.Errorf("engine store %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode keeps the database consistent across a crash; a power loss may roll
	// back the last commits, which the sources re-send (their IDs are de-duplicated).
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout))
	// Deleted rows are overwritten with zeros, so what a forget erased is not left in free
	// space or free pages (see scrub for the WAL).
	q.Add("_pragma", "secure_delete(1)")
	// Checkpoints run beside the writer (checkpointLoop), not inside its commits. Under
	// sustained writes those never finish the WAL, so a commit still checkpoints once the WAL
	// passes 32 MiB: little is left to copy by then, and the WAL starts over.
	q.Add("_pragma", "wal_autocheckpoint(8192)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	// The writer's cache holds what a group commit changes (the ends of the event and profile
	// logs, the pages of the keys' indexes it touched) so nothing spills to the WAL before the
	// commit. It is 16 MiB: a larger one cost more than it saved, since SQLite allocates its
	// pages one by one as it grows and walks it at every commit.
	q.Add("_pragma", "cache_size(-16384)")
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		db.Close()
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	fail := func(err error) (*SQLiteStore, error) {
		w.Close()
		db.Close()
		return nil, fmt.Errorf("engine store %s: %w", path, err)
	}
	var tables int
	if err := w.QueryRow(`SELECT COUNT(*) FROM sqlite_master`).Scan(&tables); err != nil {
		return fail(err)
	}
	if _, err := w.Exec(sqliteSchema); err != nil {
		return fail(err)
	}
	if tables == 0 {
		if _, err := w.Exec(`INSERT INTO meta (key, value) VALUES ('secure_delete', '1')`); err != nil {
			return fail(err)
		}
	}
	var zeroed string
	w.QueryRow(`SELECT value FROM meta WHERE key = 'secure_delete'`).Scan(&zeroed)
	var v string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != "1" {
		return fail(fmt.Errorf("schema version %q is not one this musubi reads (1)", v))
	}
	conn, err := w.Conn(context.Background())
	if err != nil {
		return fail(err)
	}
	s := &SQLiteStore{path: path, w: w, db: db, conn: conn, stmts: map[string]*sql.Stmt{}, stop: make(chan struct{}), done: make(chan struct{}),
		legacy: zeroed == ""}
	go s.checkpointLoop()
	return s, nil
}

// checkpointInterval is how often the WAL is copied back into the database file.
const checkpointInterval = 500 * time.Millisecond

// checkpointLoop copies committed pages from the WAL into the database file, on its own
// connection and without blocking the writer (PASSIVE). SQLite would otherwise do it inside
// whichever commit crosses the WAL's size threshold, stalling the engine's writer for as long.
func (s *SQLiteStore) checkpointLoop() {
	defer close(s.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.scrubbing.Load() {
				s.wmu.Lock()
				if s.conn != nil {
					s.truncateWAL(context.Background())
				}
				s.wmu.Unlock()
				continue
			}
			s.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// ownerOnly makes the store's files readable by their owner only, whatever the umask: they
// hold personal data. The file is made before SQLite opens it, and SQLite gives the -wal and
// -shm files it makes the database file's mode.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// scrub runs after a forget commits, with wmu held, so that no copy of what it erased stays
// in the store's files: secure_delete zeroed the rows in the database's pages, and the WAL,
// which still holds the pages as they were, is checkpointed and truncated. A store written
// before deletes were zeroed is rebuilt once (VACUUM), leaving out what its older deletes
// left in free space; that takes a while on a large store, once, and is tried again at the
// next forget if it fails (it needs as much free disk as the store).
func (s *SQLiteStore) scrub(ctx context.Context) {
	if s.legacy {
		if _, err := s.conn.ExecContext(ctx, `VACUUM`); err == nil {
			s.conn.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('secure_delete', '1')`)
			s.legacy = false
		}
	}
	s.truncateWAL(ctx)
}

// truncateWAL checkpoints the WAL and truncates it, with wmu held. Readers may keep it from
// doing so: then the checkpoint loop tries again until it is done.
func (s *SQLiteStore) truncateWAL(ctx context.Context) {
	// Wait for readers briefly, not as long as writes wait: this holds up the writer.
	s.conn.ExecContext(ctx, `PRAGMA busy_timeout = 200`)
	var busy, frames, done int
	err := s.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
	s.conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeout))
	s.scrubbing.Store(err != nil || busy != 0)
}

// Path is the store file.
func (s *SQLiteStore) Path() string { return s.path }

// Close closes the file; the last connection to close checkpoints the WAL.
func (s *SQLiteStore) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var errs []error
	for q, st := range s.stmts {
		errs = append(errs, st.Close())
		delete(s.stmts, q)
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close())
		s.conn = nil
	}
	return errors.Join(append(errs, s.w.Close(), s.db.Close())...)
}

// Update runs fn in one immediate transaction.
func (s *SQLiteStore) Update(ctx context.Context, fn func(Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.conn == nil {
		return fmt.Errorf("engine store %s: closed", s.path)
	}
	// The transaction is the connection's own (BEGIN … COMMIT), not a sql.Tx, so that it runs
	// the statements prepared on the connection before it began.
	if _, err := s.conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("engine store %s: %w", s.path, err)
	}
	committed := false
	defer func() {
		if !committed {
			s.conn.ExecContext(context.Background(), `ROLLBACK`)
			s.profiles.reset()
		}
	}()
	stx := &sqliteTx{ctx: ctx, s: s, log: &s.profiles}
	if err := fn(stx); err != nil {
		return err
	}
	if err := stx.flush(); err != nil {
		return err
	}
	if err := stx.flushProfiles(); err != nil {
		return err
	}
	if err := stx.compactProfiles(); err != nil {
		return err
	}
	if _, err := s.conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("engine store %s: %w", s.path, err)
	}
	committed = true
	if stx.erased {
		s.scrub(ctx)
	}
	return nil
}

// reset forgets what the profile log was learnt to hold, after a transaction that changed it
// failed: compaction waits until Profiles reads the log again.
func (pl *profileLog) reset() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.next, pl.started, pl.latest, pl.deleted, pl.rows, pl.live = 0, false, nil, nil, 0, 0
}

// ActiveBundle returns the active bundle.
func (s *SQLiteStore) ActiveBundle(ctx context.Context) (string, []byte, error) {
	var hash string
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT b.hash, b.bundle FROM meta m JOIN bundles b ON b.hash = m.value WHERE m.key = 'active_bundle'`).Scan(&hash, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	}
	return hash, data, err
}

// PutBundle stores and activates a bundle; an empty hash deactivates the current one.
func (s *SQLiteStore) PutBundle(ctx context.Context, hash string, data []byte, by string) error {
	return s.Update(ctx, func(t Tx) error {
		tx := t.(*sqliteTx)
		if hash == "" {
			_, err := tx.exec(`DELETE FROM meta WHERE key = 'active_bundle'`)
			return err
		}
		if _, err := tx.exec(`INSERT OR REPLACE INTO bundles (hash, bundle, pushed_at, pushed_by) VALUES (?, ?, ?, ?)`,
			hash, data, time.Now().UTC().Format(time.RFC3339Nano), by); err != nil {
			return err
		}
		_, err := tx.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('active_bundle', ?)`, hash)
		return err
	})
}

// ActiveHash reports the active bundle hash cheaply, for a server that polls for bundles a
// local apply pushed into the same file.
func (s *SQLiteStore) ActiveHash(ctx context.Context) (string, error) {
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'active_bundle'`).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return hash, err
}

// PollCursor returns a provider's stored poll cursor, "" when it has none.
func (s *SQLiteStore) PollCursor(ctx context.Context, provider string) (string, error) {
	var cursor string
	err := s.db.QueryRowContext(ctx, `SELECT cursor FROM poll_cursors WHERE provider = ?`, provider).Scan(&cursor)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return cursor, err
}

// PutPollCursor stores a provider's poll cursor.
func (s *SQLiteStore) PutPollCursor(ctx context.Context, provider, cursor string) error {
	return s.Update(ctx, func(t Tx) error {
		_, err := t.(*sqliteTx).exec(`INSERT OR REPLACE INTO poll_cursors (provider, cursor, at) VALUES (?, ?, ?)`,
			provider, cursor, time.Now().UnixMilli())
		return err
	})
}

// AudienceMembers implements Store.
func (s *SQLiteStore) AudienceMembers(ctx context.Context, fn func(provider, segment, customer string, unmatched bool) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT provider, segment, customer, unmatched FROM audience_members`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p, seg, c string
		var u bool
		if err := rows.Scan(&p, &seg, &c, &u); err != nil {
			return err
		}
		if err := fn(p, seg, c, u); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PutAudienceMembers implements Store.
func (s *SQLiteStore) PutAudienceMembers(ctx context.Context, provider, segment string, in map[string]bool, out []string) error {
	return s.Update(ctx, func(t Tx) error {
		tx := t.(*sqliteTx)
		for c, unmatched := range in {
			if _, err := tx.exec(`INSERT OR REPLACE INTO audience_members (provider, segment, customer, unmatched) VALUES (?, ?, ?, ?)`,
				provider, segment, c, unmatched); err != nil {
				return err
			}
		}
		for _, c := range out {
			if _, err := tx.exec(`DELETE FROM audience_members WHERE provider = ? AND segment = ? AND customer = ?`, provider, segment, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// Identity streams the identity records in order.
func (s *SQLiteStore) Identity(ctx context.Context, fn func([]byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT record FROM identity_log ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Profiles streams the profile log in order, and learns where each customer's current row is.
func (s *SQLiteStore) Profiles(ctx context.Context, fn func(string, []byte) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, customer, body FROM profiles ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	pl := &s.profiles
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.latest, pl.rows, pl.live = map[string]int64{}, 0, 0
	for rows.Next() {
		var seq int64
		var c string
		var b []byte
		if err := rows.Scan(&seq, &c, &b); err != nil {
			return err
		}
		pl.put(c, seq, len(b) == 0)
		if len(b) == 0 {
			b = nil
		}
		if err := fn(c, b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Events streams the events of the customers, oldest first, from one pass over the log.
func (s *SQLiteStore) Events(ctx context.Context, customers []string, fn func(string, []byte) error) error {
	if len(customers) == 0 {
		return nil
	}
	args := make([]any, len(customers))
	for i, c := range customers {
		args[i] = c
	}
	rows, err := s.db.QueryContext(ctx, `SELECT key, body FROM events WHERE customer IN (?`+strings.Repeat(", ?", len(customers)-1)+`) ORDER BY at, key`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var b []byte
		if err := rows.Scan(&k, &b); err != nil {
			return err
		}
		if err := fn(k, b); err != nil {
			return err
		}
	}
	return rows.Err()
}

const outboxColumns = `seq, key, customer, name, via, to_addr, subject, text, status, reason, attempts, next_at, created_at, sent_at, message_id, last_error`

func scanOutbox(rows *sql.Rows) ([]OutboxItem, error) {
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var next, created, sent int64
		if err := rows.Scan(&it.Seq, &it.Key, &it.Customer, &it.Name, &it.Via, &it.To, &it.Subject, &it.Text, &it.Status,
			&it.Reason, &it.Attempts, &next, &created, &sent, &it.MessageID, &it.LastError); err != nil {
			return nil, err
		}
		it.NextAt, it.CreatedAt = fromMillis(next), fromMillis(created)
		if sent != 0 {
			it.SentAt = fromMillis(sent)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Outbox lists items by status.
func (s *SQLiteStore) Outbox(ctx context.Context, status string, limit int) ([]OutboxItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE ? = '' OR status = ? ORDER BY seq LIMIT ?`, status, status, limit)
	if err != nil {
		return nil, err
	}
	return scanOutbox(rows)
}

// DueOutbox lists the pending items due at now.
func (s *SQLiteStore) DueOutbox(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, seq LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	return scanOutbox(rows)
}

// EventKeys streams the event log's keys.
func (s *SQLiteStore) EventKeys(ctx context.Context, fn func(string) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT key FROM events`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return rows.Err()
}

// KnownEvents looks the keys up in the event log, a few hundred a query.
func (s *SQLiteStore) KnownEvents(ctx context.Context, keys []string) (map[string]bool, error) {
	known := map[string]bool{}
	const chunk = 500
	for len(keys) > 0 {
		n := min(len(keys), chunk)
		args := make([]any, n)
		for i, k := range keys[:n] {
			args[i] = k
		}
		rows, err := s.db.QueryContext(ctx, `SELECT key FROM events WHERE key IN (?`+strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, err
			}
			known[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return known, nil
}

// CodesIssued reads the code assignments: code numbers are handed out in order, so a
// campaign's count is its highest number plus one.
func (s *SQLiteStore) CodesIssued(ctx context.Context) (map[string]int, map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT campaign, idx, key FROM codes`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	issued, byKey := map[string]int{}, map[string]int{}
	for rows.Next() {
		var c, k string
		var idx int
		if err := rows.Scan(&c, &idx, &k); err != nil {
			return nil, nil, err
		}
		issued[c] = max(issued[c], idx+1)
		byKey[k] = idx
	}
	return issued, byKey, rows.Err()
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

type sqliteTx struct {
	ctx      context.Context
	s        *SQLiteStore
	erased   bool         // a forget: scrub after the commit
	outbox   []OutboxItem // enqueued, not yet written
	events   []eventRow   // inserted, not yet written
	log      *profileLog
	profiles []profileRow // appended, not yet written
}

type eventRow struct {
	key, customer, typ string
	at                 int64
	body               []byte
}

type profileRow struct {
	customer string
	body     []byte
}

// stmt prepares a statement once per transaction: a group commit runs the same few
// statements thousands of times, and parsing them each time took an eighth of the writer.
func (t *sqliteTx) stmt(q string) (*sql.Stmt, error) {
	if s, ok := t.s.stmts[q]; ok {
		return s, nil
	}
	s, err := t.s.conn.PrepareContext(t.ctx, q)
	if err != nil {
		return nil, err
	}
	t.s.stmts[q] = s
	return s, nil
}

func (t *sqliteTx) exec(q string, args ...any) (sql.Result, error) {
	s, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(t.ctx, args...)
}

// InsertEvent buffers the event for multi-row inserts, like EnqueueOutbox.
func (t *sqliteTx) InsertEvent(key, customer, typ string, at time.Time, body []byte) error {
	t.events = append(t.events, eventRow{key, customer, typ, at.UnixMilli(), body})
	return nil
}

// flushEvents writes the buffered events.
func (t *sqliteTx) flushEvents() error {
	err := t.insertRows(`INSERT OR IGNORE INTO events (key, customer, type, at, body) VALUES `, 5, len(t.events), func(args []any, i int) []any {
		r := &t.events[i]
		return append(args, r.key, r.customer, r.typ, r.at, r.body)
	})
	t.events = t.events[:0]
	return err
}

// flush writes what the transaction buffered, before a statement reads or changes it and
// before the commit.
func (t *sqliteTx) flush() error {
	if err := t.flushEvents(); err != nil {
		return err
	}
	return t.flushOutbox()
}

// paramsPerInsert bounds the parameters of one multi-row insert, well within SQLite's limit.
// A statement per row was the largest part of the writer's time: events, profiles and
// outbox items are each written a few hundred rows a statement.
const paramsPerInsert = 960

// insertRows writes n rows with multi-row inserts: q is the statement up to VALUES, cols
// the parameters a row takes, and row appends row i's values to args. A statement takes as
// many rows as it may, or a power of two, so the few statements there are stay prepared.
func (t *sqliteTx) insertRows(q string, cols, n int, row func(args []any, i int) []any) error {
	mark := "(?" + strings.Repeat(", ?", cols-1) + ")"
	most := paramsPerInsert / cols
	for done := 0; done < n; {
		k := most
		if n-done < most {
			k = 1 << (bits.Len(uint(n-done)) - 1)
		}
		args := make([]any, 0, cols*k)
		for i := done; i < done+k; i++ {
			args = row(args, i)
		}
		if _, err := t.exec(q+strings.Repeat(mark+", ", k-1)+mark, args...); err != nil {
			return err
		}
		done += k
	}
	return nil
}

func (t *sqliteTx) AppendIdentity(rec []byte) error {
	_, err := t.exec(`INSERT INTO identity_log (record) VALUES (?)`, rec)
	return err
}

// PutProfile appends the customer's profile to the log; it is written with the transaction.
func (t *sqliteTx) PutProfile(customer string, body []byte) error {
	if len(body) == 0 {
		return errors.New("an empty profile")
	}
	t.profiles = append(t.profiles, profileRow{customer, body})
	return nil
}

// DeleteProfile appends an empty profile: the customer has none from now on.
func (t *sqliteTx) DeleteProfile(customer string) error {
	t.profiles = append(t.profiles, profileRow{customer, []byte{}})
	return nil
}

// EnqueueOutbox buffers the item: the buffer is written with multi-row inserts before the
// transaction commits or touches the outbox otherwise. Busy programmes queue (or record as
// suppressed) several messages an event, and one statement a row was a fifth of the
// writer's time.
func (t *sqliteTx) EnqueueOutbox(it *OutboxItem) error {
	t.outbox = append(t.outbox, *it)
	return nil
}

// flushOutbox writes the buffered outbox items.
func (t *sqliteTx) flushOutbox() error {
	err := t.insertRows(`INSERT OR IGNORE INTO outbox (key, customer, name, via, to_addr, subject, text, status, reason, attempts, next_at, created_at, sent_at, message_id, last_error) VALUES `,
		15, len(t.outbox), func(args []any, i int) []any {
			it := &t.outbox[i]
			return append(args, it.Key, it.Customer, it.Name, it.Via, it.To, it.Subject, it.Text, it.Status, it.Reason, it.Attempts,
				it.NextAt.UnixMilli(), it.CreatedAt.UnixMilli(), millisOrZero(it.SentAt), it.MessageID, it.LastError)
		})
	t.outbox = t.outbox[:0]
	return err
}

// flushProfiles writes the appended profiles, numbering them after the log's last row.
func (t *sqliteTx) flushProfiles() error {
	if len(t.profiles) == 0 {
		return nil
	}
	t.log.mu.Lock()
	defer t.log.mu.Unlock()
	if err := t.log.init(t); err != nil {
		return err
	}
	err := t.insertRows(`INSERT INTO profiles (seq, customer, body) VALUES `, 3, len(t.profiles), func(args []any, i int) []any {
		r := &t.profiles[i]
		t.log.next++
		t.log.put(r.customer, t.log.next, len(r.body) == 0)
		return append(args, t.log.next, r.customer, r.body)
	})
	t.profiles = t.profiles[:0]
	return err
}

// compactProfiles keeps the profile log at most about twice the live profiles: while it is
// longer, each transaction takes the oldest rows, appends again those still current, and
// deletes the rest of that run in one range, so the work is sequential too.
func (t *sqliteTx) compactProfiles() error {
	pl := t.log
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.latest == nil || pl.rows <= 2*int64(pl.live)+compactSlack {
		return nil
	}
	rows, err := t.s.conn.QueryContext(t.ctx, `SELECT seq, customer FROM profiles ORDER BY seq LIMIT ?`, compactRun)
	if err != nil {
		return err
	}
	type row struct {
		seq      int64
		customer string
	}
	var run []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.customer); err != nil {
			rows.Close()
			return err
		}
		run = append(run, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(run) == 0 {
		return err
	}
	for _, r := range run {
		cur, ok := pl.latest[r.customer]
		switch {
		case !ok || cur != r.seq:
			continue // superseded
		case pl.deleted[r.customer]:
			// The customer's last row says deleted, and everything before it is gone.
			delete(pl.latest, r.customer)
			delete(pl.deleted, r.customer)
			continue
		}
		pl.next++
		if _, err := t.exec(`INSERT INTO profiles (seq, customer, body) SELECT ?, customer, body FROM profiles WHERE seq = ?`, pl.next, r.seq); err != nil {
			return err
		}
		pl.latest[r.customer] = pl.next
		pl.rows++
	}
	res, err := t.exec(`DELETE FROM profiles WHERE seq <= ?`, run[len(run)-1].seq)
	if err != nil {
		return err
	}
	n, _ := res.RowsAffected()
	pl.rows -= n
	return nil
}

// Profile log compaction: it starts once the log holds compactSlack rows more than twice the
// live profiles, and takes compactRun rows a transaction.
const (
	compactSlack = 10_000
	compactRun   = 2_000
)

// profileLog is what the store knows of its profile log: each customer's current row, and
// the sizes that say when to compact. It is learnt by Profiles; until then (a store opened
// only to read or repair) appends still number correctly and nothing is compacted.
type profileLog struct {
	mu      sync.Mutex
	next    int64            // the last row's seq
	started bool             // next is known
	latest  map[string]int64 // customer → its current row; nil before Profiles
	deleted map[string]bool  // customers whose current row is a deletion
	rows    int64
	live    int
}

func (pl *profileLog) init(t *sqliteTx) error {
	if pl.started {
		return nil
	}
	var last sql.NullInt64
	if err := t.s.conn.QueryRowContext(t.ctx, `SELECT MAX(seq) FROM profiles`).Scan(&last); err != nil {
		return err
	}
	pl.next, pl.started = last.Int64, true
	return nil
}

// put records that seq is customer's current row.
func (pl *profileLog) put(customer string, seq int64, deleted bool) {
	if seq > pl.next {
		pl.next, pl.started = seq, true
	}
	if pl.latest == nil {
		return
	}
	pl.rows++
	_, had := pl.latest[customer]
	wasLive := had && !pl.deleted[customer]
	pl.latest[customer] = seq
	if pl.deleted == nil {
		pl.deleted = map[string]bool{}
	}
	if deleted {
		pl.deleted[customer] = true
		if wasLive {
			pl.live--
		}
		return
	}
	delete(pl.deleted, customer)
	if !wasLive {
		pl.live++
	}
}

// forgot records that every row of customer was deleted.
func (pl *profileLog) forgot(customer string, rows int64) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.latest == nil {
		return
	}
	if _, ok := pl.latest[customer]; ok && !pl.deleted[customer] {
		pl.live--
	}
	delete(pl.latest, customer)
	delete(pl.deleted, customer)
	pl.rows -= rows
}

func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (t *sqliteTx) UpdateOutbox(it *OutboxItem) error {
	if err := t.flush(); err != nil {
		return err
	}
	_, err := t.exec(`UPDATE outbox SET status = ?, reason = ?, attempts = ?, next_at = ?, sent_at = ?,
		message_id = ?, last_error = ? WHERE key = ? AND status != 'suppressed'`, it.Status, it.Reason, it.Attempts, it.NextAt.UnixMilli(),
		millisOrZero(it.SentAt), it.MessageID, it.LastError, it.Key)
	return err
}

func (t *sqliteTx) AssignCode(campaign string, idx int, customer, key string, at time.Time) error {
	_, err := t.exec(`INSERT INTO codes (campaign, idx, customer, key, at) VALUES (?, ?, ?, ?, ?)`,
		campaign, idx, customer, key, at.UnixMilli())
	return err
}

func (t *sqliteTx) Forget(customers []string) error {
	if err := t.flush(); err != nil {
		return err
	}
	t.erased = true
	for _, c := range customers {
		// Every version of the profile goes, not just the current one. The log has no index by
		// customer, so this reads it whole: forgetting is rare, appending profiles is not.
		res, err := t.exec(`DELETE FROM profiles WHERE customer = ?`, c)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		t.log.forgot(c, n)
		for _, q := range []string{
			`DELETE FROM events WHERE customer = ?`, // a pass over the log: see the schema
			// Keep the ledger of what was sent (so nothing is sent twice) but not who or what,
			// nor the channel's handles on it (its message ID, its errors naming the address).
			`UPDATE outbox SET to_addr = '', subject = '', text = '', customer = '', message_id = '', last_error = '',
				status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END,
				reason = CASE WHEN status = 'pending' THEN 'customer forgotten' ELSE reason END WHERE customer = ?`,
			`UPDATE codes SET customer = '' WHERE customer = ?`,
			`DELETE FROM redemptions WHERE customer = ?`,
			`DELETE FROM audience_members WHERE customer = ?`,
			`DELETE FROM steps WHERE customer = ?`,
		} {
			if _, err := t.exec(q, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// RedactIdentity rewrites the identity records naming any of ids without them. They are found
// by the values' JSON text, in one pass over the log: a forget is rare.
func (t *sqliteTx) RedactIdentity(ids []identity.ID) error {
	if len(ids) == 0 {
		return nil
	}
	t.erased = true
	vals, err := identityValues(ids)
	if err != nil {
		return err
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	rows, err := t.s.conn.QueryContext(t.ctx, `SELECT seq, record FROM identity_log WHERE instr(record, ?) > 0`+
		strings.Repeat(` OR instr(record, ?) > 0`, len(ids)-1), args...)
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
		_, err := t.exec(`UPDATE identity_log SET record = ? WHERE seq = ?`, body, seq)
		return err
	})
}

// identityValues are the values of ids as the identity records spell them (JSON strings):
// what a redaction looks for in the log.
func identityValues(ids []identity.ID) ([][]byte, error) {
	vals := make([][]byte, len(ids))
	for i, id := range ids {
		v, err := json.Marshal(id.Value)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

// logRecord is an identity record as a store's log holds it.
type logRecord struct {
	seq  int64
	body []byte
}

// redactRecords removes ids from the identity records found by their values, and writes back
// those that named them; one that has a value only under another type is left as it is.
func redactRecords(found []logRecord, ids []identity.ID, write func(seq int64, body []byte) error) error {
	for _, r := range found {
		var rec identity.Record
		if err := json.Unmarshal(r.body, &rec); err != nil {
			return fmt.Errorf("identity record %d: %w", r.seq, err)
		}
		if !rec.Redact(func(id identity.ID) bool { return slices.Contains(ids, id) }) {
			continue
		}
		body, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := write(r.seq, body); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTx) Suppress(hashes [][]byte) error {
	for _, h := range hashes {
		if _, err := t.exec(`INSERT OR IGNORE INTO suppressions (hash) VALUES (?)`, h); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTx) Unsuppress(hash []byte) error {
	_, err := t.exec(`DELETE FROM suppressions WHERE hash = ?`, hash)
	return err
}

// Suppressions returns the suppression key, made the first time, and the digests.
func (s *SQLiteStore) Suppressions(ctx context.Context) ([]byte, [][]byte, error) {
	err := s.Update(ctx, func(t Tx) error {
		_, err := t.(*sqliteTx).exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('suppression_key', ?)`, providers.NewKey())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var k string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'suppression_key'`).Scan(&k); err != nil {
		return nil, nil, err
	}
	key, err := hex.DecodeString(k)
	if err != nil {
		return nil, nil, fmt.Errorf("the suppression key: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT hash FROM suppressions`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var hashes [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, nil, err
		}
		hashes = append(hashes, h)
	}
	return key, hashes, rows.Err()
}

func (t *sqliteTx) MoveEvents(keys []string, customer string) error {
	if err := t.flush(); err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := t.exec(`UPDATE events SET customer = ? WHERE key = ?`, customer, k); err != nil {
			return err
		}
	}
	return nil
}

package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/musubi-hq/musubi/providers"
	_ "modernc.org/sqlite" // pure-Go SQLite, so the sandbox needs no C toolchain
)

// DefaultPath is where the sandbox keeps its systems when the provider block sets no path,
// relative to the configuration directory.
const DefaultPath = ".musubi/sandbox.db"

// Object is one object held by a simulated system.
type Object struct {
	ID         string          `json:"id"`
	Provider   string          `json:"provider"`
	Kind       providers.Kind  `json:"kind"`
	Attributes providers.Attrs `json:"attributes"`
	// Refs holds the IDs of the objects that ref-typed attributes name.
	Refs map[string]string `json:"refs,omitempty"`
	// IdempotencyKey is the key of the create that made the object.
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Delivery is one message a simulated messaging system delivered.
type Delivery struct {
	ID        string    `json:"id"`
	Provider  string    `json:"provider"`
	Recipient string    `json:"recipient"`
	Text      string    `json:"text"`
	Key       string    `json:"key,omitempty"`
	At        time.Time `json:"at"`
}

// Fault makes one upcoming call fail.
type Fault struct {
	ID int64 `json:"id"`
	// Provider limits the fault to one provider ("sandbox.ec"); empty matches all.
	Provider string `json:"provider,omitempty"`
	// Op is create, read, update, delete or send.
	Op string `json:"op"`
	// Nth is which matching call, counting from when the fault was added, fails.
	Nth int `json:"nth"`
	// Status is the HTTP status the call fails with.
	Status int `json:"status,omitempty"`
	// LoseResponse does the call's work, then reports a timeout.
	LoseResponse bool `json:"lose_response,omitempty"`
	// Hang does the call's work, then blocks until the process is stopped, to simulate a
	// crash in the middle of an apply.
	Hang bool `json:"hang,omitempty"`
}

// fails reports whether the fault stops the call before it does its work.
func (f *Fault) fails() bool { return f != nil && !f.LoseResponse && !f.Hang }

// Ops a fault can target.
var faultOps = []string{"create", "read", "update", "delete", "send"}

// statusCodes maps the statuses a fault may carry to the error class a real API's status
// would be classified as.
var statusCodes = map[int]providers.ErrorCode{
	400: providers.ErrInvalid, 422: providers.ErrInvalid,
	401: providers.ErrAuth, 403: providers.ErrAuth,
	404: providers.ErrNotFound, 409: providers.ErrConflict,
	429: providers.ErrRateLimited, 402: providers.ErrQuota,
	500: providers.ErrUnavailable, 502: providers.ErrUnavailable,
	503: providers.ErrUnavailable, 504: providers.ErrUnavailable,
}

const schema = `
CREATE TABLE IF NOT EXISTS objects (
	id              TEXT PRIMARY KEY,
	provider        TEXT NOT NULL,
	kind            TEXT NOT NULL,
	attributes      TEXT NOT NULL,
	refs            TEXT NOT NULL DEFAULT '{}',
	idempotency_key TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_key ON objects (provider, idempotency_key) WHERE idempotency_key != '';
CREATE INDEX IF NOT EXISTS objects_code ON objects (provider, json_extract(attributes, '$.code')) WHERE kind = 'coupon';
CREATE TABLE IF NOT EXISTS faults (
	id            INTEGER PRIMARY KEY,
	provider      TEXT NOT NULL,
	op            TEXT NOT NULL,
	nth           INTEGER NOT NULL,
	seen          INTEGER NOT NULL DEFAULT 0,
	status        INTEGER NOT NULL,
	lose_response INTEGER NOT NULL,
	hang          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
	seq       INTEGER PRIMARY KEY,
	id        TEXT NOT NULL UNIQUE,
	provider  TEXT NOT NULL,
	recipient TEXT NOT NULL,
	text      TEXT NOT NULL,
	key       TEXT NOT NULL,
	at        TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS deliveries_key ON deliveries (provider, key) WHERE key != '';
CREATE TABLE IF NOT EXISTS members (audience TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (audience, member)) WITHOUT ROWID;
`

// Store is an open sandbox file: every simulated system's objects, the pending faults and
// the messaging outbox, in one SQLite database. Several processes may use it at once (an
// apply and a `musubi sandbox set` beside it): writes are serialised transactions, and a
// process killed mid-apply loses nothing it committed.
type Store struct {
	path string
	db   *sql.DB
	refs int // open handles sharing this store in the process
	// Statements of the hot paths, prepared once: a refresh reads every object.
	byID, byKey, readFaults *sql.Stmt
	// batchReads admits one batch read a core: the file is local, so more at once only open
	// more connections, each with its own page cache, and read no faster.
	batchReads chan struct{}
}

var open = struct {
	sync.Mutex
	m map[string]*Store
}{m: map[string]*Store{}}

// OpenStore opens the sandbox file at path, creating it and its directory when missing.
// Handles to one path within a process share one Store; Close releases a handle.
func OpenStore(path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	open.Lock()
	defer open.Unlock()
	if s, ok := open.m[abs]; ok {
		s.refs++
		return s, nil
	}
	s, err := openFile(abs)
	if err != nil {
		return nil, err
	}
	open.m[abs] = s
	return s, nil
}

// openFile opens a store of its own on the file, as another process would.
func openFile(abs string) (*Store, error) {
	db, err := providers.OpenSQLite(abs, 0o755, schema, "a sandbox database", "synchronous(NORMAL)", "foreign_keys(ON)")
	if err != nil {
		return nil, err
	}
	// Keep connections open: each has its own page cache, and a refresh reads from several
	// at once.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &Store{path: abs, db: db, refs: 1, batchReads: make(chan struct{}, runtime.GOMAXPROCS(0))}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&s.byID, `SELECT ` + objectColumns + ` FROM objects WHERE id = ?`},
		{&s.byKey, `SELECT ` + objectColumns + ` FROM objects WHERE provider = ? AND idempotency_key = ? AND idempotency_key != ''`},
		{&s.readFaults, `SELECT EXISTS (SELECT 1 FROM faults WHERE op = 'read')`},
	} {
		if *p.stmt, err = db.Prepare(p.query); err != nil {
			db.Close()
			return nil, fmt.Errorf("sandbox %s: %w", abs, err)
		}
	}
	return s, nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close releases the handle; the database closes with the last one.
func (s *Store) Close() error {
	open.Lock()
	defer open.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	if open.m[s.path] == s {
		delete(open.m, s.path)
	}
	return s.db.Close()
}

// tx runs fn in a write transaction and commits it when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return providers.InTx(ctx, s.db, "sandbox "+s.path, fn)
}

const objectColumns = `id, provider, kind, attributes, refs, idempotency_key, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanObject(r scanner) (*Object, error) {
	var o Object
	var attrs, refs, created, updated string
	if err := r.Scan(&o.ID, &o.Provider, &o.Kind, &attrs, &refs, &o.IdempotencyKey, &created, &updated); err != nil {
		return nil, err
	}
	a, err := providers.UnmarshalAttrs(o.Kind, []byte(attrs))
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", o.ID, err)
	}
	o.Attributes = a
	if err := gojson.Unmarshal([]byte(refs), &o.Refs); err != nil {
		return nil, fmt.Errorf("object %s: %w", o.ID, err)
	}
	o.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	o.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
	return &o, nil
}

// getObject returns an object by ID, or nil; tx is nil outside a transaction.
func (s *Store) getObject(ctx context.Context, tx *sql.Tx, id string) (*Object, error) {
	return scanOne(s.stmt(ctx, tx, s.byID).QueryRowContext(ctx, id))
}

// getObjects returns the objects with the IDs that exist, by ID.
func (s *Store) getObjects(ctx context.Context, ids []string) (map[string]*Object, error) {
	out := make(map[string]*Object, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+objectColumns+` FROM objects WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out[o.ID] = o
	}
	return out, rows.Err()
}

// objectByKey returns the object a provider's create with the key made, or nil.
func (s *Store) objectByKey(ctx context.Context, tx *sql.Tx, provider, key string) (*Object, error) {
	if key == "" {
		return nil, nil
	}
	return scanOne(s.stmt(ctx, tx, s.byKey).QueryRowContext(ctx, provider, key))
}

func (s *Store) stmt(ctx context.Context, tx *sql.Tx, st *sql.Stmt) *sql.Stmt {
	if tx != nil {
		return tx.StmtContext(ctx, st)
	}
	return st
}

func scanOne(r *sql.Row) (*Object, error) {
	o, err := scanObject(r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return o, err
}

// putObject inserts or replaces an object.
func putObject(ctx context.Context, tx *sql.Tx, o *Object) error {
	attrs, err := json.Marshal(o.Attributes)
	if err != nil {
		return err
	}
	refs, err := json.Marshal(o.Refs)
	if err != nil {
		return err
	}
	if o.Refs == nil {
		refs = []byte("{}")
	}
	_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO objects (`+objectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Provider, string(o.Kind), string(attrs), string(refs), o.IdempotencyKey,
		o.CreatedAt.Format(time.RFC3339Nano), o.UpdatedAt.Format(time.RFC3339Nano))
	return err
}

// countCall counts a call of op by provider against the pending faults and returns the fault
// that fires on it, if any; a fired fault is used up.
func countCall(ctx context.Context, tx *sql.Tx, provider, op string) (*Fault, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE faults SET seen = seen + 1 WHERE op = ? AND (provider = '' OR provider = ?)
		RETURNING id, provider, op, nth, seen, status, lose_response, hang`, op, provider)
	if err != nil {
		return nil, err
	}
	var fired []Fault
	for rows.Next() {
		var f Fault
		var seen int
		if err := rows.Scan(&f.ID, &f.Provider, &f.Op, &f.Nth, &seen, &f.Status, &f.LoseResponse, &f.Hang); err != nil {
			rows.Close()
			return nil, err
		}
		if seen >= f.Nth {
			fired = append(fired, f)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(fired) == 0 {
		return nil, nil
	}
	// Two faults due on one call: the older fires now, the younger on the next call.
	sort.Slice(fired, func(i, j int) bool { return fired[i].ID < fired[j].ID })
	for _, f := range fired[1:] {
		if _, err := tx.ExecContext(ctx, `UPDATE faults SET seen = seen - 1 WHERE id = ?`, f.ID); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM faults WHERE id = ?`, fired[0].ID); err != nil {
		return nil, err
	}
	return &fired[0], nil
}

// AddFault arranges for a call to fail.
func (s *Store) AddFault(ctx context.Context, f Fault) error {
	if !slices.Contains(faultOps, f.Op) {
		return fmt.Errorf("op %q is not one of %s", f.Op, strings.Join(faultOps, ", "))
	}
	if f.Nth < 1 {
		return fmt.Errorf("--nth is %d; 1 is the next call", f.Nth)
	}
	if !f.LoseResponse && !f.Hang {
		if _, ok := statusCodes[f.Status]; !ok {
			return fmt.Errorf("status %d is not one the sandbox simulates; use one of %s", f.Status, knownStatuses())
		}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO faults (provider, op, nth, status, lose_response, hang) VALUES (?, ?, ?, ?, ?, ?)`,
		f.Provider, f.Op, f.Nth, f.Status, f.LoseResponse, f.Hang)
	return err
}

func knownStatuses() string {
	var ss []string
	for st := range statusCodes {
		ss = append(ss, strconv.Itoa(st))
	}
	sort.Strings(ss)
	return strings.Join(ss, ", ")
}

// Faults lists the pending faults.
func (s *Store) Faults(ctx context.Context) ([]Fault, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, provider, op, nth - seen, status, lose_response, hang FROM faults ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Fault
	for rows.Next() {
		var f Fault
		if err := rows.Scan(&f.ID, &f.Provider, &f.Op, &f.Nth, &f.Status, &f.LoseResponse, &f.Hang); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// List returns the objects of a provider and kind (empty matches all), sorted by provider,
// kind and creation.
func (s *Store) List(ctx context.Context, provider string, kind providers.Kind) ([]Object, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+objectColumns+` FROM objects
		WHERE (? = '' OR provider = ?) AND (? = '' OR kind = ?) ORDER BY provider, kind, created_at, id`,
		provider, provider, string(kind), string(kind))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, rows.Err()
}

// ErrNoObject is returned for an ID the sandbox does not hold.
var ErrNoObject = errors.New("no such object in the sandbox")

// Get returns one object.
func (s *Store) Get(ctx context.Context, id string) (Object, error) {
	o, err := s.getObject(ctx, nil, id)
	if err != nil {
		return Object{}, err
	}
	if o == nil {
		return Object{}, fmt.Errorf("%s: %w", id, ErrNoObject)
	}
	return *o, nil
}

// SetAttribute changes one attribute of an object out of band. A string value is parsed as
// the attribute's type: numbers, true/false, RFC 3339 times or dates, comma-separated lists,
// k=v,... maps; an empty string unsets the attribute.
func (s *Store) SetAttribute(ctx context.Context, id, name string, value any) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		o, err := s.getObject(ctx, tx, id)
		if err != nil {
			return err
		}
		if o == nil {
			return fmt.Errorf("%s: %w", id, ErrNoObject)
		}
		ks, err := providers.SchemaOf(o.Kind)
		if err != nil {
			return err
		}
		as, ok := ks.Attribute(name)
		if !ok {
			var names []string
			for _, a := range ks.Attributes {
				names = append(names, a.Name)
			}
			return fmt.Errorf("a %s has no attribute %q; it has %s", o.Kind, name, strings.Join(names, ", "))
		}
		if str, ok := value.(string); ok {
			if value, err = parseValue(as.Type, str); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		v, err := providers.Normalize(o.Kind, map[string]any{name: value})
		if err != nil {
			return err
		}
		delete(o.Attributes, name)
		for k, x := range v {
			o.Attributes[k] = x
		}
		o.UpdatedAt = time.Now().UTC()
		return putObject(ctx, tx, o)
	})
}

func parseValue(t providers.Type, s string) (any, error) {
	if s == "" {
		return nil, nil
	}
	switch t {
	case providers.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case providers.Float:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case providers.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", s)
		}
		return b, nil
	case providers.Time:
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.Format(time.RFC3339), nil
		}
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t.Format(time.RFC3339), nil
		}
		return nil, fmt.Errorf("%q is not an RFC 3339 time or a date", s)
	case providers.Strings:
		return strings.Split(s, ","), nil
	case providers.StringMap:
		m := map[string]string{}
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("%q is not a list of key=value", s)
			}
			m[k] = v
		}
		return m, nil
	}
	return s, nil
}

// Delete removes an object out of band.
func (s *Store) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM objects WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", id, ErrNoObject)
	}
	return nil
}

// Codes returns the codes of a code pool, as the system would export them.
func (s *Store) Codes(ctx context.Context, poolID string) ([]string, error) {
	o, err := s.Get(ctx, poolID)
	if err != nil {
		return nil, err
	}
	if o.Kind != providers.KindCodePool {
		return nil, fmt.Errorf("%s is a %s, not a code_pool", poolID, o.Kind)
	}
	a := o.Attributes
	return providers.GenerateCodes(a.String("pattern"), a.String("charset"), a.String("seed"), int(a.Int("count"))), nil
}

// Deliver records a message a messaging system sent. A repeated key (a retried send)
// returns the first delivery instead of sending twice.
func (s *Store) Deliver(ctx context.Context, provider, recipient, text, key string) (Delivery, error) {
	var d Delivery
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		d, _, err = deliver(ctx, tx, provider, recipient, text, key)
		return err
	})
	return d, err
}

// deliver records a message inside a transaction; dup reports a repeated key.
func deliver(ctx context.Context, tx *sql.Tx, provider, recipient, text, key string) (d Delivery, dup bool, err error) {
	d = Delivery{ID: newID("dlv"), Provider: provider, Recipient: recipient, Text: text, Key: key, At: time.Now().UTC()}
	if key != "" {
		var at string
		err := tx.QueryRowContext(ctx, `SELECT id, recipient, text, at FROM deliveries WHERE provider = ? AND key = ? AND key != ''`, provider, key).
			Scan(&d.ID, &d.Recipient, &d.Text, &at)
		if err == nil {
			d.At, _ = time.Parse(time.RFC3339Nano, at)
			return d, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return d, false, err
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO deliveries (id, provider, recipient, text, key, at) VALUES (?, ?, ?, ?, ?, ?)`,
		d.ID, provider, recipient, text, key, d.At.Format(time.RFC3339Nano))
	return d, false, err
}

// Outbox lists the delivered messages of a provider (empty for all), oldest first.
func (s *Store) Outbox(ctx context.Context, provider string) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, provider, recipient, text, key, at FROM deliveries
		WHERE ? = '' OR provider = ? ORDER BY seq`, provider, provider)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var at string
		if err := rows.Scan(&d.ID, &d.Provider, &d.Recipient, &d.Text, &d.Key, &at); err != nil {
			return nil, err
		}
		d.At, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// SetMembers adds and removes members of an audience object; repeats change nothing.
func (s *Store) SetMembers(ctx context.Context, audience string, add, remove []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, m := range add {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO members (audience, member) VALUES (?, ?)`, audience, m); err != nil {
			return err
		}
	}
	for _, m := range remove {
		if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE audience = ? AND member = ?`, audience, m); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Members lists an audience object's members, sorted.
func (s *Store) Members(ctx context.Context, audience string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT member FROM members WHERE audience = ? ORDER BY member`, audience)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// newID returns a random ID with a kind prefix, as real systems hand out.
func newID(prefix string) string { return providers.NewID(prefix, 6) }

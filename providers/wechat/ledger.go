package wechat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite: the ledger needs no C toolchain
)

// WeChat's template send takes no idempotency key Musubi can rely on (its client_msg_id is
// remembered for ten minutes), and a tag keeps nothing but its name, so the provider keeps a
// ledger: the keys it sent, and what it made tags for. Rows are per account (AppID), so every
// provider block and process using the account shares them.
const ledgerSchema = `
CREATE TABLE IF NOT EXISTS sends (
	account    TEXT NOT NULL,
	key        TEXT NOT NULL,
	state      TEXT NOT NULL,           -- 'pending' while a send is under way, then 'sent'
	msgid      TEXT NOT NULL DEFAULT '', -- WeChat's msgid of the sent message
	claimed_at INTEGER NOT NULL,
	sent_at    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account, key)
);
CREATE TABLE IF NOT EXISTS tag_creates (
	account TEXT NOT NULL,
	key     TEXT NOT NULL, -- the idempotency key of the create
	name    TEXT NOT NULL, -- the tag name it asked for: names are unique in an account
	PRIMARY KEY (account, key)
);
CREATE TABLE IF NOT EXISTS tag_segments (
	account TEXT NOT NULL,
	tag_id  INTEGER NOT NULL,
	segment TEXT NOT NULL,
	PRIMARY KEY (account, tag_id)
);
`

// ledger is the provider's SQLite file, written with full fsync so a send recorded as sent
// stays recorded through a crash. musubi serve and an apply may share it.
type ledger struct {
	path    string
	db      *sql.DB
	account string
	now     func() time.Time
}

// openLedger opens or makes the ledger file. Its errors do not name the file, which may come
// from env(): the caller names it as it may.
func openLedger(path, account string, now func() time.Time) (*ledger, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, pathless(err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, pathless(err)
	}
	dsn := "file:" + abs + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(30000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, pathless(err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(ledgerSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("not a WeChat ledger: %w", pathless(err))
	}
	if _, err := db.Exec(`DELETE FROM sends WHERE state = 'sent' AND sent_at < ?`, now().Add(-keepSends).Unix()); err != nil {
		db.Close()
		return nil, pathless(err)
	}
	return &ledger{path: abs, db: db, account: account, now: now}, nil
}

// pathless drops the file name from a file system error.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func (l *ledger) close() error { return l.db.Close() }

// claimLease is how long a send under way keeps others with its key waiting: longer than a
// send takes, so only a crashed sender's claim runs out.
const claimLease = 2 * time.Minute

// keepSends is how long a sent key is remembered; retries come within hours.
const keepSends = 90 * 24 * time.Hour

func (l *ledger) fail(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("WeChat ledger %s: %w", l.path, err)
}

// claim is what claiming a send's key found.
type claim struct {
	// msgID is WeChat's ID of the message, when the key was sent before.
	msgID string
	// wait is how long another sender's claim on the key still holds.
	wait time.Duration
}

// claim takes a send's key, unless it was sent already or another sender holds it. The claim
// of a sender that died (older than claimLease) is taken over.
func (l *ledger) claim(ctx context.Context, key string) (claim, error) {
	now := l.now()
	var c claim
	err := l.in(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO sends (account, key, state, claimed_at) VALUES (?, ?, 'pending', ?)
			ON CONFLICT (account, key) DO UPDATE SET claimed_at = excluded.claimed_at
			WHERE sends.state = 'pending' AND sends.claimed_at <= ?`,
			l.account, key, now.Unix(), now.Add(-claimLease).Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err // ours
		}
		var state string
		var at int64
		err = tx.QueryRowContext(ctx, `SELECT state, msgid, claimed_at FROM sends WHERE account = ? AND key = ?`,
			l.account, key).Scan(&state, &c.msgID, &at)
		if errors.Is(err, sql.ErrNoRows) {
			c.wait = time.Second // released between the two statements: try again
			return nil
		}
		if err != nil {
			return err
		}
		if state != "sent" {
			c.msgID, c.wait = "", max(time.Unix(at, 0).Add(claimLease).Sub(now), time.Second)
		}
		return nil
	})
	return c, l.fail(err)
}

// sent records a delivered message under its key.
func (l *ledger) sent(ctx context.Context, key, msgID string) error {
	_, err := l.db.ExecContext(ctx, `UPDATE sends SET state = 'sent', msgid = ?, sent_at = ? WHERE account = ? AND key = ?`,
		msgID, l.now().Unix(), l.account, key)
	return l.fail(err)
}

// release gives a claim back after a send WeChat did not take (or whose answer was lost), so a
// retry sends. Within ten minutes WeChat itself drops a repeat of the same client_msg_id.
func (l *ledger) release(ctx context.Context, key string) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM sends WHERE account = ? AND key = ? AND state = 'pending'`, l.account, key)
	return l.fail(err)
}

// intendTag records the name a tag create asks for, before it is sent.
func (l *ledger) intendTag(ctx context.Context, key, name string) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO tag_creates (account, key, name) VALUES (?, ?, ?)
		ON CONFLICT (account, key) DO UPDATE SET name = excluded.name`, l.account, key, name)
	return l.fail(err)
}

// intendedTag returns the name a create with key asked for, or "".
func (l *ledger) intendedTag(ctx context.Context, key string) (string, error) {
	return l.text(ctx, `SELECT name FROM tag_creates WHERE account = ? AND key = ?`, l.account, key)
}

// setSegment records which segment a tag holds; an empty segment forgets the tag.
func (l *ledger) setSegment(ctx context.Context, tagID int64, segment string) error {
	var err error
	if segment == "" {
		_, err = l.db.ExecContext(ctx, `DELETE FROM tag_segments WHERE account = ? AND tag_id = ?`, l.account, tagID)
	} else {
		_, err = l.db.ExecContext(ctx, `INSERT INTO tag_segments (account, tag_id, segment) VALUES (?, ?, ?)
			ON CONFLICT (account, tag_id) DO UPDATE SET segment = excluded.segment`, l.account, tagID, segment)
	}
	return l.fail(err)
}

// segment returns the segment a tag holds, or "" when the ledger does not know the tag.
func (l *ledger) segment(ctx context.Context, tagID int64) (string, error) {
	return l.text(ctx, `SELECT segment FROM tag_segments WHERE account = ? AND tag_id = ?`, l.account, tagID)
}

// segmentTags returns the tags the ledger says hold a segment, by ID.
func (l *ledger) segmentTags(ctx context.Context, segment string) ([]int64, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT tag_id FROM tag_segments WHERE account = ? AND segment = ? ORDER BY tag_id`, l.account, segment)
	if err != nil {
		return nil, l.fail(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, l.fail(err)
		}
		out = append(out, id)
	}
	return out, l.fail(rows.Err())
}

// text returns the one value a query selects, or "" when it selects no row.
func (l *ledger) text(ctx context.Context, query string, args ...any) (string, error) {
	var v string
	if err := l.db.QueryRowContext(ctx, query, args...).Scan(&v); !errors.Is(err, sql.ErrNoRows) {
		return v, l.fail(err)
	}
	return "", nil
}

// in runs fn in a transaction.
func (l *ledger) in(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

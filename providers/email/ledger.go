package email

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/musubi-hq/musubi/providers"
	_ "modernc.org/sqlite" // pure-Go SQLite: the ledger needs no C toolchain
)

// DefaultLedger is where the ledger lives when the provider block sets none, relative to the
// configuration directory.
const DefaultLedger = ".musubi/email-ledger.db"

// Neither SMTP nor SendGrid's mail send takes an idempotency key, so the provider remembers
// what it sent. The ledger also holds what no email system stores for Musubi: message
// templates, and which list an audience create asked for.
const ledgerSchema = `
CREATE TABLE IF NOT EXISTS sends (
	provider   TEXT NOT NULL,
	key        TEXT NOT NULL,
	state      TEXT NOT NULL, -- pending while a send is in flight, then sent
	message_id TEXT NOT NULL, -- the ID the system gave the message
	claimed_at INTEGER NOT NULL,
	sent_at    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (provider, key)
);
CREATE TABLE IF NOT EXISTS messages (
	id         TEXT PRIMARY KEY,
	provider   TEXT NOT NULL,
	key        TEXT NOT NULL,
	attributes TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_key ON messages (provider, key) WHERE key != '';
CREATE TABLE IF NOT EXISTS lists (
	provider TEXT NOT NULL,
	key      TEXT NOT NULL,
	name     TEXT NOT NULL, -- the list name the create asked for, to find it if the response was lost
	PRIMARY KEY (provider, key)
);
`

// Ledger timings.
const (
	// sendLease is how long a claimed send blocks another send with the same key: longer than
	// any one delivery takes, so only a crashed sender's claim expires.
	sendLease = 2 * time.Minute
	// sendRetention is how long a sent key is remembered; a retry comes within minutes, and
	// pruning keeps the file small over years of campaigns.
	sendRetention = 90 * 24 * time.Hour
)

// ledger is the provider's SQLite file. Every change is a transaction committed with a full
// fsync, so a send recorded as sent stays recorded through a crash or power loss. Several
// processes (`musubi serve` and an apply) may share it.
type ledger struct {
	path string
	db   *sql.DB
	now  func() time.Time
}

func openLedger(path string, now func() time.Time) (*ledger, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	db, err := providers.OpenSQLite(abs, 0o700, ledgerSchema, "an email ledger", "synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	l := &ledger{path: abs, db: db, now: now}
	if _, err := db.Exec(`DELETE FROM sends WHERE state = 'sent' AND sent_at < ?`, now().Add(-sendRetention).Unix()); err != nil {
		db.Close()
		return nil, fmt.Errorf("email ledger %s: %w", abs, err)
	}
	return l, nil
}

func (l *ledger) close() error { return l.db.Close() }

func (l *ledger) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return providers.InTx(ctx, l.db, "email ledger "+l.path, fn)
}

// claim is the outcome of claiming a send.
type claim struct {
	// sent holds the message ID when the key was sent before.
	sent string
	// busy is how long another sender's claim on the key still holds.
	busy time.Duration
}

// claimSend records that a send with key starts, unless the key was sent already or another
// sender holds it. A claim whose sender died (older than sendLease) is taken over: the
// message may or may not have gone out, and goes again with the same Message-ID.
func (l *ledger) claimSend(ctx context.Context, provider, key string) (claim, error) {
	var c claim
	now := l.now()
	err := l.tx(ctx, func(tx *sql.Tx) error {
		var state, id string
		var claimedAt int64
		err := tx.QueryRowContext(ctx, `SELECT state, message_id, claimed_at FROM sends WHERE provider = ? AND key = ?`,
			provider, key).Scan(&state, &id, &claimedAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO sends (provider, key, state, message_id, claimed_at) VALUES (?, ?, 'pending', '', ?)`,
				provider, key, now.Unix())
			return err
		case err != nil:
			return err
		case state == "sent":
			c.sent = id
			return nil
		}
		if left := time.Unix(claimedAt, 0).Add(sendLease).Sub(now); left > 0 {
			c.busy = left
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE sends SET claimed_at = ? WHERE provider = ? AND key = ?`, now.Unix(), provider, key)
		return err
	})
	return c, err
}

// sent records a finished send.
func (l *ledger) sent(ctx context.Context, provider, key, messageID string) error {
	return l.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sends SET state = 'sent', message_id = ?, sent_at = ? WHERE provider = ? AND key = ?`,
			messageID, l.now().Unix(), provider, key)
		return err
	})
}

// release drops the claim of a send the system refused, so a later retry sends.
func (l *ledger) release(ctx context.Context, provider, key string) error {
	return l.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sends WHERE provider = ? AND key = ? AND state = 'pending'`, provider, key)
		return err
	})
}

// storedMessage is a message template as the ledger holds it.
type storedMessage struct {
	ID         string
	Attributes providers.Attrs
}

func scanMessage(row *sql.Row) (*storedMessage, error) {
	var m storedMessage
	var attrs string
	if err := row.Scan(&m.ID, &attrs); errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	a, err := providers.UnmarshalAttrs(providers.KindMessage, []byte(attrs))
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.Attributes = a
	return &m, nil
}

// message returns a message by ID, or nil.
func (l *ledger) message(ctx context.Context, provider, id string) (*storedMessage, error) {
	return scanMessage(l.db.QueryRowContext(ctx, `SELECT id, attributes FROM messages WHERE provider = ? AND id = ?`, provider, id))
}

// messageByKey returns the message a create with key made, or nil.
func (l *ledger) messageByKey(ctx context.Context, provider, key string) (*storedMessage, error) {
	if key == "" {
		return nil, nil
	}
	return scanMessage(l.db.QueryRowContext(ctx, `SELECT id, attributes FROM messages WHERE provider = ? AND key = ?`, provider, key))
}

// createMessage stores a new message, or returns the one an earlier create with key stored.
func (l *ledger) createMessage(ctx context.Context, provider, key string, a providers.Attrs) (*storedMessage, error) {
	var out *storedMessage
	err := l.tx(ctx, func(tx *sql.Tx) error {
		if key != "" {
			m, err := scanMessage(tx.QueryRowContext(ctx, `SELECT id, attributes FROM messages WHERE provider = ? AND key = ?`, provider, key))
			if err != nil || m != nil {
				out = m
				return err
			}
		}
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		out = &storedMessage{ID: newID("msg"), Attributes: a.Clone()}
		_, err = tx.ExecContext(ctx, `INSERT INTO messages (id, provider, key, attributes, updated_at) VALUES (?, ?, ?, ?, ?)`,
			out.ID, provider, key, string(b), l.now().Unix())
		return err
	})
	return out, err
}

// updateMessage replaces a message's attributes; found is false when it is gone.
func (l *ledger) updateMessage(ctx context.Context, provider, id string, a providers.Attrs) (found bool, err error) {
	b, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	err = l.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE messages SET attributes = ?, updated_at = ? WHERE provider = ? AND id = ?`,
			string(b), l.now().Unix(), provider, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		found = n == 1
		return err
	})
	return found, err
}

func (l *ledger) deleteMessage(ctx context.Context, provider, id string) error {
	return l.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE provider = ? AND id = ?`, provider, id)
		return err
	})
}

// intendList records the list name a create with key asks for, before it is sent.
func (l *ledger) intendList(ctx context.Context, provider, key, name string) error {
	if key == "" {
		return nil
	}
	return l.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO lists (provider, key, name) VALUES (?, ?, ?)`, provider, key, name)
		return err
	})
}

// intendedList returns the list name a create with key asked for, or "".
func (l *ledger) intendedList(ctx context.Context, provider, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	var name string
	err := l.db.QueryRowContext(ctx, `SELECT name FROM lists WHERE provider = ? AND key = ?`, provider, key).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}

func newID(prefix string) string { return providers.NewID(prefix, 8) }

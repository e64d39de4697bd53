package engine

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Step is an action held back to run later: a trigger's delay, time of day or wait. Steps live
// in the store, written in the transaction of the event that scheduled them, and are found by
// their due time, so millions pending cost the engine no memory; only those a later event may
// cancel (Waits) are also indexed in memory, with their event (see waits).
type Step struct {
	// Key is the action's idempotency key: the key its send carries, as if it ran at once.
	Key       string    `json:"key"`
	Customer  string    `json:"customer"`
	Trigger   string    `json:"trigger"`
	Action    int       `json:"action"` // position in the trigger's actions
	Type      string    `json:"type"`   // the action's type
	Due       time.Time `json:"due"`
	Waits     bool      `json:"waits,omitempty"` // a later event may cancel it
	CreatedAt time.Time `json:"created_at"`
	EventKey  string    `json:"event_key"`
	EventType string    `json:"event_type"`
	// Event is the event that fired the trigger, as the event log keeps it.
	Event []byte `json:"-"`
	// Seq orders steps of the same due time, in the order they were scheduled.
	Seq int64 `json:"-"`
}

const stepColumns = `key, customer, trigger, action, type, due, waits, created_at, event_key, event_type, event`

// stepSelect is what reading a step selects: its columns and its seq.
const stepSelect = `SELECT ` + stepColumns + `, seq FROM steps `

func scanSteps(rows *sql.Rows, fn func(Step) error) error {
	defer rows.Close()
	for rows.Next() {
		var s Step
		var due, created int64
		if err := rows.Scan(&s.Key, &s.Customer, &s.Trigger, &s.Action, &s.Type, &due, &s.Waits, &created, &s.EventKey, &s.EventType, &s.Event, &s.Seq); err != nil {
			return err
		}
		s.Due, s.CreatedAt = fromMillis(due), fromMillis(created)
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}

func collectSteps(rows *sql.Rows, err error) ([]Step, error) {
	if err != nil {
		return nil, err
	}
	var out []Step
	err = scanSteps(rows, func(s Step) error {
		out = append(out, s)
		return nil
	})
	return out, err
}

// DueSteps lists the steps due at now, after the given one (zero: from the first).
func (s *SQLiteStore) DueSteps(ctx context.Context, now time.Time, after StepCursor, limit int) ([]Step, error) {
	// A row value, so the index on due (which holds seq, the rowid, after it) finds the place.
	return collectSteps(s.db.QueryContext(ctx, stepSelect+`WHERE (due, seq) > (?, ?) AND due <= ? ORDER BY due, seq LIMIT ?`,
		after.Due, after.Seq, now.UnixMilli(), limit))
}

// StepCursor is a place in the order steps come due: (due time in Unix milliseconds, seq).
type StepCursor struct{ Due, Seq int64 }

// Cursor is the place of s in the order steps come due.
func (s Step) Cursor() StepCursor { return StepCursor{Due: s.Due.UnixMilli(), Seq: s.Seq} }

// Steps lists the customers' pending steps.
func (s *SQLiteStore) Steps(ctx context.Context, customers []string) ([]Step, error) {
	var out []Step
	for _, c := range customers {
		got, err := collectSteps(s.db.QueryContext(ctx, stepSelect+`WHERE customer = ? ORDER BY due, seq`, c))
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// WaitingSteps streams the steps a later event may cancel.
func (s *SQLiteStore) WaitingSteps(ctx context.Context, fn func(Step) error) error {
	rows, err := s.db.QueryContext(ctx, stepSelect+`WHERE waits = 1 ORDER BY seq`)
	if err != nil {
		return err
	}
	return scanSteps(rows, fn)
}

// CountSteps counts the pending steps.
func (s *SQLiteStore) CountSteps(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM steps`).Scan(&n)
	return n, err
}

func (t *sqliteTx) ScheduleStep(s *Step) error {
	_, err := t.exec(`INSERT INTO steps (`+stepColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.Key, s.Customer, s.Trigger, s.Action, s.Type, s.Due.UnixMilli(), s.Waits, s.CreatedAt.UnixMilli(), s.EventKey, s.EventType, s.Event)
	return err
}

func (t *sqliteTx) CancelSteps(customer string, keys []string) error {
	for _, k := range keys {
		if _, err := t.exec(`DELETE FROM steps WHERE customer = ? AND key = ?`, customer, k); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTx) DoneSteps(seqs []int64) error {
	// In statements of up to 100 rowids: a batch of due steps is deleted in a few
	// statements, not one per step.
	for len(seqs) > 0 {
		n := min(len(seqs), 100)
		args := make([]any, n)
		for i, s := range seqs[:n] {
			args[i] = s
		}
		if _, err := t.exec(`DELETE FROM steps WHERE seq IN (?`+strings.Repeat(`, ?`, n-1)+`)`, args...); err != nil {
			return err
		}
		seqs = seqs[n:]
	}
	return nil
}

func (t *sqliteTx) MoveSteps(from, into string) error {
	_, err := t.exec(`UPDATE steps SET customer = ? WHERE customer = ?`, into, from)
	return err
}

func (t *pendingTx) ScheduleStep(s *Step) {
	step := *s
	t.record(func(tx Tx) error { return tx.ScheduleStep(&step) })
}

func (t *pendingTx) CancelSteps(customer string, keys []string) {
	t.record(func(tx Tx) error { return tx.CancelSteps(customer, keys) })
}

func (t *pendingTx) DoneSteps(seqs []int64) {
	t.record(func(tx Tx) error { return tx.DoneSteps(seqs) })
}

func (t *pendingTx) MoveSteps(from, into string) {
	t.record(func(tx Tx) error { return tx.MoveSteps(from, into) })
}

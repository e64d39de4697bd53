package engine

import (
	"context"
	"time"
)

// CodeOwners reads who each code number was given to.
func (s *SQLiteStore) CodeOwners(ctx context.Context, fn func(campaign string, idx int, customer string, at time.Time) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT campaign, idx, customer, at FROM codes`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var campaign, customer string
		var idx int
		var at int64
		if err := rows.Scan(&campaign, &idx, &customer, &at); err != nil {
			return err
		}
		if err := fn(campaign, idx, customer, fromMillis(at)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Redemptions reads the codes redeemed, by order.
func (s *SQLiteStore) Redemptions(ctx context.Context, fn func(code, orderID, customer string) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT code, order_id, customer FROM redemptions`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var code, order, customer string
		if err := rows.Scan(&code, &order, &customer); err != nil {
			return err
		}
		if err := fn(code, order, customer); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *sqliteTx) RecordRedemption(code, orderID, campaign, customer string, at time.Time) error {
	_, err := t.exec(`INSERT OR IGNORE INTO redemptions (code, order_id, campaign, customer, at) VALUES (?, ?, ?, ?, ?)`,
		code, orderID, campaign, customer, at.UnixMilli())
	return err
}

package providers

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// OpenSQLite opens the SQLite file at abs through the "sqlite" database/sql driver, which
// the caller links in, creating the file and its directory (with dirPerm) when missing. It
// opens the file as the providers' local files are shared between processes (musubi serve
// and an apply): WAL lets readers run beside a writer; an immediate transaction takes the
// write lock at its start, so two processes never deadlock upgrading one; busy_timeout
// waits for the other. pragmas add to those (synchronous, foreign_keys). schema runs once
// open; its failure says the file is not what it should be ("an email ledger").
func OpenSQLite(abs string, dirPerm os.FileMode, schema, what string, pragmas ...string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(abs), dirPerm); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range append([]string{"journal_mode(WAL)", "busy_timeout(30000)"}, pragmas...) {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+abs+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s is not %s: %w", abs, what, err)
	}
	return db, nil
}

// InTx runs fn in a transaction of db, committed when fn returns nil. A failure to begin or
// to commit names the file (name: "email ledger PATH"); fn's own errors pass as they are.
func InTx(ctx context.Context, db *sql.DB, name string, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// NewID returns prefix, "_" and n random bytes in hex: the ID of an object a local store
// makes.
func NewID(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	return prefix + "_" + hex.EncodeToString(b)
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// storeBytes reads the store's database and WAL files as they are on disk, lower-cased.
func storeBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for i, c := range all {
		if 'A' <= c && c <= 'Z' {
			all[i] = c + 'a' - 'A'
		}
	}
	return all
}

func checkStoreBytes(t *testing.T, when, path string, gone, kept []string) {
	t.Helper()
	b := storeBytes(t, path)
	for _, n := range gone {
		if i := bytes.Index(b, []byte(n)); i >= 0 {
			t.Errorf("%s: the store's files still hold %q: …%q…", when, n, b[max(i-40, 0):min(i+len(n)+40, len(b))])
		}
	}
	for _, n := range kept {
		if !bytes.Contains(b, []byte(n)) {
			t.Errorf("%s: the store's files lost %q, which was not forgotten", when, n)
		}
	}
}

func openStore(t *testing.T, path string) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkPrivate(t *testing.T, path string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
}

// The store's files are the owner's only, whatever the umask, and a store made readable to
// others before is made private when opened.
func TestStoreFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644) // whatever the umask
	s := openStore(t, path)
	if err := s.Update(context.Background(), func(tx Tx) error { return tx.AppendIdentity([]byte(`{}`)) }); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, path)
	s.Close()
}

// A store written before deletes were zeroed keeps deleted rows in free space; its first
// forget rebuilds it without them.
func TestForgetScrubsAnOlderStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	s := openStore(t, path)
	// As an earlier musubi wrote it: no zeroing, and an event deleted since.
	s.conn.ExecContext(ctx, `PRAGMA secure_delete = 0`)
	err := s.Update(ctx, func(t Tx) error {
		tx := t.(*sqliteTx)
		if _, err := tx.exec(`DELETE FROM meta WHERE key = 'secure_delete'`); err != nil {
			return err
		}
		for _, c := range []string{"c_1", "c_2"} {
			tx.InsertEvent("pos:"+c, c, "purchase", time.Now(), []byte(`{"data":{"order_id":"ORD-OLD-`+c+`"}}`))
		}
		return nil
	})
	if err == nil {
		err = s.Update(ctx, func(t Tx) error {
			_, err := t.(*sqliteTx).exec(`DELETE FROM events WHERE customer = 'c_1'`)
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkStoreBytes(t, "an older store", path, nil, []string{"ord-old-c_1", "ord-old-c_2"})

	s = openStore(t, path)
	defer s.Close()
	if err := s.Update(ctx, func(tx Tx) error { return tx.Forget([]string{"c_3"}) }); err != nil {
		t.Fatal(err)
	}
	checkStoreBytes(t, "after its first forget", path, []string{"ord-old-c_1"}, []string{"ord-old-c_2"})
}

// A reader that keeps the WAL open delays its truncation after a forget, without holding up
// the writer long; the WAL is truncated once the reader is done.
func TestForgetScrubWaitsForReaders(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	s := openStore(t, path)
	defer s.Close()
	if err := s.Update(ctx, func(tx Tx) error {
		return tx.InsertEvent("pos:1", "c_1", "purchase", time.Now(), []byte(`{"data":{"order_id":"ORD-READER-1"}}`))
	}); err != nil {
		t.Fatal(err)
	}
	reader, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	reader.ExecContext(ctx, `BEGIN`)
	reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n)
	start := time.Now()
	if err := s.Update(ctx, func(tx Tx) error { return tx.Forget([]string{"c_1"}) }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second || !s.scrubbing.Load() {
		t.Fatalf("with a reader: took %s, scrub pending %v", d, s.scrubbing.Load())
	}
	reader.ExecContext(ctx, `ROLLBACK`)
	reader.Close()
	for deadline := time.Now().Add(10 * time.Second); s.scrubbing.Load() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	checkStoreBytes(t, "once the reader is done", path, []string{"ord-reader-1"}, nil)
}

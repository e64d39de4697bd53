package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// loadProfiles reads a store's profiles as the engine does at start.
func loadProfiles(t *testing.T, s *SQLiteStore) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.Profiles(context.Background(), func(c string, body []byte) error {
		if body == nil {
			delete(out, c)
		} else {
			out[c] = string(body)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countRows(t *testing.T, s *SQLiteStore) (rows, customers int) {
	t.Helper()
	if err := s.db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT customer) FROM profiles`).Scan(&rows, &customers); err != nil {
		t.Fatal(err)
	}
	return rows, customers
}

// Profiles are appended, never updated in place; the log is compacted from its head so it
// stays within about twice the live profiles, and every customer's current profile (or its
// deletion) survives compaction and a reopen.
func TestProfileLogCompaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "engine.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	loadProfiles(t, s) // learn the (empty) log, as the engine does at start
	const customers, rounds = 50, 600
	want := map[string]string{}
	for r := range rounds {
		err := s.Update(ctx, func(tx Tx) error {
			for c := range customers {
				id := fmt.Sprintf("c_%02d", c)
				switch {
				case c < 5 && r == rounds-1: // deleted at the very end
					delete(want, id)
					if err := tx.DeleteProfile(id); err != nil {
						return err
					}
				case c >= 45 && r == 10: // deleted early, while old versions remain
					delete(want, id)
					if err := tx.DeleteProfile(id); err != nil {
						return err
					}
				case c >= 45 && r > 10:
				default:
					body := fmt.Sprintf(`{"id":%q,"round":%d}`, id, r)
					want[id] = body
					if err := tx.PutProfile(id, []byte(body)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := countRows(t, s)
	written := customers * rounds
	if rows > 2*customers+compactSlack+compactRun {
		t.Errorf("the log holds %d rows for %d customers after %d writes: not compacted", rows, customers, written)
	}
	if got := loadProfiles(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("profiles after compaction:\n%v\nwant\n%v", got, want)
	}

	// Forgetting removes every version of a customer at once.
	if err := s.Update(ctx, func(tx Tx) error { return tx.Forget([]string{"c_10"}) }); err != nil {
		t.Fatal(err)
	}
	delete(want, "c_10")
	var left int
	s.db.QueryRow(`SELECT COUNT(*) FROM profiles WHERE customer = 'c_10'`).Scan(&left)
	if left != 0 {
		t.Errorf("%d rows of a forgotten customer remain", left)
	}
	s.Close()

	s, err = OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := loadProfiles(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("profiles after reopening:\n%v\nwant\n%v", got, want)
	}
	// Writing after the reopen numbers after the last row.
	if err := s.Update(ctx, func(tx Tx) error { return tx.PutProfile("c_20", []byte(`{"id":"c_20","round":999}`)) }); err != nil {
		t.Fatal(err)
	}
	want["c_20"] = `{"id":"c_20","round":999}`
	if got := loadProfiles(t, s); got["c_20"] != want["c_20"] {
		t.Fatalf("after a write on the reopened store: %v", got["c_20"])
	}
}

// A profile's copy shares nothing the engine changes in place: the committer encodes the
// copy while the processor goes on changing the profile.
func TestProfileCloneIsIndependent(t *testing.T) {
	p := &Profile{ID: "c_1", Consent: map[string]bool{"line": true}, Segments: segmentsOf("a"),
		Traits: map[string]*TraitState{"visits": {Buckets: []Bucket{{Start: 60, N: 1, Distinct: []string{"x"}}}}},
		Sent:   []Sent{{Channel: "line"}}}
	c := p.clone()
	p.Consent["line"] = false
	p.Segments.add("b")
	p.Traits["visits"].Buckets[0].N = 2
	p.Traits["visits"].Buckets[0].Distinct[0] = "y"
	p.Sent[0].Channel = "email"
	if !c.Consent["line"] || c.Segments.has("b") || c.Traits["visits"].Buckets[0].N != 1 ||
		c.Traits["visits"].Buckets[0].Distinct[0] != "x" || c.Sent[0].Channel != "line" {
		t.Fatalf("the copy changed with the profile: %+v", c)
	}
}

// A transaction that fails leaves nothing behind, and the writer goes on: the next one, which
// runs the same prepared statements, commits. The inserts take whole statements or powers of
// two of rows, so a few statements serve any number of rows.
func TestFailedUpdateRollsBack(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert := func(prefix string, n int, fail error) error {
		return s.Update(ctx, func(tx Tx) error {
			for i := range n {
				if err := tx.InsertEvent(fmt.Sprintf("%s%d", prefix, i), "c_1", "purchase", time.Now(), []byte(`{}`)); err != nil {
					return err
				}
				if err := tx.PutProfile(fmt.Sprintf("c_%s%d", prefix, i), []byte{profileV1}); err != nil {
					return err
				}
			}
			tx.(*sqliteTx).flush() // the rows are written before the failure
			return fail
		})
	}
	boom := errors.New("boom")
	if err := insert("a", 300, boom); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the transaction's error", err)
	}
	if err := insert("b", 300, nil); err != nil {
		t.Fatal(err)
	}
	if err := insert("c", 77, nil); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.EventKeys(ctx, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 377 || slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "a") }) {
		t.Fatalf("%d events stored (want 377, none of the failed transaction)", len(keys))
	}
	if rows, _ := countRows(t, s); rows != 377 {
		t.Fatalf("%d profile rows, want 377", rows)
	}
	// 300 and 77 rows of each table take whole statements and powers of two: a handful in all.
	if len(s.stmts) > 12 {
		t.Fatalf("%d statements prepared", len(s.stmts))
	}
}

package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Hanako shops online and in store, follows on LINE (and gets the welcome code), and her two
// customers are merged; Taro is another store regular.
var hanakoEvents = []string{
	`{"id": "ec-hanako-1", "type": "purchase", "source": "ec", "channel": "ec", "record": {"email": "Hanako.Yamada@Example.jp", "customer_id": "EC-77120"},
	  "attributes": {"name": "山田花子"}, "data": {"order_id": "ORD-5521-HY", "total": 5000}}`,
	`{"id": "pos-hanako-1", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-4455-6677", "member_code": "M-88231"},
	  "data": {"order_id": "ORD-5522-HY", "total": 1200}}`,
	`{"id": "line-hanako-1", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U9f8e7d6c5b", "phone": "090-4455-6677"}}`,
	`{"id": "ec-hanako-2", "type": "cart.updated", "source": "ec", "channel": "ec", "record": {"email": "hanako.yamada@example.jp", "phone": "09044556677"},
	  "data": {"cart": {"total": 1000}}}`,
}

var taroEvents = []string{
	`{"id": "pos-taro-1", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-1111-2222", "member_code": "M-10001"}, "data": {"total": 3000}}`,
	`{"id": "line-taro-1", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "Utaro0001", "phone": "090-1111-2222"}}`,
}

// What Hanako's data looks like in any form the engine had it: identifiers raw and
// normalised, her name, her orders, her event IDs. Matched case-insensitively.
var hanakoNeedles = []string{"hanako.yamada@example.jp", "ec-77120", "090-4455-6677", "09044556677", "+819044556677",
	"m-88231", "u9f8e7d6c5b", "山田花子", "ord-5521-hy", "ord-5522-hy", "ec-hanako-", "pos-hanako-", "line-hanako-"}

// What must stay: Taro, as the store keeps him.
var taroNeedles = []string{"+819011112222", "m-10001", "utaro0001", "pos-taro-1"}

// storeBytes reads the store's database and WAL files as they are on disk, lower-cased; a
// PostgreSQL store's rows (see storeText).
func storeBytes(t *testing.T, path string) []byte {
	t.Helper()
	if IsPostgres(path) {
		return storeText(t, path)
	}
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
	if runtime.GOOS == "windows" || IsPostgres(path) {
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

// A forget leaves no copy of the person in the store's files, the log of the identity graph
// included; their events sent again create nobody and send nothing; a restart rebuilds
// everyone else.
func TestForgetErasesEveryCopy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	path := cmp.Or(f.dsn, filepath.Join(f.dir, "engine.db"))
	for _, js := range append(append([]string{}, hanakoEvents...), taroEvents...) {
		f.ingest(js)
	}
	hanako, err := f.eng.Customer(ctx, "phone:090-4455-6677")
	if err != nil || len(hanako.Merges) != 1 || len(hanako.Identifiers) != 5 {
		t.Fatalf("hanako: %+v %v", hanako, err)
	}
	if err := f.eng.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.deliveries()); n != 2 {
		t.Fatalf("%d welcome messages, want 2", n)
	}
	// Gone too once sent again: her order, named with her Uni-ID.
	needles := append([]string{"ord-5523-hy"}, hanakoNeedles...)
	for _, d := range f.deliveries() {
		if d.Recipient == "U9f8e7d6c5b" {
			needles = append(needles, strings.ToLower(d.Text)) // her code, in its message
		}
	}
	checkPrivate(t, path)
	checkStoreBytes(t, "before the forget", path, nil, append(hanakoNeedles, taroNeedles...))

	fr, err := f.eng.Forget(ctx, "email:Hanako.Yamada@example.jp")
	if err != nil || len(fr.Customers) != 2 || len(fr.Identifiers) != 5 {
		t.Fatalf("forget: %+v %v", fr, err)
	}
	checkStoreBytes(t, "after the forget", path, needles, taroNeedles)
	checkPrivate(t, path)

	// Her events again, and new ones with her identifiers or her Uni-ID: nobody is made,
	// nothing is stored or sent.
	outbox, _ := f.store.Outbox(ctx, "", 100)
	again := append(append([]string{}, hanakoEvents...),
		`{"id": "line-hanako-2", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U9f8e7d6c5b"}}`,
		`{"id": "pos-hanako-2", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "+81 90 4455 6677"}, "data": {"total": 800}}`,
		`{"id": "api-hanako-3", "type": "purchase", "customer": "`+hanako.ID+`", "data": {"order_id": "ORD-5523-HY", "total": 800}}`)
	repost := func(when string) {
		t.Helper()
		for _, js := range again {
			if r := f.ingest(js)[0]; r.Customer != "" || len(r.Fired) > 0 || len(r.Entered) > 0 {
				t.Errorf("%s: a forgotten person's event was taken: %+v", when, r)
			}
		}
		if n := f.eng.Graph().Len(); n != 1 {
			t.Errorf("%s: %d customers, want Taro only", when, n)
		}
		if items, _ := f.store.Outbox(ctx, "", 100); len(items) != len(outbox) {
			t.Errorf("%s: the outbox grew from %d to %d items", when, len(outbox), len(items))
		}
		if err := f.eng.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(f.deliveries()); n != 2 {
			t.Errorf("%s: %d messages sent, want the 2 welcomes of before", when, n)
		}
	}
	repost("after the forget")

	// The identity log, redacted, rebuilds the graph without her; Taro is as he was.
	f.restart()
	checkPrivate(t, path)
	taro, err := f.eng.Customer(ctx, "member:M-10001")
	if err != nil || taro.Traits["spend_90d"] != int64(3000) || strings.Join(taro.Segments, ",") != "loyal_store" || len(taro.Identifiers) != 3 {
		t.Fatalf("taro after a restart: %+v %v", taro, err)
	}
	for _, ref := range []string{hanako.ID, "phone:090-4455-6677", "line_user:U9f8e7d6c5b", "ec_id:EC-77120"} {
		if _, err := f.eng.Customer(ctx, ref); !errors.Is(err, ErrNoCustomer) {
			t.Errorf("after a restart, %s: %v", ref, err)
		}
	}
	repost("after a restart")
	f.close()
	checkStoreBytes(t, "closed", path, needles, taroNeedles)
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

// A forgotten identifier is refused until an admin lifts its suppression; lifting one leaves
// the others, and both hold across a restart.
func TestUnsuppress(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, quickstartBundle(t, nil))
	for _, js := range hanakoEvents {
		f.ingest(js)
	}
	if _, err := f.eng.Forget(ctx, "member:M-88231"); err != nil {
		t.Fatal(err)
	}
	byPhone := `{"id": "pos-hanako-9", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-4455-6677"}, "data": {"total": 800}}`
	byEmail := `{"id": "ec-hanako-9", "type": "purchase", "source": "ec", "channel": "ec", "record": {"email": "hanako.yamada@example.jp"}, "data": {"total": 800}}`
	if r := f.ingest(byPhone)[0]; !r.Suppressed || r.Customer != "" {
		t.Fatalf("before lifting: %+v", r)
	}

	srv := httptest.NewServer(f.eng.Handler(ServerOptions{AdminToken: "admin"}))
	defer srv.Close()
	lift := func(id string) int {
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/admin/suppressions/"+id, nil)
		req.Header.Set("Authorization", "Bearer admin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := lift("phone:+81%2090-4455-6677"); got != http.StatusNoContent {
		t.Fatalf("lifting: %d", got)
	}
	if got := lift("phone:090-4455-6677"); got != http.StatusNotFound {
		t.Fatalf("lifting twice: %d", got)
	}
	if got := lift("nothing"); got != http.StatusBadRequest {
		t.Fatalf("lifting no identifier: %d", got)
	}
	f.restart()
	if r := f.ingest(strings.Replace(byPhone, "-9", "-10", 1))[0]; r.Suppressed || r.Customer == "" {
		t.Fatalf("after lifting: %+v", r)
	}
	if r := f.ingest(byEmail)[0]; !r.Suppressed || r.Customer != "" {
		t.Fatalf("another identifier after lifting one: %+v", r)
	}
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

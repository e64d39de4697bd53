package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers/pgtest"
)

// A leader that stops renewing its lease (a paused process: its connections stay open) is
// replaced after the lease: the standby ends its sessions and takes the next epoch, and the
// old leader's writes are refused from then on.
func TestLeaderFencing(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	s1, err := OpenPG(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := OpenPG(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	const lease = time.Second
	l1, err := s1.Lead(ctx, "http://one", lease, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Release()
	write := func(s *PGStore, key string) error {
		return s.Update(ctx, func(tx Tx) error { return tx.InsertEvent(key, "c", "t", t0, []byte("{}")) })
	}
	if err := write(s1, "by-one"); err != nil {
		t.Fatal(err)
	}
	type led struct {
		l  *Leader
		at time.Time
	}
	got := make(chan led, 1)
	var seenMu sync.Mutex
	var seen LeaderInfo
	go func() {
		l, err := s2.Lead(ctx, "http://two", lease, nil, func(li LeaderInfo) { seenMu.Lock(); seen = li; seenMu.Unlock() })
		if err != nil {
			t.Error(err)
		}
		got <- led{l, time.Now()}
	}()
	select {
	case <-got:
		t.Fatal("the standby led while the leader renewed its lease")
	case <-time.After(3 * lease):
	}
	seenMu.Lock()
	if seen.Address != "http://one" || seen.Epoch != l1.Epoch {
		t.Errorf("the standby saw %+v", seen)
	}
	seenMu.Unlock()
	// The leader stalls: no more heartbeats, its connections open.
	paused := time.Now()
	l1.stopHeartbeat()
	var l2 led
	select {
	case l2 = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the standby did not take over within 10 s of the leader stalling")
	}
	defer l2.l.Release()
	t.Logf("took over %s after the leader stalled (lease %s)", l2.at.Sub(paused).Round(time.Millisecond), lease)
	if l2.l.Epoch != l1.Epoch+1 {
		t.Errorf("epoch %d after %d", l2.l.Epoch, l1.Epoch)
	}
	// The old leader resumes: its first write may meet its ended session, the next one the
	// new epoch; none commits.
	for i := range 3 {
		err := write(s1, fmt.Sprint("stale-", i))
		if err == nil {
			t.Fatal("the old leader wrote after the takeover")
		}
		if i > 0 && !IsFenced(err) {
			t.Errorf("write %d of the old leader: %v, want it fenced", i, err)
		}
	}
	if err := write(s2, "by-two"); err != nil {
		t.Fatal(err)
	}
	known, _ := s2.KnownEvents(ctx, []string{"by-one", "by-two", "stale-0", "stale-1", "stale-2"})
	if len(known) != 2 || !known["by-one"] || !known["by-two"] {
		t.Errorf("events stored: %v", known)
	}
}

// Two servers on one store: the standby answers 503 naming the leader; when the leader's
// sessions end (its machine gone), the standby leads within seconds with every event the
// leader acknowledged, and the old leader stands by.
func TestFailoverServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := pgtest.DSN(t)
	type server struct {
		store *PGStore
		url   string
		done  chan error
	}
	start := func() *server {
		s, err := OpenPG(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &server{store: s, url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
		go func() {
			srv.done <- ServeFailover(ctx, ln, FailoverOptions{Store: s, Address: srv.url, Lease: time.Second,
				StandbyRefresh: 200 * time.Millisecond, Engine: Options{BundlePoll: -1, DisableDelivery: true}})
		}()
		t.Cleanup(func() { cancel(); <-srv.done; s.Close() })
		return srv
	}
	get := func(url string) (int, map[string]any) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	waitRole := func(s *server, role string, within time.Duration) map[string]any {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			_, m := get(s.url + "/healthz")
			if (m["role"] == role && (role != "standby" || m["leader"] != "")) || (role == "leader" && m["status"] == "ok" && m["role"] == nil) {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not %s after %s: %v", s.url, role, within, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	{
		s, err := OpenPG(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		b := quickstartBundle(t, nil)
		p, err := compileBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutBundle(ctx, p.Hash, b, "test"); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	a := start()
	waitRole(a, "leader", 10*time.Second)
	b := start()
	waitRole(b, "standby", 10*time.Second)
	if status, m := get(b.url + "/readyz"); status != http.StatusServiceUnavailable || m["leader"] != a.url {
		t.Errorf("the standby's /readyz: %d %v", status, m)
	}
	if status, m := get(a.url + "/readyz"); status != http.StatusOK || m["role"] != "leader" {
		t.Errorf("the leader's /readyz: %d %v", status, m)
	}
	post := func(url string, i int) int {
		body := fmt.Sprintf(`{"id": "e-%d", "type": "purchase", "source": "pos", "channel": "pos", "store_id": "shibuya", "record": {"phone_number": "090-0000-%04d"}, "data": {"total": 100}}`, i, i)
		resp, err := http.Post(url+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post(b.url, 0); status != http.StatusServiceUnavailable {
		t.Errorf("the standby took an event: %d", status)
	}
	for i := range 40 {
		if status := post(a.url, i); status != http.StatusAccepted {
			t.Fatalf("event %d: %d", i, status)
		}
	}
	// The standby answers decisions from its copy, reloaded from the store, and says as of when.
	decide := func(url string) (int, map[string]any, string) {
		body := `{"event": {"type": "cart.updated", "source": "pos", "record": {"phone_number": "090-0000-0007"}, "data": {"cart": {"total": 2900}}}}`
		resp, err := http.Post(url+"/v1/decide", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, nil, ""
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m, resp.Header.Get("Musubi-Standby-As-Of")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		status, m, asOf := decide(b.url)
		if status == http.StatusOK && m["customer"] != nil && m["customer"] != "" && asOf != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby's decision: %d %v (as of %q)", status, m, asOf)
		}
	}
	if status, _, asOf := decide(a.url); status != http.StatusOK || asOf != "" {
		t.Errorf("the leader's decision: %d, as of %q", status, asOf)
	}
	// The leader's machine is gone: its sessions end.
	gone := time.Now()
	if _, err := b.store.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, a.store.app); err != nil {
		t.Fatal(err)
	}
	m := waitRole(b, "leader", 10*time.Second)
	t.Logf("the standby led %s after the leader's sessions ended", time.Since(gone).Round(time.Millisecond))
	if m["customers"] != float64(40) {
		t.Errorf("the new leader has %v customers, want the 40 acknowledged", m["customers"])
	}
	for i := 40; i < 50; i++ {
		if status := post(b.url, i); status != http.StatusAccepted {
			t.Fatalf("event %d on the new leader: %d", i, status)
		}
	}
	m = waitRole(a, "standby", 10*time.Second)
	if m["leader"] != b.url {
		t.Errorf("the old leader names %v as the leader, want %s", m["leader"], b.url)
	}
	if _, m := get(b.url + "/healthz"); m["customers"] != float64(50) {
		t.Errorf("%v customers, want 50", m["customers"])
	}
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// post sends a JSON body and returns the status and the body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// healthy fails the test unless the server still answers /healthz and takes a good event.
func healthy(t *testing.T, srv *httptest.Server, id string) {
	t.Helper()
	if status, body := get(t, srv.URL+"/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz after a bad request: %d %s", status, body)
	}
	good := strings.Replace(purchase, `"pos-1"`, fmt.Sprintf("%q", id), 1)
	if status, body := post(t, srv.URL+"/v1/events", good); status != http.StatusAccepted {
		t.Fatalf("a good event after a bad request: %d %s", status, body)
	}
}

// A request the engine refuses fails alone: a 4xx for it, and the engine goes on.
func TestBadInputFailsOnlyItsRequest(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	srv := httptest.NewServer(f.eng.Handler(ServerOptions{}))
	defer srv.Close()
	ids := map[string]string{}
	for i := range 257 {
		ids[fmt.Sprintf("x%d", i)] = fmt.Sprintf("v%d", i)
	}
	many, _ := json.Marshal(map[string]any{"id": "many", "type": "purchase", "identifiers": ids})
	cases := []struct{ name, body, want string }{
		{"257 identifiers", string(many), "identifiers: 257 identifiers; at most 256"},
		{"engine's own segment.entered", `{"id": "s", "type": "segment.entered", "identifiers": {"email": "a@b.jp"}, "data": {"segment": "loyal_store"}}`,
			"type: segment.entered is raised by the engine itself"},
		{"engine's own segment.exited", `{"id": "s", "type": "segment.exited", "identifiers": {"email": "a@b.jp"}, "data": {"segment": "loyal_store"}}`,
			"type: segment.exited is raised by the engine itself"},
		{"total past int64's range in a sum", `{"id": "o", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"total": 9223372036854775807}}`,
			"data.total: 9223372036854775807 is out of range (0 to 1000000000000 minor units)"},
		{"negative total", `{"id": "o", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"total": -5}}`,
			"data.total: -5 is out of range"},
		{"negative price", `{"id": "o", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"items": [{"sku": "a", "price": -1}]}}`,
			"data.items[0].price: -1 is out of range"},
		{"year 1", `{"id": "o", "type": "purchase", "time": "0001-01-01T00:00:01Z", "identifiers": {"email": "a@b.jp"}}`,
			"time: 0001-01-01T00:00:01Z is out of range (1970 to 2199)"},
		{"a pickup in the year 9999", `{"id": "o", "type": "order.ready_for_pickup", "identifiers": {"email": "a@b.jp"}, "data": {"pickup_by": "9999-01-01T00:00:00Z"}}`,
			"data.pickup_by: 9999-01-01T00:00:00Z is out of range"},
	}
	for i, c := range cases {
		status, body := post(t, srv.URL+"/v1/events", c.body)
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.name, status, body, c.want)
		}
		healthy(t, srv, fmt.Sprintf("good-%d", i))
	}
	// Decide takes the same events and refuses them the same way.
	status, body := post(t, srv.URL+"/v1/decide", `{"event": `+string(many)+`}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "at most 256") {
		t.Errorf("decide with 257 identifiers: %d %s", status, body)
	}
	healthy(t, srv, "good-decide")
}

// Two purchases of the largest allowed total still sum correctly in a trait.
func TestLargestTotalsSumWithoutWrapping(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	for i := range 2 {
		f.ingest(fmt.Sprintf(`{"id": "big-%d", "type": "purchase", "source": "pos", "channel": "pos",
			"record": {"phone_number": "090-1234-5678"}, "data": {"total": 1000000000000}}`, i))
	}
	v, err := f.eng.Customer(t.Context(), "phone:090-1234-5678")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Traits["spend_90d"]; got != int64(2_000_000_000_000) && got != 2e12 {
		t.Errorf("spend_90d = %v (%T), want 2000000000000", got, got)
	}
}

// /readyz says whether the engine can run rules: false before any bundle and when broken;
// /healthz says whether it runs at all.
func TestReadiness(t *testing.T) {
	f := newFixture(t, nil)
	srv := httptest.NewServer(f.eng.Handler(ServerOptions{}))
	defer srv.Close()
	if status, body := get(t, srv.URL+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "no rule bundle is active") {
		t.Errorf("/readyz without a bundle: %d %s", status, body)
	}
	if status, _ := get(t, srv.URL+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz without a bundle: %d", status)
	}
	if _, err := f.eng.PushBundle(t.Context(), quickstartBundle(t, nil), "test"); err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, srv.URL+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz with a bundle: %d %s", status, body)
	}
	f.eng.fail(fmt.Errorf("disk I/O error"))
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := get(t, srv.URL+path); status != http.StatusServiceUnavailable || !strings.Contains(body, "disk I/O error") {
			t.Errorf("%s after a store failure: %d %s", path, status, body)
		}
	}
}

// Names posted to /v1/webhooks/NAME are not labels: only configured providers are, and the
// rest count under one label, so /metrics cannot be grown from outside.
func TestUnknownWebhookNamesDoNotGrowMetrics(t *testing.T) {
	srv := webhookServer(t, nil)
	for i := range 50 {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/v1/webhooks/nope-%d-%s", srv.URL, i, strings.Repeat("x", 1000)), strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown webhook: %d", resp.StatusCode)
		}
	}
	_, metrics := get(t, srv.URL+"/metrics")
	if strings.Contains(metrics, "nope-") {
		t.Error("an unknown webhook name became a metric label")
	}
	if !strings.Contains(metrics, `musubi_webhooks_total{provider="(unknown)",result="unknown"} 50`) {
		t.Errorf("unknown webhooks are not counted under one label:\n%s", grepLines(metrics, "musubi_webhooks_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// serveReal runs the engine's server on a real listener with its timeouts and limits.
func serveReal(t *testing.T, f *fixture, o ServerOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.eng.ServeListener(ctx, ln, o) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// A client trickling a body is cut off once the request timeout passes, not held open.
func TestSlowBodyIsCutOff(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	addr := serveReal(t, f, ServerOptions{RequestTimeout: 500 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/webhooks/sandbox.line HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // returns when the server closes the connection
		close(closed)
	}()
	for i := 0; ; i++ {
		select {
		case <-closed:
			if waited := time.Since(start); waited > 3*time.Second {
				t.Fatalf("the trickling connection was held %s", waited)
			}
			return
		case <-time.After(200 * time.Millisecond):
			if i > 25 {
				t.Fatal("the trickling connection is still open after 5 s")
			}
			c.Write([]byte(" "))
		}
	}
}

// One client cannot hold more than its share of connections; others still get in.
func TestConnectionsPerClientAreBounded(t *testing.T) {
	f := newFixture(t, quickstartBundle(t, nil))
	addr := serveReal(t, f, ServerOptions{MaxConnsPerClient: 3})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // the server has accepted the three
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a fourth connection from one client: %v, want it closed (EOF)", err)
	}
	held[0].Close()
	held = held[1:]
	time.Sleep(100 * time.Millisecond)
	// One request at a time on a fresh connection, each closed after: two held plus one.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("after one closed, a new connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "musubi_connections_refused_total 1") {
		t.Errorf("refused connections not counted:\n%s", grepLines(string(body), "refused"))
	}
}

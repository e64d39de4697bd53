package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServeLoad is an end-to-end load test: `musubi serve` runs as a process of its own
// on the quickstart (embedded store), and this process, on loopback, posts batches of events
// from eight clients while a ninth asks /v1/decide one request at a time. It reports the
// events ingested a second, sustained, and the p50/p99 latency of /v1/events (a batch of 100)
// and of /v1/decide under that load. MUSUBI_LOAD_SECONDS sets how long the load runs
// (default 10), MUSUBI_LOAD_CUSTOMERS how many customers the events are spread over
// (default 10,000). Run it with -benchtime 1x.
func BenchmarkServeLoad(b *testing.B) {
	seconds := envInt("MUSUBI_LOAD_SECONDS", 10)
	customers := envInt("MUSUBI_LOAD_CUSTOMERS", 10_000)
	bin := cliBinary(b)
	dir := b.TempDir()
	if err := copyDir(filepath.Join("..", "..", "examples", "quickstart"), dir); err != nil {
		b.Fatal(err)
	}
	runTimed(b, bin, dir, "apply", "-auto-approve")
	srv, base := startServe(b, bin, dir)
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(path string, body []byte) (time.Duration, int) {
		start := time.Now()
		resp, err := client.Post(base+path, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return 0, 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	const batch, clients = 100, 8
	var seq atomic.Int64
	events := func(rng *rand.Rand) []byte {
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i := range batch {
			if i > 0 {
				buf.WriteByte(',')
			}
			c, id := rng.IntN(customers), seq.Add(1)
			switch rng.IntN(3) {
			case 0:
				fmt.Fprintf(&buf, `{"id":"l%d","type":"purchase","source":"pos","channel":"pos","record":{"phone_number":"090%08d"},"data":{"order_id":"T%d","total":%d,"currency":"JPY"}}`, id, c, id, 500+rng.IntN(9000))
			case 1:
				fmt.Fprintf(&buf, `{"id":"l%d","type":"cart.updated","source":"pos","channel":"pos","record":{"phone_number":"090%08d"},"data":{"cart":{"total":%d}}}`, id, c, 1000+rng.IntN(4000))
			default:
				fmt.Fprintf(&buf, `{"id":"l%d","type":"store.visit","source":"pos","channel":"pos","record":{"phone_number":"090%08d"},"data":{"kind":"beacon"}}`, id, c)
			}
		}
		buf.WriteByte(']')
		return buf.Bytes()
	}
	var mu sync.Mutex
	var ingestLat, decideLat []time.Duration
	var ingested atomic.Int64
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			var lat []time.Duration
			for time.Now().Before(stop) {
				d, status := post("/v1/events", events(rng))
				if status != http.StatusAccepted {
					b.Errorf("/v1/events: %d", status)
					return
				}
				lat = append(lat, d)
				ingested.Add(batch)
			}
			mu.Lock()
			ingestLat = append(ingestLat, lat...)
			mu.Unlock()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(99, 7))
		for time.Now().Before(stop) {
			body := []byte(`{"event":{"type":"cart.updated","source":"pos","record":{"phone_number":"090` +
				fmt.Sprintf("%08d", rng.IntN(customers)) + `"},"data":{"cart":{"total":` + strconv.Itoa(1000+rng.IntN(4000)) + `}}}}`)
			d, status := post("/v1/decide", body)
			if status != http.StatusOK {
				b.Errorf("/v1/decide: %d", status)
				return
			}
			decideLat = append(decideLat, d)
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	pct := func(l []time.Duration, p float64) float64 {
		if len(l) == 0 {
			return 0
		}
		slices.Sort(l)
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(ingested.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(ingestLat, 0.50), "events-p50-ms")
	b.ReportMetric(pct(ingestLat, 0.99), "events-p99-ms")
	b.ReportMetric(pct(decideLat, 0.50), "decide-p50-ms")
	b.ReportMetric(pct(decideLat, 0.99), "decide-p99-ms")
}

// startServe starts `musubi serve` in dir as a process of its own, on a free loopback port,
// with env added to its environment, and waits until it is ready. It returns the process and
// the server's URL. The process dies with the test's.
func startServe(tb testing.TB, bin, dir string, env ...string) (*exec.Cmd, string) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "serve", "--listen", addr)
	srv.Dir = dir
	srv.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return srv, base
			}
		}
		if time.Now().After(deadline) {
			srv.Process.Kill()
			srv.Wait()
			tb.Fatal("musubi serve did not become ready")
		}
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

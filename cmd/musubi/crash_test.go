package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A `musubi serve` killed with SIGKILL while clients post events loses none it acknowledged.
// The kill comes the moment one batch is acknowledged, with others in flight. After the
// restart every acknowledged event, posted again, is a duplicate (it is in the event log),
// and every customer's spend counts each acknowledged purchase, and no more than was sent.
func TestServeKilledUnderLoadKeepsEveryAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds musubi and runs it under load")
	}
	bin := cliBinary(t)
	dir := t.TempDir()
	if err := copyDir(filepath.Join("..", "..", "examples", "quickstart"), dir); err != nil {
		t.Fatal(err)
	}
	runTimed(t, bin, dir, "apply", "-auto-approve")
	const token = "crash-test-admin"
	srv, base := startServe(t, bin, dir, "MUSUBI_ADMIN_TOKEN="+token)

	const clients, batch, customers, killAt = 4, 50, 200, 40
	type purchase struct {
		id       string
		customer int
		total    int
	}
	var (
		mu       sync.Mutex
		acked    [][]purchase // the batches answered 202, in order
		sent     = map[int]int{}
		ackedSum = map[int]int{}
		last     []purchase // the batch whose answer set off the kill
	)
	body := func(ps []purchase) []byte {
		var b bytes.Buffer
		b.WriteByte('[')
		for i, p := range ps {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":%q,"type":"purchase","source":"pos","channel":"pos","store_id":"store-1","record":{"phone_number":"090%08d"},"data":{"total":%d,"currency":"JPY"}}`,
				p.id, p.customer, p.total)
		}
		b.WriteByte(']')
		return b.Bytes()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				ps := make([]purchase, batch)
				for i := range ps {
					k := (c*7919 + n*batch + i) % customers
					ps[i] = purchase{id: fmt.Sprintf("k%d-%d-%d", c, n, i), customer: k, total: 100 + (n*batch+i)%900}
				}
				mu.Lock()
				for _, p := range ps {
					sent[p.customer] += p.total
				}
				mu.Unlock()
				resp, err := client.Post(base+"/v1/events", "application/json", bytes.NewReader(body(ps)))
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					return
				}
				mu.Lock()
				acked = append(acked, ps)
				for _, p := range ps {
					ackedSum[p.customer] += p.total
				}
				if len(acked) == killAt {
					last = ps
					srv.Process.Signal(syscall.SIGKILL)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	srv.Wait()
	if last == nil {
		t.Fatalf("the server stopped answering after %d batches, before the kill", len(acked))
	}
	t.Logf("%d batches of %d acknowledged before the kill", len(acked), batch)

	srv, base = startServe(t, bin, dir, "MUSUBI_ADMIN_TOKEN="+token)
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	// The batch acknowledged last, just before the kill, first: then all of them.
	for i, ps := range append([][]purchase{last}, acked...) {
		resp, err := client.Post(base+"/v1/events", "application/json", bytes.NewReader(body(ps)))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Results []struct {
				Duplicate bool `json:"duplicate"`
			} `json:"results"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("posting batch %d again: %d %v", i, resp.StatusCode, err)
		}
		if len(out.Results) != len(ps) {
			t.Fatalf("posting batch %d again: %d results for %d events", i, len(out.Results), len(ps))
		}
		for j, r := range out.Results {
			if !r.Duplicate {
				t.Fatalf("event %s was acknowledged before the kill but is not in the event log after it", ps[j].id)
			}
		}
	}
	for k := range customers {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/admin/customers/phone:090%08d", base, k), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Traits map[string]float64 `json:"traits"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if ackedSum[k] == 0 && resp.StatusCode == http.StatusNotFound {
			continue
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("customer %d: %d %v", k, resp.StatusCode, err)
		}
		if got := int(v.Traits["spend_90d"]); got < ackedSum[k] || got > sent[k] {
			t.Fatalf("customer %d: spend_90d is %d; acknowledged purchases make %d, all those sent %d", k, got, ackedSum[k], sent[k])
		}
	}
}

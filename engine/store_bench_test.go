package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const benchGroup = 400

// benchStore is a store holding 200,000 events of 1,000,000 customers and their profiles;
// commit writes one more group of events and profiles, as the pipeline does.
func benchStore(b *testing.B) (s *SQLiteStore, commit func()) {
	ctx := context.Background()
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "engine.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	loadProfiles(&testing.T{}, s)
	const customers, group = 1_000_000, benchGroup
	rng := rand.New(rand.NewPCG(7, 8))
	event := []byte(`{"id":"e","type":"purchase","time":"2026-12-02T10:00:00Z","channel":"pos","source":"pos","identifiers":{"phone":"+819000000000"},"data":{"total":4200,"currency":"JPY","store_id":"store-3"}}`)
	profile := []byte(`{"id":"c_x","first_seen":"2026-12-02T10:00:00Z","last_seen":"2026-12-02T10:00:00Z","traits":{` +
		strings.Repeat(`"purchases_90d":{"b":[{"s":1764633600,"n":1,"sum":4200,"min":4200,"max":4200}]},`, 6) +
		`"last_store":{"l":"store-3","lt":1764669600000}},"segments":{"seg_00":true,"seg_10":true},"fired":{"trg_001":"2026-12-02T10:00:00Z","trg_002":"2026-12-02T10:00:00Z"},"sent":[{"c":"sandbox","t":"2026-12-02T10:00:00Z"}]}`)
	seq := 0
	commit = func() {
		err := s.Update(ctx, func(tx Tx) error {
			for range group {
				seq++
				c := fmt.Sprintf("c_%08d", rng.IntN(customers))
				if err := tx.InsertEvent(fmt.Sprintf("pos:e%d", seq), c, "purchase", time.UnixMilli(int64(seq)), event); err != nil {
					return err
				}
				if err := tx.PutProfile(c, profile); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for range 200_000 / group {
		commit()
	}
	return s, commit
}

// BenchmarkStoreCommit is the committer's share of ingesting: one group commit of 400
// events and the 400 profiles they changed. It reports the store's time per event.
func BenchmarkStoreCommit(b *testing.B) {
	_, commit := benchStore(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		commit()
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/1000/float64(b.N*benchGroup), "µs/event")
}

// BenchmarkStoreCustomerEvents reads one customer's events, as unmerge does: a pass over
// the 200,000 events of the log.
func BenchmarkStoreCustomerEvents(b *testing.B) {
	s, _ := benchStore(b)
	b.ResetTimer()
	for range b.N {
		if err := s.Events(context.Background(), []string{"c_00000042"}, func(string, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

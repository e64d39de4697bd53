package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

// estimateBundles are the active rules of the estimate benchmarks and a change to them: a
// segment's threshold raised and consent added, a new segment, a campaign to the changed one.
func estimateBundles() (active, changed *rules.Bundle) {
	base := func() *rules.Bundle {
		return &rules.Bundle{FormatVersion: rules.FormatVersion, Settings: rules.Settings{Currency: "JPY", Timezone: "Asia/Tokyo"},
			Identity: rules.Identity{Priority: []string{"email", "phone", "line_user"}, DefaultCountry: "JP"},
			Sources:  []rules.Source{{Name: "pos", Provider: "sandbox.pos", Identifiers: map[string]string{"phone": "phone"}}},
			Traits: []rules.Trait{{Name: "purchases_90d", On: "purchase", Window: "90d", Aggregate: "count"},
				{Name: "spend_90d", On: "purchase", Window: "90d", Aggregate: "sum", Value: "event.total"}},
		}
	}
	active = base()
	active.Segments = []rules.Segment{{Name: "regulars", Condition: "customer.traits.purchases_90d >= 2"},
		{Name: "big", Condition: "customer.traits.spend_90d >= 30000"}}
	changed = base()
	changed.Segments = []rules.Segment{{Name: "regulars", Condition: "customer.traits.purchases_90d >= 3 && customer.consent.line"},
		{Name: "big", Condition: "customer.traits.spend_90d >= 30000"},
		{Name: "lapsed", Condition: "customer.traits.purchases_90d == 0"}}
	changed.Campaigns = []rules.Campaign{{Name: "spring", Audience: "regulars", Percent: 10,
		Codes:    &rules.CodePool{Pattern: "SPR-####", Charset: "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", Count: 5000, Seed: "s"},
		Messages: []rules.Message{{Via: "line.oa", Template: "{{ code }}: 10% off"}}}}
	return active, changed
}

// estimateStore fills a store with n customers as ingest leaves them: an email, a phone
// number and, for two in three, a LINE user ID in the identity log; a profile with purchases
// over the last weeks, consent to LINE for two in three, and the segments of the active rules.
func estimateStore(tb testing.TB, path string, n int, now time.Time) *SQLiteStore {
	ctx := context.Background()
	s, err := OpenSQLite(path)
	if err != nil {
		tb.Fatal(err)
	}
	loadProfiles(&testing.T{}, s)
	active, _ := estimateBundles()
	enc := active.Encode()
	if err := s.PutBundle(ctx, rules.Hash(enc), enc, "bench"); err != nil {
		tb.Fatal(err)
	}
	g, err := identity.New(identity.Rules{Priority: []string{"email", "phone", "line_user"}, DefaultCountry: "JP"})
	if err != nil {
		tb.Fatal(err)
	}
	day := int64(86400)
	const batch = 10_000
	for from := 0; from < n; from += batch {
		err := s.Update(ctx, func(tx Tx) error {
			for i := from; i < min(from+batch, n); i++ {
				ids := []identity.ID{{Type: "email", Value: fmt.Sprintf("c%d@example.jp", i)}, {Type: "phone", Value: phone(i)}}
				if i%3 != 0 {
					ids = append(ids, identity.ID{Type: "line_user", Value: fmt.Sprintf("U%031d", i)})
				}
				res, err := g.Resolve(ids, now)
				if err != nil {
					return err
				}
				rec, _ := json.Marshal(res.Record())
				if err := tx.AppendIdentity(rec); err != nil {
					return err
				}
				purchases := i % 6
				p := &Profile{ID: res.Customer, FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now,
					Consent: map[string]bool{"line": i%3 != 0}, Traits: map[string]*TraitState{}}
				if purchases > 0 {
					var cnt, sum TraitState
					for k := range purchases {
						start := (now.Unix()/day - int64(k*7)) * day
						cnt.Buckets = append([]Bucket{{Start: start, N: 1}}, cnt.Buckets...)
						sum.Buckets = append([]Bucket{{Start: start, N: 1, Sum: 8000, Min: 8000, Max: 8000}}, sum.Buckets...)
					}
					p.Traits["purchases_90d"], p.Traits["spend_90d"] = &cnt, &sum
				}
				if purchases >= 2 {
					p.Segments.add("regulars")
				}
				if purchases*8000 >= 30000 {
					p.Segments.add("big")
				}
				body, err := appendProfile(nil, p)
				if err != nil {
					return err
				}
				if err := tx.PutProfile(p.ID, body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// BenchmarkEstimate estimates a changed bundle over 1,000,000 customers in a store, as `musubi
// plan` does on a local engine: the identity log replayed, every latest profile read and
// decoded, three segments and a campaign's reach evaluated, three samples kept and the
// campaign's message previewed. Run it once: -benchtime 1x (building the store takes minutes).
func BenchmarkEstimate(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	now := time.Now()
	// MUSUBI_BENCH_ESTIMATE_STORE keeps the store between runs: built when the file is missing.
	path := os.Getenv("MUSUBI_BENCH_ESTIMATE_STORE")
	var s *SQLiteStore
	if _, err := os.Stat(path); path != "" && err == nil {
		if s, err = OpenSQLite(path); err != nil {
			b.Fatal(err)
		}
	} else {
		if path == "" {
			path = filepath.Join(b.TempDir(), "engine.db")
		}
		s = estimateStore(b, path, n, now)
	}
	defer s.Close()
	_, changed := estimateBundles()
	req := providers.EstimateRequest{Bundle: string(changed.Encode()), Samples: 3,
		Channels: map[string]providers.ChannelSupport{"line.oa": {Address: "line_user", Consent: "line"}}}
	b.ReportAllocs()
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	var resp *providers.EstimateResponse
	for b.Loop() {
		var err error
		if resp, err = Estimate(ctx, s, req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "profiles/s")
	// The machine's speed varies with its neighbours; the CPU time it took varies less.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	if resp.Customers != n || resp.Segments[0].Now == 0 || resp.Campaigns[0].Reach == 0 {
		b.Fatalf("estimate: %+v", resp.Segments)
	}
}

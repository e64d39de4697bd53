package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/meta"
	"github.com/musubi-hq/musubi/providers/meta/metatest"
)

// unpaced is a system's provider without its calls-a-second rule, so a benchmark measures
// the work, not the wait: Meta takes one upload a second, so a real backfill of a million
// members (100 uploads of 10,000 rows) lasts at least 100 s, 10,000 rows a second.
type unpaced struct{ providers.MemberSyncer }

func (u unpaced) MemberRules() providers.MemberRules {
	mr := u.MemberSyncer.MemberRules()
	mr.PerSecond = 0
	return mr
}

// BenchmarkAudienceBackfill backfills a segment of 1,000,000 members, each with an email
// address and a phone number and consent to ads, to a custom audience of the Meta contract
// server: the engine's whole comparison, the members' identifiers, the provider's hashing and
// uploads of 10,000 rows, the server's checks, and the record of every member pushed. Run it
// once: -benchtime 1x. Memory counts the engine, the provider and the server.
func BenchmarkAudienceBackfill(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		srv := metatest.NewServer()
		p := meta.New()
		if ds := p.Configure(ctx, providers.ConfigureRequest{Name: "meta.ads",
			Config: map[string]any{"ad_account_id": srv.AdAccount, "access_token": srv.Token, "api_url": srv.URL}}).Diagnostics; ds.HasErrors() {
			b.Fatal(ds.Err())
		}
		created := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, Attributes: providers.Attrs{"segment": "low_awareness"},
			IdempotencyKey: "audience"})
		if created.Diagnostics.HasErrors() {
			b.Fatal(created.Diagnostics.Err())
		}
		dir := b.TempDir()
		st, err := OpenSQLite(filepath.Join(dir, "engine.db"))
		if err != nil {
			b.Fatal(err)
		}
		clk := &clock{t: noon}
		e, err := Open(ctx, Options{Store: st, Now: clk.Now, BundlePoll: -1, DisableDelivery: true, Logger: slog.New(slog.DiscardHandler),
			Syncers: map[string]providers.MemberSyncer{"meta.ads": unpaced{p}}})
		if err != nil {
			b.Fatal(err)
		}
		bundle := &rules.Bundle{FormatVersion: rules.FormatVersion, Settings: rules.Settings{Currency: "JPY", Timezone: "Asia/Tokyo"},
			Identity:  rules.Identity{Priority: []string{"email", "phone"}, DefaultCountry: "JP"},
			Segments:  []rules.Segment{{Name: "low_awareness", Condition: "customer.consent.ads"}},
			Audiences: []rules.Audience{{Segment: "low_awareness", Provider: "meta.ads"}}}
		if _, err := e.PushBundle(ctx, bundle.Encode(), "bench"); err != nil {
			b.Fatal(err)
		}
		// A million customers in the segment, as ingest would have left them.
		for from := 0; from < n; from += 100_000 {
			records := make([][]identity.ID, 0, 100_000)
			for i := from; i < from+100_000; i++ {
				records = append(records, []identity.ID{{Type: "email", Value: fmt.Sprintf("c%d@example.jp", i)}, {Type: "phone", Value: phone(i)}})
			}
			ids, err := e.Graph().ResolveBatch(records, clk.Now())
			if err != nil {
				b.Fatal(err)
			}
			e.mu.Lock()
			for _, id := range ids {
				e.profiles[id] = &Profile{ID: id, Consent: map[string]bool{"ads": true}, Segments: segmentsOf("low_awareness")}
			}
			e.mu.Unlock()
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()

		if err := e.SyncAudiences(ctx); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "members/s")
		b.ReportMetric(float64(2*n)/b.Elapsed().Seconds(), "rows/s") // an email and a phone each
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(after.HeapInuse-min(before.HeapInuse, after.HeapInuse))/(1<<20), "heap-growth-MiB")
		if got := len(srv.Members(created.ID)); got != 2*n {
			b.Fatalf("the audience holds %d hashes, want %d", got, 2*n)
		}
		segs, err := e.Segments(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if a := segs[0].Audiences[0]; a.Pushed != n || a.Pending != 0 || a.LastError != "" {
			b.Fatalf("segments: %+v", segs[0])
		}
		e.Close()
		st.Close()
		p.Close()
		srv.Close()
		b.StartTimer()
	}
}

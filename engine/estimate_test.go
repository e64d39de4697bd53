package engine

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

// Three store customers; two follow on LINE (the first is from Shibuya); a third only buys.
const estimateEvents = `[
 {"id": "pos-1", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-1111-0001", "member_code": "M-1"}, "attributes": {"home_city": "渋谷"}, "data": {"total": 3200}},
 {"id": "line-1", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U1", "phone": "090-1111-0001"}},
 {"id": "pos-2", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-1111-0002", "member_code": "M-2"}, "data": {"total": 40000}},
 {"id": "line-2", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "U2", "phone": "090-1111-0002"}},
 {"id": "pos-3", "type": "purchase", "source": "pos", "channel": "pos", "record": {"phone_number": "090-1111-0003", "member_code": "M-3"}, "data": {"total": 1200}}
]`

// noConsent is the quickstart with loyal_store no longer asking for LINE consent, and its
// campaign's message changed.
func noConsent(b *rules.Bundle) {
	for i, s := range b.Segments {
		if s.Name == "loyal_store" {
			b.Segments[i].Condition = "customer.traits.store_purchases_90d >= 1"
		}
	}
	for i, c := range b.Campaigns {
		if c.Name == "spring" {
			b.Campaigns[i].Messages[0].Template = "{{ customer.home_city }}: {{ code }}"
		}
	}
}

var lineChannel = map[string]providers.ChannelSupport{"sandbox.line": {Address: "line_user", Consent: "line"}}

// An estimate counts what ingesting the same events under the bundle puts in each segment,
// from a store and from a running engine alike, and previews the changed message.
func TestEstimateMatchesIngest(t *testing.T) {
	ctx := context.Background()
	estimateNow = func() time.Time { return noon }
	defer func() { estimateNow = time.Now }()
	f := newFixture(t, quickstartBundle(t, nil))
	f.ingest(estimateEvents)
	segs, err := f.eng.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int{}
	for _, s := range segs {
		held[s.Name] = s.Members
	}

	// The active rules again: nothing new, the counts are the members the engine holds.
	same, err := Estimate(ctx, f.store, providers.EstimateRequest{Bundle: string(quickstartBundle(t, nil)), Channels: lineChannel, Samples: 3})
	if err != nil {
		t.Fatal(err)
	}
	if same.Customers != 3 || same.NoData || len(same.Previews) != 0 {
		t.Fatalf("the same rules: %+v", same)
	}
	for _, s := range same.Segments {
		if s.Status != providers.EstimateUnchanged || s.Now != held[s.Name] || s.New != held[s.Name] {
			t.Errorf("segment %+v, the engine holds %d", s, held[s.Name])
		}
	}

	// The changed rules, against an engine that ingested the same events under them.
	changed := quickstartBundle(t, noConsent)
	g := newFixture(t, changed)
	g.ingest(estimateEvents)
	want, _ := g.eng.Segments(ctx)
	req := providers.EstimateRequest{Bundle: string(changed), Channels: lineChannel, Samples: 3}
	got, err := Estimate(ctx, f.store, req)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got.Segments {
		if s.Name != want[i].Name || s.New != want[i].Members || s.Now != held[s.Name] {
			t.Errorf("segment %+v, ingesting puts %d in it", s, want[i].Members)
		}
		if wantStatus := map[string]string{"loyal_store": "changed", "big_spenders": "unchanged"}[s.Name]; s.Status != wantStatus {
			t.Errorf("segment %s is %s, want %s", s.Name, s.Status, wantStatus)
		}
	}
	if len(got.Campaigns) != 1 || got.Campaigns[0].Members != 3 || got.Campaigns[0].Reach != 2 || got.Campaigns[0].ByChannel["sandbox.line"] != 2 {
		t.Fatalf("campaigns: %+v", got.Campaigns)
	}
	if len(got.Previews) != 1 {
		t.Fatalf("previews: %+v", got.Previews)
	}
	pv := got.Previews[0]
	if pv.Owner != "campaign.spring" || pv.Status != providers.EstimateChanged || pv.Code == "" || len(pv.Samples) != 3 {
		t.Fatalf("preview: %+v", pv)
	}
	var texts []string
	for _, s := range pv.Samples {
		texts = append(texts, s.Variants[0].Text)
	}
	if joined := strings.Join(texts, "|"); strings.Count(joined, "渋谷: "+pv.Code) != 1 || strings.Count(joined, ": "+pv.Code) != 3 {
		t.Errorf("previews: %q", texts)
	}

	// A running engine answers the same over its admin API.
	srv := httptest.NewServer(f.eng.Handler(ServerOptions{AdminToken: "admin"}))
	defer srv.Close()
	f.clock.t = noon
	remote, err := (&Client{URL: srv.URL, Token: "admin"}).Estimate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(remote, got) {
		t.Errorf("remote estimate:\n%+v\nfrom the store:\n%+v", remote, got)
	}
}

// With no store, the counts are 0, flagged as no data, and every message is previewed for a
// synthetic customer.
func TestEstimateNoData(t *testing.T) {
	resp, err := Estimate(context.Background(), nil, providers.EstimateRequest{Bundle: string(quickstartBundle(t, nil)), Samples: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.NoData || resp.Customers != 0 || len(resp.Previews) != 3 {
		t.Fatalf("%+v", resp)
	}
	for _, pv := range resp.Previews {
		if len(pv.Samples) != 1 || pv.Samples[0].Customer != "" || pv.Samples[0].Variants[0].Error != "" {
			t.Errorf("preview %+v", pv)
		}
	}
	empty, err := Estimate(context.Background(), mustStore(t), providers.EstimateRequest{Bundle: string(quickstartBundle(t, nil))})
	if err != nil || !empty.NoData {
		t.Fatalf("an empty store: %+v, %v", empty, err)
	}
}

func mustStore(t *testing.T) *SQLiteStore {
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Previews for made-up customers (a programme's test customers) render each as the customer
// it describes: in the segments its consent and attributes put it in, so a variant on a
// segment shows as it would.
func TestPreviewsForMadeUpCustomers(t *testing.T) {
	bundle := quickstartBundle(t, func(b *rules.Bundle) {
		b.Segments = append(b.Segments, rules.Segment{Name: "tokyo", Condition: "customer.home_city == '渋谷'"})
		for i, c := range b.Campaigns {
			if c.Name == "spring" {
				b.Campaigns[i].Messages[0].Variants = []rules.Variant{{Name: "local", When: "customer.segments.tokyo", Template: "渋谷店から: {{ code }}"}}
			}
		}
	})
	resp, err := Estimate(context.Background(), nil, providers.EstimateRequest{Bundle: string(bundle), Customers: []providers.SampleCustomer{
		{Name: "hanako", Attributes: map[string]any{"home_city": "渋谷"}}, {Name: "ken"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range resp.Previews {
		if pv.Owner != "campaign.spring" {
			continue
		}
		if len(pv.Samples) != 2 || pv.Samples[0].Customer != "hanako" || pv.Samples[0].Gets != "local" || pv.Samples[1].Gets != "" {
			t.Fatalf("previews: %+v", pv.Samples)
		}
		return
	}
	t.Fatalf("no preview of the spring message: %+v", resp.Previews)
}

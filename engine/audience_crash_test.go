package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
)

// shopifyAudienceConfig keeps segment regulars as a Shopify audience (an audience-only
// coupon), its customers known to Shopify by the customer_id of the shop's records.
const shopifyAudienceConfig = `
musubi {
  currency = "JPY"
  timezone = "Asia/Tokyo"
}

provider "shopify" "jp" {
  shop    = "musubi-test.myshopify.com"
  token   = "shpat_test"
  api_url = "http://127.0.0.1:1"
}

identity_source "ec" {
  provider    = provider.shopify.jp
  identifiers = { email = "email", shop_customer = "customer_id" }
}

trait "spend_90d" {
  on        = "purchase"
  window    = "90d"
  aggregate = "sum"
  value     = "event.total"
}

segment "regulars" {
  condition = "customer.traits.spend_90d > 0"
}

campaign "regulars_only" {
  coupon {
    title         = "Regulars 10% off"
    percent       = 10
    code          = "REGULARS10"
    audience_only = true
  }
  audience = segment.regulars
  channels = [provider.shopify.jp]
}
`

// configBundle compiles a configuration into a rule bundle.
func configBundle(t testing.TB, hcl string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := lang.LoadDir(dir, lang.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return rules.FromConfig(cfg, map[string]string{}).Encode()
}

// shopifyAudience is the Shopify provider against a contract server whose bucket never
// throttles, with the audience of segment regulars made as musubi apply would.
func shopifyAudience(t testing.TB) (*shopify.Provider, *shopifytest.Server) {
	t.Helper()
	srv := shopifytest.New()
	t.Cleanup(srv.Close)
	srv.SetBucket(1e9, 1e9, 1e7)
	p := &shopify.Provider{}
	ctx := context.Background()
	if ds := p.Configure(ctx, providers.ConfigureRequest{Name: "shopify.jp",
		Config: map[string]any{"shop": srv.Shop, "token": srv.Token, "api_url": srv.URL}}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	p.Client().Sleep = func(_ context.Context, d time.Duration) error { srv.Advance(d); return nil }
	if ds := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience,
		Attributes: providers.Attrs{"segment": "regulars"}, IdempotencyKey: "audience-regulars"}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	return p, srv
}

// purchases are one purchase by each of the shop's customers ids (numbers).
func purchases(t testing.TB, ids []string) []*Event {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i, id := range ids {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": "ec-%s", "type": "purchase", "source": "ec", "channel": "web", "data": {"total": 1000}, "record": {"customer_id": %q}}`, id, id)
	}
	b.WriteString("]")
	evs, err := DecodeEvents([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// crashAfter is a system's provider in an engine that is killed once the system has taken
// a number of batches: the last is done on the system, but the engine never hears so.
type crashAfter struct {
	providers.MemberSyncer
	batches atomic.Int64
	at      int64
}

type killed struct{}

func (c *crashAfter) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	resp := c.MemberSyncer.SyncMembers(ctx, req)
	if c.batches.Add(1) == c.at {
		panic(killed{})
	}
	return resp
}

// An engine killed in the middle of pushing 10,000 members to Shopify loses nothing and
// tags no one twice beyond the batch under way: after the restart the shop tags exactly
// the segment's members, and the only documents sent again are the one the crash cut off.
func TestAudienceSyncSurvivesAKillMidway(t *testing.T) {
	const members = 10_000
	p, srv := shopifyAudience(t)
	var ids []string
	for i := range members {
		ids = append(ids, strings.TrimPrefix(srv.AddCustomer(fmt.Sprintf("c%d@example.jp", i)), "gid://shopify/Customer/"))
	}
	batches := (members + shopify.MaxTagChanges - 1) / shopify.MaxTagChanges
	crash := &crashAfter{MemberSyncer: p, at: int64(batches / 2)}
	f := &fixture{t: t, dir: t.TempDir(), clock: &clock{t: noon}, syncers: map[string]providers.MemberSyncer{"shopify.jp": crash}}
	f.line = newLineSandbox(t, f.dir)
	f.open()
	ctx := context.Background()
	if _, err := f.eng.PushBundle(ctx, configBundle(t, shopifyAudienceConfig), "test"); err != nil {
		t.Fatal(err)
	}
	evs := purchases(t, ids)
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		if _, err := f.eng.Ingest(ctx, evs[:n]); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}

	func() {
		defer func() {
			if r := recover(); r != (killed{}) {
				panic(r)
			}
		}()
		f.eng.SyncAudiences(ctx)
		t.Fatal("the sync finished without being killed")
	}()
	if got := len(srv.Tagged("musubi:regulars")); got != batches/2*shopify.MaxTagChanges {
		t.Fatalf("at the kill the shop tags %d customers; want %d", got, batches/2*shopify.MaxTagChanges)
	}
	before := srv.Calls("update")

	f.syncers["shopify.jp"] = p
	f.restart()
	if err := f.eng.SyncAudiences(ctx); err != nil {
		t.Fatal(err)
	}
	tagged := srv.Tagged("musubi:regulars")
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = "gid://shopify/Customer/" + id
	}
	slices.Sort(tagged)
	slices.Sort(want)
	if !slices.Equal(tagged, want) {
		t.Fatalf("after the restart the shop tags %d customers; want the %d members", len(tagged), len(want))
	}
	// One document a batch: the batches not recorded before the kill, the last of which the
	// shop had taken, are sent again; nothing recorded is.
	if total, again := srv.Calls("update"), srv.Calls("update")-before; total != batches+1 || again != batches-batches/2+1 {
		t.Errorf("the shop received %d tag documents, %d after the restart; want %d and %d", total, again, batches+1, batches-batches/2+1)
	}
	segs, err := f.eng.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a := segs[0].Audiences[0]; segs[0].Members != members || a.Pushed != members || a.Unmatched != 0 || a.Pending != 0 {
		t.Errorf("segments: %+v", segs[0])
	}
	// Another restart pushes nothing.
	f.restart()
	if err := f.eng.SyncAudiences(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("update"); n != batches+1 {
		t.Errorf("a restart in step sent %d tag documents", n-batches-1)
	}
}

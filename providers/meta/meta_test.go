package meta

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/meta/metatest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// noSleep replaces the provider's waits between tries.
func noSleep(context.Context, time.Duration) error { return nil }

// configure returns a provider for a fresh ad account's contract server, with extra
// attributes of the block over the server's own.
func configure(tb testing.TB, extra map[string]any) (*Provider, *metatest.Server) {
	tb.Helper()
	srv := metatest.NewServer()
	tb.Cleanup(srv.Close)
	cfg := map[string]any{"ad_account_id": srv.AdAccount, "access_token": srv.Token, "api_url": srv.URL}
	p := New()
	providertest.Configure(tb, p, "meta.ads", cfg, extra, "access_token")
	p.retry.Sleep = noSleep
	tb.Cleanup(func() { p.Close() })
	return p, srv
}

// accounts maps the suites' providers to their contract servers.
var accounts providertest.Fixtures[*metatest.Server]

var audienceCase = providertest.AudienceCase("Renamed in Ads Manager", map[string]providers.Attrs{
	"segment":     {"segment": "loyal store"},
	"description": {"description": "Store\nregulars"},
})

// attempts is how many calls one failing operation makes: the provider repeats what may
// succeed later, but never a create after a failure that may have made the audience.
func attempts(op string, status int, lose bool) int {
	switch {
	case status == 429:
		return retries.Attempts
	case op == metatest.OpCreate && (lose || status >= 500):
		return 1
	case lose || status >= 500:
		return retries.Attempts
	}
	return 1
}

func TestConformance(t *testing.T) {
	t.Parallel()
	h := providertest.Harness{Cases: []providertest.Case{audienceCase}, New: func(t *testing.T) providers.Provider {
		p, srv := configure(t, nil)
		accounts.Keep(t, p, srv)
		return p
	}}
	providertest.Run(t, providertest.WithBackstage(h, &accounts, attempts))
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	base := map[string]any{"ad_account_id": "act_1234567890", "access_token": "EAAG-token"}
	for _, c := range []struct {
		name, attr string
		config     map[string]any
	}{
		{"no ad account", "ad_account_id", map[string]any{"ad_account_id": ""}},
		{"an ad account of letters", "ad_account_id", map[string]any{"ad_account_id": "act_abc"}},
		{"no access token", "access_token", map[string]any{"access_token": ""}},
		{"a version without .0", "api_version", map[string]any{"api_version": "v26"}},
		{"a version without v", "api_version", map[string]any{"api_version": "26.0"}},
		{"a minor version", "api_version", map[string]any{"api_version": "v26.1"}},
		{"an unknown file source", "customer_file_source", map[string]any{"customer_file_source": "SCRAPED"}},
		{"an api_url without a host", "api_url", map[string]any{"api_url": "https://"}},
		{"a token that is a number", "access_token", map[string]any{"access_token": int64(3)}},
	} {
		cfg := maps.Clone(base)
		maps.Copy(cfg, c.config)
		ds := New().Configure(context.Background(), providers.ConfigureRequest{Name: "meta.ads", Config: cfg}).Diagnostics
		if !ds.HasErrors() || ds[0].Attribute != c.attr {
			t.Errorf("%s: %v, want an error on %s", c.name, ds.Err(), c.attr)
		}
	}
	p := New()
	cfg := maps.Clone(base)
	cfg["ad_account_id"] = "1234567890"
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "meta.ads", Config: cfg}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	want := config{account: "act_1234567890", token: "EAAG-token", version: "v26.0", source: SourceUserProvided, apiURL: DefaultAPIURL}
	if p.cfg != want {
		t.Fatalf("configured %+v, want %+v", p.cfg, want)
	}
}

// The default version is one the contract server, which refuses retired versions, serves;
// a retired one is refused there as Meta refuses it.
func TestAPIVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		version string
		ok      bool
	}{{"", true}, {fmt.Sprintf("v%d.0", metatest.MinVersion), true}, {"v23.0", false}} {
		p, _ := configure(t, map[string]any{"api_version": c.version})
		r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, IdempotencyKey: "k"})
		if ok := !r.Diagnostics.HasErrors(); ok != c.ok {
			t.Errorf("version %q: %v", c.version, r.Diagnostics.Err())
		}
	}
}

func TestUnsupportedKinds(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	ctx := context.Background()
	for _, k := range []providers.Kind{providers.KindCoupon, providers.KindCodePool, providers.KindMessage, providers.KindSubscription, providers.KindRules} {
		if _, ok := p.Schema(ctx).Kinds[k]; ok {
			t.Errorf("the schema declares %s", k)
		}
		if r := p.Validate(ctx, providers.ValidateRequest{Kind: k}); !r.Diagnostics.HasErrors() {
			t.Errorf("Validate %s succeeded", k)
		}
		if r := p.Create(ctx, providers.CreateRequest{Kind: k, IdempotencyKey: "k"}); !r.Diagnostics.HasErrors() {
			t.Errorf("Create %s succeeded", k)
		}
	}
}

// A create whose answer was lost is found by its mark even when the ad account holds more
// audiences than a page lists.
func TestFindAcrossPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	for i := range pageSize + 20 {
		providertest.Create(t, p, providers.KindAudience, providers.Attrs{"segment": fmt.Sprint("s", i)}, fmt.Sprint("k", i), nil)
	}
	before := srv.Calls(metatest.OpRead)
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, IdempotencyKey: fmt.Sprint("k", pageSize+19)})
	if !r.Found || r.Attributes.String("segment") != fmt.Sprint("s", pageSize+19) {
		t.Fatalf("read by key: %+v %v", r, r.Diagnostics.Err())
	}
	if n := srv.Calls(metatest.OpRead) - before; n != 2 {
		t.Fatalf("the search took %d pages, want 2", n)
	}
	if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, IdempotencyKey: "never"}); r.Found {
		t.Fatal("found an audience no create made")
	}
}

// Renaming keeps the mark: the audience is still found by its create's key, and the segment
// reads back. A mark removed in Ads Manager leaves the segment the state knows.
func TestRenameKeepsMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	a := providers.Attrs{"segment": "low_awareness", "description": "Low awareness"}
	id := providertest.Create(t, p, providers.KindAudience, a, "made", nil)
	planned := providertest.With(a, "description", "Promo: low awareness")
	if err := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindAudience, ID: id, Prior: a, Planned: planned}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, IdempotencyKey: "made"})
	if !r.Found || r.ID != id || len(providers.Diff(providers.KindAudience, planned, r.Attributes)) > 0 {
		t.Fatalf("after a rename, read by key: %+v", r)
	}
	got := srv.Audiences()[0]
	if got.Name != "Promo: low awareness" || !strings.Contains(got.Description, "[musubi low_awareness "+keyTag("made")+"]") {
		t.Fatalf("the audience holds %+v", got)
	}
	if err := p.call(ctx, request{what: "edit", method: "POST", path: "/" + id, form: url.Values{"description": {"edited by hand"}}}, nil); err != nil {
		t.Fatal(err)
	}
	r = p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: id, Prior: planned})
	if r.Attributes.String("segment") != "low_awareness" {
		t.Fatalf("a removed mark: read %v", r.Attributes)
	}
}

// An audience Meta reports a problem with reads with a warning, not an error.
func TestFlaggedAudienceWarns(t *testing.T) {
	t.Parallel()
	url, _ := providertest.Stub(t, providertest.Respond(200, `{"id":"238500000000001","name":"Low awareness",`+
		`"description":"[musubi low_awareness 0123456789abcdef]","operation_status":{"code":471,"description":"Restricted"}}`))
	p, _ := configure(t, map[string]any{"api_url": url})
	r := p.Read(context.Background(), providers.ReadRequest{Kind: providers.KindAudience, ID: "238500000000001"})
	if !r.Found || r.Diagnostics.HasErrors() || len(r.Diagnostics) != 1 || !strings.Contains(r.Diagnostics[0].Detail, "operation status 471 Restricted") {
		t.Fatalf("%+v", r)
	}
}

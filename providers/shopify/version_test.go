package shopify_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
)

// The contract server implements the schema of the version the client defaults to.
func TestDefaultVersionIsTheContractServers(t *testing.T) {
	t.Parallel()
	if shopify.DefaultAPIVersion != shopifytest.APIVersion {
		t.Fatalf("the client defaults to %s, the contract server implements %s", shopify.DefaultAPIVersion, shopifytest.APIVersion)
	}
}

// Shopify supports a version for twelve months from its release; past that it serves another
// one, and the default must move on.
func TestDefaultVersionIsSupported(t *testing.T) {
	t.Parallel()
	released, err := time.Parse("2006-01", shopify.DefaultAPIVersion)
	if err != nil || !shopify.ValidAPIVersion(shopify.DefaultAPIVersion) {
		t.Fatalf("DefaultAPIVersion %q is not a quarterly release: %v", shopify.DefaultAPIVersion, err)
	}
	if end := released.AddDate(1, 0, 0); time.Now().After(end) {
		t.Fatalf("Shopify stopped supporting API version %s on %s: move DefaultAPIVersion (and testdata's schema) to a supported release",
			shopify.DefaultAPIVersion, end.Format(time.DateOnly))
	}
}

func TestAPIVersionSetting(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{"2026-04": true, "2027-01": true, "2026-05": false, "unstable": false, "2026-7": false, "26-07": false} {
		if got := shopify.ValidAPIVersion(v); got != ok {
			t.Errorf("ValidAPIVersion(%q) = %v", v, got)
		}
	}
	p := &shopify.Provider{}
	cfg := map[string]any{"shop": "example", "token": "t", "api_version": "2026-04"}
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "shopify.jp", Config: cfg}).Diagnostics.Err(); err != nil ||
		p.Client().Endpoint != "https://example.myshopify.com/admin/api/2026-04/graphql.json" {
		t.Fatalf("%v %s", err, p.Client().Endpoint)
	}
	cfg["api_version"] = "2026-05"
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: "shopify.jp", Config: cfg})
	if len(r.Diagnostics) != 1 || r.Diagnostics[0].Attribute != "api_version" || !strings.Contains(r.Diagnostics[0].Detail, "01, 04, 07 or 10") {
		t.Fatalf("a month Shopify releases no version in: %v", r.Diagnostics.Err())
	}
}

// Shopify serves a version it no longer supports with the oldest one it does, and says so in
// X-Shopify-API-Version; a path naming no released version is 404.
func TestContractServerServesVersionsAsShopifyDoes(t *testing.T) {
	t.Parallel()
	srv := shopifytest.New()
	defer srv.Close()
	for version, want := range map[string]string{
		shopifytest.APIVersion: shopifytest.APIVersion, "2026-01": "2026-01",
		"2024-01": shopifytest.SupportedVersions[0], "2026-05": "", "2027-10": "", "unstable": "", "latest": "",
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/admin/api/"+version+"/graphql.json", strings.NewReader(`{"query":"{ shop { currencyCode } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Access-Token", srv.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Shopify-API-Version"); got != want || (want == "") != (resp.StatusCode == http.StatusNotFound) {
			t.Errorf("version %s: %d served as %q, want %q", version, resp.StatusCode, got, want)
		}
	}
}

// A client pinned to a version Shopify no longer supports is refused the answer served with
// another, rather than reading it as if its documents had been checked against it.
func TestClientRefusesAnotherVersionsAnswer(t *testing.T) {
	t.Parallel()
	_, srv := configure(t, nil)
	c := shopify.NewVersionClient(srv.URL, srv.Token, "2024-07")
	_, err := c.Shop(context.Background())
	if providers.CodeOf(err) != providers.ErrInvalid || !strings.Contains(err.Error(), "served API version "+shopifytest.SupportedVersions[0]+" instead of 2024-07") {
		t.Fatalf("an answer served with another version: %v", err)
	}
}

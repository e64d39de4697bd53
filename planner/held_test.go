package planner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	_ "github.com/musubi-hq/musubi/providers/sandbox"
	_ "github.com/musubi-hq/musubi/providers/shopify"
	_ "github.com/musubi-hq/musubi/providers/smaregi"
	_ "github.com/musubi-hq/musubi/providers/square"
)

func loadHCL(t *testing.T, src string) *lang.Config {
	t.Helper()
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, ".", lang.LoadOptions{Environ: func() []string { return nil }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return cfg
}

// diagAt renders a diagnostic as "line:col: summary: detail".
func diagAt(d *hcl.Diagnostic) string {
	return fmt.Sprintf("%d:%d: %s: %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary, d.Detail)
}

// A coupon's stores become its canonical attribute, sorted, pointing at where they are written.
func TestCouponStoresBecomeAnAttribute(t *testing.T) {
	cfg := loadHCL(t, `
provider "mem" "pos" {}
campaign "spring" {
  coupon {
    percent = 10
    code    = "SPRING"
    stores  = ["umeda", "shibuya"]
  }
  channels = [provider.mem.pos]
}
`)
	ds := Expand(cfg, nil, nil)
	if len(ds) != 1 {
		t.Fatalf("expanded to %d instances", len(ds))
	}
	d := ds[0]
	if got := d.Attrs.Strings("stores"); !slices.Equal(got, []string{"shibuya", "umeda"}) {
		t.Errorf("stores = %v", got)
	}
	if r, _ := d.AttrRange("stores"); r.Start.Line != 7 || r.Start.Column != 15 {
		t.Errorf("stores range = %v, want 7:15", r)
	}
	cfg.Campaigns["spring"].Coupon.Stores = nil
	if a := Expand(cfg, nil, nil)[0].Attrs; a["stores"] != nil {
		t.Errorf("a coupon for every store has stores %v", a["stores"])
	}
}

// Plan refuses stores on a channel that cannot limit a coupon to some stores, at the stores.
func TestPlanRefusesStoresWhereTheChannelCannotHoldThem(t *testing.T) {
	f := newFixture(t)
	f.config = `
provider "mem" "ec" {}
campaign "spring" {
  coupon {
    percent = 10
    code    = "SPRING"
    stores  = ["shibuya"]
  }
  channels = [provider.mem.ec]
}
`
	_, _, diags := f.planWith()
	want := "7:15: Provider cannot do this: campaign.spring sets stores on its coupon, but provider.mem.ec cannot express stores for a coupon."
	if len(diags) != 1 || diagAt(diags[0]) != want {
		t.Fatalf("diagnostics %v, want %s", diags, want)
	}
}

// A Shopify channel's code discounts hold no stores: plan refuses them before any call, with
// the same words validate uses.
func TestPlanRefusesStoresOnShopify(t *testing.T) {
	f := newFixture(t)
	reg, _ := providers.Lookup("shopify")
	f.others = map[string]providers.Provider{"shopify.jp": reg.New()}
	f.config = `
provider "shopify" "jp" {
  shop    = "example.myshopify.com"
  token   = env("SHOPIFY_TOKEN", "shpat_test")
  api_url = "http://127.0.0.1:1"
}
campaign "spring" {
  coupon {
    percent = 10
    code    = "SPRING"
    stores  = ["shibuya"]
  }
  channels = [provider.shopify.jp]
}
`
	_, _, diags := f.planWith()
	want := "11:15: Provider cannot do this: campaign.spring sets stores on its coupon, but provider.shopify.jp cannot express stores for a coupon."
	if len(diags) == 0 || diagAt(diags[0]) != want {
		t.Fatalf("diagnostics %v, want first %s", diags, want)
	}
	held := Check(context.Background(), f.load())
	if len(held) != 1 || diagAt(held[0]) != want {
		t.Errorf("Check: %v, want %s", held, want)
	}
}

// Check runs plan's attribute check against the built-in providers' schemas without
// starting any: what a channel cannot hold is refused at its attribute, and an audience-only
// coupon on a register that keeps no audiences at the audience it needs; what a channel can
// hold, and what a plugin is asked, passes.
func TestCheckRefusesWhatBuiltInsCannotHold(t *testing.T) {
	cfg := loadHCL(t, `
provider "shopify" "jp" {
  shop  = "example.myshopify.com"
  token = env("SHOPIFY_TOKEN", "shpat_test")
}
provider "square" "store" {
  token = env("SQUARE_TOKEN", "sq_test")
}
provider "smaregi" "store" {
  contract_id   = "c1"
  client_id     = "id"
  client_secret = env("SMAREGI_SECRET", "secret")
}
provider "sandbox" "pos" {
  system = "pos"
}
provider "acme" "pos" {
  source = "./musubi-provider-acme"
}
segment "regulars" {
  condition = "customer.consent.line"
}
campaign "square_only" {
  coupon {
    percent = 10
    code    = "SQ10"
    stores  = ["L1", "L2"]
  }
  audience = segment.regulars
  channels = [provider.square.store, provider.sandbox.pos, provider.acme.pos]
}
campaign "everywhere" {
  coupon {
    percent       = 10
    code          = "ALL10"
    stores        = ["L1"]
    audience_only = true
  }
  audience = segment.regulars
  channels = [provider.shopify.jp, provider.square.store, provider.smaregi.store]
}
`)
	var got []string
	for _, d := range Check(context.Background(), cfg) {
		got = append(got, diagAt(d))
	}
	want := []string{
		"20:1: Provider cannot do this: segment.regulars needs an audience on provider.smaregi.store, which manages only: coupon.",
		"36:21: Provider cannot do this: campaign.everywhere sets stores on its coupon, but provider.shopify.jp cannot express stores for a coupon.",
		"36:21: Provider cannot do this: campaign.everywhere sets stores on its coupon, but provider.smaregi.store cannot express stores for a coupon.",
		"37:21: Provider cannot do this: campaign.everywhere sets audience on its coupon, but provider.smaregi.store cannot express audience for a coupon.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

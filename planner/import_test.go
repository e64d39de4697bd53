package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// An imported object takes its attributes from its system, except what only Musubi knows (a
// code pool's seed, its coupon's address), which comes from the configuration; the next plan
// then shows the difference from the configuration.
func TestImportRecordsTheObjectAndSavesTheState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ec := f.mems["mem.ec"]
	made := ec.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, IdempotencyKey: "by-hand",
		Attributes: providers.Attrs{"title": "Summer", "discount_type": "amount", "amount": int64(300), "code": "SUMMER500",
			"currency": "JPY", "timezone": "Asia/Tokyo"}})
	pool := ec.Create(ctx, providers.CreateRequest{Kind: providers.KindCodePool, IdempotencyKey: "pool-by-hand",
		Attributes: providers.Attrs{"pattern": "SPR-####-####", "count": int64(20)}})
	_, host := f.plan()
	st, err := f.backend.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pl := &Planner{Config: f.load(), Host: host, State: st}
	imp := func(addr, id string) error {
		return pl.Import(ctx, f.backend, at(addr), id, "v2")
	}
	if err := imp("campaign.summer.coupon[mem.ec]", made.ID); err != nil {
		t.Fatal(err)
	}
	if err := imp("campaign.spring.code_pool[mem.ec]", pool.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ addr, id, want string }{
		{"campaign.summer.coupon[mem.ec]", made.ID, "is already managed"},
		{"campaign.autumn.coupon[mem.ec]", made.ID, "the configuration declares no campaign.autumn.coupon[mem.ec]"},
		{"campaign.spring.coupon[mem.ec]", "obj_404", "importing obj_404 from provider.mem.ec"},
	} {
		if err := imp(c.addr, c.id); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("import %s %s: %v, want %q", c.addr, c.id, err, c.want)
		}
	}
	saved, err := f.backend.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Serial != 2 || saved.ToolVersion != "v2" || saved.Len() != 2 {
		t.Fatalf("saved state: %d resources at serial %d by %s, want 2 at 2 by v2", saved.Len(), saved.Serial, saved.ToolVersion)
	}
	c := saved.Find(at("campaign.summer.coupon[mem.ec]"))
	if c.ID != made.ID || c.Kind != providers.KindCoupon || c.Provider.String() != "mem.ec" || c.Attributes.Int("amount") != 300 || len(c.Dependencies) != 0 {
		t.Errorf("imported coupon: %+v", c)
	}
	cp := saved.Find(at("campaign.spring.code_pool[mem.ec]"))
	if cp.Attributes.String("coupon") != "campaign.spring.coupon[mem.ec]" || cp.Attributes.String("seed") == "" ||
		fmt.Sprint(cp.Dependencies) != "[campaign.spring.coupon[mem.ec]]" || cp.Attributes.Int("count") != 20 {
		t.Errorf("imported code pool: %+v", cp)
	}
	p, _ := f.plan()
	for _, ch := range p.Changes {
		if ch.Address == at("campaign.summer.coupon[mem.ec]") && (ch.Action != "update" || fmt.Sprint(ch.Changed) != "[amount title]") {
			t.Errorf("after the import the coupon is planned as %s of %v, want an update of the amount and title", ch.Action, ch.Changed)
		}
	}
}

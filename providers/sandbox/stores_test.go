package sandbox

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// A simulated register knows its store, so a POS coupon may be limited to some stores, kept
// and read back; a simulated EC store has no stores and refuses the limit.
func TestPOSCouponKeepsItsStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	pos := configure(t, path, "sandbox.pos", "pos")
	a := coupon()
	a["stores"] = []string{"shibuya", "umeda"}
	r := pos.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if got := pos.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: r.ID}).Attributes.Strings("stores"); !slices.Equal(got, []string{"shibuya", "umeda"}) {
		t.Errorf("stores read back as %v", got)
	}
	ec := configure(t, path, "sandbox.ec", "ec")
	ds := ec.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCoupon, Attributes: a}).Diagnostics
	if len(ds) != 1 || ds[0].Attribute != "stores" {
		t.Errorf("an EC coupon with stores: %v", ds.Err())
	}
}

// Before it is configured, the sandbox says what any of its systems can do, the same way
// every time: a coupon then holds both the EC store's audience and the register's stores.
func TestUnconfiguredSchemaIsEverySystemsTogether(t *testing.T) {
	first := (&Provider{}).Schema(context.Background()).Kinds
	for range 20 {
		again := (&Provider{}).Schema(context.Background()).Kinds
		for k, ks := range first {
			if !slices.Equal(ks.Attributes, again[k].Attributes) || !slices.Equal(ks.Topics, again[k].Topics) {
				t.Fatalf("%s: %v, then %v", k, ks, again[k])
			}
		}
	}
	ks := first[providers.KindCoupon]
	for _, a := range []string{"audience", "combines_with", "stores", "code"} {
		if !slices.Contains(ks.Attributes, a) {
			t.Errorf("the unconfigured coupon holds no %s: %v", a, ks.Attributes)
		}
	}
	if sub := first[providers.KindSubscription].Topics; !slices.Contains(sub, "follow") || !slices.Contains(sub, "cart.updated") {
		t.Errorf("unconfigured topics: %v", sub)
	}
}

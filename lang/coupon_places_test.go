package lang

import (
	"slices"
	"testing"
	"time"
)

const placesProviders = "provider \"square\" \"store\" {}\n"

func placesCampaign(coupon string) string {
	return placesProviders + "campaign \"c\" {\n  channels = [provider.square.store]\n  coupon {\n    percent = 10\n    code    = \"SPRING\"\n" +
		coupon + "  }\n}\n"
}

func TestCouponStoresAndValidFor(t *testing.T) {
	cfg, diags := Load(mapFS("main.hcl", placesCampaign("    stores    = [\"L2\", \"L1\"]\n    valid_for = \"14d\"\n")), ".", testOptions())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cp := cfg.Campaigns["c"]
	cu := cp.Coupon
	if want := []string{"L1", "L2"}; !slices.Equal(cu.Stores, want) {
		t.Errorf("stores = %v, want %v (sorted)", cu.Stores, want)
	}
	if cu.ValidFor != 14*24*time.Hour {
		t.Errorf("valid_for = %v, want 336h", cu.ValidFor)
	}
	if r, ok := cp.AttrRanges.Get("coupon.stores"); !ok || r.Start.Line != 7 {
		t.Errorf("coupon.stores range = %v, %v; want line 7", r, ok)
	}

	cfg, diags = Load(mapFS("main.hcl", placesCampaign("")), ".", testOptions())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cu := cfg.Campaigns["c"].Coupon; cu.Stores != nil || cu.ValidFor != 0 {
		t.Errorf("without stores and valid_for: %v, %v; want nil, 0", cu.Stores, cu.ValidFor)
	}
}

func TestCouponStoresAndValidForDiagnostics(t *testing.T) {
	tests := []diagCase{
		{
			name:  "stores not a list",
			files: []string{"main.hcl", placesCampaign("    stores = \"L1\"\n")},
			want:  []string{"main.hcl:7:14: Invalid value for stores"},
		},
		{
			name:  "empty stores",
			files: []string{"main.hcl", placesCampaign("    stores = []\n")},
			want:  []string{"main.hcl:7:14: Invalid stores: stores lists the stores the coupon may be redeemed at; leave it out for every store."},
		},
		{
			name:  "a store twice",
			files: []string{"main.hcl", placesCampaign("    stores = [\"L1\", \"L1\"]\n")},
			want:  []string{`main.hcl:7:14: Invalid stores: "L1" is listed twice.`},
		},
		{
			name:  "a blank store",
			files: []string{"main.hcl", placesCampaign("    stores = [\" L1\"]\n")},
			want:  []string{`main.hcl:7:14: Invalid stores: " L1" is not a store ID`},
		},
		{
			name:  "bad duration",
			files: []string{"main.hcl", placesCampaign("    valid_for = \"2 weeks\"\n")},
			want:  []string{`main.hcl:7:17: Invalid duration: valid_for: invalid duration "2 weeks"`},
		},
		{
			name:  "zero duration",
			files: []string{"main.hcl", placesCampaign("    valid_for = \"0d\"\n")},
			want:  []string{"main.hcl:7:17: Invalid duration: valid_for must be longer than 0"},
		},
		{
			name:  "duration not a string",
			files: []string{"main.hcl", placesCampaign("    valid_for = 14\n")},
			want:  []string{"main.hcl:7:17: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

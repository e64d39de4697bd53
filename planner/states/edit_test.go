package states

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/providers"
)

const (
	coupon   = "campaign.spring.coupon[sandbox.ec]"
	pool     = "campaign.spring.code_pool[sandbox.ec]"
	audience = "segment.loyal.audience[sandbox.ec]"
)

var (
	sandboxEC                    = addrs.Provider{Type: "sandbox", Name: "ec"}
	couponAt, poolAt, audienceAt = addrs.MustParseInstance(coupon), addrs.MustParseInstance(pool), addrs.MustParseInstance(audience)
)

// sample is a coupon, its code pool, and an audience whose description happens to read like
// the coupon's address.
func sample() *State {
	s := New("test")
	s.Put(&Resource{Address: couponAt, Kind: providers.KindCoupon, Provider: sandboxEC, ID: "cpn_1",
		Attributes: providers.Attrs{"title": "Spring", "code": "SPRING"}})
	s.Put(&Resource{Address: poolAt, Kind: providers.KindCodePool, Provider: sandboxEC, ID: "pool_1",
		Attributes: providers.Attrs{"coupon": coupon, "pattern": "SPR-####"}, Dependencies: []addrs.Instance{couponAt}})
	s.Put(&Resource{Address: audienceAt, Kind: providers.KindAudience, Provider: sandboxEC, ID: "aud_1",
		Attributes: providers.Attrs{"segment": "loyal", "description": coupon}})
	return s
}

func addresses(rs []*Resource) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Address.String())
	}
	return strings.Join(out, " ")
}

func TestSelect(t *testing.T) {
	s := sample()
	for _, c := range []struct {
		patterns []string
		want     string
	}{
		{nil, pool + " " + coupon + " " + audience},
		{[]string{coupon}, coupon},
		{[]string{"campaign.spring"}, pool + " " + coupon},
		{[]string{"campaign.spr"}, ""},
		{[]string{"*.*.coupon*"}, coupon},
		{[]string{"segment.*", coupon}, coupon + " " + audience},
	} {
		if got := addresses(s.Select(c.patterns)); got != c.want {
			t.Errorf("Select(%q) = %q, want %q", c.patterns, got, c.want)
		}
	}
}

func TestGetSaysWhereToLook(t *testing.T) {
	if _, err := New("").Get(coupon); err == nil || err.Error() != coupon+" is not in the state (the state is empty)" {
		t.Errorf("empty state: %v", err)
	}
	s := sample()
	if r, err := s.Get(coupon); err != nil || r.ID != "cpn_1" {
		t.Errorf("Get(%s) = %v, %v", coupon, r, err)
	}
	if _, err := s.Get("campaign.autumn"); err == nil || err.Error() != "campaign.autumn is not in the state; musubi state list shows what is" {
		t.Errorf("missing address: %v", err)
	}
}

func TestForgetSavesTheNextSerial(t *testing.T) {
	ctx := context.Background()
	b := NewLocal(filepath.Join(t.TempDir(), "state.json"))
	s := sample()
	if _, err := Forget(ctx, b, s, []string{"campaign.autumn"}, "v2"); err == nil || !strings.Contains(err.Error(), "campaign.autumn is not in the state") {
		t.Fatalf("forgetting nothing: %v", err)
	}
	removed, err := Forget(ctx, b, s, []string{"campaign.spring"}, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if got := addresses(removed); got != pool+" "+coupon {
		t.Errorf("removed %q", got)
	}
	saved, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := addresses(saved.Resources()); got != audience || saved.Serial != 1 || saved.ToolVersion != "v2" || saved.Lineage != s.Lineage {
		t.Errorf("saved state: %q at serial %d by %s", got, saved.Serial, saved.ToolVersion)
	}
}

// Moving rewrites references to the old address, and only references: an attribute that is
// not a reference keeps its text even when it reads like the old address.
func TestMoveRewritesReferencesOnly(t *testing.T) {
	ctx := context.Background()
	b := NewLocal(filepath.Join(t.TempDir(), "state.json"))
	s := sample()
	const moved = "campaign.spring2027.coupon[sandbox.ec]"
	movedAt := addrs.MustParseInstance(moved)
	if err := Move(ctx, b, s, coupon, moved, "v2"); err != nil {
		t.Fatal(err)
	}
	saved, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Find(couponAt) != nil || saved.Find(movedAt) == nil || saved.Find(movedAt).ID != "cpn_1" || saved.Serial != 1 {
		t.Fatalf("after the move: %s at serial %d", addresses(saved.Resources()), saved.Serial)
	}
	p := saved.Find(poolAt)
	if p.Attributes.String("coupon") != moved || fmt.Sprint(p.Dependencies) != "["+moved+"]" {
		t.Errorf("the code pool still refers to the old address: coupon %q, dependencies %v", p.Attributes.String("coupon"), p.Dependencies)
	}
	if d := saved.Find(audienceAt).Attributes.String("description"); d != coupon {
		t.Errorf("the audience's description was rewritten to %q; it is text, not a reference", d)
	}
}

func TestMoveRefusals(t *testing.T) {
	b := NewLocal(filepath.Join(t.TempDir(), "state.json"))
	for _, c := range []struct{ src, dst, want string }{
		{"campaign.autumn.coupon[sandbox.ec]", "campaign.winter.coupon[sandbox.ec]", "campaign.autumn.coupon[sandbox.ec] is not in the state"},
		{coupon, "campaign.spring", `"campaign.spring" is not a resource address`},
		{coupon, "campaign.spring.coupon[sandbox.pos]", "the destination must keep the kind and provider"},
		{coupon, "campaign.spring.audience[sandbox.ec]", "the destination must keep the kind and provider"},
		{coupon, coupon, "already exists in the state"},
	} {
		s := sample()
		err := Move(context.Background(), b, s, c.src, c.dst, "v2")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("mv %s %s: %v, want %q", c.src, c.dst, err, c.want)
		}
		if s.Serial != 0 || addresses(s.Resources()) != addresses(sample().Resources()) {
			t.Errorf("mv %s %s changed the state", c.src, c.dst)
		}
	}
}

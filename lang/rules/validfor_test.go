package rules

import (
	"strings"
	"testing"
	"time"
)

// A coupon's valid_for reaches the engine: in the bundle as written, compiled as a duration.
func TestCampaignValidFor(t *testing.T) {
	cfg := quickstart(t)
	cfg.Campaigns["spring"].Coupon.ValidFor = 14 * 24 * time.Hour
	b := FromConfig(cfg, map[string]string{"spring": "seed-1"})
	enc := b.Encode()
	if !strings.Contains(string(enc), `"valid_for":"14d"`) {
		t.Fatalf("bundle has no valid_for: %s", enc)
	}
	back, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(back)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Campaigns["spring"].ValidFor; got != 14*24*time.Hour {
		t.Errorf("compiled valid_for = %v, want 336h", got)
	}

	// Without it, codes last the campaign, and the bundle does not say otherwise.
	if enc := FromConfig(quickstart(t), nil).Encode(); strings.Contains(string(enc), "valid_for") {
		t.Errorf("a bundle without valid_for mentions it: %s", enc)
	}

	for _, bad := range []string{"soon", "-1d", "0s"} {
		b := FromConfig(quickstart(t), nil)
		b.Campaigns[0].ValidFor = bad
		if _, err := Compile(b); err == nil || !strings.Contains(err.Error(), "campaign.spring.valid_for") {
			t.Errorf("valid_for %q: got %v, want an error naming campaign.spring.valid_for", bad, err)
		}
	}
}

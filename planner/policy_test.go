package planner

import (
	"testing"
	"time"
)

// A policy on triggers reads how long their actions are held: a wait's for, or a delay.
func TestPolicyReadsATriggersDelay(t *testing.T) {
	cfg := loadHCL(t, `
provider "sandbox" "line" {
  system = "messaging"
}

trigger "slow" {
  on = "tryon"
  wait {
    for = "72h"
  }
  action "send" {
    via      = provider.sandbox.line
    template = "hi"
  }
}

trigger "quick" {
  on    = "tryon"
  delay = "1h"
  at    = "10:00"
  action "send" {
    via      = provider.sandbox.line
    template = "hi"
  }
}

policy "short_journeys" {
  applies_to = "trigger"
  condition  = "trigger.delay <= duration('48h') && trigger.at in ['', '10:00']"
  message    = "Follow-ups more than two days later go stale."
}
`)
	pl := &Planner{Config: cfg}
	got := pl.checkPolicies(nil)
	if len(got) != 1 || got[0].Block.Name != "slow" {
		t.Fatalf("policy results: %+v", got)
	}
	if v := policySubjects(cfg, "trigger", nil); v[0].value["delay"] != time.Hour || v[1].value["delay"] != 72*time.Hour {
		t.Errorf("delays: %v, %v", v[0].value["delay"], v[1].value["delay"])
	}
}

// A policy on campaigns reads a coupon's stores and how long each code is good for.
func TestPolicyReadsACouponsStoresAndValidity(t *testing.T) {
	cfg := loadHCL(t, `
provider "sandbox" "pos" {
  system = "pos"
}

campaign "vending" {
  coupon {
    percent   = 10
    stores    = ["shibuya"]
    valid_for = "30d"
    codes {
      pattern = "VND-####"
      count   = 100
    }
  }
  channels = [provider.sandbox.pos]
}

campaign "everywhere" {
  coupon {
    percent = 5
    code    = "ALL5"
  }
  channels = [provider.sandbox.pos]
}

policy "store_codes_expire" {
  condition = "size(campaign.coupon.stores) == 0 || (campaign.coupon.valid_for > duration('0s') && campaign.coupon.valid_for <= duration('336h'))"
  message   = "A store's coupon is good for two weeks at most."
}
`)
	got := (&Planner{Config: cfg}).checkPolicies(nil)
	if len(got) != 1 || got[0].Block.Name != "vending" {
		t.Fatalf("policy results: %+v", got)
	}
}

package lang

import (
	"slices"
	"strings"
	"testing"
)

// deferEnvConfig reads secrets and a shop name with env(), and keeps a sensitive value out of
// a coupon code only by mistake.
const deferEnvConfig = `
provider "shopify" "jp" {
  shop  = nonsensitive(env("SHOPIFY_SHOP"))
  token = env("SHOPIFY_TOKEN")
}
provider "square" "store" {
  token = sensitive(env("SQUARE_TOKEN"))
  timezone = env("SQUARE_TZ", "Asia/Tokyo")
}
locals {
  percent = nonsensitive(env("SPRING_PERCENT"))
}
output "shop" {
  value = nonsensitive(env("SHOPIFY_SHOP"))
}
campaign "spring" {
  coupon {
    percent = tonumber(local.percent)
    code    = "SPRING10"
  }
  channels = [provider.shopify.jp, provider.square.store]
}
`

// Without its environment, a configuration still loads when asked to defer env(): each
// variable not set stands for an unknown value, sensitive as the variable's would be, listed
// in UnsetEnv; what needs the value to be checked says the check is left to plan.
func TestDeferEnvLoadsWithoutTheEnvironment(t *testing.T) {
	opts := testOptions()
	opts.DeferEnv = true
	cfg, diags := Load(mapFS("main.hcl", deferEnvConfig), ".", opts)
	if diags.HasErrors() {
		t.Fatalf("errors:\n%s", diagLines(diags))
	}
	want := "main.hcl:18:15: Checked by plan: percent is computed from the environment variable SPRING_PERCENT, which is not set here, so it is not checked now; plan needs the variable and checks it."
	if len(diags) != 1 || diagLine(diags[0]) != want {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", diagLines(diags), want)
	}
	if got := cfg.UnsetEnv; !slices.Equal(got, []string{"SHOPIFY_SHOP", "SHOPIFY_TOKEN", "SPRING_PERCENT", "SQUARE_TOKEN"}) {
		t.Errorf("UnsetEnv = %v", got)
	}
	jp, store := cfg.Providers["shopify.jp"], cfg.Providers["square.store"]
	for _, c := range []struct {
		p         *Provider
		attr      string
		sensitive bool
	}{{jp, "shop", false}, {jp, "token", true}, {store, "token", true}} {
		v := c.p.Config[c.attr]
		if v.IsKnown() || v.IsMarked() || c.p.Sensitive[c.attr] != c.sensitive {
			t.Errorf("%s %s = %#v, sensitive %v; want unknown, unmarked, sensitive %v", c.p.Ref, c.attr, v, c.p.Sensitive[c.attr], c.sensitive)
		}
	}
	if v := store.Config["timezone"]; !v.IsKnown() || v.AsString() != "Asia/Tokyo" || len(cfg.UnsetEnv) != 4 {
		t.Errorf("a default is taken as given: timezone = %#v", v)
	}
}

// Loaded as plan loads it, the same configuration fails naming every variable not set.
func TestEnvNotSetIsAnErrorByDefault(t *testing.T) {
	cfg, diags := Load(mapFS("main.hcl", deferEnvConfig), ".", testOptions())
	if len(cfg.UnsetEnv) != 0 {
		t.Errorf("UnsetEnv = %v", cfg.UnsetEnv)
	}
	got := diagLines(diags)
	for _, name := range []string{"SHOPIFY_SHOP", "SHOPIFY_TOKEN", "SPRING_PERCENT", "SQUARE_TOKEN"} {
		if !strings.Contains(got, "environment variable "+name+" is not set") {
			t.Errorf("no error names %s:\n%s", name, got)
		}
	}
}

// A value from env() where a sensitive value is refused is refused as well when the variable
// is not set: validate does not let through what plan refuses.
func TestDeferEnvStillRefusesSensitiveValues(t *testing.T) {
	src := `
provider "sandbox" "ec" {
  system = "ec"
}
campaign "spring" {
  coupon {
    percent = 10
    code    = env("SPRING_CODE")
  }
  channels = [provider.sandbox.ec]
}
output "token" {
  value = env("TOKEN")
}
`
	want := []string{
		"main.hcl:8:15: Sensitive value not allowed here: code is written into plans and state, so it cannot hold a sensitive value (from env() or a sensitive variable).",
		"main.hcl:13:11: Output refers to sensitive values: output \"token\" shows a sensitive value; declare it with sensitive = true to keep it hidden.",
	}
	for _, env := range [][]string{{"SPRING_CODE=S", "TOKEN=t"}, nil} {
		opts := testOptions(env...)
		opts.DeferEnv = true
		_, diags := Load(mapFS("main.hcl", src), ".", opts)
		if got := diagLines(diags); got != strings.Join(want, "\n") {
			t.Errorf("with %v:\n%s\nwant:\n%s", env, got, strings.Join(want, "\n"))
		}
	}
}

// An empty environment variable is not set: a pull request from a fork gets its secrets as
// empty strings, and validate must pass without them as without the variables.
func TestEmptyEnvIsNotSet(t *testing.T) {
	src := "provider \"line\" \"oa\" {\n  channel_access_token = env(\"LINE_TOKEN\")\n  channel_secret       = env(\"LINE_SECRET\")\n}\n"
	opts := testOptions("LINE_TOKEN=", "LINE_SECRET=")
	if _, diags := Load(mapFS("main.hcl", src), ".", opts); !diags.HasErrors() || !strings.Contains(diags.Error(), "LINE_TOKEN is not set (or is empty)") {
		t.Fatalf("an empty secret was taken: %v", diags)
	}
	opts.DeferEnv = true
	cfg, diags := Load(mapFS("main.hcl", src), ".", opts)
	if diags.HasErrors() || len(cfg.UnsetEnv) != 2 {
		t.Fatalf("validate's load: %v, unset %v", diags, cfg.UnsetEnv)
	}
}

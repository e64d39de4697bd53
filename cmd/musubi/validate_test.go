package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/lang"
)

// validateProviders are the providers the cases below use, each reading its secrets with
// env(), as a real configuration does.
const validateProviders = `
provider "shopify" "jp" {
  shop  = "example.myshopify.com"
  token = env("SHOPIFY_TOKEN")
}
provider "square" "store" {
  token = env("SQUARE_TOKEN")
}
provider "smaregi" "store" {
  contract_id   = "c1"
  client_id     = "app"
  client_secret = env("SMAREGI_SECRET")
}
provider "webhook" "tablet" {
  url     = env("WEBHOOK_URL")
  secret  = env("WEBHOOK_SECRET")
  address = "member"
}
provider "meta" "ads" {
  ad_account_id = "act_1"
  access_token  = env("META_TOKEN")
}
segment "loyal" {
  condition = "customer.consent.line"
}
`

// validateEnv is the environment plan has and validate, on a pull request from a fork, has not.
var validateEnv = map[string]string{
	"SHOPIFY_TOKEN": "shpat_test", "SQUARE_TOKEN": "sq_test", "SMAREGI_SECRET": "secret",
	"WEBHOOK_URL": "https://tablet.example.jp/hook", "WEBHOOK_SECRET": "0123456789abcdef0123456789abcdef",
	"META_TOKEN": "meta_test",
}

// Validate refuses, without the secrets and without calling any system, what plan refuses
// before it calls one, with the same diagnostic at the same place: every error validate
// reports, plan reports too, and each case's refusal is among them.
func TestValidateRefusesWhatPlanRefuses(t *testing.T) {
	cases := []struct {
		name, config string
		want         string // "line:col: summary: detail"
	}{
		{"backend", `
musubi {
  backend "s3" {
    bucket = "state"
  }
}`, `28:3: Unknown backend: backend "s3" is not available; use "local" or "pg".`},
		{"unknown provider type", `
provider "shopfy" "jp" {
  shop = "example.myshopify.com"
}`, `27:1: Cannot start provider shopfy.jp: there is no built-in provider "shopfy" (did you mean "shopify"? built-in providers: `},
		{"malformed source", `
provider "loyalty" "app" {
  source = "Loyalty App!"
}`, `27:1: Cannot start provider loyalty.app: source "Loyalty App!" is neither builtin/TYPE, a path, nor a plugin name`},
		{"unknown provider attribute", `
provider "square" "pos" {
  token    = env("SQUARE_TOKEN")
  location = "L123"
}`, `29:14: Unsupported provider attribute: provider "square" has no attribute "location". Its attributes: api_version, base_url, timezone, token, webhook_signature_key, webhook_url.`},
		{"credential in the file", `
provider "shopify" "kr" {
  shop  = "example-kr.myshopify.com"
  token = "shpat_0123456789"
}`, `29:11: Credential written in the configuration: token is a credential; read it from the environment with env("…") so it never lands in git, state or plans.`},
		{"missing provider attribute", `
provider "shopify" "kr" {
  token = env("SHOPIFY_TOKEN")
}`, `27:1: Missing provider attribute: provider "shopify" needs shop: the shop's myshopify.com domain`},
		{"message through a POS", `
trigger "thanks" {
  on = "purchase"
  action "send" {
    via      = provider.square.store
    template = "ありがとうございました"
  }
}`, `29:3: Provider cannot do this: trigger.thanks sends a message through provider.square.store, which neither keeps messages nor sends them (it manages only: audience, coupon, subscription). Name a messaging provider in via.`},
		{"stores on Shopify", `
campaign "spring" {
  coupon {
    percent = 10
    code    = "SPRING10"
    stores  = ["shibuya"]
  }
  channels = [provider.shopify.jp]
}`, `31:15: Provider cannot do this: campaign.spring sets stores on its coupon, but provider.shopify.jp cannot express stores for a coupon.`},
		{"audience_only on Smaregi", `
campaign "members" {
  coupon {
    percent       = 10
    code          = "MEMBERS"
    audience_only = true
  }
  audience = segment.loyal
  channels = [provider.smaregi.store]
}`, `31:21: Provider cannot do this: campaign.members sets audience on its coupon, but provider.smaregi.store cannot express audience for a coupon.`},
		{"audience on a pure sender", `
audience_export "tablet" {
  segment = segment.loyal
  to      = [provider.webhook.tablet]
}`, `29:13: Provider cannot do this: segment.loyal needs an audience on provider.webhook.tablet, which manages no resources.`},
		{"source without events", `
identity_source "ads" {
  provider    = provider.meta.ads
  identifiers = { email = "email" }
}`, `27:1: Provider cannot deliver events: identity_source.ads names provider.meta.ads, which neither subscribes to its system's webhooks, nor receives them, nor is polled for events.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if err := os.WriteFile("main.hcl", []byte(validateProviders+c.config+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for k := range validateEnv {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			validate := runDiags(t, "validate", "-json")
			for k, v := range validateEnv {
				t.Setenv(k, v)
			}
			plan := runDiags(t, "plan", "-json")
			if !slices.ContainsFunc(validate, func(d string) bool { return strings.HasPrefix(d, c.want) }) {
				t.Errorf("validate:\n%s\nwant:\n%s", strings.Join(validate, "\n"), c.want)
			}
			if !slices.ContainsFunc(plan, func(d string) bool { return strings.HasPrefix(d, c.want) }) {
				t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(plan, "\n"), c.want)
			}
			for _, d := range validate {
				if !slices.Contains(plan, d) {
					t.Errorf("validate refuses what plan does not:\n%s\nplan:\n%s", d, strings.Join(plan, "\n"))
				}
			}
		})
	}
}

// runDiags runs musubi with -json output and returns its errors as "line:col: summary: detail".
func runDiags(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errOut strings.Builder
	if code := Main(args, strings.NewReader(""), &out, &errOut); code != 1 {
		t.Fatalf("musubi %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	var res struct {
		Diagnostics []lang.JSONDiagnostic `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("musubi %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	var ds []string
	for _, d := range res.Diagnostics {
		if d.Severity != "error" {
			continue
		}
		pos := "-"
		if d.Range != nil {
			pos = fmt.Sprintf("%d:%d", d.Range.Start.Line, d.Range.Start.Column)
		}
		ds = append(ds, pos+": "+d.Summary+": "+d.Detail)
	}
	return ds
}

// Validate needs none of the secrets env() reads, and says which it did without; plan needs
// them all, and names the first it misses.
func TestValidateWithoutTheEnvironment(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile(filepath.Join(".", "main.hcl"), []byte(validateProviders), 0o644); err != nil {
		t.Fatal(err)
	}
	for k := range validateEnv {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	var out, errOut strings.Builder
	if code := Main([]string{"validate"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	want := "Not set here, and left to plan: META_TOKEN, SHOPIFY_TOKEN, SMAREGI_SECRET, SQUARE_TOKEN, WEBHOOK_SECRET, WEBHOOK_URL (read with env()).\n"
	if !strings.HasSuffix(out.String(), want) || errOut.Len() > 0 {
		t.Errorf("validate:\n%s%s\nwant the last line:\n%s", out.String(), errOut.String(), want)
	}
	out.Reset()
	errOut.Reset()
	if code := Main([]string{"plan"}, strings.NewReader(""), &out, &errOut); code != 1 {
		t.Fatalf("plan: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "environment variable SHOPIFY_TOKEN is not set") {
		t.Errorf("plan:\n%s", errOut.String())
	}
}

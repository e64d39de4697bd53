package planner

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/musubi-hq/musubi/lang"
)

// A configuration loaded without its environment variables is for checking only: Check
// takes it, and nothing that would hand a value to a provider or name a state file does.
func TestOnlyCheckTakesAConfigurationWithoutItsEnvironment(t *testing.T) {
	src := `
musubi {
  backend "local" {
    path = env("STATE_PATH")
  }
}
provider "shopify" "jp" {
  shop  = "example.myshopify.com"
  token = env("SHOPIFY_TOKEN")
}
`
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(src)}}, ".", lang.LoadOptions{
		DeferEnv: true, Environ: func() []string { return nil }, LookupEnv: func(string) (string, bool) { return "", false }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if ds := Check(context.Background(), cfg); len(ds) > 0 {
		t.Errorf("Check: %v", ds)
	}
	want := "Environment variable not set: the configuration reads SHOPIFY_TOKEN, STATE_PATH with env(), which are not set."
	if _, ds := Backend(cfg, t.TempDir()); len(ds) != 1 || ds[0].Summary+": "+ds[0].Detail != want {
		t.Errorf("Backend: %v, want %s", ds, want)
	}
	h, ds := NewHost(context.Background(), cfg, t.TempDir(), nil, nil)
	defer h.Close()
	if len(ds) != 1 || ds[0].Summary+": "+ds[0].Detail != want || len(h.Names()) != 0 {
		t.Errorf("NewHost started %v: %v, want %s", h.Names(), ds, want)
	}
}

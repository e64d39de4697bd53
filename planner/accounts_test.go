package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// A state applied against one account of a system, planned with a configuration that points
// at another, would find none of its objects there and create them all again: it is refused,
// naming the provider and both accounts.
func TestPlanRefusesAStateOfAnotherAccount(t *testing.T) {
	f := appliedFixture(t)
	f.config = strings.Replace(testConfig, `system = "ec"`, `system = "ec-osaka"`, 1)
	p, _, diags := f.planWith()
	if !diags.HasErrors() {
		t.Fatalf("planned against another account: %+v", p.Summary())
	}
	msg := diags.Error()
	for _, want := range []string{"provider.mem.ec", `system = "ec"`, `system = "ec-osaka"`, "musubi state rebind provider.mem.ec"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %s", msg, want)
		}
	}
	if strings.Contains(msg, "mem.pos") {
		t.Errorf("refusal names provider.mem.pos, whose account did not change: %s", msg)
	}
	if s := p.Summary(); s.Add+s.Change+s.Replace+s.Destroy != 0 {
		t.Errorf("the refused plan has changes: %+v", s)
	}
}

// After a deliberate move, rebind records the new account and plans go on; a saved plan
// applied once the environment points elsewhere is refused as well.
func TestRebindAcceptsAMovedAccount(t *testing.T) {
	f := appliedFixture(t)
	saved, _ := f.plan("percent=15")
	f.config = strings.Replace(testConfig, `system = "ec"`, `system = "ec-osaka"`, 1)
	_, host, _ := f.planWith()
	if _, err := Apply(context.Background(), saved, host, f.backend, ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "musubi state rebind provider.mem.ec") {
		t.Fatalf("applied a plan made for another account: %v", err)
	}
	st, err := f.backend.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	moved, err := Rebind(context.Background(), f.backend, st, host, []string{"provider.mem.ec"}, "dev")
	if err != nil || len(moved) != 1 || moved[0].String() != "mem.ec" {
		t.Fatalf("rebind: %v %v", moved, err)
	}
	if p, _, diags := f.planWith(); diags.HasErrors() || p.HasChanges() {
		t.Fatalf("plan after rebind: %v, %+v", diags, p.Summary())
	}
	if _, err := Rebind(context.Background(), f.backend, st, host, []string{"provider.mem.nowhere"}, "dev"); err == nil {
		t.Fatal("rebound a provider the configuration does not declare")
	}
}

// A state written before accounts were recorded plans as before, and records them at the
// next apply.
func TestStateWithoutAccountsIsAccepted(t *testing.T) {
	f := newFixture(t)
	p, host := f.plan()
	st, err := f.apply(p, host)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Accounts) != 2 || st.Accounts[p.Changes[0].Provider]["system"] == "" {
		t.Fatalf("accounts recorded: %v", st.Accounts)
	}
	st.Accounts = nil
	if err := states.Save(context.Background(), f.backend, st, "dev"); err != nil {
		t.Fatal(err)
	}
	f.config = strings.Replace(testConfig, `system = "ec"`, `system = "ec-osaka"`, 1)
	if _, _, diags := f.planWith(); diags.HasErrors() {
		t.Fatal(diags.Error())
	}
}

// Credentials never reach the account; values from the environment only as digests.
func TestAccountLeavesOutSecrets(t *testing.T) {
	pb := &lang.Provider{Sensitive: map[string]bool{"token": true, "shop": true}}
	schema := []providers.ConfigAttribute{
		{Name: "shop", Type: providers.String}, {Name: "token", Type: providers.String, Sensitive: true},
		{Name: "api_url", Type: providers.String}, {Name: "port", Type: providers.Int}, {Name: "timezone", Type: providers.String},
	}
	conf := map[string]any{"shop": "a.myshopify.com", "token": "shpat_secret", "api_url": "https://a.example", "port": 443.0, "timezone": ""}
	a := accountOf(pb, conf, schema)
	if _, ok := a["token"]; ok {
		t.Errorf("the credential is in the account: %v", a)
	}
	if !strings.HasPrefix(a["shop"], digestPrefix) || strings.Contains(a["shop"], "myshopify") {
		t.Errorf("a value from the environment is shown: %v", a)
	}
	if a["api_url"] != "https://a.example" || a["port"] != "443" || len(a) != 3 {
		t.Errorf("account %v", a)
	}
	conf["shop"] = "b.myshopify.com"
	if b := accountOf(pb, conf, schema); b["shop"] == a["shop"] {
		t.Error("two shops from the environment have the same digest")
	}
}

package loyalty_test

import (
	"context"
	"testing"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

func open(t *testing.T, path string) providers.Provider {
	p := &loyalty.Provider{}
	if ds := p.Configure(context.Background(), providers.ConfigureRequest{Name: loyaltytest.Program,
		Config: map[string]any{"path": path}}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	return p
}

func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.Run(t, loyaltytest.Harness(open))
}

func TestParseCrash(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"create", "create:0:exit", "create:2:explode", "create:x:hang"} {
		if _, err := loyalty.ParseCrash(bad); err == nil {
			t.Errorf("ParseCrash(%q) accepted it", bad)
		}
	}
	c, err := loyalty.ParseCrash("create:3:hang")
	if err != nil || c.Op != "create" || c.Nth != 3 || !c.Hang {
		t.Fatalf("ParseCrash: %+v, %v", c, err)
	}
}

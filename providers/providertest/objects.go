package providertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// Create plans and creates an object through p under an idempotency key, and returns its ID;
// an error fails the test.
func Create(tb testing.TB, p providers.Provider, k providers.Kind, a providers.Attrs, key string, refs map[string]string) string {
	tb.Helper()
	a = p.Plan(context.Background(), providers.PlanRequest{Kind: k, Proposed: a}).Planned
	r := p.Create(context.Background(), providers.CreateRequest{Kind: k, Attributes: a, IdempotencyKey: key, Refs: refs})
	if err := r.Diagnostics.Err(); err != nil {
		tb.Fatal(err)
	}
	return r.ID
}

// With returns a copy of a with the attributes of the name-value pairs kv set.
func With(a providers.Attrs, kv ...any) providers.Attrs {
	out := a.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// made creates n objects of a kind with attributes attrs() (keys k0, k1…) and returns the
// requests that read them back by ID, each with those attributes as its prior.
func made(tb testing.TB, p providers.Provider, k providers.Kind, attrs func() providers.Attrs, n int) []providers.ReadRequest {
	tb.Helper()
	reqs := make([]providers.ReadRequest, n)
	for i := range reqs {
		reqs[i] = providers.ReadRequest{Kind: k, ID: Create(tb, p, k, attrs(), fmt.Sprint("k", i), nil), Prior: attrs()}
	}
	return reqs
}

// checkBatch checks the answers of a batch read: each found, under its request's ID, with
// its prior's attributes.
func checkBatch(tb testing.TB, reqs []providers.ReadRequest, out []providers.ReadResponse) {
	tb.Helper()
	for i, r := range out {
		if !r.Found || r.ID != reqs[i].ID || len(providers.Diff(reqs[i].Kind, reqs[i].Prior, r.Attributes)) > 0 {
			tb.Fatalf("answer %d: %+v", i, r)
		}
	}
}

// BatchReadCalls makes n coupons with attributes attrs(), reads them back in one batch,
// checks the answers, and returns how many calls of the system the read took, as calls
// counts them.
func BatchReadCalls(t *testing.T, p providers.Provider, attrs func() providers.Attrs, n int, calls func() int) int {
	t.Helper()
	reqs := made(t, p, providers.KindCoupon, attrs, n)
	before := calls()
	checkBatch(t, reqs, p.(providers.BatchReader).ReadBatch(context.Background(), reqs))
	return calls() - before
}

// BenchCoupons times what a coupon provider is timed on: "read-batch" refreshes the
// planner's batch of coupons with attributes attrs() (made beforehand), and "create" makes
// one coupon, each under a key of its own.
func BenchCoupons(b *testing.B, p providers.Provider, attrs func() providers.Attrs) {
	b.Run("read-batch", func(b *testing.B) {
		reqs := made(b, p, providers.KindCoupon, attrs, providers.MaxReadBatch)
		b.ResetTimer()
		for b.Loop() {
			for _, r := range p.(providers.BatchReader).ReadBatch(context.Background(), reqs) {
				if !r.Found {
					b.Fatal("not found", r.Diagnostics.Err())
				}
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: attrs(),
				IdempotencyKey: fmt.Sprint("create-", i)})
			if r.Diagnostics.HasErrors() {
				b.Fatal(r.Diagnostics.Err())
			}
		}
	})
}

// Configure configures p under name as a programme would: cfg with the values of extra over
// it (a nil value removes one), the attributes named sensitive marked so. An error fails the
// test.
func Configure(tb testing.TB, p providers.Provider, name string, cfg, extra map[string]any, sensitive ...string) {
	tb.Helper()
	for k, v := range extra {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	marked := map[string]bool{}
	for _, s := range sensitive {
		marked[s] = true
	}
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: name, Config: cfg, Sensitive: marked})
	if err := r.Diagnostics.Err(); err != nil {
		tb.Fatal(err)
	}
}

// Fresh makes a Harness's New of a test's configure, which returns a provider of a fresh
// system, configured with extra values over its own, and that system.
func Fresh[P providers.Provider, S any](configure func(tb testing.TB, extra map[string]any) (P, S), extra map[string]any) func(t *testing.T) providers.Provider {
	return func(t *testing.T) providers.Provider {
		p, _ := configure(t, extra)
		return p
	}
}

// Gone is Fresh, but the system shuts down before the provider calls it: a Leaks' Gone.
func Gone[P providers.Provider, S interface{ Close() }](configure func(tb testing.TB, extra map[string]any) (P, S), extra map[string]any) func(t *testing.T) providers.Provider {
	return func(t *testing.T) providers.Provider {
		p, srv := configure(t, extra)
		srv.Close()
		return p
	}
}

// AudienceCase is the conformance case of an audience of segment loyal_store, which every
// system holding audiences takes: drift is what someone in the system's own screens renames
// its description to, invalid what the system refuses, by attribute.
func AudienceCase(drift string, invalid map[string]providers.Attrs) Case {
	return Case{
		Kind:       providers.KindAudience,
		Attrs:      providers.Attrs{"segment": "loyal_store", "description": "Store regulars"},
		Update:     providers.Attrs{"description": "Regulars"},
		Replace:    providers.Attrs{"segment": "lapsed"},
		DriftAttr:  "description",
		DriftValue: drift,
		Invalid:    invalid,
	}
}

// WithAudience is the Refs of a coupon case whose coupon finds the audience of segment
// loyal_store by its segment, not by an ID: it makes that audience first.
func WithAudience(t *testing.T, p providers.Provider) map[string]string {
	t.Helper()
	Create(t, p, providers.KindAudience, AudienceCase("", nil).Attrs, t.Name()+"-audience", nil)
	return nil
}

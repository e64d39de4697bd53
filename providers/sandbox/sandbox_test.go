package sandbox

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

func configure(t testing.TB, path, name, system string) *Provider {
	t.Helper()
	p := &Provider{}
	providertest.Configure(t, p, name, map[string]any{"system": system, "path": path}, nil)
	return p
}

func coupon() providers.Attrs {
	return providers.Attrs{"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY", "min_total": int64(3000),
		"per_customer": int64(1), "starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00",
		"timezone": "Asia/Tokyo"}
}

func harness(system string) providertest.Harness {
	return providertest.Harness{
		New: func(t *testing.T) providers.Provider {
			return configure(t, filepath.Join(t.TempDir(), "sandbox.db"), "sandbox."+system, system)
		},
		Tamper: func(t *testing.T, p providers.Provider, _ providers.Kind, id, attr string, value any) {
			if err := p.(*Provider).Store().SetAttribute(context.Background(), id, attr, value); err != nil {
				t.Fatal(err)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, _ providers.Kind, id string) {
			if err := p.(*Provider).Store().Delete(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		},
		Fail: func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			sp := p.(*Provider)
			if err := sp.Store().AddFault(context.Background(), Fault{Provider: sp.name, Op: op, Nth: 1, Status: status, LoseResponse: lose}); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// withCoupon creates the coupon a code pool refers to.
func withCoupon(t *testing.T, p providers.Provider) map[string]string {
	a := coupon()
	a["discount_type"] = "percent"
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: t.Name() + "-coupon"})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"coupon": r.ID}
}

var couponCase = providertest.Case{
	Kind:       providers.KindCoupon,
	Attrs:      coupon(),
	Update:     providers.Attrs{"percent": 15.0, "title": "Spring 15% off"},
	Replace:    providers.Attrs{"code": "SPRING15"},
	DriftAttr:  "percent",
	DriftValue: "40",
	Invalid: map[string]providers.Attrs{
		"percent":  {"percent": 120.0},
		"ends_at":  {"ends_at": "2027-02-01T00:00:00+09:00"},
		"code":     {"code": "spring sale!"},
		"timezone": {"timezone": "Mars/Olympus"},
		"title":    {"title": strings.Repeat("x", 256)},
	},
}

var poolCase = providertest.Case{
	Kind:       providers.KindCodePool,
	Attrs:      providers.Attrs{"coupon": "campaign.spring.coupon[sandbox.ec]", "pattern": "SPR-####-####", "charset": "ABCDEFGHJKMNPQRSTUVWXYZ23456789", "count": int64(500), "seed": "00ff"},
	Refs:       withCoupon,
	Update:     providers.Attrs{"count": int64(800)},
	Replace:    providers.Attrs{"pattern": "SPR-######"},
	DriftAttr:  "count",
	DriftValue: "10",
	Invalid: map[string]providers.Attrs{
		"count":   {"count": int64(2_000_000)},
		"pattern": {"pattern": "SPRING"},
	},
}

var subscriptionCase = providertest.Case{
	Kind:       providers.KindSubscription,
	Attrs:      providers.Attrs{"source": "ec", "topics": []string{"purchase", "cart.updated"}},
	Update:     providers.Attrs{"topics": []string{"purchase"}},
	Replace:    providers.Attrs{"source": "pos"},
	DriftAttr:  "endpoint",
	DriftValue: "https://elsewhere.example/hook",
	Invalid:    map[string]providers.Attrs{"topics": {"topics": []string{}}},
}

func TestConformanceEC(t *testing.T) {
	h := harness("ec")
	h.Cases = []providertest.Case{couponCase, poolCase, subscriptionCase,
		providertest.AudienceCase("edited in the admin", map[string]providers.Attrs{"segment": {"segment": ""}})}
	providertest.Run(t, h)
}

func TestConformancePOS(t *testing.T) {
	h := harness("pos")
	c := couponCase
	c.Invalid = map[string]providers.Attrs{"combines_with": {"combines_with": []string{"order"}}, "audience": {"audience": "loyal_store"}}
	h.Cases = []providertest.Case{c, poolCase}
	providertest.Run(t, h)
}

func TestConformanceMessaging(t *testing.T) {
	h := harness("messaging")
	h.Cases = []providertest.Case{{
		Kind:       providers.KindMessage,
		Attrs:      providers.Attrs{"name": "trigger.cart_nudge", "template": "あと{{ 3000 - event.cart.total }}円で10%オフになります。"},
		Update:     providers.Attrs{"template": "もう少しで割引です"},
		Replace:    providers.Attrs{"name": "trigger.other"},
		DriftAttr:  "template",
		DriftValue: "edited",
		Invalid:    map[string]providers.Attrs{"template": {"template": strings.Repeat("あ", 5001)}},
	}, {
		// A messaging channel sends what LINE sends: follows and unfollows.
		Kind:       providers.KindSubscription,
		Attrs:      providers.Attrs{"source": "line", "topics": []string{"follow", "unfollow"}},
		Update:     providers.Attrs{"topics": []string{"follow"}},
		Replace:    providers.Attrs{"source": "app"},
		DriftAttr:  "endpoint",
		DriftValue: "https://elsewhere.example/hook",
		Invalid:    map[string]providers.Attrs{"topics": {"topics": []string{"purchase", "cart.updated"}}},
	}}
	providertest.Run(t, h)
}

// Each simulated system sends the events its real counterpart does: plan keeps those of a
// subscription's topics, validate warns about the others, and refuses a subscription to none.
func TestSubscriptionsKeepTheEventsTheSystemSends(t *testing.T) {
	for _, c := range []struct {
		system  string
		topics  []string
		planned []string
		warning string // in the detail of Validate's one warning, "" for none
		refused string // in the detail of Validate's error
	}{
		{system: "ec", topics: []string{"purchase", "cart.updated", "account.linked"}, planned: []string{"account.linked", "cart.updated", "purchase"}},
		{system: "pos", topics: []string{"purchase", "cart.updated"}, planned: []string{"purchase"}, warning: "the sandbox pos sends no cart.updated events"},
		{system: "messaging", topics: []string{"unfollow", "purchase", "follow"}, planned: []string{"follow", "unfollow"}, warning: "sends no purchase events"},
		{system: "messaging", topics: []string{"purchase"}, refused: `sends none of the events ["purchase"]; it delivers follow, unfollow`},
	} {
		ctx := context.Background()
		p := configure(t, filepath.Join(t.TempDir(), "sandbox.db"), "sandbox."+c.system, c.system)
		defer p.Close()
		if got := p.Schema(ctx).Kinds[providers.KindSubscription].Topics; len(got) == 0 {
			t.Errorf("%s: the schema says nothing of the events it sends", c.system)
		}
		a := providers.Attrs{"source": "s", "topics": c.topics}
		ds := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindSubscription, Attributes: a}).Diagnostics
		if c.refused != "" {
			if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), c.refused) {
				t.Errorf("%s %v: validate says %v, want an error with %q", c.system, c.topics, ds, c.refused)
			}
			continue
		}
		switch {
		case ds.HasErrors():
			t.Errorf("%s %v: refused: %v", c.system, c.topics, ds.Err())
		case c.warning == "" && len(ds) > 0:
			t.Errorf("%s %v: unexpected %v", c.system, c.topics, ds)
		case c.warning != "" && (len(ds) != 1 || ds[0].Severity != providers.Warning || !strings.Contains(ds[0].Detail, c.warning)):
			t.Errorf("%s %v: validate says %v, want one warning with %q", c.system, c.topics, ds, c.warning)
		}
		planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindSubscription, Proposed: a}).Planned
		if got := planned.Strings("topics"); !slices.Equal(got, c.planned) {
			t.Errorf("%s %v: planned topics %v, want %v", c.system, c.topics, got, c.planned)
		}
	}
}

func TestDuplicateCodeIsAConflict(t *testing.T) {
	p := configure(t, filepath.Join(t.TempDir(), "s.db"), "sandbox.ec", "ec")
	ctx := context.Background()
	a := coupon()
	a["discount_type"], a["code"] = "percent", "SPRING10"
	if r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k1"}); r.Diagnostics.HasErrors() {
		t.Fatal(r.Diagnostics.Err())
	}
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k2"})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrConflict || !strings.Contains(err.Error(), "SPRING10") {
		t.Fatalf("a second coupon with the same code: %v, want a conflict naming the code", err)
	}
	// Another system may use the same code.
	pos := configure(t, p.store.Path(), "sandbox.pos", "pos")
	if r := pos.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k1"}); r.Diagnostics.HasErrors() {
		t.Fatal(r.Diagnostics.Err())
	}
}

func TestPoolNeedsItsCoupon(t *testing.T) {
	p := configure(t, filepath.Join(t.TempDir(), "s.db"), "sandbox.ec", "ec")
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCodePool, Attributes: poolCase.Attrs,
		IdempotencyKey: "k", Refs: map[string]string{"coupon": "cpn_missing"}})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrNotFound || !strings.Contains(err.Error(), "cpn_missing") {
		t.Fatalf("got %v, want not_found naming the coupon", err)
	}
}

// Two processes share the file: what one writes, the other reads, and neither loses a write.
func TestSharedAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	p := configure(t, path, "sandbox.ec", "ec")
	other, err := openFile(path) // as `musubi sandbox set` in another process
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	a := coupon()
	a["discount_type"] = "percent"
	c := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	if err := other.SetAttribute(ctx, c.ID, "percent", "40"); err != nil {
		t.Fatal(err)
	}
	if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: c.ID}); r.Attributes.Float("percent") != 40 {
		t.Fatalf("read after another process's edit: percent %v, want 40", r.Attributes["percent"])
	}
	if err := other.AddFault(ctx, Fault{Op: "update", Nth: 2, Status: 500}); err != nil {
		t.Fatal(err)
	}
	upd := func() error {
		return p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: c.ID, Planned: a}).Diagnostics.Err()
	}
	if err := upd(); err != nil {
		t.Fatalf("first update after the fault was added: %v (the fault is for the second)", err)
	}
	if err := upd(); providers.CodeOf(err) != providers.ErrUnavailable {
		t.Fatalf("second update: %v, want the injected 500", err)
	}
	if err := upd(); err != nil {
		t.Fatalf("a fault fires once: %v", err)
	}
	if fs, _ := other.Faults(ctx); len(fs) != 0 {
		t.Fatalf("the fired fault is still pending in the other process: %+v", fs)
	}
}

// Closing and reopening, as the next command does, keeps every object and pending fault.
func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	p := configure(t, path, "sandbox.ec", "ec")
	ctx := context.Background()
	a := coupon()
	c := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	if err := p.Store().AddFault(ctx, Fault{Op: "delete", Nth: 2, Status: 503}); err != nil {
		t.Fatal(err)
	}
	p.Close()

	p = configure(t, path, "sandbox.ec", "ec")
	defer p.Close()
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: c.ID})
	if !r.Found || len(providers.Diff(providers.KindCoupon, a, r.Attributes)) > 0 {
		t.Fatalf("after reopening: found=%v attributes=%v", r.Found, r.Attributes)
	}
	if fs, _ := p.Store().Faults(ctx); len(fs) != 1 || fs[0].Nth != 2 {
		t.Fatalf("pending faults after reopening: %+v", fs)
	}
}

func TestConcurrentCreates(t *testing.T) {
	p := configure(t, filepath.Join(t.TempDir(), "s.db"), "sandbox.line", "messaging")
	defer p.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 64)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Pairs of goroutines share a key: a retried create racing its first try.
			r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindMessage, IdempotencyKey: fmt.Sprint(i / 2),
				Attributes: providers.Attrs{"name": fmt.Sprint("trigger.t", i/2), "template": "hi"}})
			if err := r.Diagnostics.Err(); err != nil {
				t.Error(err)
			}
			ids[i] = r.ID
		}()
	}
	wg.Wait()
	for i := 0; i < len(ids); i += 2 {
		if ids[i] != ids[i+1] {
			t.Fatalf("two creates with key %d made %s and %s", i/2, ids[i], ids[i+1])
		}
	}
	if objs, _ := p.Store().List(ctx, "", ""); len(objs) != 32 {
		t.Fatalf("%d objects, want 32", len(objs))
	}
}

func TestCodesAreTheGeneratorsAndShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	ctx := context.Background()
	var pools []string
	for _, sys := range []string{"ec", "pos"} {
		p := configure(t, path, "sandbox."+sys, sys)
		r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCodePool, Attributes: poolCase.Attrs, IdempotencyKey: "k", Refs: withCoupon(t, p)})
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		pools = append(pools, r.ID)
	}
	s, _ := OpenStore(path)
	defer s.Close()
	a, _ := s.Codes(ctx, pools[0])
	b, _ := s.Codes(ctx, pools[1])
	if len(a) != 500 || strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("pools with one seed: %d and %d codes, equal=%v", len(a), len(b), strings.Join(a, ",") == strings.Join(b, ","))
	}
	if !strings.HasPrefix(a[0], "SPR-") || len(a[0]) != len("SPR-####-####") {
		t.Fatalf("code %q does not follow the pattern", a[0])
	}
}

func TestDeliverIsIdempotent(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	d1, _ := s.Deliver(ctx, "sandbox.line", "U1", "hello", "evt-1")
	d2, _ := s.Deliver(ctx, "sandbox.line", "U1", "hello", "evt-1")
	if d1.ID != d2.ID {
		t.Fatal("a retried delivery with the same key was sent twice")
	}
	if out, _ := s.Outbox(ctx, "sandbox.line"); len(out) != 1 || out[0].Text != "hello" {
		t.Fatalf("outbox: %+v", out)
	}
}

// Only the messaging system addresses customers: the planner takes a sender that addresses
// nobody for one that cannot send.
func TestOnlyMessagingAddressesCustomers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	for system, want := range map[string]string{"messaging": "line_user", "ec": "", "pos": ""} {
		if got := configure(t, path, "sandbox."+system, system).Messaging().Address; got != want {
			t.Errorf("a sandbox %s addresses %q, want %q", system, got, want)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	p := &Provider{}
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: "sandbox.x", Config: map[string]any{"system": "erp"}})
	if err := r.Diagnostics.Err(); err == nil || !strings.Contains(err.Error(), `"erp"`) {
		t.Fatalf("unknown system: %v", err)
	}
}

func TestFaultArguments(t *testing.T) {
	s, _ := OpenStore(filepath.Join(t.TempDir(), "s.db"))
	defer s.Close()
	ctx := context.Background()
	for _, f := range []Fault{{Op: "list", Nth: 1, Status: 500}, {Op: "create", Nth: 0, Status: 500}, {Op: "create", Nth: 1, Status: 418}} {
		if err := s.AddFault(ctx, f); err == nil {
			t.Errorf("AddFault(%+v) accepted", f)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	p := configure(b, filepath.Join(b.TempDir(), "s.db"), "sandbox.ec", "ec")
	defer p.Close()
	ctx := context.Background()
	ids := make([]string, 10_000)
	for i := range ids {
		r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: fmt.Sprint(i),
			Attributes: providers.Attrs{"source": fmt.Sprint("s", i), "topics": []string{"purchase"}}})
		ids[i] = r.ID
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindSubscription, ID: ids[i%len(ids)]}); !r.Found {
			b.Fatal("not found")
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	p := configure(b, filepath.Join(b.TempDir(), "s.db"), "sandbox.ec", "ec")
	defer p.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: fmt.Sprint(i),
			Attributes: providers.Attrs{"source": fmt.Sprint("s", i), "topics": []string{"purchase"}}})
	}
}

func BenchmarkOpen10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "s.db")
	p := configure(b, path, "sandbox.ec", "ec")
	for i := 0; i < 10_000; i++ {
		p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: fmt.Sprint(i),
			Attributes: providers.Attrs{"source": fmt.Sprint("s", i), "topics": []string{"purchase"}}})
	}
	p.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := openFile(path)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

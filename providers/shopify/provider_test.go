package shopify_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
)

var (
	create = providertest.Create
	with   = providertest.With
)

func lines(objs []string, prefix string) []string {
	var out []string
	for _, o := range objs {
		if strings.HasPrefix(o, prefix) {
			out = append(out, o)
		}
	}
	return out
}

// A coupon with a shared code whose create reached Shopify but whose answer was lost: the
// retry looks the code up, finds the discount the first try made, and makes no second one.
func TestLostCreateLeavesOneDiscount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	a := with(spring(), "code", "SPRING10")
	if err := srv.Lose("create", 1); err != nil {
		t.Fatal(err)
	}
	req := providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "lost"}
	first := p.Create(ctx, req)
	if providers.CodeOf(first.Diagnostics.Err()) != providers.ErrUnavailable {
		t.Fatalf("the lost create: %v, want unavailable", first.Diagnostics.Err())
	}
	if n := len(lines(srv.Objects(), "DISCOUNT ")); n != 1 {
		t.Fatalf("the lost create made %d discounts, want 1 (the server did the work)", n)
	}
	// As the planner does on refresh: the intent's attributes name the code.
	found := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, IdempotencyKey: "lost", Prior: a})
	if !found.Found {
		t.Fatal("Read by key does not find the discount the lost create made")
	}
	again := p.Create(ctx, req)
	if err := again.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if again.ID != found.ID {
		t.Fatalf("the retry returned %s; the first try made %s", again.ID, found.ID)
	}
	if n := len(lines(srv.Objects(), "DISCOUNT ")); n != 1 || srv.Calls("create") != 1 {
		t.Fatalf("%d discounts after %d create calls, want 1 and 1:\n%s", n, srv.Calls("create"), strings.Join(srv.Objects(), "\n"))
	}
	if d := providers.Diff(providers.KindCoupon, a, again.Attributes); len(d) > 0 {
		t.Fatalf("the adopted discount differs in %v", d)
	}
}

// Shopify's codes are unique in a shop whatever their case: a code another discount holds is
// a conflict on code, found before anything is written.
func TestTakenCodeIsAConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := create(t, p, providers.KindCoupon, with(spring(), "code", "SPRING10"), "merchant", nil)
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: with(spring(), "code", "spring10"), IdempotencyKey: "other"})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrConflict || r.Diagnostics[0].Attribute != "code" || !strings.Contains(err.Error(), id) {
		t.Fatalf("got %v (attribute %q), want a conflict on code naming %s", err, r.Diagnostics[0].Attribute, id)
	}
	if srv.Calls("create") != 1 {
		t.Fatalf("%d create calls, want 1: the lookup found the code first", srv.Calls("create"))
	}
}

// A userError in an HTTP 200 answer is a failure, classified, on the attribute Shopify named,
// and nothing is stored.
func TestUserErrorIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: with(spring(), "audience", "ghosts"),
		IdempotencyKey: "k", Refs: map[string]string{"audience": "gid://shopify/Segment/999"}})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrNotFound || r.Diagnostics[0].Attribute != "audience" ||
		!strings.Contains(err.Error(), "DiscountCodeBasicCreate: basicCodeDiscount.context.customerSegments.add: INVALID: Customer segment") {
		t.Fatalf("got %v (attribute %q)", err, r.Diagnostics[0].Attribute)
	}
	if n := len(lines(srv.Objects(), "DISCOUNT ")); n != 0 {
		t.Fatalf("a refused create left %d discounts", n)
	}
}

// Without a segment for its audience, a coupon limited to it is not_found on audience.
func TestAudienceNeedsItsSegment(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	a := with(spring(), "audience", "ghosts")
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrNotFound || r.Diagnostics[0].Attribute != "audience" ||
		!strings.Contains(err.Error(), `segment "ghosts"`) {
		t.Fatalf("got %v", err)
	}
	create(t, p, providers.KindAudience, providers.Attrs{"segment": "ghosts"}, "g", nil)
	id := create(t, p, providers.KindCoupon, a, "k", nil)
	if got := p.Read(context.Background(), providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: a}); got.Attributes.String("audience") != "ghosts" {
		t.Fatalf("read back %v", got.Attributes)
	}
}

func TestAmountsAreInTheShopsCurrency(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	a := providers.Attrs{"title": "Ten dollars", "discount_type": "amount", "amount": int64(1000), "currency": "USD", "timezone": "Asia/Tokyo"}
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrInvalid || r.Diagnostics[0].Attribute != "currency" || !strings.Contains(err.Error(), "JPY") {
		t.Fatalf("got %v", err)
	}
	// Minor units are converted with the currency's exponent: ¥500 is "500", and reads back.
	p2, srv := configure(t, nil)
	srv.Currency = "USD"
	id := create(t, p2, providers.KindCoupon, a, "k", nil)
	if !slices.ContainsFunc(srv.Objects(), func(o string) bool { return strings.Contains(o, "value=10.0 USD") }) {
		t.Fatalf("objects %v", srv.Objects())
	}
	if got := p2.Read(context.Background(), providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: a}); got.Attributes.Int("amount") != 1000 {
		t.Fatalf("read back %v", got.Attributes)
	}
}

// The bucket is empty: Shopify answers THROTTLED with the bucket's state, and the client
// waits for the query's cost to be restored, then succeeds.
func TestThrottledIsWaitedOut(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	var waited []time.Duration
	p.Client().Sleep = func(_ context.Context, d time.Duration) error {
		waited = append(waited, d)
		srv.Advance(d)
		return nil
	}
	srv.SetBucket(2000, 0, 100)
	id := create(t, p, providers.KindCoupon, spring(), "k", nil)
	if id == "" || len(waited) == 0 || waited[0] <= 0 || waited[0] > time.Second {
		t.Fatalf("waited %v, want a wait of under a second for a query's cost", waited)
	}
	// Now the client knows the bucket: it waits before a query the bucket cannot pay for,
	// instead of sending it to be refused.
	read := func() {
		t.Helper()
		if r := p.Read(context.Background(), providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: spring()}); !r.Found {
			t.Fatalf("read: %v", r.Diagnostics.Err())
		}
	}
	srv.SetBucket(2000, 2000, 100)
	read() // the client learns the bucket is full
	srv.SetBucket(2000, 20, 100)
	read() // 14 points of 20: the answer says 6 are left
	before, requests := len(waited), len(srv.Received())
	read()
	if len(srv.Received())-requests != 1 || len(waited) != before+1 || waited[before] <= 0 || waited[before] > 100*time.Millisecond {
		t.Fatalf("the second read made %d requests and waited %v; want one request after a wait for 8 points", len(srv.Received())-requests, waited[before:])
	}
}

// An HTTP 429 within the client's patience is waited out (Retry-After: 2.0); a longer one is
// rate_limited at once, saying how long, and nothing is made.
func TestHTTP429(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	var waited []time.Duration
	p.Client().Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	if err := srv.Fail("create", 429, 1); err != nil {
		t.Fatal(err)
	}
	create(t, p, providers.KindCoupon, spring(), "k", nil)
	if !slices.Contains(waited, 2*time.Second) || srv.Calls("create") != 2 {
		t.Fatalf("waited %v over %d creates, want 2s and 2", waited, srv.Calls("create"))
	}
	if err := srv.Inject("create", contracttest.Fault{Status: 429, RetryAfter: 120 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: with(spring(), "title", "Other"), IdempotencyKey: "k2"})
	var ae *providers.APIError
	if err := r.Diagnostics.Err(); !asAPIError(err, &ae) || ae.Code != providers.ErrRateLimited || ae.RetryAfter != 2*time.Minute {
		t.Fatalf("got %v, want rate_limited with a retry after of 2m", err)
	}
	if n := len(lines(srv.Objects(), "DISCOUNT ")); n != 1 {
		t.Fatalf("%d discounts, want 1", n)
	}
}

// An update planned before someone edited the discount in the admin is refused, and the edit
// stays; planned from what Shopify holds now, it repairs the drift.
func TestUpdateRefusesAnOutOfBandChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := create(t, p, providers.KindCoupon, spring(), "k", nil)
	if err := srv.Tamper(providers.KindCoupon, id, "percent", "40"); err != nil {
		t.Fatal(err)
	}
	r := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: spring(), Planned: with(spring(), "percent", 15.0)})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrConflict || !strings.Contains(err.Error(), "percent is now 40") {
		t.Fatalf("got %v, want a conflict saying percent is now 40", err)
	}
	if !slices.ContainsFunc(srv.Objects(), func(o string) bool { return strings.Contains(o, "value=40%") }) {
		t.Fatalf("the admin's edit was overwritten: %v", srv.Objects())
	}
	live := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: spring()}).Attributes
	r = p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: live, Planned: with(spring(), "percent", 15.0)})
	if err := r.Diagnostics.Err(); err != nil || r.Attributes.Float("percent") != 15 {
		t.Fatalf("repairing the drift: %v %v", r.Attributes, err)
	}
}

// Every managed attribute is written to Shopify and read back: an edit of any of them shows.
func TestEveryAttributeIsReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	a := with(spring(), "code", "SPRING10")
	id := create(t, p, providers.KindCoupon, a, "k", nil)
	want := "title=\"Spring 10% off [musubi " + shopify.Marker("k") + "]\" code=SPRING10 codes=1 value=10% min=3000.0 once=true limit=500 " +
		"starts=2027-02-28T15:00:00Z ends=2027-03-31T14:59:59Z combines=product,shipping context=all"
	if got := lines(srv.Objects(), "DISCOUNT "); len(got) != 1 || !strings.Contains(got[0], want) {
		t.Fatalf("the discount is\n%v\nwant it to hold\n%s", got, want)
	}
	for _, tc := range []struct {
		attr, value string
		want        any
	}{
		{"title", "Spring sale", "Spring sale"},
		{"percent", "12.5", 12.5},
		{"min_total", "5000", int64(5000)},
		{"code", "SPRING-X", "SPRING-X"},
		{"per_customer", "0", nil},
		{"usage_limit", "0", nil},
		{"starts_at", "2027-03-02T00:00:00+09:00", "2027-03-02T00:00:00+09:00"},
		{"ends_at", "", nil},
		{"combines_with", "order", []string{"order"}},
	} {
		id := create(t, p, providers.KindCoupon, with(a, "code", "C-"+tc.attr), "k-"+tc.attr, nil)
		if err := srv.Tamper(providers.KindCoupon, id, tc.attr, tc.value); err != nil {
			t.Fatal(err)
		}
		r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: with(a, "code", "C-"+tc.attr)})
		d := providers.Diff(providers.KindCoupon, with(a, "code", "C-"+tc.attr), r.Attributes)
		if !slices.Equal(d, []string{tc.attr}) || !providers.Equal(typeOf(tc.attr), r.Attributes[tc.attr], tc.want) {
			t.Errorf("after %s = %q in the admin: differs in %v, reads %v", tc.attr, tc.value, d, r.Attributes[tc.attr])
		}
	}
	_ = id
}

func typeOf(attr string) providers.Type {
	ks, _ := providers.SchemaOf(providers.KindCoupon)
	as, _ := ks.Attribute(attr)
	return as.Type
}

// Refresh reads coupons with nodes queries, as many per query as the cost limit allows.
func TestReadBatchUsesNodes(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	if n := providertest.BatchReadCalls(t, p, spring, 130, func() int { return srv.Calls("read") }); n != 3 {
		t.Fatalf("reading 130 coupons took %d queries, want 3 (60 a query)", n)
	}
}

// A coupon declared without a start starts when it is first planned, and keeps that start.
func TestPlanFillsTheStart(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	a := spring()
	delete(a, "starts_at")
	before := time.Now().Add(-time.Second)
	planned := p.Plan(context.Background(), providers.PlanRequest{Kind: providers.KindCoupon, Proposed: a}).Planned
	if s := planned.Time("starts_at"); s.Before(before) || s.After(time.Now()) || !strings.HasSuffix(planned.String("starts_at"), "+09:00") {
		t.Fatalf("planned start %q", planned.String("starts_at"))
	}
	prior := with(a, "starts_at", "2027-01-01T00:00:00+09:00")
	again := p.Plan(context.Background(), providers.PlanRequest{Kind: providers.KindCoupon, ID: "x", Prior: prior, Proposed: a}).Planned
	if again.String("starts_at") != "2027-01-01T00:00:00+09:00" {
		t.Fatalf("replanned start %q, want the prior's", again.String("starts_at"))
	}
}

func TestValidateExplainsWhatShopifyCannot(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	ds := p.Validate(context.Background(), providers.ValidateRequest{Kind: providers.KindCoupon,
		Attributes: with(spring(), "per_customer", int64(3))}).Diagnostics
	if len(ds) != 1 || ds[0].Attribute != "per_customer" || !strings.Contains(ds[0].Detail, "appliesOncePerCustomer") {
		t.Fatalf("diagnostics %v", ds)
	}
	ds = p.Validate(context.Background(), providers.ValidateRequest{Kind: providers.KindSubscription,
		Attributes: providers.Attrs{"source": "ec", "topics": []string{"purchase", "follow"}}}).Diagnostics
	if ds.HasErrors() || len(ds) != 1 || ds[0].Severity != providers.Warning || !strings.Contains(ds[0].Detail, "follow") {
		t.Fatalf("an undeliverable topic beside a deliverable one: %v", ds)
	}
	if ds := p.Validate(context.Background(), providers.ValidateRequest{Kind: providers.KindMessage}).Diagnostics; !ds.HasErrors() {
		t.Fatal("a message kind was accepted")
	}
}

// Bulk additions take at most 250 codes each; every one is polled until done; the pool's
// codes are the first count drawn from its seed, the same on every channel.
func TestPoolIsAddedInBulk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	coupon := create(t, p, providers.KindCoupon, spring(), "c", nil)
	a := with(poolAttrs(), "count", int64(600))
	before := srv.Calls("create")
	id := create(t, p, providers.KindCodePool, a, "p", map[string]string{"coupon": coupon})
	// One metafieldsSet and three bulk additions (250, 250, 100).
	if n := srv.Calls("create") - before; n != 4 {
		t.Fatalf("%d create calls, want 4", n)
	}
	codes := srv.Codes(coupon)
	want := providers.GenerateCodes(a.String("pattern"), a.String("charset"), a.String("seed"), 600)
	if len(codes) != 601 || !slices.Equal(codes[1:], want) {
		t.Fatalf("%d codes on the discount, want its own and the pool's 600", len(codes))
	}
	// Growing keeps the codes already given out; shrinking removes the last ones.
	u := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCodePool, ID: id, Prior: a, Planned: with(a, "count", int64(700))})
	if err := u.Diagnostics.Err(); err != nil || u.Attributes.Int("count") != 700 {
		t.Fatalf("growing: %v %v", u.Attributes, err)
	}
	if codes := srv.Codes(coupon); len(codes) != 701 || !slices.Equal(codes[1:601], want) {
		t.Fatal("growing the pool changed its first codes")
	}
	u = p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCodePool, ID: id, Prior: with(a, "count", int64(700)), Planned: with(a, "count", int64(100))})
	if err := u.Diagnostics.Err(); err != nil || len(srv.Codes(coupon)) != 101 {
		t.Fatalf("shrinking: %v, %d codes", err, len(srv.Codes(coupon)))
	}
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCodePool, ID: id, Prior: with(a, "count", int64(100))})
	if r.Attributes.Int("count") != 100 {
		t.Fatalf("read back %v", r.Attributes)
	}
	// Deleting the pool leaves the coupon's own code.
	if err := p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindCodePool, ID: id, Prior: r.Attributes}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if codes := srv.Codes(coupon); len(codes) != 1 || !shopify.IsPlaceholderCode(codes[0]) {
		t.Fatalf("after deleting the pool the discount has %v", codes)
	}
}

// A pool one of whose codes another discount holds is refused as a conflict, and what the
// create wrote is taken back.
func TestPoolWithATakenCodeLeavesNothing(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	a := poolAttrs()
	taken := providers.GenerateCodes(a.String("pattern"), a.String("charset"), a.String("seed"), 300)[260]
	create(t, p, providers.KindCoupon, with(spring(), "code", taken), "other", nil)
	coupon := create(t, p, providers.KindCoupon, spring(), "c", nil)
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCodePool, Attributes: a, IdempotencyKey: "p",
		Refs: map[string]string{"coupon": coupon}})
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrConflict || !strings.Contains(err.Error(), taken+" (TAKEN") {
		t.Fatalf("got %v, want a conflict naming %s", err, taken)
	}
	if codes := srv.Codes(coupon); len(codes) != 1 || len(srv.IDs(providers.KindCodePool)) != 0 {
		t.Fatalf("the refused pool left %d codes and pools %v", len(codes), srv.IDs(providers.KindCodePool))
	}
}

// A pool create throttled for longer than the client waits, half-way: it is reported as
// unavailable (the planner keeps the intent, not a "surely not created" rate limit), and the
// retry under the same key adds only what is missing.
func TestPartlyCreatedPoolIsFinished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	coupon := create(t, p, providers.KindCoupon, spring(), "c", nil)
	// The metafield and the first bulk addition go through; the second is refused.
	var n int
	p.Client().Sleep = func(_ context.Context, d time.Duration) error {
		n++
		if n == 1 {
			if err := srv.Inject("create", contracttest.Fault{Status: 429, RetryAfter: 600 * time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		srv.Advance(d)
		return nil
	}
	req := providers.CreateRequest{Kind: providers.KindCodePool, Attributes: poolAttrs(), IdempotencyKey: "p", Refs: map[string]string{"coupon": coupon}}
	r := p.Create(ctx, req)
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrUnavailable || !strings.Contains(err.Error(), "partly created") {
		t.Fatalf("got %v, want unavailable saying it is partly created", err)
	}
	if got := len(srv.Codes(coupon)); got != 251 {
		t.Fatalf("%d codes after the first bulk addition, want 251", got)
	}
	r = p.Create(ctx, req)
	if err := r.Diagnostics.Err(); err != nil || r.Attributes.Int("count") != 300 {
		t.Fatalf("the retry: %v %v", r.Attributes, err)
	}
	if got := len(srv.Codes(coupon)); got != 301 || len(srv.IDs(providers.KindCodePool)) != 1 {
		t.Fatalf("%d codes and pools %v after the retry, want 301 and one", got, srv.IDs(providers.KindCodePool))
	}
}

func TestConfigureRefusesBadValues(t *testing.T) {
	t.Parallel()
	p := &shopify.Provider{}
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: "shopify.jp", Config: map[string]any{
		"shop": "shop.example.com", "token": "", "api_url": "ftp://x", "webhook_url": "http://plain.example/hook"}})
	got := map[string]bool{}
	for _, d := range r.Diagnostics {
		got[d.Attribute] = true
	}
	for _, a := range []string{"shop", "token", "api_url", "webhook_url"} {
		if !got[a] {
			t.Errorf("no diagnostic on %s: %v", a, r.Diagnostics.Err())
		}
	}
	// A bare shop name is the shop's myshopify.com domain.
	r = p.Configure(context.Background(), providers.ConfigureRequest{Name: "shopify.jp", Config: map[string]any{"shop": "example", "token": "t"}})
	if err := r.Diagnostics.Err(); err != nil || !strings.HasPrefix(p.Client().Endpoint, "https://example.myshopify.com/admin/api/"+shopify.DefaultAPIVersion+"/") {
		t.Fatalf("%v %s", err, p.Client().Endpoint)
	}
}

func asAPIError(err error, target **providers.APIError) bool { return errors.As(err, target) }

// An audience's members are the customers carrying its segment's tag: tagging puts them in
// the Shopify segment, untagging takes them out, and other tags stay.
func TestAudienceMembersAreTagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	seg := create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}, "a", nil)
	hana := srv.AddCustomer("hana@example.jp", "vip")
	ken := srv.AddCustomer("ken@example.jp")
	srv.AddCustomer("mio@example.jp")
	if err := p.TagCustomers(ctx, "loyal_store", []string{hana, ken, hana}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Members(seg); !slices.Equal(got, []string{"hana@example.jp", "ken@example.jp"}) {
		t.Fatalf("members %v", got)
	}
	if err := p.UntagCustomers(ctx, "loyal_store", []string{hana}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Members(seg); !slices.Equal(got, []string{"ken@example.jp"}) || !slices.Equal(srv.CustomerTags(hana), []string{"vip"}) {
		t.Fatalf("members %v, hana's tags %v", got, srv.CustomerTags(hana))
	}
	err := p.TagCustomers(ctx, "loyal_store", []string{"gid://shopify/Customer/999"})
	if providers.CodeOf(err) != providers.ErrNotFound || !strings.Contains(err.Error(), "Customer/999") {
		t.Fatalf("tagging a customer that does not exist: %v", err)
	}
}

package smaregi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
)

var ctx = context.Background()

func smaregiErr(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want a Smaregi API error", err, err)
	}
	return e
}

// The app token is fetched once, reused, and fetched again shortly before it expires.
func TestTokenIsCachedUntilShortlyBeforeExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	c := f.p.Client()
	for range 3 {
		if _, err := c.ListCoupons(ctx, 1, 10); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.srv.Calls("token"); n != 1 {
		t.Fatalf("%d token requests for 3 calls, want 1", n)
	}
	f.clock.Advance(time.Hour - 2*time.Minute) // the token lives 1 h; 1 min before, it is replaced
	if _, err := c.ListCoupons(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls("token"); n != 1 {
		t.Fatalf("a token with 2 minutes left was replaced (%d requests)", n)
	}
	f.clock.Advance(90 * time.Second)
	if _, err := c.ListCoupons(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls("token"); n != 2 {
		t.Fatalf("%d token requests, want a new token 30 s before expiry", n)
	}
	if n := f.srv.Calls("list"); n != 5 {
		t.Fatalf("%d list calls reached the API, want 5 (no call was refused)", n)
	}
}

// A token the API refuses (expired early, revoked) is replaced once and the call repeated.
func TestExpiredTokenIsRefreshedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	c := f.p.Client()
	if _, err := c.ListCoupons(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	f.srv.ExpireTokens()
	if _, err := c.ListCoupons(ctx, 1, 10); err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	if n := f.srv.Calls("token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	// A 401 that persists after the refresh is an auth error, not a loop.
	if err := f.srv.Fail("list", 401, 5); err != nil {
		t.Fatal(err)
	}
	_, err := c.ListCoupons(ctx, 1, 10)
	if e := smaregiErr(t, err); e.API.Code != providers.ErrAuth || e.API.Status != 401 {
		t.Fatalf("persistent 401: %v", err)
	}
	if n := f.srv.Calls("token"); n != 3 {
		t.Fatalf("%d token requests, want exactly one refresh for the persistent 401", n)
	}
}

func TestTokenEndpointRules(t *testing.T) {
	t.Parallel()
	srv := smaregitest.New(quiet)
	defer srv.Close()
	client := func(mod func(*Config)) *Client {
		cfg := Config{ContractID: srv.ContractID(), ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
			APIURL: srv.URL, IDURL: srv.URL, HTTPClient: srv.Client(), Sleep: newClock().Sleep}
		mod(&cfg)
		c, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		code providers.ErrorCode
		want string
	}{
		{"wrong secret", func(c *Config) { c.ClientSecret = "nope" }, providers.ErrAuth, "refused the app's client credentials: invalid_client"},
		{"other contract", func(c *Config) { c.ContractID = "other" }, providers.ErrAuth, "invalid_client"},
		{"unknown scope", func(c *Config) { c.Scopes = []string{"pos.everything"} }, providers.ErrInvalid, `invalid_scope: unknown scope "pos.everything"`},
		{"missing scope", func(c *Config) { c.Scopes = []string{"pos.customers:read"} }, providers.ErrAuth, "lacks the scope pos.coupons:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client(tc.mod).ListCoupons(ctx, 1, 1)
			e := smaregiErr(t, err)
			if e.API.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %s mentioning %q", err, tc.code, tc.want)
			}
		})
	}
}

func TestConfigureNamesTheAttribute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		conf map[string]any
		attr string
	}{
		{map[string]any{"contract_id": "c", "client_id": "i"}, "client_secret"},
		{map[string]any{"contract_id": "c", "client_id": "i", "client_secret": "s", "timezone": "Mars/Olympus"}, "timezone"},
		{map[string]any{"contract_id": "c", "client_id": "i", "client_secret": "s", "scopes": []any{}}, "scopes"},
		{map[string]any{"contract_id": 42, "client_id": "i", "client_secret": "s"}, "contract_id"},
	} {
		r := (&Provider{}).Configure(ctx, providers.ConfigureRequest{Name: "smaregi.x", Config: tc.conf})
		found := false
		for _, d := range r.Diagnostics {
			found = found || d.Attribute == tc.attr
		}
		if !found {
			t.Errorf("%v: want a diagnostic on %s, got %v", tc.conf, tc.attr, r.Diagnostics.Err())
		}
	}
	r := (&Provider{}).Configure(ctx, providers.ConfigureRequest{Name: "smaregi.x", Config: map[string]any{
		"contract_id": "c", "client_id": "i", "client_secret": "s", "api_url": "ftp://example"}})
	if err := r.Diagnostics.Err(); err == nil || !strings.Contains(err.Error(), "ftp://example") {
		t.Errorf("a non-http api_url: %v", err)
	}
}

// The API's list limit is 1 to 1000; the server refuses more with a problem naming limit.
func TestPageSizeLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	c := f.p.Client()
	if _, err := c.ListCoupons(ctx, 1, 1001); err == nil {
		t.Fatal("the client asked for 1001 coupons a page")
	}
	var out []Coupon
	err := c.call(ctx, http.MethodGet, "/coupons", url.Values{"limit": {"5000"}}, nil, &out)
	e := smaregiErr(t, err)
	if e.API.Code != providers.ErrInvalid || len(e.Problem.InvalidParams) != 1 || e.Problem.InvalidParams[0].Name != "limit" {
		t.Fatalf("limit=5000: %v %+v", err, e.Problem)
	}
	if e.API.RequestID == "" {
		t.Error("the error lost Smaregi's request ID")
	}
}

// A refused field reaches the diagnostics, at the attribute that set it.
func TestRefusedFieldsPointAtAttributes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	c := f.p.Client()
	_, err := c.CreateCoupon(ctx, Coupon{CouponName: "x", SerialNumber: "X1", AwardType: AwardPercent, AwardValue: "10",
		ApplyConditionDivision: "0", StartDate: "2027/03/01", EndDate: "2027-02-01"})
	e := smaregiErr(t, err)
	if e.API.Status != 400 || e.API.Code != providers.ErrInvalid {
		t.Fatalf("got %v", err)
	}
	if got := e.Error(); !strings.Contains(got, "startDate: must be a date [YYYY-MM-DD]") || !strings.Contains(got, "Bad Request") {
		t.Fatalf("the message lacks the title or the field: %s", got)
	}
	ds := f.p.diags("create failed", err, percentCoupon())
	if len(ds) != 1 || ds[0].Attribute != "starts_at" || ds[0].Err == nil || ds[0].Err.Code != providers.ErrInvalid {
		t.Fatalf("diagnostics: %+v", ds)
	}
	_, err = c.CreateCoupon(ctx, Coupon{CouponName: "x", SerialNumber: "X1", AwardType: AwardPercent, AwardValue: "150", ApplyConditionDivision: "0"})
	if ds := f.p.diags("create failed", err, percentCoupon()); len(ds) != 1 || ds[0].Attribute != "percent" {
		t.Fatalf("awardValue 150: %v", ds.Err())
	}
	_, err = c.CreateCoupon(ctx, Coupon{})
	if e := smaregiErr(t, err); len(e.Problem.InvalidParams) != 5 {
		t.Fatalf("an empty coupon: %+v", e.Problem.InvalidParams)
	}
}

// A throttled call waits out Retry-After and goes through; the waits use the client's clock.
func TestThrottlingWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, smaregitest.Options{ReadsPerSecond: 3, WritesPerSecond: 2}, nil)
	c := f.p.Client()
	for i := range 5 {
		if _, err := c.CreateCoupon(ctx, Coupon{CouponName: "c", SerialNumber: fmt.Sprint("S", i), AwardType: AwardAmount,
			AwardValue: "100", ApplyConditionDivision: "0"}); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if f.clock.sleeps != 2 || f.clock.slept != 2*time.Second {
		t.Fatalf("5 creates at 2 a second: %d waits, %s in all; want 2 waits of 1 s", f.clock.sleeps, f.clock.slept)
	}
	// A call refused on every attempt is rate_limited, with Retry-After.
	if err := f.srv.Fail("read", 429, DefaultMaxAttempts); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetCoupon(ctx, "1")
	if e := smaregiErr(t, err); e.API.Code != providers.ErrRateLimited || e.API.RetryAfter != time.Second {
		t.Fatalf("throttled on every attempt: %v", err)
	}
	if _, err := c.GetCoupon(ctx, "1"); err != nil {
		t.Fatalf("the injected 429s outlived the attempts: %v", err)
	}
}

// 5xx and lost answers are repeated where repeating is safe, and never for a create.
func TestRetriesOnlyWhatIsSafeToRepeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	c := f.p.Client()
	cp := Coupon{CouponName: "c", SerialNumber: "S1", AwardType: AwardAmount, AwardValue: "100", ApplyConditionDivision: "0"}
	if err := f.srv.Fail("create", 503, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCoupon(ctx, cp); providers.CodeOf(err) != providers.ErrUnavailable {
		t.Fatalf("a create answered 503: %v", err)
	}
	if n := f.srv.Calls("create"); n != 1 {
		t.Fatalf("a create answered 503 was sent %d times", n)
	}
	if err := f.srv.Lose("create", 1); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateCoupon(ctx, cp)
	if e := smaregiErr(t, err); e.API.Code != providers.ErrUnavailable || !strings.Contains(err.Error(), "no answer from Smaregi") {
		t.Fatalf("a create whose answer was lost: %v", err)
	}
	if n := len(f.srv.Coupons()); n != 1 {
		t.Fatalf("%d coupons after the lost create, want the 1 it made", n)
	}
	id := f.srv.Coupons()[0].CouponID
	if err := f.srv.Fail("read", 500, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCoupon(ctx, id); err != nil {
		t.Fatalf("a read failing twice with 500: %v", err)
	}
	if f.clock.slept != 750*time.Millisecond {
		t.Fatalf("backoff %s, want 250 ms then 500 ms", f.clock.slept)
	}
	if err := f.srv.Lose("delete", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteCoupon(ctx, id); providers.CodeOf(err) != providers.ErrNotFound {
		t.Fatalf("a delete repeated after a lost answer finds the coupon gone: %v", err)
	}
	if r := f.p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindCoupon, ID: id}); r.Diagnostics.HasErrors() {
		t.Fatalf("deleting a deleted coupon: %v", r.Diagnostics.Err())
	}
}

func TestCustomersPageThroughEveryMember(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	for i := range 2500 {
		f.srv.AddCustomers(smaregitest.Customer{"customerId": fmt.Sprint(i + 1), "customerCode": fmt.Sprintf("M%05d", i),
			"phoneNumber": "03-0000-0000", "mailAddress": fmt.Sprintf("m%d@example.jp", i), "rank": nil, "customerNo": 7,
			"status": "0", "mailReceiveFlag": "1"})
	}
	c := f.p.Client()
	n := 0
	for cu, err := range c.Customers(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if cu.CustomerCode != Text(fmt.Sprintf("M%05d", n)) {
			t.Fatalf("member %d is %q", n, cu.CustomerCode)
		}
		n++
	}
	if n != 2500 || f.srv.Calls("customers") != 3 {
		t.Fatalf("%d members in %d calls, want 2500 in 3", n, f.srv.Calls("customers"))
	}
	got, err := c.ListCustomers(ctx, CustomerQuery{CustomerCode: "M01234"})
	if err != nil || len(got) != 1 {
		t.Fatalf("by code: %v %v", got, err)
	}
	rec := got[0].Record()
	if rec["customerCode"] != "M01234" || rec["mailAddress"] != "m1234@example.jp" || rec["customerNo"] != "7" {
		t.Fatalf("record: %v", rec)
	}
	if _, ok := rec["rank"]; ok {
		t.Fatal("a null rank is in the record")
	}
	// Stopping early stops paging.
	before := f.srv.Calls("customers")
	for range c.Customers(ctx, 10) {
		break
	}
	if f.srv.Calls("customers") != before+1 {
		t.Fatal("breaking out of the iteration fetched more pages")
	}
	// Members need their own scope.
	g := newFixture(t, quiet, map[string]any{"scopes": []any{"pos.coupons:read", "pos.coupons:write"}})
	if _, err := g.p.Client().ListCustomers(ctx, CustomerQuery{}); providers.CodeOf(err) != providers.ErrAuth {
		t.Fatalf("members without pos.customers:read: %v", err)
	}
}

func create(t *testing.T, p *Provider, key string, a providers.Attrs) providers.CreateResponse {
	t.Helper()
	planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindCoupon, Proposed: a}).Planned
	return p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: planned, IdempotencyKey: key})
}

// A serial number held by another coupon is a conflict naming it, and nothing is created.
func TestSerialNumberInUseIsAConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	a := percentCoupon()
	a["code"] = "SPRING10"
	if r := create(t, f.p, "k1", a); r.Diagnostics.HasErrors() {
		t.Fatal(r.Diagnostics.Err())
	}
	r := create(t, f.p, "k2", a)
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrConflict || !strings.Contains(err.Error(), "SPRING10") || r.Diagnostics[0].Attribute != "code" {
		t.Fatalf("a second coupon with serial SPRING10: %v", err)
	}
	if n := f.srv.Calls("create"); n != 1 {
		t.Fatalf("%d creates reached the API, want 1", n)
	}
}

// Dates are days in the contract's zone, whatever zone the campaign is planned in, and read
// back as the same instants.
func TestDatesAreContractDays(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	a := percentCoupon()
	a["timezone"] = "UTC"
	a["starts_at"] = "2027-02-28T15:00:00Z"    // 2027-03-01 00:00 in Tokyo
	a["ends_at"] = "2027-04-01T00:00:00+09:00" // the end of 31 March
	if ds := f.p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCoupon, Attributes: a}).Diagnostics; ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	planned := f.p.Plan(ctx, providers.PlanRequest{Kind: providers.KindCoupon, Proposed: a}).Planned
	if planned.String("ends_at") != "2027-03-31T14:59:59Z" {
		t.Fatalf("planned end %s, want the last second of 31 March in Tokyo, in UTC", planned.String("ends_at"))
	}
	if a.String("ends_at") != "2027-04-01T00:00:00+09:00" {
		t.Fatal("Plan changed the proposed attributes in place")
	}
	r := f.p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: planned, IdempotencyKey: "k"})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	c, _ := f.srv.Find(r.ID)
	if c.StartDate != "2027-03-01" || c.EndDate != "2027-03-31" {
		t.Fatalf("dates %s → %s", c.StartDate, c.EndDate)
	}
	if r.Attributes.String("starts_at") != "2027-02-28T15:00:00Z" || r.Attributes.String("timezone") != "UTC" {
		t.Fatalf("read back %v", r.Attributes)
	}
	// A changed zone is written to the marker in place.
	next := planned.Clone()
	next["timezone"] = "Asia/Tokyo"
	u := f.p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: r.ID, Prior: planned, Planned: next})
	if err := u.Diagnostics.Err(); err != nil || u.Attributes.String("timezone") != "Asia/Tokyo" ||
		u.Attributes.String("starts_at") != "2027-03-01T00:00:00+09:00" {
		t.Fatalf("update of the zone: %v %v", u.Attributes, err)
	}
	if rr := f.p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, IdempotencyKey: "k"}); !rr.Found || rr.ID != r.ID {
		t.Fatal("the coupon is no longer found by its key after the zone changed")
	}
	// A start that is not midnight in Tokyo is refused, naming Tokyo.
	a["starts_at"] = "2027-03-01T00:00:00Z"
	ds := f.p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCoupon, Attributes: a}).Diagnostics
	if !ds.HasErrors() || ds[0].Attribute != "starts_at" || !strings.Contains(ds[0].Detail, "Asia/Tokyo") {
		t.Fatalf("start at 09:00 Tokyo: %v", ds.Err())
	}
}

// Clearing the minimum price clears it in Smaregi too.
func TestUpdateClearsOptionalFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	r := create(t, f.p, "k", percentCoupon())
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	next := r.Attributes.Clone()
	delete(next, "min_total")
	delete(next, "ends_at")
	u := f.p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: r.ID, Prior: r.Attributes, Planned: next})
	if err := u.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	c, _ := f.srv.Find(r.ID)
	if c.MinTargetPrice != "" || c.EndDate != "" || c.StartDate != "2027-03-01" {
		t.Fatalf("after clearing: %+v", c)
	}
	if d := providers.Diff(providers.KindCoupon, next, u.Attributes); len(d) > 0 {
		t.Fatalf("update returned attributes differing in %v", d)
	}
	if n := f.srv.Calls("read"); n != 0 {
		t.Fatalf("an update that keeps the zone read the coupon %d times first", n)
	}
}

// An admin who rewrites the summary loses the marker: the coupon is still read by ID, its
// derived serial number shows as a code (drift that replaces it), and it is no longer found
// by key.
func TestEditedSummary(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	r := create(t, f.p, "k", percentCoupon())
	if err := f.srv.SetField(r.ID, "summary", "spring, see the poster"); err != nil {
		t.Fatal(err)
	}
	rr := f.p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: r.ID})
	if d := providers.Diff(providers.KindCoupon, r.Attributes, rr.Attributes); len(d) != 1 || d[0] != "code" {
		t.Fatalf("after the summary was edited, Read differs in %v", d)
	}
	if rr := f.p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, IdempotencyKey: "k"}); rr.Found {
		t.Fatal("found by a key whose marker is gone")
	}
}

func TestProductGrantCouponsAreReadNotCreated(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	c, err := f.p.Client().CreateCoupon(ctx, Coupon{CouponName: "Free socks", SerialNumber: "SOCKS", AwardType: AwardProduct,
		AwardValue: "1", ApplyConditionDivision: "1"})
	if err != nil {
		t.Fatal(err)
	}
	imp := f.p.Import(ctx, providers.ImportRequest{Kind: providers.KindCoupon, ID: c.CouponID})
	if imp.Attributes.String("discount_type") != DiscountGift || imp.Attributes.String("code") != "SOCKS" ||
		imp.Attributes.String("timezone") != DefaultTimezone {
		t.Fatalf("import: %v", imp.Attributes)
	}
	ds := f.p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCoupon, Attributes: imp.Attributes}).Diagnostics
	if !ds.HasErrors() || ds[0].Attribute != "discount_type" {
		t.Fatalf("validate of a product grant: %v", ds.Err())
	}
}

func TestCodePoolsAreRefusedWithTheReason(t *testing.T) {
	t.Parallel()
	p := &Provider{}
	if _, ok := p.Schema(ctx).Kinds[providers.KindCodePool]; ok {
		t.Fatal("the schema offers code pools")
	}
	ds := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCodePool, Attributes: providers.Attrs{"count": int64(5)}}).Diagnostics
	if err := ds.Err(); err == nil || !strings.Contains(err.Error(), "one serial number") {
		t.Fatalf("a code pool: %v", err)
	}
}

// A large refresh pages through the coupon list once instead of one call per coupon.
func TestReadBatchPagesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	var reqs []providers.ReadRequest
	for i := range 12 {
		r := create(t, f.p, fmt.Sprint("k", i), percentCoupon())
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, providers.ReadRequest{Kind: providers.KindCoupon, ID: r.ID})
	}
	reqs = append(reqs, providers.ReadRequest{Kind: providers.KindCoupon, IdempotencyKey: "k3"},
		providers.ReadRequest{Kind: providers.KindCoupon, ID: "999"})
	lists, reads := f.srv.Calls("list"), f.srv.Calls("read")
	got := f.p.ReadBatch(ctx, reqs)
	if f.srv.Calls("list") != lists+1 || f.srv.Calls("read") != reads {
		t.Fatalf("%d list and %d read calls for a batch of %d", f.srv.Calls("list")-lists, f.srv.Calls("read")-reads, len(reqs))
	}
	for i, r := range got[:12] {
		if !r.Found || r.ID != reqs[i].ID || r.Attributes.Float("percent") != 10 {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	if !got[12].Found || got[12].ID != got[3].ID || got[13].Found {
		t.Fatalf("by key: %+v; gone: %+v", got[12], got[13])
	}
	if err := f.srv.Fail("list", 503, DefaultMaxAttempts); err != nil {
		t.Fatal(err)
	}
	for i, r := range f.p.ReadBatch(ctx, reqs) {
		if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
			t.Fatalf("request %d of a batch whose list failed: %+v", i, r)
		}
	}
}

// emptyWrites drops the body of successful POST and PATCH answers, as an API that answers
// writes with no content would.
type emptyWrites struct{ next http.RoundTripper }

func (e emptyWrites) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := e.next.RoundTrip(r)
	if err == nil && resp.StatusCode == 200 && (r.Method == http.MethodPost || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/pos/") {
		resp.Body.Close()
		resp.Body, resp.ContentLength = http.NoBody, 0
	}
	return resp, err
}

func TestWritesAnsweredWithoutBody(t *testing.T) {
	t.Parallel()
	f := newFixture(t, quiet, nil)
	f.p.client.cfg.HTTPClient = &http.Client{Transport: emptyWrites{f.srv.Client().Transport}}
	r := create(t, f.p, "k", percentCoupon())
	if err := r.Diagnostics.Err(); err != nil || r.ID == "" || r.Attributes.Float("percent") != 10 {
		t.Fatalf("create: %q %v %v", r.ID, r.Attributes, err)
	}
	next := r.Attributes.Clone()
	next["percent"] = 20.0
	u := f.p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: r.ID, Prior: r.Attributes, Planned: next})
	if err := u.Diagnostics.Err(); err != nil || u.Attributes.Float("percent") != 20 {
		t.Fatalf("update: %v %v", u.Attributes, err)
	}
}

package square_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/square"
)

func create(t *testing.T, p providers.Provider, k providers.Kind, a providers.Attrs, key string) string {
	t.Helper()
	return providertest.Create(t, p, k, a, key, nil)
}

var with = providertest.With

func hasLine(lines []string, parts ...string) bool {
	for _, l := range lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// An update planned before someone edited the coupon in Square is refused, and the edit
// stays.
func TestUpdateRefusesAnOutOfBandChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := create(t, p, providers.KindCoupon, spring(), "k")
	if err := srv.Tamper(providers.KindCoupon, id, "percent", "40"); err != nil {
		t.Fatal(err)
	}
	r := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: spring(), Planned: with(spring(), "percent", 15.0)})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrConflict || !strings.Contains(err.Error(), "percent is now 40") {
		t.Fatalf("got %v, want a conflict saying percent is now 40", err)
	}
	if !hasLine(srv.Objects(), "DISCOUNT", "percentage=40") {
		t.Fatalf("the edit made in Square was overwritten: %v", srv.Objects())
	}
	// Planned from what Square now holds, the same update goes through: drift repaired.
	live := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: spring()}).Attributes
	r = p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: live, Planned: with(spring(), "percent", 15.0)})
	if err := r.Diagnostics.Err(); err != nil || r.Attributes.Float("percent") != 15 {
		t.Fatalf("repairing the drift: %v %v", r.Attributes, err)
	}
}

// raceTransport lets a test change Square between the provider's read and its write.
type raceTransport struct {
	before func()
}

func (rt *raceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/batch-upsert") && rt.before != nil {
		rt.before()
		rt.before = nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// An edit landing between the update's read and its write hits VERSION_MISMATCH: reported
// as a conflict with what changed, and nothing is overwritten.
func TestUpdateRaceIsAConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := create(t, p, providers.KindCoupon, spring(), "k")
	p.Client().HTTP = &http.Client{Transport: &raceTransport{before: func() {
		if err := srv.Tamper(providers.KindCoupon, id, "title", "Edited at the register"); err != nil {
			t.Error(err)
		}
	}}}
	r := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: spring(), Planned: with(spring(), "percent", 15.0)})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrConflict || !strings.Contains(err.Error(), "between Musubi's read and its write") ||
		!strings.Contains(err.Error(), "title is now Edited at the register") {
		t.Fatalf("got %v, want a conflict naming the edited title", err)
	}
	if !hasLine(srv.Objects(), "DISCOUNT", `name="Edited at the register"`, "percentage=10") {
		t.Fatalf("the racing edit was overwritten: %v", srv.Objects())
	}
}

// Square takes one catalog write per seller at a time; a write meeting another gets 429 and
// is retried after Retry-After.
func TestConcurrentCatalogWriteWaits(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	release := srv.HoldCatalog()
	var waited []time.Duration
	p.Client().Sleep = func(_ context.Context, d time.Duration) error {
		waited = append(waited, d)
		release()
		return nil
	}
	create(t, p, providers.KindCoupon, spring(), "k")
	if len(waited) != 1 || waited[0] != time.Second {
		t.Fatalf("waited %v, want once for the Retry-After of 1s", waited)
	}
}

// A create whose answer was lost, retried with its key, leaves one coupon.
func TestLostCreateLeavesOneCoupon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	if err := srv.Lose("create", square.DefaultMaxAttempts); err != nil {
		t.Fatal(err)
	}
	req := providers.CreateRequest{Kind: providers.KindCoupon, Attributes: spring(), IdempotencyKey: "lost"}
	if r := p.Create(ctx, req); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
		t.Fatalf("the lost create: %v, want unavailable", r.Diagnostics.Err())
	}
	if n := srv.Calls("create"); n != square.DefaultMaxAttempts {
		t.Fatalf("%d create calls, want %d (the client retries a lost answer)", n, square.DefaultMaxAttempts)
	}
	r := p.Create(ctx, req)
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Objects()); n != 3 {
		t.Fatalf("%d catalog objects after a lost and a retried create, want 3:\n%s", n, strings.Join(srv.Objects(), "\n"))
	}
}

// Square reads validity dates in its locations' zone: a campaign planned elsewhere is
// converted, and reads back as the same instants.
func TestValidityIsWrittenInTheLocationsZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	paris := with(spring(), "timezone", "Europe/Paris", "starts_at", "2027-03-01T00:00:00+01:00", "ends_at", "2027-03-31T23:59:59+02:00")
	p, srv := configure(t, nil) // locations in Asia/Tokyo
	id := create(t, p, providers.KindCoupon, paris, "k")
	if !hasLine(srv.Objects(), "PRICING_RULE", "valid=2027-03-01_08:00:00..2027-04-01_06:59:59") {
		t.Fatalf("the rule is not in Tokyo time: %v", srv.Objects())
	}
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: paris})
	if d := providers.Diff(providers.KindCoupon, paris, r.Attributes); len(d) > 0 {
		t.Fatalf("read back differs in %v: %v", d, r.Attributes)
	}

	// Without a configured zone, the campaign's own zone is assumed.
	p2, srv2 := configure(t, map[string]any{"timezone": ""})
	create(t, p2, providers.KindCoupon, paris, "k")
	if !hasLine(srv2.Objects(), "PRICING_RULE", "valid=2027-03-01_00:00:00..2027-03-31_23:59:59") {
		t.Fatalf("the rule is not in the campaign's time: %v", srv2.Objects())
	}
}

func TestAudienceNeedsItsGroup(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	a := with(spring(), "audience", "ghosts")
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrNotFound || !strings.Contains(err.Error(), `segment "ghosts"`) || r.Diagnostics[0].Attribute != "audience" {
		t.Fatalf("got %v (attribute %q), want not_found naming the segment, on audience", err, r.Diagnostics[0].Attribute)
	}
	// A group the planner resolved is used as given.
	g := create(t, p, providers.KindAudience, providers.Attrs{"segment": "ghosts"}, "g")
	r = p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k",
		Refs: map[string]string{"audience": g}})
	if err := r.Diagnostics.Err(); err != nil || r.Attributes.String("audience") != "ghosts" {
		t.Fatalf("with the group given: %v %v", r.Attributes, err)
	}
}

// Square's own refusal names the field; the diagnostic names the canonical attribute, so
// the planner points at the configuration line.
func TestSquaresFieldBecomesTheAttribute(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	a := providers.Attrs{"title": "Ten percent", "discount_type": "percent", "percent": 10.0, "min_total": int64(5000), "currency": "USD"}
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: "k"})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid || r.Diagnostics[0].Attribute != "currency" ||
		!strings.Contains(r.Diagnostics.Err().Error(), "JPY") {
		t.Fatalf("a currency the seller does not take: %v (attribute %q)", r.Diagnostics.Err(), r.Diagnostics[0].Attribute)
	}
}

func TestValidateExplainsWhatSquareCannot(t *testing.T) {
	t.Parallel()
	p, _ := configure(t, nil)
	ds := p.Validate(context.Background(), providers.ValidateRequest{Kind: providers.KindCoupon,
		Attributes: with(spring(), "code", "SPRING", "per_customer", int64(1))}).Diagnostics
	got := map[string]string{}
	for _, d := range ds {
		got[d.Attribute] = d.Detail
	}
	if !strings.Contains(got["code"], "no coupon code") || !strings.Contains(got["per_customer"], "per-customer") {
		t.Fatalf("diagnostics %v", got)
	}
	if _, ok := p.Schema(context.Background()).Kinds[providers.KindCodePool]; ok {
		t.Fatal("Square holds no codes, yet the schema offers code pools")
	}
	ds = p.Validate(context.Background(), providers.ValidateRequest{Kind: providers.KindSubscription,
		Attributes: providers.Attrs{"source": "pos", "topics": []string{"purchase", "cart.updated"}}}).Diagnostics
	if ds.HasErrors() || len(ds) != 1 || ds[0].Severity != providers.Warning || !strings.Contains(ds[0].Detail, "cart.updated") {
		t.Fatalf("an undeliverable topic beside a deliverable one: %v", ds)
	}
}

func TestImportOfAnotherObjectIsNotFound(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	create(t, p, providers.KindCoupon, spring(), "k")
	var discountID string
	for _, l := range srv.Objects() {
		if f := strings.Fields(l); f[0] == "DISCOUNT" {
			discountID = f[1]
		}
	}
	r := p.Import(context.Background(), providers.ImportRequest{Kind: providers.KindCoupon, ID: discountID})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound {
		t.Fatalf("importing a discount as a coupon: %v", r.Diagnostics.Err())
	}
}

func TestReadBatchIsOneCall(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	if n := providertest.BatchReadCalls(t, p, spring, 40, func() int { return srv.Calls("read") }); n != 1 {
		t.Fatalf("reading 40 coupons took %d calls, want 1", n)
	}
}

func TestDisabledSubscriptionReadsWithoutTopics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	a := providers.Attrs{"source": "pos", "topics": []string{"purchase"}}
	id := create(t, p, providers.KindSubscription, a, "k")
	if err := srv.Tamper(providers.KindSubscription, id, "enabled", "false"); err != nil {
		t.Fatal(err)
	}
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindSubscription, ID: id})
	if len(r.Attributes.Strings("topics")) != 0 {
		t.Fatalf("a disabled subscription reads %v", r.Attributes)
	}
	planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindSubscription, Proposed: a}).Planned
	u := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindSubscription, ID: id, Prior: r.Attributes, Planned: planned})
	if err := u.Diagnostics.Err(); err != nil || !hasLine(srv.Objects(), "SUBSCRIPTION", "enabled=true", "payment.created,payment.updated") {
		t.Fatalf("re-enabling: %v %v", err, srv.Objects())
	}
}

// The signature key Square returns on create never reaches the attributes Musubi stores.
func TestSignatureKeyIsNotKept(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindSubscription,
		Attributes: providers.Attrs{"source": "pos", "topics": []string{"purchase"}, "endpoint": webhookURL}, IdempotencyKey: "k"})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	key, _ := srv.SignatureKey(r.ID)
	if key == "" || strings.Contains(fmt.Sprint(r.Attributes), key) {
		t.Fatalf("attributes %v hold the signature key", r.Attributes)
	}
}

// A discount deleted in Square reads back as missing attributes; the update planned from
// that recreates it and points the rule at it.
func TestDeletedDiscountIsRecreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := create(t, p, providers.KindCoupon, spring(), "k")
	var discountID string
	for _, l := range srv.Objects() {
		if f := strings.Fields(l); f[0] == "DISCOUNT" {
			discountID = f[1]
		}
	}
	if _, err := p.Client().BatchDelete(ctx, []string{discountID}); err != nil {
		t.Fatal(err)
	}
	live := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: spring()})
	if !live.Found || live.Attributes.String("title") != "" || live.Attributes.Float("percent") != 0 {
		t.Fatalf("a coupon without its discount reads %v", live.Attributes)
	}
	u := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: id, Prior: live.Attributes, Planned: spring()})
	if err := u.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	again := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: id, Prior: spring()})
	if d := providers.Diff(providers.KindCoupon, spring(), again.Attributes); len(d) > 0 || len(srv.Objects()) != 3 {
		t.Fatalf("after the repair: differs in %v; objects %v", d, srv.Objects())
	}
}

func TestConfigureRefusesBadValues(t *testing.T) {
	t.Parallel()
	p := &square.Provider{}
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: "square.store", Config: map[string]any{
		"token": "", "base_url": "ftp://x", "timezone": "Mars/Olympus", "webhook_url": "http://plain.example/hook"}})
	got := map[string]bool{}
	for _, d := range r.Diagnostics {
		got[d.Attribute] = true
	}
	for _, a := range []string{"token", "base_url", "timezone", "webhook_url"} {
		if !got[a] {
			t.Errorf("no diagnostic on %s: %v", a, r.Diagnostics.Err())
		}
	}
}

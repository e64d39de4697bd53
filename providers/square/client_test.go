package square_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
)

// stub is a client of canned responses served in order, and the count of its calls.
func stub(t *testing.T, responses ...func(w http.ResponseWriter)) (*square.Client, *atomic.Int32) {
	t.Helper()
	url, n := providertest.Stub(t, responses...)
	c := square.NewClient(url, "tok")
	c.Sleep = noSleep
	return c, n
}

var respond = providertest.Respond

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	errs := func(category, code, field string) string {
		return fmt.Sprintf(`{"errors":[{"category":%q,"code":%q,"detail":"it failed","field":%q}]}`, category, code, field)
	}
	for _, tc := range []struct {
		status  int
		body    string
		headers []string
		want    providers.ErrorCode
		retry   time.Duration
	}{
		{401, errs("AUTHENTICATION_ERROR", "UNAUTHORIZED", ""), nil, providers.ErrAuth, 0},
		{403, errs("AUTHENTICATION_ERROR", "INSUFFICIENT_SCOPES", ""), nil, providers.ErrAuth, 0},
		{400, errs("INVALID_REQUEST_ERROR", "INVALID_VALUE", "object.discount_data.percentage"), nil, providers.ErrInvalid, 0},
		{400, errs("INVALID_REQUEST_ERROR", "IDEMPOTENCY_KEY_REUSED", "idempotency_key"), nil, providers.ErrConflict, 0},
		{404, errs("INVALID_REQUEST_ERROR", "NOT_FOUND", ""), nil, providers.ErrNotFound, 0},
		{409, errs("INVALID_REQUEST_ERROR", "VERSION_MISMATCH", "version"), nil, providers.ErrConflict, 0},
		{422, errs("INVALID_REQUEST_ERROR", "UNPROCESSABLE_ENTITY", ""), nil, providers.ErrInvalid, 0},
		{429, errs("RATE_LIMIT_ERROR", "RATE_LIMITED", ""), []string{"Retry-After", "7"}, providers.ErrRateLimited, 7 * time.Second},
		{500, errs("API_ERROR", "INTERNAL_SERVER_ERROR", ""), nil, providers.ErrUnavailable, 0},
		{503, `<html>upstream down</html>`, nil, providers.ErrUnavailable, 0},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c, _ := stub(t, respond(tc.status, tc.body, append(tc.headers, "X-Request-Id", "req-42")...))
			c.MaxAttempts = 1
			_, err := c.CustomerGroup(context.Background(), "G1")
			if tc.want == providers.ErrNotFound {
				// A missing object is not an error for a read; ask for one through a write.
				_, err = c.UpdateCustomerGroup(context.Background(), "G1", "x")
			}
			var ae *providers.APIError
			if !errors.As(err, &ae) || ae.Code != tc.want || ae.Status != tc.status {
				t.Fatalf("got %v, want %s (HTTP %d)", err, tc.want, tc.status)
			}
			if ae.RetryAfter != tc.retry || ae.RequestID != "req-42" {
				t.Errorf("retry after %s, request %q; want %s and req-42", ae.RetryAfter, ae.RequestID, tc.retry)
			}
			var se *square.Error
			if strings.Contains(tc.body, `"field":"object`) && (!errors.As(err, &se) || !strings.Contains(err.Error(), "field object.discount_data.percentage")) {
				t.Errorf("the error does not name Square's field: %v", err)
			}
		})
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	t.Parallel()
	limited := respond(429, `{"errors":[{"category":"RATE_LIMIT_ERROR","code":"RATE_LIMITED"}]}`, "Retry-After", "7")
	c, calls := stub(t, limited, limited, respond(200, `{"group":{"id":"G1","name":"n"}}`))
	var waited []time.Duration
	c.Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	g, err := c.CustomerGroup(context.Background(), "G1")
	if err != nil || g.ID != "G1" {
		t.Fatalf("got %v, %v", g, err)
	}
	if calls.Load() != 3 || len(waited) != 2 || waited[0] != 7*time.Second || waited[1] != 7*time.Second {
		t.Fatalf("%d calls, waited %v; want 3 calls and two waits of 7s", calls.Load(), waited)
	}

	// Bounded: three tries, then the 429 is the answer.
	c, calls = stub(t, limited)
	c.Sleep = noSleep
	if _, err := c.CustomerGroup(context.Background(), "G1"); providers.CodeOf(err) != providers.ErrRateLimited || calls.Load() != 3 {
		t.Fatalf("got %v after %d calls, want rate_limited after 3", err, calls.Load())
	}

	// A wait longer than the client would sleep is handed to the caller at once.
	c, calls = stub(t, respond(429, `{"errors":[{"category":"RATE_LIMIT_ERROR","code":"RATE_LIMITED"}]}`, "Retry-After", "3600"))
	if _, err := c.CustomerGroup(context.Background(), "G1"); providers.CodeOf(err) != providers.ErrRateLimited || calls.Load() != 1 {
		t.Fatalf("got %v after %d calls, want rate_limited after 1", err, calls.Load())
	}
}

func TestRetriesBackOffOn5xx(t *testing.T) {
	t.Parallel()
	down := respond(503, `{"errors":[{"category":"API_ERROR","code":"SERVICE_UNAVAILABLE"}]}`)
	c, calls := stub(t, down, down, respond(200, `{"group":{"id":"G1","name":"n"}}`))
	var waited []time.Duration
	c.Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	if _, err := c.CustomerGroup(context.Background(), "G1"); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || len(waited) != 2 || waited[0] <= 0 || waited[1] <= waited[0] || waited[1] > 2*time.Second {
		t.Fatalf("%d calls, waited %v; want growing waits under 2s", calls.Load(), waited)
	}
	// Invalid requests are never retried.
	c, calls = stub(t, respond(400, `{"errors":[{"category":"INVALID_REQUEST_ERROR","code":"INVALID_VALUE"}]}`))
	if _, err := c.CustomerGroup(context.Background(), "G1"); providers.CodeOf(err) != providers.ErrInvalid || calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, calls.Load())
	}
}

func discount(id, name string) square.CatalogObject {
	return square.CatalogObject{Type: square.TypeDiscount, ID: id,
		DiscountData: &square.CatalogDiscount{Name: name, DiscountType: square.FixedPercentage, Percentage: "5"}}
}

func discounts(n int) []square.CatalogObject {
	out := make([]square.CatalogObject, n)
	for i := range out {
		out[i] = discount(fmt.Sprintf("#d%d", i), fmt.Sprint("d", i))
	}
	return out
}

// raw posts a body to the contract server as any client could, without the client's checks.
func raw(t *testing.T, srv *squaretest.Server, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Square-Version", square.APIVersion)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBatchLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	c := p.Client()

	// The client refuses what Square would, without calling.
	before := srv.Calls("create")
	if _, err := c.BatchUpsert(ctx, "k1", []square.CatalogObjectBatch{{Objects: discounts(1001)}}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Fatalf("1,001 objects in a batch: %v", err)
	}
	var eleven []square.CatalogObjectBatch
	for range 11 {
		eleven = append(eleven, square.CatalogObjectBatch{Objects: discounts(1000)})
	}
	if _, err := c.BatchUpsert(ctx, "k2", eleven); providers.CodeOf(err) != providers.ErrInvalid || !strings.Contains(err.Error(), "11000") {
		t.Fatalf("11,000 objects in an upsert: %v", err)
	}
	if srv.Calls("create") != before {
		t.Fatal("the client sent an upsert Square would refuse")
	}

	// The server refuses them too, with Square's error shape.
	status, body := raw(t, srv, "POST", "/v2/catalog/batch-upsert", map[string]any{"idempotency_key": "k3",
		"batches": []any{map[string]any{"objects": discounts(1001)}}})
	if status != 400 || !strings.Contains(body, `"code":"ARRAY_LENGTH_TOO_LONG"`) || !strings.Contains(body, `"field":"batches[0].objects"`) {
		t.Fatalf("1,001 objects: %d %s", status, body)
	}
	ids := make([]string, 201)
	for i := range ids {
		ids[i] = fmt.Sprint("ID", i)
	}
	if status, body := raw(t, srv, "POST", "/v2/catalog/batch-delete", map[string]any{"object_ids": ids}); status != 400 || !strings.Contains(body, "ARRAY_LENGTH_TOO_LONG") {
		t.Fatalf("201 deletes: %d %s", status, body)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint("ID", i)
	}
	if status, body := raw(t, srv, "POST", "/v2/catalog/batch-retrieve", map[string]any{"object_ids": many}); status != 400 || !strings.Contains(body, "ARRAY_LENGTH_TOO_LONG") {
		t.Fatalf("1,001 retrieves: %d %s", status, body)
	}

	// Large reads and deletes are split into calls Square takes.
	resp, err := c.BatchUpsert(ctx, "k4", []square.CatalogObjectBatch{{Objects: discounts(450)}})
	if err != nil {
		t.Fatal(err)
	}
	var created []string
	for _, o := range resp.Objects {
		created = append(created, o.ID)
	}
	reads := srv.Calls("read")
	got, err := c.BatchRetrieve(ctx, append(created, many...), false)
	if err != nil || len(got.Objects) != 450 || srv.Calls("read")-reads != 2 {
		t.Fatalf("retrieving 1,451 IDs: %d objects in %d calls, %v; want 450 in 2", len(got.Objects), srv.Calls("read")-reads, err)
	}
	deletes := srv.Calls("delete")
	deleted, err := c.BatchDelete(ctx, created)
	if err != nil || len(deleted) != 450 || srv.Calls("delete")-deletes != 3 {
		t.Fatalf("deleting 450: %d deleted in %d calls, %v; want 450 in 3", len(deleted), srv.Calls("delete")-deletes, err)
	}
}

func TestIdempotencyKeyReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	c := p.Client()
	batch := []square.CatalogObjectBatch{{Objects: []square.CatalogObject{discount("#d", "Welcome")}}}
	first, err := c.BatchUpsert(ctx, "same-key", batch)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.BatchUpsert(ctx, "same-key", batch)
	if err != nil || again.IDMappings[0].ObjectID != first.IDMappings[0].ObjectID {
		t.Fatalf("replay: %v, %v; want the first answer", again, err)
	}
	if n := len(srv.Objects()); n != 1 {
		t.Fatalf("%d objects after a replayed upsert, want 1", n)
	}
	other := []square.CatalogObjectBatch{{Objects: []square.CatalogObject{discount("#d", "Other")}}}
	_, err = c.BatchUpsert(ctx, "same-key", other)
	var se *square.Error
	if providers.CodeOf(err) != providers.ErrConflict || !errors.As(err, &se) || !se.HasCode("IDEMPOTENCY_KEY_REUSED") {
		t.Fatalf("same key, other body: %v; want IDEMPOTENCY_KEY_REUSED", err)
	}
	if status, body := raw(t, srv, "POST", "/v2/catalog/batch-upsert", map[string]any{"batches": batch}); status != 400 || !strings.Contains(body, `"field":"idempotency_key"`) {
		t.Fatalf("an upsert without idempotency_key: %d %s", status, body)
	}

	// Customer groups and subscriptions replay their keys too.
	g1, err := c.CreateCustomerGroup(ctx, "g-key", "Regulars")
	if err != nil {
		t.Fatal(err)
	}
	if g2, err := c.CreateCustomerGroup(ctx, "g-key", "Regulars"); err != nil || g2.ID != g1.ID {
		t.Fatalf("replayed group create: %v, %v", g2, err)
	}
}

func TestServerChecksHeadersAndShapes(t *testing.T) {
	t.Parallel()
	srv := squaretest.New()
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"no token", func(r *http.Request) { r.Header.Del("Authorization") }, 401, "UNAUTHORIZED"},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401, "UNAUTHORIZED"},
		{"no version", func(r *http.Request) { r.Header.Del("Square-Version") }, 400, "MISSING_REQUIRED_PARAMETER"},
		{"bad version", func(r *http.Request) { r.Header.Set("Square-Version", "latest") }, 400, "INVALID_SQUARE_VERSION_FORMAT"},
		{"form body", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, 400, "INVALID_CONTENT_TYPE"},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/v2/customers/groups", strings.NewReader(`{"group":{"name":"x"}}`))
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		req.Header.Set("Square-Version", square.APIVersion)
		req.Header.Set("Content-Type", "application/json")
		tc.edit(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), `"code":"`+tc.code+`"`) || !strings.Contains(string(b), `"category":`) {
			t.Errorf("%s: %d %s; want %d %s in errors[]", tc.name, resp.StatusCode, b, tc.status, tc.code)
		}
	}
	if status, body := raw(t, srv, "POST", "/v2/customers/groups", `{"group":{"name":"x","colour":"red"}}`); status != 400 || !strings.Contains(body, "colour") {
		t.Errorf("an unknown field: %d %s", status, body)
	}
	if status, body := raw(t, srv, "GET", "/v2/customers/groups?limit=51", nil); status != 400 || !strings.Contains(body, "VALUE_TOO_HIGH") {
		t.Errorf("limit 51: %d %s", status, body)
	}
	if status, body := raw(t, srv, "POST", "/v2/webhooks/subscriptions", map[string]any{"subscription": map[string]any{
		"event_types": []string{"payment.updated"}, "notification_url": "http://plain.example/hook"}}); status != 400 || !strings.Contains(body, "notification_url") {
		t.Errorf("a plain-HTTP notification URL: %d %s", status, body)
	}
}

func TestStaleVersionIsAConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := configure(t, nil)
	c := p.Client()
	resp, err := c.BatchUpsert(ctx, "k", []square.CatalogObjectBatch{{Objects: []square.CatalogObject{discount("#d", "Welcome")}}})
	if err != nil {
		t.Fatal(err)
	}
	cur := resp.Objects[0]
	cur.DiscountData.Name = "Welcome back"
	if _, err := c.BatchUpsert(ctx, "k2", []square.CatalogObjectBatch{{Objects: []square.CatalogObject{cur}}}); err != nil {
		t.Fatalf("an update at the current version: %v", err)
	}
	cur.DiscountData.Name = "Stale"
	_, err = c.BatchUpsert(ctx, "k3", []square.CatalogObjectBatch{{Objects: []square.CatalogObject{cur}}})
	var se *square.Error
	if providers.CodeOf(err) != providers.ErrConflict || !errors.As(err, &se) || !se.HasCode("VERSION_MISMATCH") || !strings.HasSuffix(se.Field(), ".version") {
		t.Fatalf("an update at a stale version: %v", err)
	}
	cur.Version = 0
	if _, err := c.BatchUpsert(ctx, "k4", []square.CatalogObjectBatch{{Objects: []square.CatalogObject{cur}}}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Fatalf("an update without a version: %v", err)
	}
}

func TestReferencesMustExist(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := configure(t, nil)
	rule := square.CatalogObject{Type: square.TypePricingRule, ID: "#r", PricingRuleData: &square.CatalogPricingRule{
		DiscountID: "NOSUCHDISCOUNT", MatchProductsID: "#ps"}}
	set := square.CatalogObject{Type: square.TypeProductSet, ID: "#ps", ProductSetData: &square.CatalogProductSet{AllProducts: true}}
	_, err := p.Client().BatchUpsert(ctx, "k", []square.CatalogObjectBatch{{Objects: []square.CatalogObject{set, rule}}})
	var se *square.Error
	if providers.CodeOf(err) != providers.ErrInvalid || !errors.As(err, &se) || se.Field() != "batches[0].objects[1].pricing_rule_data.discount_id" {
		t.Fatalf("a rule naming a missing discount: %v", err)
	}
	rule.PricingRuleData.DiscountID = "#d"
	rule.PricingRuleData.CustomerGroupIDsAny = []string{"NOSUCHGROUP"}
	_, err = p.Client().BatchUpsert(ctx, "k2", []square.CatalogObjectBatch{{Objects: []square.CatalogObject{set, discount("#d", "x"), rule}}})
	if !errors.As(err, &se) || !strings.HasSuffix(se.Field(), "customer_group_ids_any") {
		t.Fatalf("a rule naming a missing customer group: %v", err)
	}
	// All or nothing: the product set and discount of the refused batch were not stored.
	if objs := servers.Of(p).Objects(); len(objs) != 0 {
		t.Fatalf("a refused batch left %v", objs)
	}
}

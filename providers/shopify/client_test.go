package shopify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
)

// post sends a raw GraphQL request to the contract server, as any client would.
func post(t *testing.T, srv *shopifytest.Server, token, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+shopifytest.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Shopify-Access-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("an answer without X-Request-Id")
	}
	return resp.StatusCode, out
}

func firstError(out map[string]any) (msg, code string) {
	errs, _ := out["errors"].([]any)
	if len(errs) == 0 {
		return "", ""
	}
	e, _ := errs[0].(map[string]any)
	ext, _ := e["extensions"].(map[string]any)
	msg, _ = e["message"].(string)
	code, _ = ext["code"].(string)
	return msg, code
}

const createDoc = `mutation C($input: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $input) {
  codeDiscountNode { id } userErrors { field code message } } }`

func basicInput(code string) map[string]any {
	return map[string]any{"title": "T", "code": code, "startsAt": "2027-03-01T00:00:00Z", "context": map[string]any{"all": "ALL"},
		"customerGets": map[string]any{"value": map[string]any{"percentage": 0.1}, "items": map[string]any{"all": true}}}
}

func userErrs(out map[string]any, field string) []any {
	data, _ := out["data"].(map[string]any)
	payload, _ := data[field].(map[string]any)
	list, _ := payload["userErrors"].([]any)
	return list
}

// The contract server enforces the documented API: what a real shop would refuse, it refuses
// the same way.
func TestContractServerEnforcesTheAPI(t *testing.T) {
	t.Parallel()
	srv := shopifytest.New()
	defer srv.Close()

	// No access token, or a wrong one: 401 with Shopify's body.
	if st, out := post(t, srv, "", `{ shop { currencyCode } }`, nil); st != 401 || !strings.Contains(fmt.Sprint(out["errors"]), "Invalid API key or access token") {
		t.Errorf("without a token: %d %v", st, out)
	}
	if st, _ := post(t, srv, "shpat_wrong", `{ shop { currencyCode } }`, nil); st != 401 {
		t.Errorf("with a wrong token: %d", st)
	}
	// Every served answer carries the query's cost and the bucket.
	st, out := post(t, srv, srv.Token, `{ shop { currencyCode } }`, nil)
	cost, _ := out["extensions"].(map[string]any)["cost"].(map[string]any)
	if st != 200 || cost["requestedQueryCost"] != 1.0 || cost["throttleStatus"] == nil {
		t.Errorf("extensions.cost %v", out["extensions"])
	}
	// The document is checked against the schema before anything runs.
	for _, tc := range []struct {
		query string
		vars  map[string]any
		code  string
	}{
		{`{ shop { currencyCode planName } }`, nil, "undefinedField"},
		{`{ codeDiscountNode { id } }`, nil, "missingRequiredArguments"},
		{`{ segments { nodes { id } } }`, nil, "argumentLiteralsIncompatible"},             // a connection needs first or last
		{`{ segments(first: 251) { nodes { id } } }`, nil, "argumentLiteralsIncompatible"}, // at most 250
		{`{ segments(first: 250) { nodes { id } } webhookSubscriptions(first: 250) { nodes { id } } codeDiscountNodes(first: 250) { nodes { id } } discountNodes: codeDiscountNodes(first: 250) { nodes { id } } }`, nil, "MAX_COST_EXCEEDED"},
		{createDoc, map[string]any{"input": map[string]any{"title": "T", "cod": "X"}}, "argumentLiteralsIncompatible"}, // misspelt input field
		{`query Q($id: ID!) { codeDiscountNode(id: $id) { id } }`, nil, "argumentLiteralsIncompatible"},                // required variable missing
	} {
		if _, out := post(t, srv, srv.Token, tc.query, tc.vars); func() string { _, c := firstError(out); return c }() != tc.code {
			t.Errorf("%s: errors %v, want %s", tc.query, out["errors"], tc.code)
		}
	}
	ids := make([]any, 251)
	for i := range ids {
		ids[i] = fmt.Sprintf("gid://shopify/DiscountCodeNode/%d", i+1)
	}
	if _, out := post(t, srv, srv.Token, `query N($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids}); func() string { _, c := firstError(out); return c }() != "MAX_INPUT_SIZE_EXCEEDED" {
		t.Errorf("251 nodes: %v", out["errors"])
	}

	// Required fields of a create are userErrors with HTTP 200, each naming its field.
	st, out = post(t, srv, srv.Token, createDoc, map[string]any{"input": map[string]any{"title": "T"}})
	errs := userErrs(out, "discountCodeBasicCreate")
	if st != 200 || len(errs) != 4 {
		t.Errorf("a create missing code, startsAt, customerGets and context: %d %v", st, errs)
	}
	for _, e := range errs {
		m := e.(map[string]any)
		if m["code"] != "BLANK" || len(m["field"].([]any)) != 2 || m["message"] == "" {
			t.Errorf("userError %v", m)
		}
	}
	// Codes are unique in the shop, whatever their case.
	if _, out := post(t, srv, srv.Token, createDoc, map[string]any{"input": basicInput("SPRING10")}); len(userErrs(out, "discountCodeBasicCreate")) != 0 {
		t.Fatalf("a valid create: %v", out)
	}
	_, out = post(t, srv, srv.Token, createDoc, map[string]any{"input": basicInput("spring10")})
	if errs := userErrs(out, "discountCodeBasicCreate"); len(errs) != 1 || errs[0].(map[string]any)["code"] != "TAKEN" {
		t.Errorf("a taken code: %v", out)
	}
	// A bulk addition takes at most 250 codes.
	codes := make([]any, 251)
	for i := range codes {
		codes[i] = map[string]any{"code": fmt.Sprint("B", i)}
	}
	_, out = post(t, srv, srv.Token, `mutation B($id: ID!, $codes: [DiscountRedeemCodeInput!]!) { discountRedeemCodeBulkAdd(discountId: $id, codes: $codes) {
  bulkCreation { id } userErrors { field code message } } }`, map[string]any{"id": "gid://shopify/DiscountCodeNode/1", "codes": codes})
	if errs := userErrs(out, "discountRedeemCodeBulkAdd"); len(errs) != 1 || errs[0].(map[string]any)["code"] != "TOO_MANY_ARGUMENTS" {
		t.Errorf("251 codes: %v", out)
	}

	// An empty bucket: THROTTLED, with the bucket's state and no actual cost. It restores
	// slowly, so a loaded machine's pause before the query does not refill it.
	srv.SetBucket(2000, 0, 0.01)
	st, out = post(t, srv, srv.Token, `{ shop { currencyCode } }`, nil)
	msg, code := firstError(out)
	cost, _ = out["extensions"].(map[string]any)["cost"].(map[string]any)
	ts, _ := cost["throttleStatus"].(map[string]any)
	if st != 200 || code != "THROTTLED" || msg != "Throttled" || cost["actualQueryCost"] != nil || ts["restoreRate"] != 0.01 {
		t.Errorf("throttled: %d %v", st, out)
	}
	// And restores at the restore rate: a point in 100 s.
	srv.Advance(200 * time.Second)
	if st, out := post(t, srv, srv.Token, `{ shop { currencyCode } }`, nil); st != 200 || out["errors"] != nil {
		t.Errorf("after a second: %d %v", st, out)
	}
	// An injected 429 has Shopify's body and Retry-After.
	if err := srv.Fail("read", 429, 1); err != nil {
		t.Fatal(err)
	}
	if st, _ := post(t, srv, srv.Token, `{ shop { currencyCode } }`, nil); st != 429 {
		t.Errorf("injected 429: %d", st)
	}
}

// stub is a client of canned responses served in order, and the count of its calls.
func stub(t *testing.T, responses ...func(w http.ResponseWriter)) (*shopify.Client, *atomic.Int32) {
	t.Helper()
	url, n := providertest.Stub(t, responses...)
	c := shopify.NewClient(url, "shpat_tok")
	c.Sleep = func(context.Context, time.Duration) error { return nil }
	return c, n
}

var respond = providertest.Respond

const bucket = `"extensions":{"cost":{"requestedQueryCost":10,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":2000,"currentlyAvailable":4,"restoreRate":100}}}`

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		hdr    []string
		want   providers.ErrorCode
		retry  time.Duration
		substr string
	}{
		{"401", 401, `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`, nil, providers.ErrAuth, 0, "Invalid API key"},
		{"403", 403, `{"errors":"[API] This action requires merchant approval for write_discounts scope."}`, nil, providers.ErrAuth, 0, "write_discounts"},
		{"404", 404, `{"errors":"Not Found"}`, nil, providers.ErrNotFound, 0, "API version " + shopify.DefaultAPIVersion},
		{"402", 402, `{"errors":"Unavailable Shop"}`, nil, providers.ErrQuota, 0, "Unavailable Shop"},
		{"409", 409, `{"errors":[{"message":"conflict"}]}`, nil, providers.ErrConflict, 0, "conflict"},
		{"422", 422, `{"errors":{"code":["is invalid"]}}`, nil, providers.ErrInvalid, 0, "is invalid"},
		{"429", 429, `{"errors":"Exceeded 2 calls per second for api client."}`, []string{"Retry-After", "120.0"}, providers.ErrRateLimited, 2 * time.Minute, "Exceeded"},
		{"500", 500, `{"errors":"Internal Server Error"}`, nil, providers.ErrUnavailable, 0, "Internal"},
		{"503 HTML", 503, `<html>down</html>`, nil, providers.ErrUnavailable, 0, "down"},
		{"THROTTLED", 200, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],` + bucket + `}`, nil, providers.ErrRateLimited, 160 * time.Millisecond, "Throttled (THROTTLED)"},
		{"ACCESS_DENIED", 200, `{"errors":[{"message":"Access denied for segments field.","extensions":{"code":"ACCESS_DENIED"}}]}`, nil, providers.ErrAuth, 0, "Access denied"},
		{"not the documented data", 200, `{"data":{"shop":"closed"}}`, nil, providers.ErrUnavailable, 0, "unexpected data"},
		{"not JSON", 200, `<html>`, nil, providers.ErrUnavailable, 0, "not GraphQL JSON"},
		{"parse error", 200, `{"errors":[{"message":"syntax error","extensions":{"code":"parseError"}}]}`, nil, providers.ErrInvalid, 0, "syntax error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := stub(t, respond(tc.status, tc.body, append(tc.hdr, "X-Request-Id", "req-42")...))
			c.MaxAttempts = 1
			_, err := c.Shop(context.Background())
			var ae *providers.APIError
			if !errors.As(err, &ae) || ae.Code != tc.want || !strings.Contains(ae.Message, tc.substr) {
				t.Fatalf("got %v, want %s mentioning %q", err, tc.want, tc.substr)
			}
			if ae.RetryAfter != tc.retry || ae.RequestID != "req-42" {
				t.Errorf("retry after %s, request %q; want %s and req-42", ae.RetryAfter, ae.RequestID, tc.retry)
			}
		})
	}
}

// userErrors arrive with HTTP 200: they are errors, and name the input field.
func TestUserErrorsAreErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		errs string
		want providers.ErrorCode
	}{
		{`[{"field":["basicCodeDiscount","code"],"code":"TAKEN","message":"Code must be unique. Please try a different code."}]`, providers.ErrConflict},
		{`[{"field":["basicCodeDiscount","title"],"code":"BLANK","message":"Title can't be blank"}]`, providers.ErrInvalid},
		{`[{"field":["id"],"code":"INVALID","message":"Code discount does not exist"}]`, providers.ErrNotFound},
	} {
		c, _ := stub(t, respond(200, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":`+tc.errs+`}}}`))
		_, err := c.CreateDiscount(context.Background(), map[string]any{})
		var se *shopify.Error
		if !errors.As(err, &se) || se.API.Code != tc.want || len(se.Field) == 0 {
			t.Errorf("%s: got %v, want %s naming the field", tc.errs, err, tc.want)
		}
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	throttled := respond(200, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],`+bucket+`}`)
	ok := respond(200, `{"data":{"shop":{"currencyCode":"JPY","ianaTimezone":"Asia/Tokyo"}}}`)
	c, calls := stub(t, throttled, throttled, ok)
	var waited []time.Duration
	c.Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	if s, err := c.Shop(ctx); err != nil || s.CurrencyCode != "JPY" || calls.Load() != 3 || len(waited) < 2 {
		t.Fatalf("%v %v after %d calls, waits %v", s, err, calls.Load(), waited)
	}
	// Bounded: the client gives up after its attempts.
	c, calls = stub(t, throttled)
	if _, err := c.Shop(ctx); providers.CodeOf(err) != providers.ErrRateLimited || calls.Load() != shopify.DefaultMaxAttempts {
		t.Fatalf("got %v after %d calls", err, calls.Load())
	}
	// 5xx: a query is repeated with growing waits; a create never, as Shopify may have made it.
	down := respond(503, `{"errors":"Service Unavailable"}`)
	c, calls = stub(t, down, down, ok)
	waited = nil
	c.Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	if _, err := c.Shop(ctx); err != nil || len(waited) != 2 || waited[1] <= waited[0] {
		t.Fatalf("%v, waits %v", err, waited)
	}
	c, calls = stub(t, down, ok)
	if _, err := c.CreateDiscount(ctx, map[string]any{}); providers.CodeOf(err) != providers.ErrUnavailable || calls.Load() != 1 {
		t.Fatalf("a create after a 503: %v after %d calls", err, calls.Load())
	}
	// A userError is never repeated.
	c, calls = stub(t, respond(200, `{"data":{"segmentCreate":{"segment":null,"userErrors":[{"field":["name"],"message":"Name has already been taken"}]}}}`))
	if _, err := c.CreateSegment(ctx, "n", "q"); providers.CodeOf(err) != providers.ErrConflict || calls.Load() != 1 {
		t.Fatalf("got %v after %d calls", err, calls.Load())
	}
}

// The client sends the pinned version, the token in X-Shopify-Access-Token and nothing else
// that carries it; every request is a POST of JSON.
func TestRequestShape(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var body []byte
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		respond(200, `{"data":{"shop":{"currencyCode":"JPY","ianaTimezone":"Asia/Tokyo"}}}`)(w)
	}))
	defer hs.Close()
	c := shopify.NewClient(hs.URL, "shpat_secret")
	if _, err := c.Shop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/admin/api/"+shopify.DefaultAPIVersion+"/graphql.json" ||
		got.Header.Get("X-Shopify-Access-Token") != "shpat_secret" || got.Header.Get("Authorization") != "" ||
		!strings.HasPrefix(got.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	var req struct {
		Query         string `json:"query"`
		OperationName string `json:"operationName"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OperationName != "Shop" || !strings.Contains(req.Query, "query Shop") {
		t.Fatalf("body %s", body)
	}
}

// Every operation the provider sends is a document the contract server accepts: parsed,
// checked against the schema, within the cost limit.
func TestEveryOperationIsValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, _ := configure(t, nil)
	c := p.Client()
	id := create(t, p, providers.KindCoupon, spring(), "k", nil)
	checks := []error{
		func() error { _, err := c.Shop(ctx); return err }(),
		func() error { _, err := c.DiscountByCode(ctx, "X"); return err }(),
		func() error { _, err := c.Discount(ctx, id); return err }(),
		func() error { _, err := c.SearchDiscounts(ctx, `title:"x"`); return err }(),
		func() error { _, err := c.Discounts(ctx, []string{id}); return err }(),
		func() error { _, err := c.PoolState(ctx, id); return err }(),
		func() error { _, _, err := c.DiscountCodes(ctx, id); return err }(),
		func() error { _, err := c.MetafieldOwner(ctx, "pool_x"); return err }(),
		func() error { return c.Segments(ctx, func(shopify.Segment) bool { return true }) }(),
		func() error { _, err := c.SegmentsByID(ctx, []string{"gid://shopify/Segment/1"}); return err }(),
		func() error { _, err := c.WebhookSubscriptions(ctx); return err }(),
		func() error { return c.DeleteMetafield(ctx, id, "pool_x") }(),
		func() error { return c.DeleteWebhook(ctx, "gid://shopify/WebhookSubscription/99") }(),
		func() error { return c.DeleteSegment(ctx, "gid://shopify/Segment/99") }(),
		func() error { return c.DeleteDiscount(ctx, "gid://shopify/DiscountCodeNode/99") }(),
	}
	for i, err := range checks {
		if err != nil {
			t.Errorf("operation %d: %v", i, err)
		}
	}
}

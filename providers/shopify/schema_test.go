package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
)

var adminSchema = flag.String("admin-schema", "", "Shopify's published Admin schema for DefaultAPIVersion (introspection JSON, gzipped or not), to cut testdata's schema from")

// schemaFile is the part of Shopify's published Admin schema of DefaultAPIVersion that the
// client's documents use.
var schemaFile = filepath.Join("testdata", "admin-"+DefaultAPIVersion+".graphql")

const schemaHeader = `# The part of Shopify's published Admin GraphQL schema, version %s (the introspection
# result Shopify ships in its Dev MCP package, @shopify/dev-mcp), that the shopify provider's
# documents use: the fields they select with all their arguments, the types those return and
# take, input objects and enums whole. Cut by schemacut_test.go; do not edit.

`

func publishedSchema(t *testing.T) *ast.Schema {
	t.Helper()
	if *adminSchema != "" {
		in, err := readIntrospection(*adminSchema)
		if err != nil {
			t.Fatal(err)
		}
		docs := make([]string, len(operations))
		for i, op := range operations {
			docs[i] = op.doc
		}
		sdl, err := cutSchema(in, docs)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaFile, []byte(strings.Replace(schemaHeader, "%s", DefaultAPIVersion, 1)+sdl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v: the schema of DefaultAPIVersion %s is kept there", err, DefaultAPIVersion)
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: schemaFile, Input: string(b)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every document the client sends is valid against Shopify's published schema of the pinned
// version and selects nothing deprecated.
func TestOperationsMatchPublishedSchema(t *testing.T) {
	schema := publishedSchema(t)
	names := map[string]bool{}
	for _, op := range operations {
		doc, errs := gqlparser.LoadQuery(schema, op.doc)
		if len(errs) > 0 {
			t.Errorf("%s: %v", op.name, errs)
			continue
		}
		if len(doc.Operations) != 1 || doc.Operations[0].Name != op.name || names[op.name] {
			t.Errorf("%s: a document must hold one operation, named as the operation and no other", op.name)
		}
		names[op.name] = true
		if dep := deprecatedUses(doc.Operations[0].SelectionSet); len(dep) > 0 {
			t.Errorf("%s selects what Shopify deprecated: %v", op.name, dep)
		}
	}
}

// recorder keeps the requests a client sends.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []request
}

type request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	var rq request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	_ = dec.Decode(&rq)
	r.mu.Lock()
	r.reqs = append(r.reqs, rq)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// Every request the client makes, variables included (built as the provider builds them),
// is valid against the published schema; every document is sent at least once.
func TestRequestsMatchPublishedSchema(t *testing.T) {
	schema := publishedSchema(t)
	srv := shopifytest.New()
	defer srv.Close()
	rec := &recorder{next: http.DefaultTransport}
	c := NewClient(srv.URL, srv.Token)
	c.HTTP = &http.Client{Transport: rec}
	c.Sleep = func(_ context.Context, d time.Duration) error { srv.Advance(d); return nil }
	exerciseClient(t, c, srv)

	sent := map[string]bool{}
	for _, r := range rec.reqs {
		sent[r.OperationName] = true
		doc, errs := gqlparser.LoadQuery(schema, r.Query)
		if len(errs) > 0 {
			t.Errorf("%s: %v", r.OperationName, errs)
			continue
		}
		op := doc.Operations.ForName(r.OperationName)
		if op == nil {
			t.Errorf("%s: the document has no operation of that name", r.OperationName)
			continue
		}
		if _, err := validator.VariableValues(schema, op, r.Variables); err != nil {
			t.Errorf("%s: variables %v: %v", r.OperationName, r.Variables, err)
		}
		for _, v := range op.VariableDefinitions {
			if dep := deprecatedInputs(schema, v.Type, r.Variables[v.Variable], "$"+v.Variable); len(dep) > 0 {
				t.Errorf("%s sends what Shopify deprecated: %v", r.OperationName, dep)
			}
		}
	}
	for _, op := range operations {
		if !sent[op.name] {
			t.Errorf("%s was never sent: exerciseClient must call it, so its variables are checked", op.name)
		}
	}
}

// exerciseClient calls every method of the client, with inputs built as the provider builds
// them.
func exerciseClient(t *testing.T, c *Client, srv *shopifytest.Server) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Shop(ctx)
	must(err)
	seg, err := c.CreateSegment(ctx, "loyal_store [musubi 0123456789abcdef]", "amount_spent >= 30000")
	must(err)
	_, err = c.UpdateSegment(ctx, seg.ID, "loyal_store", "number_of_orders >= 3")
	must(err)
	_, err = c.SegmentsByID(ctx, []string{seg.ID})
	must(err)
	must(c.Segments(ctx, func(Segment) bool { return true }))
	a := providers.Attrs{"title": "Spring", "discount_type": "percent", "percent": 10.0, "currency": "JPY", "min_total": int64(3000),
		"starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00", "usage_limit": int64(100),
		"per_customer": int64(1), "combines_with": []string{"order"}}
	d, err := c.CreateDiscount(ctx, couponInput(a, "0123456789abcdef", "SPRING10", []string{seg.ID}, nil, false))
	must(err)
	a["discount_type"], a["amount"], a["percent"] = "amount", int64(500), 0.0
	_, err = c.UpdateDiscount(ctx, d.ID, couponInput(a, "0123456789abcdef", "SPRING10", nil, []string{seg.ID}, true))
	must(err)
	_, err = c.Discount(ctx, d.ID)
	must(err)
	_, err = c.DiscountByCode(ctx, "spring10")
	must(err)
	_, err = c.SearchDiscounts(ctx, "title:"+searchTerm("musubi 0123456789abcdef"))
	must(err)
	_, err = c.Discounts(ctx, []string{d.ID})
	must(err)
	must(c.SetMetafield(ctx, d.ID, "pool_0123456789abcdef", map[string]any{"count": 2}))
	_, err = c.PoolState(ctx, d.ID)
	must(err)
	_, err = c.MetafieldOwner(ctx, "pool_0123456789abcdef")
	must(err)
	// A taken code fails on its own, so the bulk creation's failures are read too.
	_, err = c.AddCodes(ctx, d.ID, []string{"SPR-0001", "SPR-0002", "SPRING10"})
	must(err)
	codes, _, err := c.DiscountCodes(ctx, d.ID)
	must(err)
	must(c.DeleteCodes(ctx, d.ID, []string{codes[len(codes)-1].ID}))
	must(c.DeleteMetafield(ctx, d.ID, "pool_0123456789abcdef"))
	customer := srv.AddCustomer("hana@example.jp")
	must(c.AddTags(ctx, customer, []string{"musubi-loyal_store"}))
	must(c.RemoveTags(ctx, customer, []string{"musubi-loyal_store"}))
	_, err = c.SyncTags(ctx, "musubi:loyal_store", []TagChange{{ID: customer}, {ID: customer, Remove: true}, {ID: "gid://shopify/Customer/999"}})
	must(err)
	wh, err := c.CreateWebhook(ctx, "ORDERS_CREATE", "https://rules.example.jp/v1/webhooks/shopify.jp")
	must(err)
	_, err = c.UpdateWebhook(ctx, wh.ID, "https://rules.example.jp/v1/webhooks/shopify.jp?m=1")
	must(err)
	_, err = c.WebhookSubscriptions(ctx)
	must(err)
	must(c.DeleteWebhook(ctx, wh.ID))
	must(c.DeleteSegment(ctx, seg.ID))
	must(c.DeleteDiscount(ctx, d.ID))
}

// The check of variables finds a deprecated input field however deep it is sent.
func TestDeprecatedInputsAreFound(t *testing.T) {
	schema := publishedSchema(t)
	vars := map[string]any{"input": map[string]any{"title": "x", "customerSelection": map[string]any{"all": true}}}
	def := &ast.Type{NamedType: "DiscountCodeBasicInput", NonNull: true}
	if dep := deprecatedInputs(schema, def, vars["input"], "$input"); len(dep) != 1 || !strings.Contains(dep[0], "customerSelection") {
		t.Fatalf("deprecated inputs %v", dep)
	}
}

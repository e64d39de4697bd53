package square

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
)

// The part of Square's published OpenAPI specification the client uses is kept in testdata,
// so the client's calls are checked against the vendor's definitions rather than the
// contract server's: `go test ./providers/square -run TestTypesMatchOpenAPISubset
// -square-openapi=api.json` cuts it again from the specification
// (square/connect-api-specification's api.json).
var squareOpenAPI = flag.String("square-openapi", "", "Square's published OpenAPI specification (api.json), to cut testdata's subset from")

var subsetFile = filepath.Join("testdata", "openapi-subset.json")

// specTypes maps the client's request and response types to the schemas they are written
// from: every JSON field of the type must be a property of each schema.
var specTypes = []struct {
	v       any
	schemas []string
}{
	{batchUpsertRequest{}, []string{"BatchUpsertCatalogObjectsRequest"}},
	{CatalogObjectBatch{}, []string{"CatalogObjectBatch"}},
	{CatalogObject{}, []string{"CatalogObject"}},
	{CatalogDiscount{}, []string{"CatalogDiscount"}},
	{CatalogProductSet{}, []string{"CatalogProductSet"}},
	{CatalogPricingRule{}, []string{"CatalogPricingRule"}},
	{Money{}, []string{"Money"}},
	{BatchUpsertResponse{}, []string{"BatchUpsertCatalogObjectsResponse"}},
	{IDMapping{}, []string{"CatalogIdMapping"}},
	{batchRetrieveRequest{}, []string{"BatchRetrieveCatalogObjectsRequest"}},
	{RetrieveResponse{}, []string{"BatchRetrieveCatalogObjectsResponse"}},
	{retrieveObjectResponse{}, []string{"RetrieveCatalogObjectResponse"}},
	{batchDeleteRequest{}, []string{"BatchDeleteCatalogObjectsRequest"}},
	{batchDeleteResponse{}, []string{"BatchDeleteCatalogObjectsResponse"}},
	{listCatalogResponse{}, []string{"ListCatalogResponse"}},
	{CustomerGroup{}, []string{"CustomerGroup"}},
	{createGroupRequest{}, []string{"CreateCustomerGroupRequest"}},
	{groupRequest{}, []string{"UpdateCustomerGroupRequest"}},
	{groupResponse{}, []string{"CreateCustomerGroupResponse", "RetrieveCustomerGroupResponse", "UpdateCustomerGroupResponse"}},
	{listGroupsResponse{}, []string{"ListCustomerGroupsResponse"}},
	{WebhookSubscription{}, []string{"WebhookSubscription"}},
	{createSubscriptionRequest{}, []string{"CreateWebhookSubscriptionRequest"}},
	{subscriptionRequest{}, []string{"UpdateWebhookSubscriptionRequest"}},
	{subscriptionResponse{}, []string{"CreateWebhookSubscriptionResponse", "RetrieveWebhookSubscriptionResponse", "UpdateWebhookSubscriptionResponse"}},
	{listSubscriptionsResponse{}, []string{"ListWebhookSubscriptionsResponse"}},
	{errorBody{}, []string{"BatchUpsertCatalogObjectsResponse", "CreateWebhookSubscriptionResponse",
		"AddGroupToCustomerResponse", "RemoveGroupFromCustomerResponse"}},
	{ErrorDetail{}, []string{"Error"}},
}

// specOperations are the calls the client makes, as the specification names them.
var specOperations = [][2]string{
	{"post", "/v2/catalog/batch-upsert"}, {"post", "/v2/catalog/batch-retrieve"}, {"post", "/v2/catalog/batch-delete"},
	{"get", "/v2/catalog/object/{object_id}"}, {"get", "/v2/catalog/list"},
	{"post", "/v2/customers/groups"}, {"get", "/v2/customers/groups"}, {"get", "/v2/customers/groups/{group_id}"},
	{"put", "/v2/customers/groups/{group_id}"}, {"delete", "/v2/customers/groups/{group_id}"},
	{"put", "/v2/customers/{customer_id}/groups/{group_id}"}, {"delete", "/v2/customers/{customer_id}/groups/{group_id}"},
	{"post", "/v2/webhooks/subscriptions"}, {"get", "/v2/webhooks/subscriptions"},
	{"get", "/v2/webhooks/subscriptions/{subscription_id}"}, {"put", "/v2/webhooks/subscriptions/{subscription_id}"},
	{"delete", "/v2/webhooks/subscriptions/{subscription_id}"},
}

// spec is an OpenAPI document, as far as the check reads it.
type spec struct {
	Info       map[string]any            `json:"info"`
	Paths      map[string]map[string]*op `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

type op struct {
	OperationID string      `json:"operationId"`
	Deprecated  bool        `json:"deprecated,omitempty"`
	Parameters  []parameter `json:"parameters,omitempty"`
	RequestBody *struct {
		Content map[string]struct {
			Schema *schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody,omitempty"`
}

type parameter struct {
	Name     string  `json:"name"`
	In       string  `json:"in"`
	Required bool    `json:"required,omitempty"`
	Schema   *schema `json:"schema,omitempty"`
}

type schema struct {
	Ref        string             `json:"$ref,omitempty"`
	Type       string             `json:"type,omitempty"`
	Enum       []string           `json:"enum,omitempty"`
	Required   []string           `json:"required,omitempty"`
	Properties map[string]*schema `json:"properties,omitempty"`
	Items      *schema            `json:"items,omitempty"`
	MinLength  *int               `json:"minLength,omitempty"`
	MaxLength  *int               `json:"maxLength,omitempty"`
	MinItems   *int               `json:"minItems,omitempty"`
	MaxItems   *int               `json:"maxItems,omitempty"`
	Deprecated bool               `json:"deprecated,omitempty"`
}

func refName(ref string) string { return strings.TrimPrefix(ref, "#/components/schemas/") }

// jsonFields lists the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// cutSpec keeps of Square's specification the operations the client calls and, of the
// schemas its types are written from, the properties those types use (whole schemas for
// what they refer to beyond: money, enums), with required lists and bounds; descriptions
// and examples go.
func cutSpec(raw []byte) ([]byte, error) {
	var full spec
	if err := json.Unmarshal(raw, &full); err != nil {
		return nil, err
	}
	var ext struct {
		Headers []struct {
			Header, Type string
		} `json:"x-fern-global-headers"`
	}
	_ = json.Unmarshal(raw, &ext)
	version := ""
	for _, h := range ext.Headers {
		if h.Header == "Square-Version" {
			version = strings.Trim(strings.TrimSuffix(strings.TrimPrefix(h.Type, "literal<"), ">"), `"`)
		}
	}
	out := &spec{Info: map[string]any{"title": "Square", "x-square-version": version,
		"x-cut": "the part of Square's published OpenAPI specification (square/connect-api-specification, api.json) the square provider's client uses"},
		Paths: map[string]map[string]*op{}}
	out.Components.Schemas = map[string]*schema{}
	used := map[string]map[string]bool{}
	for _, st := range specTypes {
		for _, name := range st.schemas {
			if used[name] == nil {
				used[name] = map[string]bool{}
			}
			for _, f := range jsonFields(reflect.TypeOf(st.v)) {
				used[name][f] = true
			}
		}
	}
	var keep func(name string, props map[string]bool) error
	keep = func(name string, props map[string]bool) error {
		s := full.Components.Schemas[name]
		if s == nil {
			return fmt.Errorf("no schema %s in the specification", name)
		}
		if c := out.Components.Schemas[name]; c != nil && props == nil {
			return nil
		}
		c := *s
		if props != nil {
			c.Properties = map[string]*schema{}
			for p := range props {
				if s.Properties[p] == nil {
					return fmt.Errorf("%s has no property %s", name, p)
				}
				c.Properties[p] = s.Properties[p]
			}
		}
		out.Components.Schemas[name] = &c
		for _, p := range c.Properties {
			for _, r := range []*schema{p, p.Items} {
				if r != nil && r.Ref != "" && used[refName(r.Ref)] == nil {
					if err := keep(refName(r.Ref), nil); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for name, props := range used {
		if err := keep(name, props); err != nil {
			return nil, err
		}
	}
	for _, mp := range specOperations {
		o := full.Paths[mp[1]][mp[0]]
		if o == nil {
			return nil, fmt.Errorf("no operation %s %s in the specification", mp[0], mp[1])
		}
		if out.Paths[mp[1]] == nil {
			out.Paths[mp[1]] = map[string]*op{}
		}
		out.Paths[mp[1]][mp[0]] = o
	}
	return json.MarshalIndent(out, "", " ")
}

func loadSubset(t *testing.T) *spec {
	t.Helper()
	if *squareOpenAPI != "" {
		raw, err := os.ReadFile(*squareOpenAPI)
		if err != nil {
			t.Fatal(err)
		}
		b, err := cutSpec(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(subsetFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(subsetFile)
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// Every field of the client's request and response types is a property of the schema it is
// written from, and none is deprecated.
func TestTypesMatchOpenAPISubset(t *testing.T) {
	s := loadSubset(t)
	for _, st := range specTypes {
		for _, name := range st.schemas {
			sc := s.Components.Schemas[name]
			if sc == nil {
				t.Errorf("%T: no schema %s", st.v, name)
				continue
			}
			for _, f := range jsonFields(reflect.TypeOf(st.v)) {
				switch p := sc.Properties[f]; {
				case p == nil:
					t.Errorf("%T.%s: %s has no such property", st.v, f, name)
				case p.Deprecated:
					t.Errorf("%T.%s: Square deprecated %s.%s", st.v, f, name, f)
				}
			}
		}
	}
}

type call struct {
	method, path, version string
	query                 map[string][]string
	body                  any
}

// roundTrip is a transport made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// readCall reads what a request asks of Square, leaving its body to be sent.
func readCall(req *http.Request) call {
	c := call{method: strings.ToLower(req.Method), path: req.URL.Path, query: req.URL.Query(), version: req.Header.Get("Square-Version")}
	if req.Body == nil {
		return c
	}
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(b))
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&c.body)
	return c
}

// Every call the provider makes — method and path, query parameters, body fields, string
// lengths (idempotency keys among them) — is one Square's specification defines.
func TestCallsMatchOpenAPISubset(t *testing.T) {
	s := loadSubset(t)
	srv := squaretest.New()
	defer srv.Close()
	p := &Provider{}
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "square.store", Config: map[string]any{
		"token": srv.Token, "base_url": srv.URL, "timezone": "Asia/Tokyo", "webhook_url": "https://rules.example.jp/v1/webhooks/square.store"}}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []call
	p.client.HTTP = &http.Client{Transport: roundTrip(func(req *http.Request) (*http.Response, error) {
		c := readCall(req)
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(req)
	})}
	exerciseProvider(t, p, srv)

	seen := map[string]bool{}
	for _, c := range calls {
		tmpl, o := s.operation(c.method, c.path)
		if o == nil {
			t.Errorf("%s %s: no such operation in Square's specification", c.method, c.path)
			continue
		}
		seen[c.method+" "+tmpl] = true
		if c.version != p.client.Version {
			t.Errorf("%s: Square-Version %q", o.OperationID, c.version)
		}
		for q := range c.query {
			if !slices.ContainsFunc(o.Parameters, func(pm parameter) bool { return pm.In == "query" && pm.Name == q }) {
				t.Errorf("%s: no query parameter %s", o.OperationID, q)
			}
		}
		if c.body == nil {
			continue
		}
		if o.RequestBody == nil {
			t.Errorf("%s takes no body", o.OperationID)
			continue
		}
		for _, e := range s.check(o.RequestBody.Content["application/json"].Schema, c.body, "body") {
			t.Errorf("%s: %s", o.OperationID, e)
		}
	}
	for _, mp := range specOperations {
		if !seen[mp[0]+" "+mp[1]] {
			t.Errorf("%s %s was never called: exerciseProvider must reach it", mp[0], mp[1])
		}
	}
}

// operation finds the operation of a method and a concrete path.
func (s *spec) operation(method, path string) (string, *op) {
	parts := strings.Split(path, "/")
	for tmpl, ops := range s.Paths {
		tp := strings.Split(tmpl, "/")
		if len(tp) != len(parts) {
			continue
		}
		match := true
		for i := range tp {
			if tp[i] != parts[i] && !strings.HasPrefix(tp[i], "{") {
				match = false
			}
		}
		if match && ops[method] != nil {
			return tmpl, ops[method]
		}
	}
	return "", nil
}

// check lists how a value departs from a schema: unknown or deprecated properties, missing
// required ones, strings out of their length bounds or enum, lists out of theirs.
func (s *spec) check(sc *schema, v any, path string) []string {
	for sc != nil && sc.Ref != "" {
		sc = s.Components.Schemas[refName(sc.Ref)]
	}
	if sc == nil {
		return nil // a schema the cut left out: nothing the client's types use
	}
	var errs []string
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := sc.Properties[k]
			switch {
			case p == nil:
				errs = append(errs, path+"."+k+": no such property")
			case p.Deprecated:
				errs = append(errs, path+"."+k+": deprecated")
			default:
				errs = append(errs, s.check(p, x[k], path+"."+k)...)
			}
		}
		for _, r := range sc.Required {
			if _, ok := x[r]; !ok {
				errs = append(errs, path+"."+r+": required")
			}
		}
	case []any:
		if sc.MaxItems != nil && len(x) > *sc.MaxItems || sc.MinItems != nil && len(x) < *sc.MinItems {
			errs = append(errs, fmt.Sprintf("%s: %d items", path, len(x)))
		}
		for i, e := range x {
			errs = append(errs, s.check(sc.Items, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case string:
		n := utf8.RuneCountInString(x)
		if sc.MaxLength != nil && n > *sc.MaxLength || sc.MinLength != nil && n < *sc.MinLength {
			errs = append(errs, fmt.Sprintf("%s: %d characters, outside %v..%v", path, n, deref(sc.MinLength), deref(sc.MaxLength)))
		}
		if len(sc.Enum) > 0 && !slices.Contains(sc.Enum, x) {
			errs = append(errs, fmt.Sprintf("%s: %q is not one of %v", path, x, sc.Enum))
		}
	}
	return errs
}

func deref(p *int) any {
	if p == nil {
		return "-"
	}
	return *p
}

// exerciseProvider makes every call the provider makes: coupons, audiences and subscriptions
// created, read (by ID, by key, in a batch), updated and deleted, and an audience's member
// added and removed.
func exerciseProvider(t *testing.T, p *Provider, srv *squaretest.Server) {
	t.Helper()
	ctx := context.Background()
	// Planners' keys can be long; the subscription create takes 45 characters.
	key := strings.Repeat("apply-7f3c9a/", 6)
	must := func(ds providers.Diagnostics) {
		t.Helper()
		if err := ds.Err(); err != nil {
			t.Fatal(err)
		}
	}
	aud := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: key + "audience",
		Attributes: providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}})
	must(aud.Diagnostics)
	coupon := providers.Attrs{"title": "Spring", "discount_type": "percent", "percent": 10.0, "currency": "JPY", "min_total": int64(3000),
		"starts_at": "2027-03-01T00:00:00+09:00", "ends_at": "2027-03-31T23:59:59+09:00", "timezone": "Asia/Tokyo", "audience": "loyal_store"}
	cp := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, IdempotencyKey: key + "coupon", Attributes: coupon,
		Refs: map[string]string{"audience": aud.ID}})
	must(cp.Diagnostics)
	sub := p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: key + "subscription",
		Attributes: providers.Attrs{"source": "pos", "topics": []string{"purchase", "account.linked"}}})
	must(sub.Diagnostics)
	for _, r := range []struct {
		kind providers.Kind
		id   string
		key  string
	}{{providers.KindCoupon, cp.ID, "coupon"}, {providers.KindAudience, aud.ID, "audience"}, {providers.KindSubscription, sub.ID, "subscription"}} {
		must(p.Read(ctx, providers.ReadRequest{Kind: r.kind, ID: r.id}).Diagnostics)
		must(p.Read(ctx, providers.ReadRequest{Kind: r.kind, IdempotencyKey: key + r.key}).Diagnostics)
	}
	for _, r := range p.ReadBatch(ctx, []providers.ReadRequest{{Kind: providers.KindCoupon, ID: cp.ID}}) {
		must(r.Diagnostics)
	}
	planned := cp.Attributes.Clone()
	planned["percent"] = 15.0
	must(p.Update(ctx, providers.UpdateRequest{Kind: providers.KindCoupon, ID: cp.ID, Prior: cp.Attributes, Planned: planned,
		Refs: map[string]string{"audience": aud.ID}}).Diagnostics)
	planned = aud.Attributes.Clone()
	planned["description"] = "Regulars"
	must(p.Update(ctx, providers.UpdateRequest{Kind: providers.KindAudience, ID: aud.ID, Prior: aud.Attributes, Planned: planned}).Diagnostics)
	member := []providers.Member{{Customer: "uni-1", Values: map[string][]string{"customer_id": {srv.AddCustomer("hana@example.jp")}}}}
	must(p.SyncMembers(ctx, providers.SyncMembersRequest{Segment: "loyal_store", Add: member, IdempotencyKey: key + "add"}).Diagnostics)
	must(p.SyncMembers(ctx, providers.SyncMembersRequest{Segment: "loyal_store", Remove: member, IdempotencyKey: key + "remove"}).Diagnostics)
	planned = sub.Attributes.Clone()
	planned["topics"] = []string{"purchase"}
	must(p.Update(ctx, providers.UpdateRequest{Kind: providers.KindSubscription, ID: sub.ID, Prior: sub.Attributes, Planned: planned}).Diagnostics)
	must(p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindCoupon, ID: cp.ID}).Diagnostics)
	must(p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindSubscription, ID: sub.ID}).Diagnostics)
	must(p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindAudience, ID: aud.ID}).Diagnostics)
}

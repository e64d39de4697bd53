// Package shopifytest is a local contract server of the Shopify Admin GraphQL API, for
// testing the shopify provider and the CLI without a shop. It serves the queries and
// mutations the provider uses — code discounts, redeem codes added and deleted in bulk,
// metafields on discounts, customer segments, tags on customers, webhook subscriptions,
// nodes — at /admin/api/VERSION/graphql.json, and enforces the rules Shopify documents for
// them:
//
//   - the X-Shopify-Access-Token header, and the API version in the path: a supported version
//     is served as itself, an older one (which Shopify no longer supports) as the oldest
//     supported one, and X-Shopify-API-Version names the version served, as Shopify does; a
//     path that names no stable version is 404;
//   - the document: parsed and checked against the schema before anything runs, so an
//     unknown field or argument, a missing required argument, a wrongly typed variable or
//     a misspelt input field is a top-level error and no mutation takes effect;
//   - cost-based throttling: a leaky bucket (2,000 points, 100 restored per second, by the
//     wall clock, which Advance moves ahead); each query costs what it asks for (objects 1,
//     connections 2 plus first × the cost of a node, each mutation of a document 10, so
//     aliased mutations add up), a query over 1,000 is MAX_COST_EXCEEDED, one over what is
//     left is THROTTLED with actualQueryCost null; every answer carries extensions.cost with
//     the bucket's throttleStatus; an injected 429 has Retry-After;
//   - connections need first or last, at most 250; nodes takes at most 250 IDs;
//   - codes are unique in the shop, case-insensitively: a taken code is a userError with
//     code TAKEN on create, a per-code error in a bulk creation;
//   - discountRedeemCodeBulkAdd takes at most 250 codes and works asynchronously: the codes
//     appear once a poll of discountRedeemCodeBulkCreation has found the creation running,
//     and done turns true on the poll after; redeem code bulk deletes are jobs that finish
//     the same way;
//   - userErrors with HTTP 200 for refused values (field, code, message), top-level errors
//     for malformed requests, and Shopify's bodies for 401, 403, 404, 429 and 5xx, each
//     answer with an X-Request-Id.
//
// The server reads requests against its own schema, not the provider's types, so a field
// the client misspells is an error here rather than an agreement between two copies of one
// mistake.
//
// Hooks let tests act as a merchant in the Shopify admin would (Tamper, Remove, AddCustomer),
// read customers' tags (CustomerTags, Tagged), refuse mutations with a userError (Refuse),
// drain the bucket (SetBucket), move the clock (Advance), and build deliveries signed as
// Shopify signs them (Webhook). Calls fail, lose their answers or wait through the controls
// of package contracttest, which the server embeds.
package shopifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// APIVersion is the Admin API version whose schema the server implements.
const APIVersion = "2026-07"

// SupportedVersions are the versions the server serves as themselves, all with APIVersion's
// schema: the four quarterly releases up to APIVersion, as Shopify supports a version for
// twelve months.
var SupportedVersions = []string{"2025-10", "2026-01", "2026-04", APIVersion}

var versionRE = regexp.MustCompile(`^20\d\d-(01|04|07|10)$`)

// Bucket defaults: Shopify's standard plan.
const (
	DefaultBucketSize  = 2000
	DefaultRestoreRate = 100
	// MaxQueryCost is the most a single query may ask for.
	MaxQueryCost = 1000
	// MaxBulkCodes is the most codes one discountRedeemCodeBulkAdd takes.
	MaxBulkCodes = 250
	// MaxNodes is the most IDs one nodes query takes.
	MaxNodes = 250
)

// Ops are the kinds of calls faults and refusals target: every query is a read; mutations
// named *Create, discountRedeemCodeBulkAdd and metafieldsSet are creates.
var Ops = []string{"create", "read", "update", "delete"}

// Server is a running contract server. Exported fields may be changed before the first call.
type Server struct {
	*contracttest.Control
	// Admin changes the shop's objects behind the provider's back, as a merchant would
	// (see admin for the attributes it changes).
	*contracttest.Admin

	// URL is the base URL to configure the provider with (api_url).
	URL string
	// Shop is the shop's myshopify domain.
	Shop string
	// Token is the only access token the server accepts.
	Token string
	// Secret is the app's client secret, which signs the webhooks the server builds.
	Secret string
	// Currency and Timezone are the shop's.
	Currency string
	Timezone string

	hs *httptest.Server

	mu sync.Mutex
	// offset moves the server's clock ahead of the wall clock (Advance), so the bucket
	// restores as it does at Shopify while tests can skip the wait.
	offset    time.Duration
	bucket    float64
	size      float64
	restore   float64
	lastFill  time.Time
	seq       int64
	discounts map[int64]*discount
	codes     map[string]*redeemCode // by lower-case code
	segments  map[int64]*segment
	webhooks  map[int64]*webhook
	customers map[int64]*customer
	bulks     map[int64]*bulkCreation
	jobs      map[int64]*job
	refusals  []*refusal
	throttled int
}

// refusal answers the next mutations of an op with a userError, doing nothing.
type refusal struct {
	op        string
	left      int
	userError map[string]any
}

// New starts a contract server on a local port. Close it when done.
func New() *Server {
	s := &Server{Token: "shpat_" + randomHex(16), Secret: randomHex(32), Shop: "musubi-test.myshopify.com", Currency: "JPY", Timezone: "Asia/Tokyo",
		size: DefaultBucketSize, restore: DefaultRestoreRate,
		discounts: map[int64]*discount{}, codes: map[string]*redeemCode{}, segments: map[int64]*segment{},
		webhooks: map[int64]*webhook{}, customers: map[int64]*customer{}, bulks: map[int64]*bulkCreation{}, jobs: map[int64]*job{}}
	s.Admin = s.admin()
	// A lost answer looks to the client as a timeout at Shopify's edge.
	s.Control = contracttest.New(contracttest.Vendor{Ops: Ops, RetryAfter: 2 * time.Second, Fail: writeFault,
		Lost: func(w http.ResponseWriter) { writeHTTPError(w, http.StatusGatewayTimeout, "Gateway Timeout") }})
	s.bucket, s.lastFill = s.size, s.clock()
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// Path is the GraphQL endpoint's path for the pinned API version.
var Path = "/admin/api/" + APIVersion + "/graphql.json"

// randomHex makes up tokens, secrets and IDs.
var randomHex = contracttest.RandomHex

func (s *Server) nextID() int64 { s.seq++; return s.seq }

func (s *Server) requestID() string { return fmt.Sprintf("req-%s", randomHex(8)) }

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", s.requestID())
	version, ok := strings.CutPrefix(r.URL.Path, "/admin/api/")
	version, found := strings.CutSuffix(version, "/graphql.json")
	served := servedVersion(version)
	if !ok || !found || served == "" {
		writeHTTPError(w, http.StatusNotFound, "Not Found")
		return
	}
	w.Header().Set("X-Shopify-API-Version", served)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeHTTPError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if r.Header.Get("X-Shopify-Access-Token") != s.Token {
		writeHTTPError(w, http.StatusUnauthorized, "[API] Invalid API key or access token (unrecognized login or wrong password)")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeHTTPError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json, not "+ct)
		return
	}
	body, err := contracttest.ReadBody(r)
	if err != nil {
		writeHTTPError(w, http.StatusBadRequest, "cannot read the body")
		return
	}
	var req struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName string         `json:"operationName"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil || req.Query == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"query": "Required parameter missing or invalid"}})
		return
	}
	if req.Variables == nil {
		req.Variables = map[string]any{}
	}
	normalizeNumbers(req.Variables)
	op, err := Parse(req.Query)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []*gqlError{errorf("parseError", "%v", err)}})
		return
	}
	class := opClass(op)
	contracttest.Serve(s.Control, w, r, class, func(w http.ResponseWriter, _ *http.Request) { s.serve(w, op, class, req.Variables) })
}

// servedVersion is the version Shopify serves a request for v with: v when supported, the
// oldest supported one when v is older, "" (404) when v names no released stable version.
func servedVersion(v string) string {
	switch {
	case slices.Contains(SupportedVersions, v):
		return v
	case versionRE.MatchString(v) && v < SupportedVersions[0]:
		return SupportedVersions[0]
	}
	return ""
}

// normalizeNumbers turns decoded json.Numbers into int64 or float64.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

// opClass sorts root fields into the operations tests can fail: create, read, update, delete.
func opClass(op *Operation) string {
	if op.Type == "query" {
		return "read"
	}
	for _, sel := range op.Selection {
		if sel.Field == nil {
			continue
		}
		name := sel.Field.Name
		switch {
		case strings.HasSuffix(name, "Create"), name == "discountRedeemCodeBulkAdd", name == "metafieldsSet":
			return "create"
		case name == "tagsAdd", name == "tagsRemove":
			return "update"
		case strings.HasSuffix(name, "Update"):
			return "update"
		case strings.HasSuffix(name, "Delete"):
			return "delete"
		}
	}
	return "update"
}

func (s *Server) serve(w http.ResponseWriter, op *Operation, class string, vars map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refused := s.takeRefusal(class)
	cost, gerr := validate(op, vars)
	if gerr != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []*gqlError{gerr}})
		return
	}
	if cost > MaxQueryCost {
		e := errorf("MAX_COST_EXCEEDED", "Query cost is %d, which exceeds the single query max cost limit (%d).", cost, MaxQueryCost)
		e.Extensions["cost"], e.Extensions["maxCost"] = cost, MaxQueryCost
		writeJSON(w, http.StatusOK, map[string]any{"errors": []*gqlError{e}})
		return
	}
	s.fill()
	if float64(cost) > s.bucket {
		s.throttled++
		writeJSON(w, http.StatusOK, map[string]any{
			"errors":     []*gqlError{errorf("THROTTLED", "Throttled")},
			"extensions": s.costExtension(cost, -1),
		})
		return
	}
	// The bucket must hold the requested cost; it is charged what the query actually cost,
	// which counts the nodes a connection returned, not the page size it asked for.
	data := map[string]any{}
	actual := 0
	for _, sel := range op.Selection {
		fld := sel.Field
		if fld == nil {
			continue
		}
		args := map[string]any{}
		for name, a := range fld.Args {
			args[name] = a.Resolve(vars)
		}
		var v any
		var err *gqlError
		switch {
		case refused != nil && op.Type == "mutation":
			v = refusalPayload(fld.Name, refused)
		case op.Type == "mutation":
			v, err = s.mutate(fld.Name, args)
		default:
			v, err = s.query(fld.Name, args)
		}
		if err != nil {
			s.bucket -= float64(cost)
			writeJSON(w, http.StatusOK, map[string]any{"data": nil, "errors": []*gqlError{err}, "extensions": s.costExtension(cost, cost)})
			return
		}
		data[fld.Key()] = project(v, fld.Selection, vars)
		actual += actualCost(op.root(), fld, data[fld.Key()])
	}
	if op.Type == "mutation" {
		actual = mutationsCost(op)
	}
	s.bucket -= float64(actual)
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "extensions": s.costExtension(cost, actual)})
}

// costExtension is a response's extensions.cost; actual < 0 is a query that did not run.
func (s *Server) costExtension(cost, actual int) map[string]any {
	var actualCost any
	if actual >= 0 {
		actualCost = actual
	}
	return map[string]any{"cost": map[string]any{
		"requestedQueryCost": cost,
		"actualQueryCost":    actualCost,
		"throttleStatus": map[string]any{
			"maximumAvailable":   s.size,
			"currentlyAvailable": int(s.bucket),
			"restoreRate":        s.restore,
		},
	}}
}

// fill restores the bucket for the time passed on the server's clock.
func (s *Server) fill() {
	if el := s.clock().Sub(s.lastFill).Seconds(); el > 0 {
		s.bucket = min(s.size, s.bucket+el*s.restore)
	}
	s.lastFill = s.clock()
}

// takeRefusal returns the userError the next mutation of class meets, if any.
func (s *Server) takeRefusal(class string) map[string]any {
	for i, f := range s.refusals {
		if f.op != class {
			continue
		}
		if f.left--; f.left == 0 {
			s.refusals = append(s.refusals[:i], s.refusals[i+1:]...)
		}
		return f.userError
	}
	return nil
}

// writeFault answers an injected failure with Shopify's body for the status; a 429 carries
// Retry-After in seconds with a decimal, as Shopify sends it.
func writeFault(w http.ResponseWriter, status int, retryAfter time.Duration) {
	switch {
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.FormatFloat(retryAfter.Seconds(), 'f', 1, 64))
		writeHTTPError(w, status, "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service. (injected fault)")
	case status == http.StatusUnauthorized:
		writeHTTPError(w, status, "[API] Invalid API key or access token (unrecognized login or wrong password) (injected fault)")
	case status == http.StatusForbidden:
		writeHTTPError(w, status, "[API] This action requires merchant approval for write_discounts scope. (injected fault)")
	case status >= 500:
		writeHTTPError(w, status, http.StatusText(status)+" (injected fault)")
	default:
		writeJSON(w, status, map[string]any{"errors": []map[string]any{{"message": "injected fault"}}})
	}
}

func writeHTTPError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errors": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Refuse makes the next times mutations of op ("create", "update", "delete") answer with a
// userError on field (dotted, e.g. basicCodeDiscount.code), with HTTP 200 as Shopify refuses
// values, and do nothing.
func (s *Server) Refuse(op, field, code, message string, times int) error {
	switch op {
	case "create", "update", "delete":
	default:
		return fmt.Errorf("unknown mutation class %q: want create, update or delete", op)
	}
	var path []any
	for _, p := range strings.Split(field, ".") {
		if p != "" {
			path = append(path, p)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, &refusal{op: op, left: max(times, 1),
		userError: map[string]any{"field": path, "code": code, "message": message}})
	return nil
}

// refusalPayload is the payload of a refused mutation: its objects null, its userErrors the
// one given, of the error type the payload declares.
func refusalPayload(mutation string, ue map[string]any) map[string]any {
	typ := strings.Trim(objectTypes["Mutation"][mutation], "!")
	errType := strings.Trim(objectTypes[typ]["userErrors"], "[]!")
	e := map[string]any{"__typename": errType, "field": ue["field"], "message": ue["message"]}
	if _, ok := objectTypes[errType]["code"]; ok {
		e["code"] = ue["code"]
	}
	return map[string]any{"__typename": typ, "userErrors": []any{e}}
}

// Throttled returns how many requests the server refused as THROTTLED.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// SetBucket sets the throttle bucket: its size, what is left, and the restore rate per second.
func (s *Server) SetBucket(size, available, restore float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size, s.bucket, s.restore, s.lastFill = size, available, restore, s.clock()
}

// Available returns the points left in the bucket now.
func (s *Server) Available() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fill()
	return s.bucket
}

// Advance moves the server's clock ahead, restoring the bucket as if d had passed; a test's
// client sleeps through it.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// Now returns the server's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock()
}

// clock is the wall clock moved by Advance.
func (s *Server) clock() time.Time { return time.Now().UTC().Add(s.offset) }

// sortedIDs returns a map's keys in order.
func sortedIDs[T any](m map[int64]T) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

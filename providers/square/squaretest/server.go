// Package squaretest is a local contract server of the Square REST API, for testing the
// square provider and the CLI without a Square account. It implements the endpoints the
// provider uses — catalog batch upsert, batch retrieve, retrieve, list and batch delete;
// customer groups and customers' memberships of them; webhook subscriptions — and
// CalculateOrder, which prices an order with the seller's pricing rules as Square applies
// them (see orders.go), and enforces the rules Square documents for them:
//
//   - Authorization: Bearer with the server's token, and a Square-Version header;
//   - errors as {"errors":[{category, code, detail, field}]} with Square's codes and statuses;
//   - idempotency_key, required on catalog upserts, of at most the length each endpoint's
//     OpenAPI definition gives (128 for catalog upserts, 45 for webhook subscriptions, none
//     for customer groups): the same key with the same body replays the first answer, with
//     another body it is 400 IDEMPOTENCY_KEY_REUSED;
//   - batch limits: 1,000 objects per batch and 10,000 per upsert, 1,000 IDs per retrieve,
//     200 per delete; each batch is applied all or nothing;
//   - optimistic concurrency: an update must carry the object's current version, else 409
//     VERSION_MISMATCH (stricter than Square, which also takes an update without version:
//     Musubi never writes blind, and the server makes sure);
//   - referenced IDs exist and have the right type (a pricing rule's discount and product set,
//     its customer groups), and the locations an object is present or absent at are the
//     seller's (Locations);
//   - an object without present_at_all_locations is present at all locations, as Square
//     defaults it, and is returned with the field set;
//   - one catalog write at a time per seller: a write while another holds the catalog is
//     429 RATE_LIMITED with Retry-After;
//   - webhook notification URLs are absolute HTTPS URLs, and the signature key is returned
//     only by the create;
//   - a group membership names a customer profile and a group that exist, else 404
//     NOT_FOUND; adding a member or removing a non-member changes nothing and succeeds.
//
// The server decodes requests with its own types, not the provider's, so a field the client
// misspells is an error here rather than an agreement between two copies of one mistake.
//
// Hooks let tests act as someone in Square's dashboard would (Tamper, Remove, AddCustomer,
// AddToGroup), read a group's members (SegmentGroup, GroupMembers), hold the catalog as
// another writer (HoldCatalog), and build signed notifications. Calls fail, lose their
// answers or wait through the controls of package contracttest, which the server embeds.
package squaretest

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Server is a running contract server. Exported fields may be changed before the first call.
type Server struct {
	*contracttest.Control
	// Admin changes the seller's objects behind the provider's back, as someone in Square's
	// dashboard would (see admin for the attributes it changes).
	*contracttest.Admin

	// URL is the base URL to configure the provider with (base_url).
	URL string
	// Token is the only access token the server accepts.
	Token string
	// Currency is the seller's currency; money in another currency is refused.
	Currency string
	// Locations are the IDs of the seller's locations; a catalog object present or absent
	// at another is refused. New gives the seller L1, L2 and L3.
	Locations []string

	hs  *httptest.Server
	mux *http.ServeMux

	mu          sync.Mutex
	catalog     map[string]*object
	groups      map[string]*group
	subs        map[string]*subscription
	members     map[string][]string // customer IDs by group ID
	customers   map[string]string   // emails by customer ID
	idem        map[string]idemEntry
	catalogHeld bool
	version     int64
	seq         int
}

type idemEntry struct {
	request  []byte
	response []byte
}

// New starts a contract server on a local port. Close it when done.
func New() *Server {
	s := &Server{Token: "EAAA" + randomHex(24), Currency: "JPY", Locations: []string{"L1", "L2", "L3"},
		catalog: map[string]*object{}, groups: map[string]*group{}, subs: map[string]*subscription{},
		members: map[string][]string{}, customers: map[string]string{}, idem: map[string]idemEntry{}}
	s.Admin = s.admin()
	s.Control = contracttest.New(contracttest.Vendor{Ops: Ops, RetryAfter: retryAfter,
		Fail: func(w http.ResponseWriter, status int, retryAfter time.Duration) {
			writeError(w, faultError(status, retryAfter))
		}})
	s.mux = http.NewServeMux()
	s.routes()
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

func (s *Server) routes() {
	s.handle("POST /v2/catalog/batch-upsert", s.batchUpsert)
	s.handle("POST /v2/catalog/batch-retrieve", s.batchRetrieve)
	s.handle("POST /v2/catalog/batch-delete", s.batchDelete)
	s.handle("GET /v2/catalog/object/{id}", s.retrieveObject)
	s.handle("DELETE /v2/catalog/object/{id}", s.deleteObject)
	s.handle("GET /v2/catalog/list", s.listCatalog)
	s.handle("POST /v2/customers/groups", s.createGroup)
	s.handle("GET /v2/customers/groups", s.listGroups)
	s.handle("GET /v2/customers/groups/{id}", s.getGroup)
	s.handle("PUT /v2/customers/groups/{id}", s.updateGroup)
	s.handle("DELETE /v2/customers/groups/{id}", s.deleteGroup)
	s.handle("PUT /v2/customers/{customer_id}/groups/{group_id}", s.addGroupToCustomer)
	s.handle("DELETE /v2/customers/{customer_id}/groups/{group_id}", s.removeGroupFromCustomer)
	s.handle("POST /v2/webhooks/subscriptions", s.createSubscription)
	s.handle("GET /v2/webhooks/subscriptions", s.listSubscriptions)
	s.handle("GET /v2/webhooks/subscriptions/{id}", s.getSubscription)
	s.handle("PUT /v2/webhooks/subscriptions/{id}", s.updateSubscription)
	s.handle("DELETE /v2/webhooks/subscriptions/{id}", s.deleteSubscription)
	s.handle("POST /v2/orders/calculate", s.calculateOrder)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "INVALID_REQUEST_ERROR", "NOT_FOUND", "", "%s %s is not an endpoint of this contract server", r.Method, r.URL.Path))
	})
}

// handle registers an endpoint whose handler returns the response body or an *Error.
func (s *Server) handle(pattern string, h func(r *http.Request) (any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		out, err := h(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if raw, ok := out.(json.RawMessage); ok {
			writeRaw(w, http.StatusOK, raw)
			return
		}
		b, _ := json.Marshal(out)
		writeRaw(w, http.StatusOK, b)
	})
}

var versionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ServeHTTP checks what every Square call needs, runs the call through its faults and serves
// it. Calls are served one at a time.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := contracttest.ReadBody(r)
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, "INVALID_REQUEST_ERROR", "BAD_REQUEST", "", "reading the body: %v", err))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, errorf(http.StatusUnauthorized, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "",
			"This request could not be authorized: send Authorization: Bearer with a valid access token."))
		return
	}
	switch v := r.Header.Get("Square-Version"); {
	case v == "":
		writeError(w, errorf(http.StatusBadRequest, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "Square-Version",
			"the Square-Version header is missing; a client must pin the API version it was written for"))
		return
	case !versionRE.MatchString(v):
		writeError(w, errorf(http.StatusBadRequest, "INVALID_REQUEST_ERROR", "INVALID_SQUARE_VERSION_FORMAT", "Square-Version",
			"Square-Version %q is not YYYY-MM-DD", v))
		return
	}
	if len(body) > 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeError(w, errorf(http.StatusBadRequest, "INVALID_REQUEST_ERROR", "INVALID_CONTENT_TYPE", "",
			"Content-Type must be application/json"))
		return
	}
	contracttest.Serve(s.Control, w, r, opOf(r.Method, r.URL.Path, body), func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.mux.ServeHTTP(w, r)
	})
}

// opOf classifies a call as the provider test suite names operations.
func opOf(method, path string, body []byte) string {
	switch {
	case method == http.MethodGet || strings.HasSuffix(path, "/batch-retrieve") || strings.HasSuffix(path, "/calculate"):
		return "read"
	case method == http.MethodDelete || strings.HasSuffix(path, "/batch-delete"):
		return "delete"
	case method == http.MethodPut:
		return "update"
	case strings.HasSuffix(path, "/batch-upsert"):
		var req struct {
			Batches []struct {
				Objects []struct {
					ID string `json:"id"`
				} `json:"objects"`
			} `json:"batches"`
		}
		_ = json.Unmarshal(body, &req)
		for _, b := range req.Batches {
			for _, o := range b.Objects {
				if !strings.HasPrefix(o.ID, "#") {
					return "update"
				}
			}
		}
	}
	return "create"
}

// Ops are the operations faults target.
var Ops = []string{"create", "read", "update", "delete"}

// retryAfter is the wait Square's 429s ask for, unless a fault names another.
const retryAfter = time.Second

// faultCodes are Square's category and code for the statuses of faults; another status
// takes those of its class (400 or 500).
var faultCodes = map[int][2]string{
	400: {"INVALID_REQUEST_ERROR", "BAD_REQUEST"},
	401: {"AUTHENTICATION_ERROR", "UNAUTHORIZED"},
	403: {"AUTHENTICATION_ERROR", "FORBIDDEN"},
	404: {"INVALID_REQUEST_ERROR", "NOT_FOUND"},
	409: {"INVALID_REQUEST_ERROR", "CONFLICT"},
	422: {"INVALID_REQUEST_ERROR", "UNPROCESSABLE_ENTITY"},
	429: {"RATE_LIMIT_ERROR", "RATE_LIMITED"},
	500: {"API_ERROR", "INTERNAL_SERVER_ERROR"},
	502: {"API_ERROR", "BAD_GATEWAY"},
	503: {"API_ERROR", "SERVICE_UNAVAILABLE"},
	504: {"API_ERROR", "GATEWAY_TIMEOUT"},
}

func faultError(status int, wait time.Duration) *Error {
	c, ok := faultCodes[status]
	if !ok {
		c = faultCodes[status/100*100]
	}
	e := errorf(status, c[0], c[1], "", "injected fault")
	if status == http.StatusTooManyRequests {
		e.RetryAfter = int(wait / time.Second)
	}
	return e
}

// HoldCatalog makes the server act as if another catalog write were running: catalog
// writes get 429 until release is called.
func (s *Server) HoldCatalog() (release func()) {
	s.mu.Lock()
	s.catalogHeld = true
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.catalogHeld = false
		s.mu.Unlock()
	}
}

// Error is a Square error response.
type Error struct {
	Status     int
	Category   string
	Code       string
	Detail     string
	Field      string
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

func errorf(status int, category, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Category: category, Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}

func invalid(code, field, format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, "INVALID_REQUEST_ERROR", code, field, format, args...)
}

func notFound(field, format string, args ...any) *Error {
	return errorf(http.StatusNotFound, "INVALID_REQUEST_ERROR", "NOT_FOUND", field, format, args...)
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*Error)
	if !ok {
		e = errorf(http.StatusInternalServerError, "API_ERROR", "INTERNAL_SERVER_ERROR", "", "%v", err)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	type detail struct {
		Category string `json:"category"`
		Code     string `json:"code"`
		Detail   string `json:"detail,omitempty"`
		Field    string `json:"field,omitempty"`
	}
	b, _ := json.Marshal(map[string][]detail{"errors": {{e.Category, e.Code, e.Detail, e.Field}}})
	writeRaw(w, e.Status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Square-Version", "2026-07-15")
	w.Header().Set("X-Request-Id", randomHex(8))
	w.WriteHeader(status)
	w.Write(b)
}

// decode reads a JSON body strictly: an unknown field is an error naming it.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("BAD_REQUEST", "", "the body is not the documented JSON: %v", err)
	}
	return nil
}

// idempotent runs a create under Square's idempotency rule: a repeated key with the same
// request replays the first answer; with another request it is refused.
func (s *Server) idempotent(endpoint, key string, req any, do func() (any, error)) (any, error) {
	if key == "" {
		return do()
	}
	canon, _ := json.Marshal(req)
	id := endpoint + "\x00" + key
	if e, ok := s.idem[id]; ok {
		if !bytes.Equal(e.request, canon) {
			return nil, invalid("IDEMPOTENCY_KEY_REUSED", "idempotency_key",
				"the idempotency key %q was already used for a different request", key)
		}
		return json.RawMessage(e.response), nil
	}
	out, err := do()
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(out)
	s.idem[id] = idemEntry{request: canon, response: b}
	return json.RawMessage(b), nil
}

// The longest idempotency_key each create takes, as Square's OpenAPI specification gives
// it; CreateCustomerGroup gives none.
const (
	maxCatalogKey      = 128 // BatchUpsertCatalogObjectsRequest.idempotency_key, 1 to 128
	maxSubscriptionKey = 45  // CreateWebhookSubscriptionRequest.idempotency_key
	noKeyLimit         = 0
)

// checkKey checks a request's idempotency_key against its endpoint's bounds; max 0 is none.
func checkKey(key string, required bool, max int) error {
	switch {
	case key == "" && required:
		return invalid("MISSING_REQUIRED_PARAMETER", "idempotency_key", "idempotency_key is required")
	case max > 0 && len(key) > max:
		return invalid("VALUE_TOO_LONG", "idempotency_key", "idempotency_key is %d characters; the limit is %d", len(key), max)
	}
	return nil
}

func (s *Server) now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// newID returns an ID in Square's style: 24 characters of A-Z and 2-7.
func newID() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base32.StdEncoding.EncodeToString(b)
}

// randomHex makes up tokens, secrets and IDs.
var randomHex = contracttest.RandomHex

func randomKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// page slices a sorted list for a cursor (an offset, opaque to clients) and a limit.
func page[T any](items []T, cursor string, limit int) ([]T, string, error) {
	start := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", invalid("INVALID_CURSOR", "cursor", "the cursor %q is not one this endpoint returned", cursor)
		}
		start = n
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

// limitParam reads a limit query parameter within [1, max].
func limitParam(r *http.Request, dflt, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return dflt, nil
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return 0, invalid("EXPECTED_INTEGER", "limit", "limit %q is not an integer", v)
	case n < 1:
		return 0, invalid("VALUE_TOO_LOW", "limit", "limit must be at least 1")
	case n > max:
		return 0, invalid("VALUE_TOO_HIGH", "limit", "limit must be at most %d", max)
	}
	return n, nil
}

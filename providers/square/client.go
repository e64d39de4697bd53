package square

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// APIVersion is the default Square-Version every request pins, so a change in the seller's
// application settings never changes what the API returns: a version Square has published
// (its SDKs of July 2026 pin it), whose requests the client's are checked against in
// testdata/openapi-subset.json.
const APIVersion = "2026-07-15"

var versionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// ValidAPIVersion reports whether v is a Square-Version: a date, YYYY-MM-DD.
func ValidAPIVersion(v string) bool {
	_, err := time.Parse(time.DateOnly, v)
	return err == nil && versionRE.MatchString(v)
}

// DefaultBaseURL is Square's production API; the sandbox is https://connect.squareupsandbox.com.
const DefaultBaseURL = "https://connect.squareup.com"

// Square's documented request limits (CatalogInfo limits).
const (
	MaxObjectsPerBatch  = 1000  // objects in one batch of a batch upsert
	MaxObjectsPerUpsert = 10000 // objects across the batches of one batch upsert
	MaxRetrieveIDs      = 1000  // IDs in one batch retrieve
	MaxDeleteIDs        = 200   // IDs in one batch delete
	maxGroupPage        = 50    // customer groups per list page
	maxSubscriptionPage = 100   // webhook subscriptions per list page
)

// The longest idempotency_key each create takes, as Square's OpenAPI specification gives it.
// CreateCustomerGroup documents none; the client keeps its keys to the catalog's length.
const (
	MaxCatalogKey      = 128 // BatchUpsertCatalogObjects
	MaxGroupKey        = 128 // CreateCustomerGroup
	MaxSubscriptionKey = 45  // CreateWebhookSubscription
)

// Retry policy: Square publishes no rate limits and asks clients to back off on 429.
const (
	DefaultMaxAttempts = 3
	firstBackoff       = 250 * time.Millisecond
	maxRetryWait       = 30 * time.Second
)

// Client is a small typed client of the Square REST API. Every call it makes is safe to
// repeat (reads, deletes, PUTs, and creates that carry an idempotency key), so it retries
// 429, 5xx and lost connections a bounded number of times.
type Client struct {
	BaseURL string
	Token   string
	// Version is the Square-Version every request carries (default APIVersion).
	Version string
	HTTP    *http.Client
	// MaxAttempts bounds the tries of one call (default DefaultMaxAttempts).
	MaxAttempts int
	// Sleep waits between tries; tests replace it so they never wait.
	Sleep func(ctx context.Context, d time.Duration) error

	// Square processes one catalog write per seller at a time and refuses the others with
	// 429, so this client never sends two at once.
	catalogWrites sync.Mutex
}

// NewClient returns a client of the API at baseURL (DefaultBaseURL when empty).
func NewClient(baseURL, token string) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token, Version: APIVersion,
		HTTP: &http.Client{Timeout: 60 * time.Second}, MaxAttempts: DefaultMaxAttempts, Sleep: providers.Sleep}
}

// Error is a failed Square call: the classified error and Square's own errors[].
type Error struct {
	API     *providers.APIError
	Details []ErrorDetail
}

func (e *Error) Error() string { return e.API.Error() }

// Unwrap exposes the classification to providers.CodeOf and providers.FromError.
func (e *Error) Unwrap() error { return e.API }

// Field is the request field the first error names, or "".
func (e *Error) Field() string {
	for _, d := range e.Details {
		if d.Field != "" {
			return d.Field
		}
	}
	return ""
}

// HasCode reports whether Square's errors[] carries code.
func (e *Error) HasCode(code string) bool {
	for _, d := range e.Details {
		if d.Code == code {
			return true
		}
	}
	return false
}

// call sends one request and decodes the JSON response into out, retrying what may succeed
// later.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u, body, err := providers.EncodeCall(method, c.BaseURL, path, query, in)
	if err != nil {
		return err
	}
	r := providers.Retry{Attempts: c.MaxAttempts, Backoff: firstBackoff, Jitter: firstBackoff / 2, MaxWait: maxRetryWait, Sleep: c.Sleep}
	return r.Do(ctx, func(int) error { return c.once(ctx, method, u, body, out) }, nil)
}

func (c *Client) once(ctx context.Context, method, u string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("building the %s request: %w", method, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Square-Version", c.Version)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		// The request may or may not have reached Square: unavailable, so the caller
		// looks the object up (or replays the idempotency key) instead of giving up.
		return &Error{API: &providers.APIError{Code: providers.ErrUnavailable,
			Message: fmt.Sprintf("%s %s: %v", method, pathOf(u), providers.TransportCause(err))}}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return &Error{API: &providers.APIError{Code: providers.ErrUnavailable, Status: resp.StatusCode,
			Message: fmt.Sprintf("%s %s: reading the response: %v", method, pathOf(u), err), RequestID: requestID(resp.Header)}}
	}
	if resp.StatusCode >= 300 {
		return decodeError(method, pathOf(u), resp.StatusCode, resp.Header, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &Error{API: &providers.APIError{Code: providers.ErrUnavailable, Status: resp.StatusCode,
			Message: fmt.Sprintf("%s %s: the response is not the documented JSON: %v", method, pathOf(u), err), RequestID: requestID(resp.Header)}}
	}
	return nil
}

func pathOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Path
	}
	return u
}

func requestID(h http.Header) string {
	return h.Get("X-Request-Id")
}

// decodeError classifies a failed response by its status and Square's errors[].
func decodeError(method, path string, status int, h http.Header, data []byte) *Error {
	var eb errorBody
	_ = json.Unmarshal(data, &eb) // a proxy's HTML error page still classifies by status
	e := &Error{Details: eb.Errors, API: &providers.APIError{Status: status, RequestID: requestID(h)}}
	e.API.Code = classify(status, eb.Errors)
	var msgs []string
	for _, d := range eb.Errors {
		m := d.Code
		if d.Detail != "" {
			m += ": " + d.Detail
		}
		if d.Field != "" {
			m += " (field " + d.Field + ")"
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, http.StatusText(status))
	}
	e.API.Message = fmt.Sprintf("%s %s: %s", method, path, strings.Join(msgs, "; "))
	if e.API.Code == providers.ErrRateLimited {
		e.API.RetryAfter = providers.ParseRetryAfter(h.Get("Retry-After"), time.Now())
	}
	return e
}

func classify(status int, errs []ErrorDetail) providers.ErrorCode {
	has := func(want ...string) bool {
		for _, d := range errs {
			for _, w := range want {
				if d.Code == w || d.Category == w {
					return true
				}
			}
		}
		return false
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || has("AUTHENTICATION_ERROR"):
		return providers.ErrAuth
	case status == http.StatusTooManyRequests || has("RATE_LIMIT_ERROR", "RATE_LIMITED"):
		return providers.ErrRateLimited
	case status >= 500:
		return providers.ErrUnavailable
	case status == http.StatusNotFound || has("NOT_FOUND"):
		return providers.ErrNotFound
	case status == http.StatusConflict || has("VERSION_MISMATCH", "CONFLICT", "IDEMPOTENCY_KEY_REUSED"):
		return providers.ErrConflict
	}
	return providers.ErrInvalid
}

// invalidRequest is an error the client raises before sending: Square would refuse it.
func invalidRequest(format string, args ...any) error {
	return &Error{API: &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf(format, args...)}}
}

// IdempotencyKey turns a caller's key into one of 1 to max characters, as a create takes:
// a longer key becomes a hash of it (39 characters), the same on every retry.
func IdempotencyKey(key string, max int) string {
	if key != "" && len(key) <= max {
		return key
	}
	return "musubi-" + hashHex(key, 32)
}

// BatchUpsert creates and updates catalog objects; each batch is stored all or nothing.
// Temporary IDs start with "#"; existing objects must carry the version they were read at.
func (c *Client) BatchUpsert(ctx context.Context, key string, batches []CatalogObjectBatch) (*BatchUpsertResponse, error) {
	if len(batches) == 0 {
		return nil, invalidRequest("a batch upsert needs at least one batch")
	}
	total := 0
	for i, b := range batches {
		if n := len(b.Objects); n == 0 || n > MaxObjectsPerBatch {
			return nil, invalidRequest("batch %d holds %d objects; Square takes 1 to %d per batch", i, n, MaxObjectsPerBatch)
		}
		total += len(b.Objects)
	}
	if total > MaxObjectsPerUpsert {
		return nil, invalidRequest("the upsert holds %d objects; Square takes at most %d per request", total, MaxObjectsPerUpsert)
	}
	c.catalogWrites.Lock()
	defer c.catalogWrites.Unlock()
	var out BatchUpsertResponse
	err := c.call(ctx, http.MethodPost, "/v2/catalog/batch-upsert", nil,
		batchUpsertRequest{IdempotencyKey: IdempotencyKey(key, MaxCatalogKey), Batches: batches}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// BatchRetrieve reads catalog objects by ID, in calls of at most MaxRetrieveIDs, with the
// objects they refer to. Missing IDs are left out of the answer.
func (c *Client) BatchRetrieve(ctx context.Context, ids []string, related bool) (*RetrieveResponse, error) {
	out := &RetrieveResponse{}
	for chunk := range chunks(ids, MaxRetrieveIDs) {
		var r RetrieveResponse
		if err := c.call(ctx, http.MethodPost, "/v2/catalog/batch-retrieve", nil,
			batchRetrieveRequest{ObjectIDs: chunk, IncludeRelatedObjects: related}, &r); err != nil {
			return nil, err
		}
		out.Objects = append(out.Objects, r.Objects...)
		out.RelatedObjects = append(out.RelatedObjects, r.RelatedObjects...)
	}
	return out, nil
}

// RetrieveObject reads one catalog object with the objects it refers to; a missing object
// is (nil, nil).
func (c *Client) RetrieveObject(ctx context.Context, id string) (*RetrieveResponse, error) {
	var r retrieveObjectResponse
	err := c.call(ctx, http.MethodGet, "/v2/catalog/object/"+url.PathEscape(id),
		url.Values{"include_related_objects": {"true"}}, nil, &r)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := &RetrieveResponse{RelatedObjects: r.RelatedObjects}
	if r.Object != nil {
		out.Objects = []CatalogObject{*r.Object}
	}
	return out, nil
}

// BatchDelete deletes catalog objects, in calls of at most MaxDeleteIDs. IDs already gone
// are not an error; Square answers with the IDs it deleted.
func (c *Client) BatchDelete(ctx context.Context, ids []string) ([]string, error) {
	c.catalogWrites.Lock()
	defer c.catalogWrites.Unlock()
	var deleted []string
	for chunk := range chunks(ids, MaxDeleteIDs) {
		var r batchDeleteResponse
		if err := c.call(ctx, http.MethodPost, "/v2/catalog/batch-delete", nil, batchDeleteRequest{ObjectIDs: chunk}, &r); err != nil {
			return deleted, err
		}
		deleted = append(deleted, r.DeletedObjectIDs...)
	}
	return deleted, nil
}

// ListCatalog calls fn with every catalog object of the types, page by page, until fn
// returns false.
func (c *Client) ListCatalog(ctx context.Context, types []string, fn func(CatalogObject) bool) error {
	cursor := ""
	for {
		q := url.Values{"types": {strings.Join(types, ",")}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var r listCatalogResponse
		if err := c.call(ctx, http.MethodGet, "/v2/catalog/list", q, nil, &r); err != nil {
			return err
		}
		for _, o := range r.Objects {
			if !fn(o) {
				return nil
			}
		}
		if r.Cursor == "" {
			return nil
		}
		cursor = r.Cursor
	}
}

// CreateCustomerGroup creates a customer group; a repeated idempotency key returns the
// group the first call made.
func (c *Client) CreateCustomerGroup(ctx context.Context, key, name string) (*CustomerGroup, error) {
	var r groupResponse
	if err := c.call(ctx, http.MethodPost, "/v2/customers/groups", nil,
		createGroupRequest{IdempotencyKey: IdempotencyKey(key, MaxGroupKey), Group: CustomerGroup{Name: name}}, &r); err != nil {
		return nil, err
	}
	return mustHave(r.Group, "group")
}

// CustomerGroup reads a customer group; a missing group is (nil, nil).
func (c *Client) CustomerGroup(ctx context.Context, id string) (*CustomerGroup, error) {
	var r groupResponse
	err := c.call(ctx, http.MethodGet, "/v2/customers/groups/"+url.PathEscape(id), nil, nil, &r)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return mustHave(r.Group, "group")
}

// UpdateCustomerGroup renames a customer group.
func (c *Client) UpdateCustomerGroup(ctx context.Context, id, name string) (*CustomerGroup, error) {
	var r groupResponse
	if err := c.call(ctx, http.MethodPut, "/v2/customers/groups/"+url.PathEscape(id), nil,
		groupRequest{Group: CustomerGroup{Name: name}}, &r); err != nil {
		return nil, err
	}
	return mustHave(r.Group, "group")
}

// DeleteCustomerGroup deletes a customer group; one already gone is not an error.
func (c *Client) DeleteCustomerGroup(ctx context.Context, id string) error {
	err := c.call(ctx, http.MethodDelete, "/v2/customers/groups/"+url.PathEscape(id), nil, nil, nil)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil
	}
	return err
}

// ListCustomerGroups calls fn with every customer group until fn returns false.
func (c *Client) ListCustomerGroups(ctx context.Context, fn func(CustomerGroup) bool) error {
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(maxGroupPage)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var r listGroupsResponse
		if err := c.call(ctx, http.MethodGet, "/v2/customers/groups", q, nil, &r); err != nil {
			return err
		}
		for _, g := range r.Groups {
			if !fn(g) {
				return nil
			}
		}
		if r.Cursor == "" {
			return nil
		}
		cursor = r.Cursor
	}
}

// membershipPath is the path of a customer's membership of a group.
func membershipPath(customerID, groupID string) string {
	return "/v2/customers/" + url.PathEscape(customerID) + "/groups/" + url.PathEscape(groupID)
}

// AddGroupToCustomer puts a customer into a customer group; a member stays one.
func (c *Client) AddGroupToCustomer(ctx context.Context, customerID, groupID string) error {
	return c.call(ctx, http.MethodPut, membershipPath(customerID, groupID), nil, nil, nil)
}

// RemoveGroupFromCustomer takes a customer out of a customer group.
func (c *Client) RemoveGroupFromCustomer(ctx context.Context, customerID, groupID string) error {
	return c.call(ctx, http.MethodDelete, membershipPath(customerID, groupID), nil, nil, nil)
}

// CreateWebhookSubscription subscribes a notification URL to event types. The response
// carries the signature key; callers must not keep it anywhere Musubi stores things.
func (c *Client) CreateWebhookSubscription(ctx context.Context, key string, s WebhookSubscription) (*WebhookSubscription, error) {
	// Notifications come in the version the client reads.
	s.APIVersion = c.Version
	var r subscriptionResponse
	if err := c.call(ctx, http.MethodPost, "/v2/webhooks/subscriptions", nil,
		createSubscriptionRequest{IdempotencyKey: IdempotencyKey(key, MaxSubscriptionKey), Subscription: s}, &r); err != nil {
		return nil, err
	}
	return mustHave(r.Subscription, "subscription")
}

// WebhookSubscription reads a subscription; a missing one is (nil, nil).
func (c *Client) WebhookSubscription(ctx context.Context, id string) (*WebhookSubscription, error) {
	var r subscriptionResponse
	err := c.call(ctx, http.MethodGet, "/v2/webhooks/subscriptions/"+url.PathEscape(id), nil, nil, &r)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return mustHave(r.Subscription, "subscription")
}

// UpdateWebhookSubscription changes the fields set in s.
func (c *Client) UpdateWebhookSubscription(ctx context.Context, id string, s WebhookSubscription) (*WebhookSubscription, error) {
	var r subscriptionResponse
	if err := c.call(ctx, http.MethodPut, "/v2/webhooks/subscriptions/"+url.PathEscape(id), nil,
		subscriptionRequest{Subscription: s}, &r); err != nil {
		return nil, err
	}
	return mustHave(r.Subscription, "subscription")
}

// DeleteWebhookSubscription deletes a subscription; one already gone is not an error.
func (c *Client) DeleteWebhookSubscription(ctx context.Context, id string) error {
	err := c.call(ctx, http.MethodDelete, "/v2/webhooks/subscriptions/"+url.PathEscape(id), nil, nil, nil)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil
	}
	return err
}

// ListWebhookSubscriptions calls fn with every subscription, disabled ones included, until fn
// returns false.
func (c *Client) ListWebhookSubscriptions(ctx context.Context, fn func(WebhookSubscription) bool) error {
	cursor := ""
	for {
		q := url.Values{"include_disabled": {"true"}, "limit": {strconv.Itoa(maxSubscriptionPage)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var r listSubscriptionsResponse
		if err := c.call(ctx, http.MethodGet, "/v2/webhooks/subscriptions", q, nil, &r); err != nil {
			return err
		}
		for _, s := range r.Subscriptions {
			if !fn(s) {
				return nil
			}
		}
		if r.Cursor == "" {
			return nil
		}
		cursor = r.Cursor
	}
}

func mustHave[T any](v *T, what string) (*T, error) {
	if v == nil {
		return nil, &Error{API: &providers.APIError{Code: providers.ErrUnavailable,
			Message: "the response has no " + what}}
	}
	return v, nil
}

// chunks yields ids in slices of at most n.
func chunks(ids []string, n int) func(yield func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(ids) > 0 {
			k := min(n, len(ids))
			if !yield(ids[:k]) {
				return
			}
			ids = ids[k:]
		}
	}
}

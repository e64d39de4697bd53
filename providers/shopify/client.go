package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// DefaultAPIVersion is the Admin API version the client's documents are checked against
// (testdata/admin-2026-07.graphql, cut from Shopify's published schema). Shopify releases a
// version each quarter and supports it for twelve months; a request for a version past that
// is served with the oldest supported one instead.
const DefaultAPIVersion = "2026-07"

// versionHeader is the response header naming the version Shopify served the request with.
const versionHeader = "X-Shopify-API-Version"

var apiVersionRE = regexp.MustCompile(`^20\d\d-(01|04|07|10)$`)

// ValidAPIVersion reports whether v names a stable Admin API version: YYYY-MM, with MM the
// month of a quarterly release (01, 04, 07 or 10).
func ValidAPIVersion(v string) bool { return apiVersionRE.MatchString(v) }

// Retry policy. Shopify throttles by query cost, not by request count: the client keeps the
// bucket's last throttleStatus, waits before a query the bucket cannot pay for, and waits
// out a THROTTLED answer. Server failures are retried for queries and for mutations that can
// be repeated; a create is never repeated after a 5xx, since Shopify may have made the
// object: the provider looks it up by its marker instead.
const (
	DefaultMaxAttempts = 3
	// DefaultMaxWait is the longest the client waits by itself for a throttle or a
	// Retry-After; a longer wait is returned as a rate_limited error saying how long.
	DefaultMaxWait = 30 * time.Second
	firstBackoff   = 250 * time.Millisecond
	// PollInterval is the first wait between polls of an asynchronous bulk operation; it
	// doubles up to maxPollInterval. Shopify runs a bulk addition of 250 codes in about a
	// second.
	PollInterval    = 250 * time.Millisecond
	maxPollInterval = 2 * time.Second
	maxPolls        = 150
)

// Client calls one shop's Admin GraphQL API.
type Client struct {
	// Endpoint is the GraphQL URL: https://SHOP/admin/api/VERSION/graphql.json.
	Endpoint string
	// Version is the API version in Endpoint; an answer served with another is refused.
	Version     string
	HTTP        *http.Client
	MaxAttempts int
	MaxWait     time.Duration
	// Sleep waits between tries and polls; Now reads the clock the throttle is projected on.
	// Tests replace both so they never wait.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time

	token string

	mu       sync.Mutex
	throttle throttleStatus
	seenAt   time.Time
}

type throttleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"`
}

// NewClient returns a client of the GraphQL endpoint under base ("https://SHOP") at
// DefaultAPIVersion.
func NewClient(base, token string) *Client { return NewVersionClient(base, token, DefaultAPIVersion) }

// NewVersionClient returns a client of the endpoint of an API version under base.
func NewVersionClient(base, token, version string) *Client {
	return &Client{
		Endpoint: strings.TrimSuffix(base, "/") + "/admin/api/" + version + "/graphql.json", Version: version,
		HTTP: &http.Client{Timeout: 60 * time.Second}, MaxAttempts: DefaultMaxAttempts, MaxWait: DefaultMaxWait,
		Sleep: providers.Sleep, Now: time.Now, token: token,
	}
}

// operation is one GraphQL document the provider sends.
type operation struct {
	name string
	doc  string
	// creates marks mutations that make objects: never repeated after a server failure.
	creates bool
	// cost is what the document asks of the bucket, or a fair estimate of it.
	cost int
}

// Error is a failed call: the classified error and, for a refused value, the input field
// Shopify named.
type Error struct {
	API   *providers.APIError
	Field []string
	// attr is the canonical attribute the provider found at fault, when it raised the error.
	attr string
}

func (e *Error) Error() string { return e.API.Error() }
func (e *Error) Unwrap() error { return e.API }

func apiError(code providers.ErrorCode, status int, requestID, format string, args ...any) *Error {
	return &Error{API: &providers.APIError{Code: code, Status: status, RequestID: requestID, Message: fmt.Sprintf(format, args...)}}
}

// response is a GraphQL answer. Data holds the caller's destination, so the body is decoded
// in one pass: refresh reads hundreds of discounts an answer.
type response struct {
	Data       any             `json:"data"`
	Errors     json.RawMessage `json:"errors"`
	Extensions struct {
		Cost *struct {
			RequestedQueryCost float64        `json:"requestedQueryCost"`
			ActualQueryCost    *float64       `json:"actualQueryCost"`
			ThrottleStatus     throttleStatus `json:"throttleStatus"`
		} `json:"cost"`
	} `json:"extensions"`
}

type graphQLError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// do sends an operation and decodes its data into out, retrying what may succeed later.
func (c *Client) do(ctx context.Context, op operation, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": op.doc, "variables": vars, "operationName": op.name})
	if err != nil {
		return fmt.Errorf("%s: encoding the request: %w", op.name, err)
	}
	r := providers.Retry{Attempts: c.MaxAttempts, Backoff: firstBackoff, Jitter: firstBackoff / 2, MaxWait: c.maxWait(), Sleep: c.Sleep}
	return r.Do(ctx, func(int) error {
		if err := c.waitForBucket(ctx, op); err != nil {
			return err
		}
		return c.send(ctx, op, body, out)
	}, func(e *providers.APIError) bool { return retryable(op, e) })
}

func retryable(op operation, e *providers.APIError) bool {
	switch e.Code {
	case providers.ErrRateLimited:
		return true // a throttled request did nothing
	case providers.ErrUnavailable:
		return !op.creates
	}
	return false
}

func (c *Client) maxWait() time.Duration {
	if c.MaxWait > 0 {
		return c.MaxWait
	}
	return DefaultMaxWait
}

// waitForBucket waits until the bucket, as last reported and restored since, can pay for
// the operation.
func (c *Client) waitForBucket(ctx context.Context, op operation) error {
	c.mu.Lock()
	t, at := c.throttle, c.seenAt
	c.mu.Unlock()
	if t.RestoreRate <= 0 || at.IsZero() {
		return nil
	}
	avail := math.Min(t.MaximumAvailable, t.CurrentlyAvailable+c.Now().Sub(at).Seconds()*t.RestoreRate)
	need := float64(op.cost) - avail
	if need <= 0 {
		return nil
	}
	wait := time.Duration(math.Ceil(need/t.RestoreRate*1000)) * time.Millisecond
	if wait > c.maxWait() {
		return nil // let Shopify decide; a THROTTLED answer says how long
	}
	return c.Sleep(ctx, wait)
}

func (c *Client) send(ctx context.Context, op operation, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", c.token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return apiError(providers.ErrUnavailable, 0, "", "%s: %v", op.name, ctx.Err())
		}
		return apiError(providers.ErrUnavailable, 0, "", "%s: %v", op.name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	rid := resp.Header.Get("X-Request-Id")
	if err != nil {
		return apiError(providers.ErrUnavailable, resp.StatusCode, rid, "%s: reading the response: %v", op.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return httpError(op, resp, raw, rid, c.Version)
	}
	// Shopify answers a version it no longer supports with the oldest one it does, whose
	// schema the documents were not checked against.
	if served := resp.Header.Get(versionHeader); served != "" && served != c.Version {
		return apiError(providers.ErrInvalid, resp.StatusCode, rid,
			"%s: Shopify served API version %s instead of %s, which it no longer supports; set api_version to a supported version",
			op.name, served, c.Version)
	}
	r := response{Data: out}
	if out == nil {
		r.Data = new(json.RawMessage)
	}
	var dataErr error
	if err := json.Unmarshal(raw, &r); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return apiError(providers.ErrUnavailable, resp.StatusCode, rid, "%s: the response is not GraphQL JSON: %v", op.name, err)
		}
		dataErr = err // the rest of the body was still read: errors come first
	}
	var requested float64
	if cost := r.Extensions.Cost; cost != nil {
		requested = cost.RequestedQueryCost
		c.mu.Lock()
		c.throttle, c.seenAt = cost.ThrottleStatus, c.Now()
		c.mu.Unlock()
	}
	if len(r.Errors) > 0 && string(r.Errors) != "null" {
		return c.graphQLErrors(op, r.Errors, requested, rid)
	}
	if dataErr != nil {
		return apiError(providers.ErrUnavailable, resp.StatusCode, rid, "%s: unexpected data: %v", op.name, dataErr)
	}
	return nil
}

// httpError classifies a non-200 answer. Shopify's bodies hold "errors" as a string, a list
// of {message} or an object.
func httpError(op operation, resp *http.Response, raw []byte, rid, version string) error {
	msg := errorText(raw)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	var code providers.ErrorCode
	switch s := resp.StatusCode; {
	case s == 401 || s == 403:
		code = providers.ErrAuth
	case s == 404:
		code = providers.ErrNotFound
		msg += " (check the shop and that API version " + version + " is served)"
	case s == 409:
		code = providers.ErrConflict
	case s == 429:
		code = providers.ErrRateLimited
	case s == 402 || s == 423:
		code = providers.ErrQuota // the shop is frozen or locked: waiting will not help
	case s >= 500:
		code = providers.ErrUnavailable
	default:
		code = providers.ErrInvalid
	}
	e := apiError(code, resp.StatusCode, rid, "%s: %s", op.name, msg)
	if code == providers.ErrRateLimited {
		e.API.RetryAfter = providers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

func errorText(raw []byte) string {
	var body struct {
		Errors json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(raw, &body) != nil || len(body.Errors) == 0 {
		return strings.TrimSpace(string(bytes.ToValidUTF8(raw[:min(len(raw), 200)], nil)))
	}
	var s string
	if json.Unmarshal(body.Errors, &s) == nil {
		return s
	}
	var list []graphQLError
	if json.Unmarshal(body.Errors, &list) == nil {
		msgs := make([]string, len(list))
		for i, e := range list {
			msgs[i] = e.Message
		}
		return strings.Join(msgs, "; ")
	}
	return string(body.Errors)
}

// graphQLErrors classifies top-level errors of a 200 answer: THROTTLED waits for the bucket
// to hold the query's cost, the others say the request itself was wrong.
func (c *Client) graphQLErrors(op operation, raw json.RawMessage, requested float64, rid string) error {
	var list []graphQLError
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return apiError(providers.ErrInvalid, http.StatusOK, rid, "%s: %s", op.name, string(raw))
	}
	first := list[0]
	msgs := make([]string, len(list))
	for i, e := range list {
		msgs[i] = e.Message
		if e.Extensions.Code != "" {
			msgs[i] += " (" + e.Extensions.Code + ")"
		}
	}
	msg := strings.Join(msgs, "; ")
	switch first.Extensions.Code {
	case "THROTTLED":
		e := apiError(providers.ErrRateLimited, http.StatusOK, rid, "%s: %s", op.name, msg)
		e.API.RetryAfter = c.refillTime(math.Max(requested, float64(op.cost)))
		return e
	case "ACCESS_DENIED":
		return apiError(providers.ErrAuth, http.StatusOK, rid, "%s: %s", op.name, msg)
	case "INTERNAL_SERVER_ERROR":
		return apiError(providers.ErrUnavailable, http.StatusOK, rid, "%s: %s", op.name, msg)
	}
	return apiError(providers.ErrInvalid, http.StatusOK, rid, "%s: %s", op.name, msg)
}

// RestoreRate is the points a second the shop's bucket restores, as Shopify last reported
// it; 0 before the first answer.
func (c *Client) RestoreRate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.throttle.RestoreRate
}

// refillTime is how long the bucket needs to hold cost points.
func (c *Client) refillTime(cost float64) time.Duration {
	c.mu.Lock()
	t := c.throttle
	c.mu.Unlock()
	if t.RestoreRate <= 0 {
		return time.Second
	}
	need := math.Max(cost-t.CurrentlyAvailable, 0)
	return time.Duration(math.Ceil(need/t.RestoreRate*1000))*time.Millisecond + 100*time.Millisecond
}

// userError is an entry of a payload's userErrors.
type userError struct {
	Field   []string `json:"field"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
}

// userErrors turns a payload's userErrors into an error: refused values are invalid, a
// taken code or name is a conflict, a missing object is not found.
func userErrors(opName string, errs []userError) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		m := e.Message
		if e.Code != "" {
			m = e.Code + ": " + m
		}
		if len(e.Field) > 0 {
			m = strings.Join(e.Field, ".") + ": " + m
		}
		msgs[i] = m
	}
	first := errs[0]
	code := providers.ErrInvalid
	lower := strings.ToLower(first.Message)
	switch {
	case first.Code == "TAKEN" || strings.Contains(lower, "already been taken"):
		code = providers.ErrConflict
	case strings.Contains(lower, "does not exist"):
		code = providers.ErrNotFound
	}
	e := apiError(code, 0, "", "%s: %s", opName, strings.Join(msgs, "; "))
	e.Field = first.Field
	return e
}

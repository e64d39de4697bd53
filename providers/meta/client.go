package meta

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// retries is how calls are repeated after a temporary failure: three tries, a wait of up to
// 10 s honoured in-process. Meta says how long a rate limit lasts in minutes, so a throttled
// upload goes back to its caller, which comes back later with the same idempotency key and
// continues the same session.
var retries = providers.Retry{Attempts: 3, Backoff: 250 * time.Millisecond, MaxWait: 10 * time.Second, Jitter: 100 * time.Millisecond}

// maxResponse bounds what is read of an answer: a page of audiences is the largest.
const maxResponse = 4 << 20

// request is one Graph API call.
type request struct {
	what   string // names the call in errors: "create the custom audience"
	method string
	path   string // under the version: "/act_1/customaudiences", "/2385…"
	query  url.Values
	form   url.Values // the body, form-encoded as Meta's SDKs send it; nil for none
	body   []byte     // a body the caller form-encoded itself, instead of form
	// once marks a call that could act twice, an audience create: after a failure of unknown
	// outcome it is not repeated (Meta answers a rate limit before acting). Reads, renames,
	// deletes and member uploads, which carry a session, cannot act twice.
	once bool
}

// call makes a Graph API call, retrying what is safe to retry, and decodes the answer into out.
func (p *Provider) call(ctx context.Context, r request, out any) error {
	if p.cfg.token == "" {
		return fmt.Errorf("%s: the provider is not configured", r.what)
	}
	if r.form != nil {
		r.body = []byte(r.form.Encode())
	}
	err := p.retry.Do(ctx, func(int) error { return p.exchange(ctx, r, out) }, func(ae *providers.APIError) bool {
		return !r.once || ae.Code == providers.ErrRateLimited
	})
	if err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	return nil
}

// exchange sends one HTTP request. The access token goes in the Authorization header, never
// in a URL, so no error can quote it.
func (p *Provider) exchange(ctx context.Context, r request, out any) error {
	u := p.cfg.apiURL + "/" + p.cfg.version + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return &providers.APIError{Code: providers.ErrInvalid, Message: "cannot make a request to " + r.path}
	}
	req.Header.Set("Authorization", "Bearer "+p.cfg.token)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := p.http.Do(req)
	if err != nil {
		return providers.Unanswered(ctx, r.path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return providers.Unanswered(ctx, r.path, err)
	}
	if res.StatusCode/100 != 2 {
		return classify(res.StatusCode, res.Header, raw, p.now())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &providers.APIError{Code: providers.ErrUnavailable, Status: res.StatusCode,
			Message: fmt.Sprintf("reading the answer of %s: %v", r.path, err)}
	}
	return nil
}

// graphError is the Graph API's error object.
type graphError struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode"`
	UserTitle   string `json:"error_user_title"`
	UserMessage string `json:"error_user_msg"`
	IsTransient bool   `json:"is_transient"`
	FBTraceID   string `json:"fbtrace_id"`
}

// The Graph API error codes the provider tells apart.
const (
	codeUnknown         = 1     // an unknown error: try again
	codeServiceDown     = 2     // the service is temporarily unavailable
	codeAppLimit        = 4     // the app's call count is used up
	codePermission      = 10    // the app lacks a permission
	codeUserLimit       = 17    // the user's call count is used up
	codePageLimit       = 32    // the page's call count is used up
	codeInvalidParam    = 100   // an invalid parameter; subcode 33 is an object that does not exist
	codeSessionInvalid  = 102   // the session key is invalid
	codeTokenRequired   = 104   // no access token
	codeAccessToken     = 190   // the access token is invalid or expired
	codeDuplicate       = 506   // a duplicate of a recent request
	codeCustomRateLimit = 613   // calls to this API exceed its rate limit
	codeNoSuchAlias     = 803   // some aliases requested do not exist
	codeBUCFirst        = 80000 // Business Use Case rate limits, one code per use case…
	codeCustomAudience  = 80003 // …80003 that of custom audiences
	codeBUCLast         = 80014
	subcodeNoObject     = 33
)

// classify maps a failed answer to Musubi's error classes. Meta answers most errors with HTTP
// 400 and says what went wrong in the error object's code, so the code decides; the status
// decides only for a code the provider does not know, or an answer from a proxy on the way.
func classify(status int, h http.Header, raw []byte, now time.Time) *providers.APIError {
	var body struct {
		Error *graphError `json:"error"`
	}
	var ge graphError
	graph := json.Unmarshal(raw, &body) == nil && body.Error != nil
	if graph {
		ge = *body.Error
	}
	ae := &providers.APIError{Status: status, Message: ge.describe(graph, status, raw), RequestID: cmp.Or(ge.FBTraceID, h.Get("X-Fb-Trace-Id"))}
	switch c := ge.Code; {
	case !graph:
		ae.Code = providers.StatusCode(status)
	case c == codeAccessToken || c == codeTokenRequired || c == codeSessionInvalid || c == codePermission || (c >= 200 && c <= 299):
		ae.Code = providers.ErrAuth
	case c == codeInvalidParam && ge.Subcode == subcodeNoObject, c == codeNoSuchAlias:
		ae.Code = providers.ErrNotFound
	case c == codeInvalidParam:
		ae.Code = providers.ErrInvalid
	case c == codeAppLimit || c == codeUserLimit || c == codePageLimit || c == codeCustomRateLimit || (c >= codeBUCFirst && c <= codeBUCLast):
		ae.Code = providers.ErrRateLimited
	case c == codeUnknown || c == codeServiceDown || ge.IsTransient:
		ae.Code = providers.ErrUnavailable
	case c == codeDuplicate:
		ae.Code = providers.ErrConflict
	default:
		ae.Code = providers.StatusCode(status)
	}
	if ae.Code == providers.ErrRateLimited {
		ae.RetryAfter = cmp.Or(regainAccess(h), providers.ParseRetryAfter(h.Get("Retry-After"), now))
	}
	return ae
}

// describe words an error for people: Meta's code and message, and its message for users
// when it has one, which says what to do.
func (ge graphError) describe(graph bool, status int, raw []byte) string {
	if !graph {
		return strings.TrimSpace(http.StatusText(status) + " " + truncate(strings.TrimSpace(string(raw)), 200))
	}
	msg := fmt.Sprintf("code %d", ge.Code)
	if ge.Subcode != 0 {
		msg += fmt.Sprintf(" (subcode %d)", ge.Subcode)
	}
	if ge.Message != "" {
		msg += ": " + ge.Message
	}
	if ge.UserMessage != "" && ge.UserMessage != ge.Message {
		msg += " — " + ge.UserMessage
	}
	return msg
}

// regainAccess reads how long a throttled business must wait from X-Business-Use-Case-Usage:
// a JSON object of use cases by business object ID, each with estimated_time_to_regain_access
// in minutes. The longest wait of any use case counts.
func regainAccess(h http.Header) time.Duration {
	v := h.Get("X-Business-Use-Case-Usage")
	if v == "" {
		return 0
	}
	var usage map[string][]struct {
		Type   string  `json:"type"`
		Regain float64 `json:"estimated_time_to_regain_access"`
	}
	if json.Unmarshal([]byte(v), &usage) != nil {
		return 0
	}
	var longest float64
	for _, cases := range usage {
		for _, c := range cases {
			longest = max(longest, c.Regain)
		}
	}
	if longest <= 0 {
		return 0
	}
	return min(time.Duration(longest*float64(time.Minute)), providers.MaxRetryAfter)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// apiError returns the classified error inside err, if any.
func apiError(err error) *providers.APIError {
	var ae *providers.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// isNotFound reports whether err says the object does not exist.
func isNotFound(err error) bool {
	ae := apiError(err)
	return ae != nil && ae.Code == providers.ErrNotFound
}

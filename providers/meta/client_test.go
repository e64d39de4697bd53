package meta

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// Meta's error objects, as the Graph API answers them, and the class each is.
func TestClassify(t *testing.T) {
	t.Parallel()
	usage := `{"1234567890":[{"type":"custom_audience","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":7},` +
		`{"type":"ads_management","call_count":40,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":0}]}`
	for _, c := range []struct {
		name   string
		status int
		body   string
		header []string
		code   providers.ErrorCode
		wait   time.Duration
	}{
		{"expired token", 400, `{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463}}`, nil, providers.ErrAuth, 0},
		{"no token", 400, `{"error":{"message":"An access token is required","type":"OAuthException","code":104}}`, nil, providers.ErrAuth, 0},
		{"permission", 403, `{"error":{"message":"(#200) Permissions error","code":200}}`, nil, providers.ErrAuth, 0},
		{"ads permission", 400, `{"error":{"message":"(#294) Managing advertisements requires ads_management","code":294}}`, nil, providers.ErrAuth, 0},
		{"app permission", 400, `{"error":{"message":"(#10) Application does not have permission","code":10}}`, nil, providers.ErrAuth, 0},
		{"invalid parameter", 400, `{"error":{"message":"(#100) Invalid parameter","code":100,"error_user_msg":"name is required"}}`, nil, providers.ErrInvalid, 0},
		{"no such object", 400, `{"error":{"message":"Unsupported get request.","type":"GraphMethodException","code":100,"error_subcode":33}}`, nil, providers.ErrNotFound, 0},
		{"custom audience rate limit", 400, `{"error":{"message":"too many calls","code":80003}}`, []string{"X-Business-Use-Case-Usage", usage}, providers.ErrRateLimited, 7 * time.Minute},
		{"user rate limit", 400, `{"error":{"message":"User request limit reached","code":17,"error_subcode":2446079}}`, nil, providers.ErrRateLimited, 0},
		{"app rate limit", 400, `{"error":{"message":"Application request limit reached","code":4}}`, nil, providers.ErrRateLimited, 0},
		{"page rate limit", 400, `{"error":{"message":"Page request limit reached","code":32}}`, nil, providers.ErrRateLimited, 0},
		{"ad account rate limit", 400, `{"error":{"message":"too many calls from this ad-account","code":613,"error_subcode":1487742}}`, nil, providers.ErrRateLimited, 0},
		{"unknown error", 500, `{"error":{"message":"An unknown error has occurred.","code":1,"is_transient":true}}`, nil, providers.ErrUnavailable, 0},
		{"service down", 503, `{"error":{"message":"Service temporarily unavailable","code":2,"is_transient":true}}`, nil, providers.ErrUnavailable, 0},
		{"transient", 400, `{"error":{"message":"Please retry","code":3,"is_transient":true}}`, nil, providers.ErrUnavailable, 0},
		{"duplicate", 409, `{"error":{"message":"Duplicate request","code":506}}`, nil, providers.ErrConflict, 0},
		{"retired version", 400, `{"error":{"message":"(#2635) You are calling a deprecated version","code":2635}}`, nil, providers.ErrInvalid, 0},
		{"a proxy's 502", 502, `<html>Bad Gateway</html>`, nil, providers.ErrUnavailable, 0},
		{"a proxy's 429", 429, `slow down`, []string{"Retry-After", "3"}, providers.ErrRateLimited, 3 * time.Second},
	} {
		url, _ := providertest.Stub(t, providertest.Respond(c.status, c.body, append(c.header, "X-Fb-Trace-Id", "H1gh7race")...))
		p, _ := configure(t, map[string]any{"api_url": url})
		p.retry.Attempts = 1
		err := p.call(context.Background(), request{what: "read", method: "GET", path: "/1"}, nil)
		var ae *providers.APIError
		if !errors.As(err, &ae) || ae.Code != c.code || ae.RetryAfter != c.wait || ae.Status != c.status || ae.RequestID == "" {
			t.Errorf("%s: %#v, want %s waiting %s", c.name, ae, c.code, c.wait)
		}
	}
}

// A message carries Meta's code, its message, and its message for users when there is one.
func TestErrorMessage(t *testing.T) {
	t.Parallel()
	url, _ := providertest.Stub(t, providertest.Respond(400,
		`{"error":{"message":"Invalid parameter","code":100,"error_subcode":1713230,"error_user_msg":"Resolve the restrictions in Audience Manager","fbtrace_id":"AbC123"}}`))
	p, _ := configure(t, map[string]any{"api_url": url})
	err := p.call(context.Background(), request{what: "add members", method: "POST", path: "/1/users"}, nil)
	want := "add members: invalid (HTTP 400): code 100 (subcode 1713230): Invalid parameter — Resolve the restrictions in Audience Manager; request AbC123"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// Calls that cannot act twice are retried; a create is not, unless Meta refused it before
// acting (a rate limit).
func TestRetries(t *testing.T) {
	t.Parallel()
	down := providertest.Respond(503, `{"error":{"message":"Service temporarily unavailable","code":2,"is_transient":true}}`)
	limited := providertest.Respond(400, `{"error":{"message":"too many calls","code":80003}}`)
	ok := providertest.Respond(200, `{"id":"238500000000001"}`)
	for _, c := range []struct {
		name    string
		once    bool
		answers []func(w http.ResponseWriter)
		calls   int32
		fails   bool
	}{
		{"a read after a 503", false, []func(w http.ResponseWriter){down, ok}, 2, false},
		{"a create after a 503", true, []func(w http.ResponseWriter){down, ok}, 1, true},
		{"a create after a rate limit", true, []func(w http.ResponseWriter){limited, ok}, 2, false},
		{"a read down three times", false, []func(w http.ResponseWriter){down}, 3, true},
	} {
		url, n := providertest.Stub(t, c.answers...)
		p, _ := configure(t, map[string]any{"api_url": url})
		err := p.call(context.Background(), request{what: c.name, method: "POST", path: "/act_1/customaudiences", once: c.once}, nil)
		if (err != nil) != c.fails || n.Load() != c.calls {
			t.Errorf("%s: %v after %d calls, want %d calls", c.name, err, n.Load(), c.calls)
		}
	}
}

// The access token travels in a header, never in a URL an error could quote.
func TestTokenStaysOutOfErrors(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	srv.Close()
	err := p.call(context.Background(), request{what: "read", method: "GET", path: "/1"}, nil)
	if err == nil || strings.Contains(err.Error(), srv.Token) || providers.CodeOf(err) != providers.ErrUnavailable {
		t.Fatalf("got %v", err)
	}
}

package wechat

import (
	"bytes"
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

// retries is how calls are repeated after a temporary failure: three tries, a Retry-After
// of up to 10 s waited out in-process; a longer one (a daily quota) goes back to the caller,
// and the engine's outbox holds the account's sends that long.
var retries = providers.Retry{Attempts: 3, Backoff: 250 * time.Millisecond, MaxWait: 10 * time.Second, Jitter: 100 * time.Millisecond}

// maxResponse bounds what is read of an answer: WeChat's are small JSON objects.
const maxResponse = 4 << 20

// request is one API call: a path under /cgi-bin/, its query and its JSON body (nil for a GET).
type request struct {
	what  string // names the call in errors: "create the tag"
	path  string
	query url.Values
	body  any
	// once marks a call that could act twice, a tag create: after a failure of unknown
	// outcome it is not repeated (a rate limit is refused before acting). Reads, renames,
	// deletes and tagging cannot act twice, nor template sends, whose repeated
	// client_msg_id WeChat drops.
	once bool
}

// call makes an API call with the access token, refreshing the token once when WeChat says it
// is invalid or expired, retrying what is safe to retry, and decodes the answer into out.
func (p *Provider) call(ctx context.Context, r request, out any) error {
	if p.cfg.appID == "" {
		return fmt.Errorf("%s: the provider is not configured", r.what)
	}
	err := p.retry.Do(ctx, func(int) error { return p.callOnce(ctx, r, out) }, func(ae *providers.APIError) bool {
		return !r.once || ae.Code == providers.ErrRateLimited
	})
	if err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	return nil
}

// callOnce makes one try of a call; a refused token is renewed and the call made once more.
func (p *Provider) callOnce(ctx context.Context, r request, out any) error {
	for renewed := false; ; renewed = true {
		tok, err := p.tokens.get(ctx, p)
		if err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range r.query {
			q[k] = v
		}
		q.Set("access_token", tok)
		err = p.exchange(ctx, r.path, q, r.body, out)
		if !renewed && tokenRefused(errcodeOf(err)) {
			p.tokens.drop(tok)
			continue
		}
		return err
	}
}

// exchange sends one HTTP request to WeChat and reads its answer: errors come as
// {"errcode": N, "errmsg": …} with HTTP 200. The query, which carries the access token (and
// for GET /cgi-bin/token the AppSecret), never appears in an error.
func (p *Provider) exchange(ctx context.Context, path string, q url.Values, body, out any) error {
	u := p.cfg.apiURL + "/cgi-bin/" + path + "?" + q.Encode()
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		method, rd = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return &providers.APIError{Code: providers.ErrInvalid, Message: "cannot make a request to " + path}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := p.http.Do(req)
	if err != nil {
		return providers.Unanswered(ctx, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return providers.Unanswered(ctx, path, err)
	}
	if res.StatusCode != http.StatusOK {
		return httpError(res, raw)
	}
	var status struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &status); err != nil {
		return &providers.APIError{Code: providers.ErrUnavailable, Status: res.StatusCode,
			Message: fmt.Sprintf("%s answered something other than JSON: %s", path, truncate(string(raw), 120))}
	}
	if status.Errcode != 0 {
		return classify(status.Errcode, status.Errmsg, p.now())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &providers.APIError{Code: providers.ErrUnavailable, Status: res.StatusCode, Message: fmt.Sprintf("reading the answer of %s: %v", path, err)}
	}
	return nil
}

// gatewayCodes classify the HTTP statuses of a gateway or proxy on the way: WeChat's own
// errors are never other than HTTP 200. Any other 5xx is unavailable, any other 4xx invalid.
var gatewayCodes = map[int]providers.ErrorCode{
	http.StatusUnauthorized: providers.ErrAuth, http.StatusForbidden: providers.ErrAuth,
	http.StatusNotFound: providers.ErrNotFound, http.StatusConflict: providers.ErrConflict,
	http.StatusRequestTimeout: providers.ErrUnavailable, http.StatusTooManyRequests: providers.ErrRateLimited,
}

// httpError classifies an answer that is not HTTP 200.
func httpError(res *http.Response, raw []byte) error {
	ae := &providers.APIError{Status: res.StatusCode, Code: gatewayCodes[res.StatusCode],
		Message: strings.TrimSpace(http.StatusText(res.StatusCode) + " " + truncate(strings.TrimSpace(string(raw)), 200))}
	switch {
	case ae.Code == providers.ErrRateLimited:
		ae.RetryAfter = max(providers.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now()), time.Second)
	case ae.Code != "":
	case res.StatusCode >= 500:
		ae.Code = providers.ErrUnavailable
	default:
		ae.Code = providers.ErrInvalid
	}
	return ae
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

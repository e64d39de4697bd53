package smaregi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// The hosts of the production Smaregi Platform API. The sandbox hosts are
// https://id.smaregi.dev and https://api.smaregi.dev.
const (
	DefaultAPIURL = "https://api.smaregi.jp"
	DefaultIDURL  = "https://id.smaregi.jp"
)

// DefaultScopes are the scopes an app token asks for: coupons to manage, members and sales
// to read.
var DefaultScopes = []string{"pos.coupons:read", "pos.coupons:write", "pos.customers:read", "pos.transactions:read"}

// MaxPageSize is the largest page a list call returns (the API's limit parameter, 1 to 1000).
const MaxPageSize = 1000

// DefaultMaxAttempts is how many times a call is tried when Smaregi throttles it (429) or,
// for calls that are safe to repeat, fails (5xx, no answer).
const DefaultMaxAttempts = 4

// maxRetryWait is the longest Retry-After the client waits out itself; a longer one is
// returned to the caller as rate_limited, to retry later.
const maxRetryWait = 30 * time.Second

// Config configures a Client.
type Config struct {
	ContractID   string
	ClientID     string
	ClientSecret string
	// APIURL and IDURL default to the production hosts.
	APIURL, IDURL string
	// Scopes default to DefaultScopes.
	Scopes []string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now and Sleep default to the wall clock; tests replace them so no test waits.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxAttempts defaults to DefaultMaxAttempts.
	MaxAttempts int
}

// Client is a small typed client of the Smaregi Platform API (POS, pinned to the API as
// documented for version 1.0.0 of the POS specification): the app access token, coupons and
// members. It is safe for concurrent use.
type Client struct {
	cfg        Config
	basic      string // "Basic base64(client_id:client_secret)", never logged or shown
	tokenURL   string
	posURL     string
	scope      string
	mu         sync.Mutex
	token      string
	tokenUntil time.Time
}

// NewClient checks the configuration and returns a client. No call is made until the first
// request.
func NewClient(cfg Config) (*Client, error) {
	if cfg.ContractID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("a contract ID, client ID and client secret are required")
	}
	if strings.ContainsAny(cfg.ContractID, "/?#") {
		return nil, fmt.Errorf("contract ID %q must not contain /, ? or #", cfg.ContractID)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.IDURL == "" {
		cfg.IDURL = DefaultIDURL
	}
	for _, u := range []string{cfg.APIURL, cfg.IDURL} {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("%q is not an http(s) URL", u)
		}
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = DefaultScopes
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	providers.DefaultClock(&cfg.Now, &cfg.Sleep)
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	contract := url.PathEscape(cfg.ContractID)
	return &Client{
		cfg:      cfg,
		basic:    "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.ClientID+":"+cfg.ClientSecret)),
		tokenURL: strings.TrimRight(cfg.IDURL, "/") + "/app/" + contract + "/token",
		posURL:   strings.TrimRight(cfg.APIURL, "/") + "/" + contract + "/pos",
		scope:    strings.Join(cfg.Scopes, " "),
	}, nil
}

// tokenResponse is the ID server's answer to a client-credentials grant.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// accessToken returns the cached app token, or asks the ID server for a new one. Tokens are
// reused until shortly before they expire: token requests count against the rate limits.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.cfg.Now().Before(c.tokenUntil) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {c.scope}}.Encode()
	var tr tokenResponse
	err := c.send(ctx, http.MethodPost, c.tokenURL, true, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", c.basic)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return req, nil
	}, &tr)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.API.Code == providers.ErrAuth {
			e.API.Message = "the Smaregi ID server refused the app's client credentials: " + e.API.Message
		}
		return "", err
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") {
		return "", unavailable("the Smaregi ID server answered without a bearer token")
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	// Refresh a minute early (or at half-life for short tokens) so a call never starts with a
	// token about to lapse.
	margin := time.Minute
	if life < 2*margin {
		margin = life / 2
	}
	c.token, c.tokenUntil = tr.AccessToken, c.cfg.Now().Add(life-margin)
	return c.token, nil
}

// dropToken forgets a token the API refused, unless another call already replaced it.
func (c *Client) dropToken(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

// call makes one API request with the app token: a 401 refreshes the token once and repeats
// the request. out, when not nil, receives the decoded JSON answer.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	u, payload, err := providers.EncodeCall(method, c.posURL, path, query, body)
	if err != nil {
		return err
	}
	// POST creates: repeating one whose answer was lost could create twice, so only a
	// throttled POST (refused before any work) is repeated.
	idempotent := method != http.MethodPost
	for refreshed := false; ; refreshed = true {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		err = c.send(ctx, method, u, idempotent, func() (*http.Request, error) {
			var rd io.Reader
			if payload != nil {
				rd = bytes.NewReader(payload)
			}
			req, err := http.NewRequestWithContext(ctx, method, u, rd)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Accept", "application/json")
			if payload != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, nil
		}, out)
		var e *Error
		if !refreshed && errors.As(err, &e) && e.API.Status == http.StatusUnauthorized {
			c.dropToken(tok) // expired or revoked: one more try with a fresh token
			continue
		}
		return err
	}
}

// send runs one request, repeating it on 429 (always) and on 5xx or no answer (when
// idempotent), up to MaxAttempts, waiting Retry-After or a doubling backoff.
func (c *Client) send(ctx context.Context, method, u string, idempotent bool, build func() (*http.Request, error), out any) error {
	r := providers.Retry{Attempts: c.cfg.MaxAttempts, Backoff: 250 * time.Millisecond, MaxWait: maxRetryWait, Sleep: c.cfg.Sleep}
	return r.Do(ctx, func(int) error {
		req, err := build()
		if err != nil {
			return err
		}
		resp, err := c.cfg.HTTPClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return &Error{API: &providers.APIError{Code: providers.ErrUnavailable, Message: fmt.Sprintf("%s %s: %v", method, providers.WithoutQuery(u), ctx.Err())}}
			}
			return unavailable("%s %s: no answer from Smaregi (%v)", method, providers.WithoutQuery(u), providers.TransportCause(err))
		}
		if e := c.read(resp, out); e != nil {
			return e
		}
		return nil
	}, func(ae *providers.APIError) bool {
		return ae.Status == http.StatusTooManyRequests || (idempotent && ae.Code == providers.ErrUnavailable)
	})
}

// read decodes a 2xx answer into out, or returns the classified error.
func (c *Client) read(resp *http.Response, out any) *Error {
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBody))
		return newError(resp.StatusCode, resp.Header, body, c.cfg.Now())
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil && err != io.EOF {
		return unavailable("reading Smaregi's answer: %v", err)
	}
	return nil // an empty body leaves out as it was
}

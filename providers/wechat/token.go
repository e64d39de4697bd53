package wechat

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// renewBefore is how long before its expiry a token is renewed. WeChat hands out a new stable
// token in the last five minutes of the old one and keeps the old one working meanwhile.
const renewBefore = 5 * time.Minute

// tokens caches the account's access token. One caller at a time fetches a new one; the
// others wait for it, or for their context to end.
type tokens struct {
	fetching chan struct{} // a one-place semaphore: held while a token is fetched

	mu      sync.Mutex
	value   string
	renewAt time.Time
}

func newTokens() *tokens { return &tokens{fetching: make(chan struct{}, 1)} }

func (t *tokens) cached(now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.value != "" && now.Before(t.renewAt) {
		return t.value
	}
	return ""
}

// get returns a valid access token, fetching one when none is cached or it is about to expire.
func (t *tokens) get(ctx context.Context, p *Provider) (string, error) {
	if tok := t.cached(p.now()); tok != "" {
		return tok, nil
	}
	select {
	case t.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", &providers.APIError{Code: providers.ErrUnavailable, Message: "waiting for an access token: " + ctx.Err().Error()}
	}
	defer func() { <-t.fetching }()
	if tok := t.cached(p.now()); tok != "" {
		return tok, nil // another caller fetched it meanwhile
	}
	var got struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	var err error
	if p.cfg.tokenAPI == tokenClassic {
		q := url.Values{"grant_type": {"client_credential"}, "appid": {p.cfg.appID}, "secret": {p.cfg.secret}}
		err = p.exchange(ctx, "token", q, nil, &got)
	} else {
		body := map[string]any{"grant_type": "client_credential", "appid": p.cfg.appID, "secret": p.cfg.secret}
		err = p.exchange(ctx, "stable_token", url.Values{}, body, &got)
	}
	if err != nil {
		return "", fmt.Errorf("getting an access token: %w", err)
	}
	if got.AccessToken == "" || got.ExpiresIn <= 0 {
		return "", &providers.APIError{Code: providers.ErrUnavailable, Message: "WeChat answered the token request without a token"}
	}
	life := time.Duration(got.ExpiresIn) * time.Second
	t.mu.Lock()
	defer t.mu.Unlock()
	t.value, t.renewAt = got.AccessToken, p.now().Add(life-min(renewBefore, life/2))
	return t.value, nil
}

// drop forgets a token WeChat refused, unless another caller has replaced it already.
func (t *tokens) drop(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.value == tok {
		t.value = ""
	}
}

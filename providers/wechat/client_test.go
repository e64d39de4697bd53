package wechat

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
)

func readTags(t *testing.T, p *Provider) error {
	t.Helper()
	_, err := p.tags(context.Background())
	return err
}

// One token serves every call until it nears its expiry.
func TestTokenCached(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return now })
	p.now = func() time.Time { return now }
	for range 5 {
		if err := readTags(t, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Calls(wechattest.OpToken); n != 1 {
		t.Fatalf("5 calls fetched %d tokens, want 1", n)
	}
	// Four minutes before it expires, the token is renewed before use.
	now = now.Add(wechattest.TokenLifetime - 4*time.Minute)
	if err := readTags(t, p); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls(wechattest.OpToken); n != 2 {
		t.Fatalf("%d token calls, want a renewal before expiry", n)
	}
}

// A token WeChat says has expired (42001) is renewed and the call made once more.
func TestTokenRenewedOnExpiry(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	if err := readTags(t, p); err != nil {
		t.Fatal(err)
	}
	srv.ExpireTokens()
	if err := readTags(t, p); err != nil {
		t.Fatalf("a call with an expired token: %v, want it renewed and the call made again", err)
	}
	// A call refused for its token is answered before it counts as a read.
	if tok, read := srv.Calls(wechattest.OpToken), srv.Calls(wechattest.OpRead); tok != 2 || read != 2 {
		t.Fatalf("%d token calls and %d reads, want 2 and 2", tok, read)
	}
}

// A token refused again after its renewal (40001 twice) is an auth error; the call is not
// made a third time.
func TestTokenRefusedTwice(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	if err := srv.Inject(wechattest.OpRead, contracttest.Fault{Status: 401, Times: 3}); err != nil {
		t.Fatal(err)
	}
	err := readTags(t, p)
	if providers.CodeOf(err) != providers.ErrAuth || !strings.Contains(err.Error(), "errcode 40001") {
		t.Fatalf("%v, want auth with errcode 40001", err)
	}
	if tok, read := srv.Calls(wechattest.OpToken), srv.Calls(wechattest.OpRead); tok != 2 || read != 2 {
		t.Fatalf("%d token calls and %d reads, want 2 and 2", tok, read)
	}
}

// With GET /cgi-bin/token, each process's token replaces the other's after five minutes; the
// refused one renews its own, as WeChat's 40001 asks.
func TestClassicTokensOfTwoProcesses(t *testing.T) {
	t.Parallel()
	srv := newAccount(t)
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return now })
	serve := configure(t, srv, map[string]any{"token_api": "token"})
	apply := configure(t, srv, map[string]any{"token_api": "token"})
	for _, p := range []*Provider{serve, apply} {
		if err := readTags(t, p); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(6 * time.Minute)
	if err := readTags(t, serve); err != nil {
		t.Fatalf("the first process, its token replaced: %v", err)
	}
	if n := srv.Calls(wechattest.OpToken); n != 3 {
		t.Fatalf("%d token calls, want 3", n)
	}
	// The stable token is another token altogether: a process using it is untouched.
	stable := configure(t, srv, nil)
	if err := readTags(t, stable); err != nil {
		t.Fatal(err)
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	srv := newAccount(t)
	for attr, value := range map[string]string{"secret": "not-the-secret", "appid": "wx0000000000000000"} {
		p := configure(t, srv, map[string]any{attr: value})
		err := readTags(t, p)
		if providers.CodeOf(err) != providers.ErrAuth || !strings.Contains(err.Error(), "getting an access token") {
			t.Errorf("a wrong %s: %v, want an auth error getting the token", attr, err)
		}
		if strings.Contains(err.Error(), srv.Secret) || strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	// 23:30 in China: the day's quotas start again in half an hour.
	now := time.Date(2027, 3, 1, 15, 30, 0, 0, time.UTC)
	cases := []struct {
		errcode int
		code    providers.ErrorCode
		wait    time.Duration
	}{
		{-1, providers.ErrUnavailable, 0},
		{40001, providers.ErrAuth, 0},
		{42001, providers.ErrAuth, 0},
		{40013, providers.ErrAuth, 0},
		{40125, providers.ErrAuth, 0},
		{40164, providers.ErrAuth, 0},
		{45009, providers.ErrRateLimited, 30 * time.Minute},
		{45011, providers.ErrRateLimited, 60 * time.Second},
		{40003, providers.ErrNotFound, 0},
		{43004, providers.ErrNotFound, 0},
		{45015, providers.ErrInvalid, 0},
		{45157, providers.ErrConflict, 0},
		{45159, providers.ErrNotFound, 0},
		{40032, providers.ErrInvalid, 0},
		{47003, providers.ErrInvalid, 0},
	}
	for _, c := range cases {
		err := classify(c.errcode, "message rid: 6385c6c1-0fcadca1-22c1fc91", now)
		ae := apiError(err)
		if ae == nil || ae.Code != c.code || ae.RetryAfter != c.wait || ae.RequestID != "6385c6c1-0fcadca1-22c1fc91" || errcodeOf(err) != c.errcode {
			t.Errorf("errcode %d: %+v, want %s waiting %s with the rid", c.errcode, ae, c.code, c.wait)
		}
	}
	if got := untilQuotaResets(time.Date(2027, 3, 1, 16, 0, 0, 0, time.UTC)); got != 24*time.Hour {
		t.Errorf("at midnight in China the quota resets in %s, want 24h", got)
	}
}

// Errors of a gateway on the way come with HTTP statuses, not errcodes.
func TestGatewayErrors(t *testing.T) {
	t.Parallel()
	for status, code := range map[int]providers.ErrorCode{502: providers.ErrUnavailable, 429: providers.ErrRateLimited, 403: providers.ErrAuth, 400: providers.ErrInvalid} {
		srv := newAccount(t)
		p := rigged(t, srv, nil)
		p.retry.Attempts = 1
		rigs.Of(p).faults.Fail(status, nil, 1)
		if err := readTags(t, p); providers.CodeOf(err) != code {
			t.Errorf("HTTP %d: %v, want %s", status, err, code)
		}
	}
}

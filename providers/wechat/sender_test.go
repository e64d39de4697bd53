package wechat

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
)

// rig is a provider's account and the faults in front of it.
type rig struct {
	srv    *wechattest.Server
	faults *providertest.Faults
}

var rigs providertest.Fixtures[*rig]

// rigged configures a provider for srv's account, with faults in front of it.
func rigged(t *testing.T, srv *wechattest.Server, extra map[string]any) *Provider {
	p := configure(t, srv, extra)
	rigs.Keep(t, p, &rig{srv: srv, faults: providertest.Inject(p.http)})
	return p
}

// nudge is a rendered cart nudge, as the engine hands it to Send.
const nudge = "template_id: " + nudgeTemplate + "\nthing1: 跑鞋\namount2: ¥200"

func TestSenderConformance(t *testing.T) {
	t.Parallel()
	providertest.RunSender(t, providertest.SenderHarness{
		New: func(t *testing.T) providers.Sender {
			return &rendered{rigged(t, newAccount(t), nil)}
		},
		To: follower,
		Deliveries: func(t *testing.T, s providers.Sender) []providertest.Delivery {
			var out []providertest.Delivery
			for _, d := range rigs.Of(s.(*rendered).Provider).srv.Deliveries() {
				out = append(out, providertest.Delivery{To: d.To, Key: d.ClientMsgID})
			}
			return out
		},
		KeyAs: ClientMsgID,
		Unknown: func(t *testing.T, s providers.Sender) string {
			return rigs.Of(s.(*rendered).Provider).srv.Follow("", "") + "-gone"
		},
		Throttle: func(t *testing.T, s providers.Sender) time.Duration {
			// The day's quota of template messages is used up: the wait runs to midnight in
			// China, longer than the provider waits itself, so it is left to the outbox.
			if err := rigs.Of(s.(*rendered).Provider).srv.Inject(wechattest.OpSend, contracttest.Fault{Status: 429}); err != nil {
				t.Fatal(err)
			}
			return 0
		},
		Stall: func(t *testing.T, s providers.Sender) { rigs.Of(s.(*rendered).Provider).faults.Stall() },
		// WeChat drops a repeated client_msg_id without saying so (its answer is not
		// documented): the retry of a lost answer cannot be told from a first send.
		// TestLostAnswerSendsOnce checks one message goes.
		Lose: nil,
		Secrets: func(t *testing.T, s providers.Sender) []string {
			srv := rigs.Of(s.(*rendered).Provider).srv
			return append(srv.Tokens(), srv.Secret, srv.Token)
		},
	})
}

// rendered stands for the engine: it renders the suite's texts into template messages.
type rendered struct{ *Provider }

func (r *rendered) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	req.Text = nudge
	return r.Provider.Send(ctx, req)
}

func send(p *Provider, to, key string) providers.SendResponse {
	return p.Send(context.Background(), providers.SendRequest{Name: "trigger.cart_nudge", To: to, Text: nudge, IdempotencyKey: key})
}

// A lost answer and its retry within ten minutes leave one message: WeChat drops the repeated
// client_msg_id.
func TestLostAnswerSendsOnce(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	p.retry.Attempts = 1
	if err := srv.Lose(wechattest.OpSend, 1); err != nil {
		t.Fatal(err)
	}
	if r := send(p, follower, "k"); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
		t.Fatalf("a send whose answer was lost: %v, want unavailable", r.Diagnostics.Err())
	}
	r := send(p, follower, "k")
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if d := srv.Deliveries(); len(d) != 1 || r.ID != "101" {
		t.Fatalf("%d messages, the retry's ID %s: want one message, msgid 101", len(d), r.ID)
	}
	if again := send(p, follower, "k"); !again.Duplicate || again.ID != r.ID {
		t.Fatalf("a third send of the key: %+v, want the ledger's duplicate", again)
	}
}

// The ledger outlives the provider: another process with the same file reports the send
// as a duplicate long after WeChat forgot its client_msg_id.
func TestLedgerSharedByProcesses(t *testing.T) {
	t.Parallel()
	srv := newAccount(t)
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return now })
	ledger := t.TempDir() + "/ledger.db"
	first := configure(t, srv, map[string]any{"ledger": ledger})
	r := send(first, follower, "campaign.spring/cus_0042")
	first.Close()
	now = now.Add(time.Hour)
	second := configure(t, srv, map[string]any{"ledger": ledger})
	if again := send(second, follower, "campaign.spring/cus_0042"); !again.Duplicate || again.ID != r.ID {
		t.Fatalf("the same key an hour later in another process: %+v, want a duplicate of %s", again, r.ID)
	}
	if n := len(srv.Deliveries()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	gone := srv.Follow("", "")
	srv.Unfollow(gone)
	cases := []struct {
		name, to, text string
		code           providers.ErrorCode
		says           string
	}{
		{"unfollowed", gone, nudge, providers.ErrNotFound, "errcode 43004"},
		{"unknown openid", "oUnknownUnknownUnknown12345", nudge, providers.ErrNotFound, "errcode 40003"},
		{"not an openid", "U1234", nudge, providers.ErrInvalid, "not an openid"},
		{"plain text", follower, "春のセール開催中", providers.ErrInvalid, "not a WeChat template message"},
		{"template not in the account", follower, "template_id: nope\nthing1: x", providers.ErrNotFound, "errcode 40037"},
		{"thing over 20", follower, "template_id: " + nudgeTemplate + "\nthing1: " + strings.Repeat("鞋", 21), providers.ErrInvalid, "thing1 is 21 characters"},
		{"a placeholder's line break adds a line", follower, "template_id: " + nudgeTemplate + "\nthing1: 跑鞋\ntemplate_id: other\namount2: 1", providers.ErrInvalid, "template_id is given twice"},
	}
	for _, c := range cases {
		r := p.Send(context.Background(), providers.SendRequest{Name: "trigger.x", To: c.to, Text: c.text, IdempotencyKey: c.name})
		err := r.Diagnostics.Err()
		if providers.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %s saying %q", c.name, err, c.code, c.says)
		}
	}
	if n := len(srv.Deliveries()); n != 0 {
		t.Fatalf("refused sends delivered %d messages", n)
	}
	// A refused key was given back: the same key sends once the follower follows again.
	srv.Follow(gone, "")
	if r := p.Send(context.Background(), providers.SendRequest{Name: "trigger.x", To: gone, Text: nudge, IdempotencyKey: "unfollowed"}); r.Diagnostics.HasErrors() || r.Duplicate {
		t.Fatalf("the refused key again: %+v", r)
	}
}

// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	ctx := context.Background()
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "wechat",
		Config: func(t *testing.T) map[string]any {
			return map[string]any{"appid": "wx0123456789abcdef", "secret": "wechat-secret-3f9a7c1e5b",
				"token": "callbackToken8d2e6b0a4c", "encoding_aes_key": strings.Repeat("k9X", 14) + "Q",
				"ledger": t.TempDir() + "/l.db"}
		},
		New: func(t *testing.T) providers.Provider {
			srv := newAccount(t)
			return rigged(t, srv, map[string]any{"encoding_aes_key": srv.EncodingAESKey, "fetch_unionid": true})
		},
		Refused: func(t *testing.T) providers.Provider {
			srv := newAccount(t)
			// The AppSecret was reset in the console since.
			return rigged(t, srv, map[string]any{"secret": "reset-" + srv.Secret})
		},
		Gone: func(t *testing.T) providers.Provider {
			srv := newAccount(t)
			p := rigged(t, srv, nil)
			srv.Close()
			return p
		},
		Client: func(p providers.Provider) *http.Client { return p.(*Provider).http },
		Secrets: func(t *testing.T, p providers.Provider) []string {
			q := p.(*Provider)
			out := []string{q.cfg.secret, q.cfg.callbackToken}
			if srv := rigs.Of(q).srv; srv != nil {
				out = append(out, srv.Tokens()...)
				out = append(out, srv.EncodingAESKey, srv.Secret)
			}
			return out
		},
		Cases:  []providertest.Case{audienceCase, messageCase},
		SendTo: follower,
		Exercise: func(t *testing.T, q providers.Provider) []any {
			p := q.(*Provider)
			srv := rigs.Of(p).srv
			out := []any{p.AddMembers(ctx, "101", []string{follower}), p.RemoveMembers(ctx, "101", []string{follower}),
				send(p, follower, "leak-send")}
			for _, mode := range []wechattest.Mode{wechattest.Plain, wechattest.Safe} {
				req, err := srv.Callback("https://musubi.example/v1/webhooks/wechat.test", wechattest.Subscribe(follower), mode)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := contracttest.ReadBody(req)
				out = append(out, p.ReceiveWebhook(ctx, providers.WebhookRequest{URL: req.URL.String(), Header: req.Header, Body: body}))
			}
			verify, _ := srv.Verification("https://musubi.example/v1/webhooks/wechat.test", "echo")
			echo, ds := p.VerifyWebhookURL(providers.WebhookRequest{URL: verify})
			// Credentials in attributes that are not marked sensitive must not be quoted back either.
			mistaken := New().Configure(ctx, providers.ConfigureRequest{WorkDir: t.TempDir(), Config: map[string]any{"appid": srv.AppID,
				"secret": p.cfg.secret, "api_url": "ftp://" + p.cfg.secret, "token_api": p.cfg.callbackToken, "ledger": "l.db"}})
			return append(out, echo, ds, mistaken)
		},
	})
	for _, code := range []providers.ErrorCode{providers.ErrAuth, providers.ErrUnavailable, providers.ErrRateLimited, providers.ErrNotFound} {
		if found.Codes[code] == 0 {
			t.Errorf("no call failed as %s: the check does not exercise what it means to", code)
		}
	}
}

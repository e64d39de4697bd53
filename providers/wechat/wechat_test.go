package wechat

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
)

// Templates every test account holds, as picked from WeChat's template library.
const (
	couponTemplate = "iPk5sOIt5X_flOVKn5GrTFpncEYTojx6ddbt8WYoV5s"
	couponContent  = "活动：{{thing1.DATA}}\n优惠：{{amount2.DATA}}\n有效期：{{time3.DATA}}"
	nudgeTemplate  = "Z3ZpbmctdGVtcGxhdGUtZm9yLWNhcnQtbnVkZ2VzLTAx"
	nudgeContent   = "商品：{{thing1.DATA}}\n差额：{{amount2.DATA}}"
	// follower follows every test account.
	follower = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
)

// noSleep replaces the provider's waits between tries.
func noSleep(context.Context, time.Duration) error { return nil }

// newAccount starts a contract server for an account with the test templates and follower.
func newAccount(t testing.TB) *wechattest.Server {
	srv := wechattest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddTemplate(couponTemplate, "优惠券到账通知", couponContent)
	srv.AddTemplate(nudgeTemplate, "购物车提醒", nudgeContent)
	srv.Follow(follower, "")
	return srv
}

// configure returns a provider for the server's account, with extra attributes of the block.
func configure(t testing.TB, srv *wechattest.Server, extra map[string]any) *Provider {
	t.Helper()
	cfg := map[string]any{"appid": srv.AppID, "secret": srv.Secret, "token": srv.Token, "api_url": srv.URL,
		"ledger": filepath.Join(t.TempDir(), "ledger.db")}
	maps.Copy(cfg, extra)
	p := New()
	r := p.Configure(context.Background(), providers.ConfigureRequest{Name: "wechat.test", Config: cfg,
		Sensitive: map[string]bool{"secret": true, "token": true, "encoding_aes_key": true}})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	p.retry.Sleep = noSleep
	t.Cleanup(func() { p.Close() })
	return p
}

// contract starts an account and a provider for it.
func contract(t testing.TB) (*wechattest.Server, *Provider) {
	srv := newAccount(t)
	return srv, configure(t, srv, nil)
}

// accounts maps the suites' providers to their contract servers.
var accounts providertest.Fixtures[*wechattest.Server]

func harness(fail bool) providertest.Harness {
	h := providertest.Harness{
		New: func(t *testing.T) providers.Provider {
			srv, p := contract(t)
			// The suite's Fail breaks a single call; the retries it would hide are tested on
			// their own.
			p.retry.Attempts = 1
			accounts.Keep(t, p, srv)
			return p
		},
		Tamper: func(t *testing.T, p providers.Provider, k providers.Kind, id, attr string, value any) {
			if err := accounts.Of(p).Tamper(k, id, attr, value); err != nil {
				t.Fatal(err)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, k providers.Kind, id string) {
			if err := accounts.Of(p).Remove(k, id); err != nil {
				t.Fatal(err)
			}
		},
	}
	if fail {
		h.Fail = func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			f := contracttest.Fault{Status: status, Lose: lose}
			if status == 401 {
				f.Times = 2 // 40001: the provider renews its token and calls once more
			}
			if err := accounts.Of(p).Inject(op, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	return h
}

var audienceCase = providertest.Case{
	Kind:       providers.KindAudience,
	Attrs:      providers.Attrs{"segment": "loyal_store", "description": "门店常客"},
	Update:     providers.Attrs{"description": "同意接收消息的常客", "segment": "store_regulars"},
	DriftAttr:  "description",
	DriftValue: "在后台改过名",
	Invalid: map[string]providers.Attrs{
		"description": {"description": strings.Repeat("常", 11)}, // 33 bytes
		"segment":     {"segment": ""},
	},
}

func TestConformance(t *testing.T) {
	t.Parallel()
	h := harness(true)
	h.Cases = []providertest.Case{audienceCase}
	providertest.Run(t, h)
}

var messageCase = providertest.Case{
	Kind: providers.KindMessage,
	Attrs: providers.Attrs{"name": "campaign.spring",
		"template": "template_id: " + couponTemplate + "\nurl: https://shop.example.cn/coupons\nthing1: 春季促销\namount2: {{ campaign.coupon.percent }}%",
		"audience": "segment.loyal_store.audience[wechat.test]"},
	Update: providers.Attrs{"template": "template_id: " + couponTemplate + "\nthing1: 春季促销第二周\namount2: 85折",
		"variants": map[string]string{"nudge": "template_id: " + nudgeTemplate + "\nthing1: 购物车\namount2: ¥200"}},
	Invalid: map[string]providers.Attrs{
		"template": {"template": "thing1: 春季促销"},
		"variants": {"variants": map[string]string{"long": "template_id: " + couponTemplate + "\nthing1: " + strings.Repeat("促", 21)}},
	},
}

// WeChat keeps templates, not Musubi's messages: there is nothing to tamper with but the
// template, which TestMessageTemplateDeleted removes, and a message's create only reads.
func TestConformanceMessage(t *testing.T) {
	t.Parallel()
	h := harness(false)
	h.Cases = []providertest.Case{messageCase}
	providertest.Run(t, h)
}

func TestUnsupportedKinds(t *testing.T) {
	t.Parallel()
	_, p := contract(t)
	ctx := context.Background()
	for _, k := range []providers.Kind{providers.KindCoupon, providers.KindCodePool, providers.KindSubscription, providers.KindRules} {
		if _, ok := p.Schema(ctx).Kinds[k]; ok {
			t.Errorf("the schema declares %s", k)
		}
		if r := p.Create(ctx, providers.CreateRequest{Kind: k, IdempotencyKey: "k"}); !r.Diagnostics.HasErrors() {
			t.Errorf("Create %s succeeded", k)
		}
	}
	ds := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindMessage, Attributes: providers.Attrs{
		"template": messageCase.Attrs.String("template"), "subject": "Hi"}}).Diagnostics
	if !ds.HasErrors() || ds[0].Attribute != "subject" {
		t.Fatalf("a message with a subject: %v, want an error naming subject", ds.Err())
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	srv := newAccount(t)
	cases := []struct {
		name, attr string
		config     map[string]any
	}{
		{"appid of another form", "appid", map[string]any{"appid": "gh_0123456789ab"}},
		{"no secret", "secret", map[string]any{"secret": ""}},
		{"token with punctuation", "token", map[string]any{"token": "to-ken!"}},
		{"AES key of 42 characters", "encoding_aes_key", map[string]any{"encoding_aes_key": strings.Repeat("a", 42)}},
		{"AES key without a token", "token", map[string]any{"encoding_aes_key": srv.EncodingAESKey, "token": nil}},
		{"unknown token API", "token_api", map[string]any{"token_api": "oauth"}},
		{"fetch_unionid a string", "fetch_unionid", map[string]any{"fetch_unionid": "yes"}},
		{"api_url without a host", "api_url", map[string]any{"api_url": "https://"}},
	}
	for _, c := range cases {
		cfg := map[string]any{"appid": srv.AppID, "secret": srv.Secret, "token": srv.Token, "ledger": filepath.Join(t.TempDir(), "l.db")}
		maps.Copy(cfg, c.config)
		ds := New().Configure(context.Background(), providers.ConfigureRequest{Name: "wechat.oa", Config: cfg}).Diagnostics
		if !ds.HasErrors() || ds[0].Attribute != c.attr {
			t.Errorf("%s: %v, want an error on %s", c.name, ds.Err(), c.attr)
		}
	}
}

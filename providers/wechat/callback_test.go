package wechat

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
)

// A safe-mode callback computed outside Go, with
//
//	printf '%s\n' "$TOKEN" "$TS" "$NONCE" | LC_ALL=C sort | tr -d '\n' | sha1sum
//	openssl enc -aes-256-cbc -K "$KEY" -iv "${KEY:0:32}" -nopad -in plaintext | base64 -w0
//
// where KEY is the hex of base64 -d of the EncodingAESKey and "=", and plaintext is
// "0123456789abcdef", the message's length in 4 bytes, the message, the AppID and 24 bytes of
// PKCS#7 padding to a multiple of 32.
const (
	vectorToken     = "musubiCallbackToken42"
	vectorAESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	vectorAppID     = "wx0123456789abcdef"
	vectorTimestamp = "1772323200"
	vectorNonce     = "1320562132"
	vectorSignature = "01fb4a6762416cfd9143abd32731e71f4a5cd68e"
	vectorMsgSig    = "4bba7672445c29258a5c256a0f59bda13bb1982e"
	vectorEncrypt   = "Q3stYC6hdFzMh9T8HCvyDHodIwQKI+pSU/V1JXTy7EotDCIpML6mouItBfuNWoWO7SvBnnQfK+1f69pj78Ot6sNUcWbNo97OEbZLSSGztwW0m/zP+ECN9V5FJF5TSPwY1fBQhntY3wRETVbWkyg4/Kydv7UlwTOdcqJ1xXbRJ8RLQIQR4+kelGMPSTW5q+9sJOINlJxEJC5gGznG5v/7yCakRvRgn2QpEbz3YceYcEv5dDogm0SAEqBSOJ6qM6JQuSe75di77G2Te4ZJ+R3ld5gc8qJp4FNa3cPbcxIN6lJn52UXmDKqk3cR9bYO3ugjCpLWxfWJxwfzR1XTNEtPY1tYQcRiH8VC9F+YCVhb1w7KwYK4IdNCadGqLJ9iLPjDznd+QU3QppJf3UZnvif54gdLgoXLXNro+Zs6D+HN5uQIACdyfnNUSlrgWpU1J1QgfNI/44IvhXY9YB2zFvNFm7Wtz0Cp/x6eDkInJx4jb/EY9cLT/7bwzRSEQpnxf3lJI44Kh0621mnpgNMI6XrSbZ/jTuS/yaoWzVuYsMVKFEvOlSmJBO64Y37SV/QchZyX62MCjd8cRq4ToqPX0n7C7NrBwz1y08i8nZ5Llsrg7ipaV6MIFlEoTtuZkGUuj9h/"
	// vectorMessage is what vectorEncrypt holds.
	vectorMessage = "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oLVPpjqs9BhvzwPj5A-vTYAX3GLc]]></FromUserName><CreateTime>1772323195</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_store_shibuya]]></EventKey><Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket></xml>"
)

// receiver is a provider that only receives callbacks, its clock at the vector's time.
func receiver(t testing.TB, cfg map[string]any) *Provider {
	t.Helper()
	config := map[string]any{"appid": vectorAppID, "secret": "s", "token": vectorToken, "ledger": t.TempDir() + "/l.db"}
	for k, v := range cfg {
		config[k] = v
	}
	p := New()
	p.now = func() time.Time { return time.Unix(1772323210, 0) }
	if err := p.Configure(context.Background(), providers.ConfigureRequest{Name: "wechat.oa", Config: config}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func callbackURL(q url.Values) string {
	return "https://musubi.example/v1/webhooks/wechat.oa?source=wechat&" + q.Encode()
}

func TestCallbackKnownVector(t *testing.T) {
	t.Parallel()
	p := receiver(t, map[string]any{"encoding_aes_key": vectorAESKey})
	q := url.Values{"signature": {vectorSignature}, "timestamp": {vectorTimestamp}, "nonce": {vectorNonce},
		"openid": {"oLVPpjqs9BhvzwPj5A-vTYAX3GLc"}, "encrypt_type": {"aes"}, "msg_signature": {vectorMsgSig}}
	body := "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[" + vectorEncrypt + "]]></Encrypt></xml>"
	r := p.ReceiveWebhook(context.Background(), providers.WebhookRequest{URL: callbackURL(q), Body: []byte(body)})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Events) != 2 {
		t.Fatalf("%d events, want a follow and a store visit: %+v", len(r.Events), r.Events)
	}
	follow, visit := r.Events[0], r.Events[1]
	if follow.Type != "follow" || follow.Channel != "wechat" || !follow.Time.Equal(time.Unix(1772323195, 0)) ||
		follow.Record["openid"] != "oLVPpjqs9BhvzwPj5A-vTYAX3GLc" || follow.Record["qr_scene"] != "store_shibuya" ||
		follow.Data["account"] != "gh_0123456789ab" || !strings.HasPrefix(follow.ID, "wechat-") {
		t.Errorf("follow: %+v", follow)
	}
	if visit.Type != "store.visit" || visit.ID != follow.ID+"-visit" || visit.Data["kind"] != "checkin" || visit.Record["qr_scene"] != "store_shibuya" {
		t.Errorf("store visit: %+v", visit)
	}
	// The same call in plain mode: the vector's signature holds for the plain message too.
	plain := receiver(t, nil)
	q.Del("encrypt_type")
	q.Del("msg_signature")
	pr := plain.ReceiveWebhook(context.Background(), providers.WebhookRequest{URL: callbackURL(q), Body: []byte(vectorMessage)})
	if err := pr.Diagnostics.Err(); err != nil || len(pr.Events) != 2 || pr.Events[0].ID != follow.ID {
		t.Fatalf("plain: %+v %v, want the same events with the same IDs", pr.Events, err)
	}
}

// account is a contract server's account and a provider receiving its callbacks.
func account(t *testing.T, mode wechattest.Mode, cfg map[string]any) (*wechattest.Server, *Provider) {
	srv := newAccount(t)
	extra := map[string]any{}
	if mode == wechattest.Safe {
		extra["encoding_aes_key"] = srv.EncodingAESKey
	}
	for k, v := range cfg {
		extra[k] = v
	}
	return srv, configure(t, srv, extra)
}

func deliver(p *Provider, u string, body []byte) providers.WebhookResponse {
	return p.ReceiveWebhook(context.Background(), providers.WebhookRequest{URL: u, Header: http.Header{}, Body: body})
}

func post(t *testing.T, srv *wechattest.Server, p *Provider, ev wechattest.Event, mode wechattest.Mode) providers.WebhookResponse {
	t.Helper()
	req, err := srv.Callback("https://musubi.example/v1/webhooks/wechat.test", ev, mode)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := contracttest.ReadBody(req)
	return deliver(p, req.URL.String(), body)
}

func refusedAs(t *testing.T, what string, r providers.WebhookResponse, code providers.ErrorCode, says string) {
	t.Helper()
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != code || len(r.Events) != 0 || !strings.Contains(err.Error(), says) {
		t.Errorf("%s: %v (%d events), want %s saying %q and no events", what, err, len(r.Events), code, says)
	}
}

func TestCallbackEvents(t *testing.T) {
	t.Parallel()
	for _, mode := range []wechattest.Mode{wechattest.Plain, wechattest.Safe} {
		srv, p := account(t, mode, nil)
		cases := []struct {
			ev    wechattest.Event
			types []string
		}{
			{wechattest.Subscribe(follower), []string{"follow"}},
			{wechattest.SubscribeByQR(follower, "poster_spring"), []string{"follow"}},
			{wechattest.SubscribeByQR(follower, "store_ginza"), []string{"follow", "store.visit"}},
			{wechattest.Scan(follower, "store_ginza"), []string{"store.visit"}},
			{wechattest.Scan(follower, "poster_spring"), nil},
			{wechattest.Unsubscribe(follower), []string{"unfollow"}},
			{wechattest.Event{Type: "CLICK", OpenID: follower, EventKey: "menu_1"}, nil},
		}
		for _, c := range cases {
			r := post(t, srv, p, c.ev, mode)
			var got []string
			for _, e := range r.Events {
				got = append(got, e.Type)
				if e.Record["openid"] != follower || e.Channel != "wechat" {
					t.Errorf("mode %d, %s: %+v", mode, c.ev.Type, e)
				}
			}
			if err := r.Diagnostics.Err(); err != nil || strings.Join(got, ",") != strings.Join(c.types, ",") {
				t.Errorf("mode %d, %s %s: %v %v, want %v", mode, c.ev.Type, c.ev.EventKey, got, err, c.types)
			}
		}
	}
}

// WeChat retries a callback it got no answer to: the same body is the same event.
func TestCallbackRedeliveredIsSameEvent(t *testing.T) {
	t.Parallel()
	srv, p := account(t, wechattest.Safe, nil)
	ev := wechattest.Subscribe(follower)
	ev.Time = time.Now().Add(-10 * time.Second)
	first, again := post(t, srv, p, ev, wechattest.Safe), post(t, srv, p, ev, wechattest.Safe)
	if len(first.Events) != 1 || len(again.Events) != 1 || first.Events[0].ID != again.Events[0].ID {
		t.Fatalf("%+v and %+v, want one event with one ID", first.Events, again.Events)
	}
	ev.Time = ev.Time.Add(time.Second)
	if other := post(t, srv, p, ev, wechattest.Safe); other.Events[0].ID == first.Events[0].ID {
		t.Fatal("a follow a second later has the first one's ID")
	}
}

func TestCallbackRefused(t *testing.T) {
	t.Parallel()
	srv, p := account(t, wechattest.Safe, nil)
	msg := srv.XML(wechattest.Subscribe(follower))
	const target = "https://musubi.example/v1/webhooks/wechat.test"
	signed := func(o wechattest.Signing) (string, []byte) {
		u, body, err := srv.Signed(target, msg, o)
		if err != nil {
			t.Fatal(err)
		}
		return u, body
	}
	u, body := signed(wechattest.Signing{Mode: wechattest.Safe, Token: "forgedToken"})
	refusedAs(t, "a forged signature", deliver(p, u, body), providers.ErrAuth, "signature does not match")
	u, body = signed(wechattest.Signing{Mode: wechattest.Safe, Time: time.Now().Add(-6 * time.Minute)})
	refusedAs(t, "a timestamp 6 minutes old", deliver(p, u, body), providers.ErrAuth, "outside the 5m0s replay window")
	u, body = signed(wechattest.Signing{Mode: wechattest.Safe, Time: time.Now().Add(6 * time.Minute)})
	refusedAs(t, "a timestamp 6 minutes ahead", deliver(p, u, body), providers.ErrAuth, "replay window")
	u, body = signed(wechattest.Signing{Mode: wechattest.Safe, AppID: "wxffffffffffffffff"})
	refusedAs(t, "a message for another account", deliver(p, u, body), providers.ErrAuth, "for another account")
	u, body = signed(wechattest.Signing{Mode: wechattest.Plain})
	refusedAs(t, "a plain callback to a safe-mode provider", deliver(p, u, body), providers.ErrAuth, "not encrypted")
	u, body = signed(wechattest.Signing{Mode: wechattest.Safe})
	tampered := strings.Replace(string(body), "<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1)
	refusedAs(t, "a changed ciphertext", deliver(p, u, []byte(tampered)), providers.ErrAuth, "msg_signature does not match")
	refusedAs(t, "no signature", deliver(p, target, body), providers.ErrAuth, "no signature")
	unsigned := configure(t, srv, map[string]any{"token": nil})
	refusedAs(t, "a provider without a token", deliver(unsigned, u, body), providers.ErrAuth, "no token")
}

// In plain mode the signature does not cover the body: a signed URL seen once cannot carry
// another body, while WeChat's retry with the same body goes through.
func TestCallbackPlainReusedSignature(t *testing.T) {
	t.Parallel()
	srv, p := account(t, wechattest.Plain, nil)
	u, body, err := srv.Signed("https://musubi.example/v1/webhooks/wechat.test", srv.XML(wechattest.Subscribe(follower)), wechattest.Signing{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := deliver(p, u, body); r.Diagnostics.HasErrors() || len(r.Events) != 1 {
			t.Fatalf("%+v", r)
		}
	}
	forged := srv.XML(wechattest.Unsubscribe("oSomeoneElse000000000000000"))
	refusedAs(t, "the signed URL with another body", deliver(p, u, forged), providers.ErrAuth, "came before with another body")
	// An encrypted body needs the key.
	u, body, _ = srv.Signed("https://musubi.example/v1/webhooks/wechat.test", srv.XML(wechattest.Subscribe(follower)), wechattest.Signing{Mode: wechattest.Safe})
	refusedAs(t, "a safe-mode body without the key", deliver(p, u, body), providers.ErrInvalid, "set encoding_aes_key")
}

func TestCallbackUnionID(t *testing.T) {
	t.Parallel()
	srv, p := account(t, wechattest.Safe, map[string]any{"fetch_unionid": true})
	bound := srv.Follow("", "o6_bmasdasdsad6_2sgVt7hMZOPfL")
	r := post(t, srv, p, wechattest.Subscribe(bound), wechattest.Safe)
	if len(r.Events) != 1 || r.Events[0].Record["unionid"] != "o6_bmasdasdsad6_2sgVt7hMZOPfL" {
		t.Fatalf("%+v", r.Events)
	}
	// WeChat does not answer user/info: the follow is taken without the unionid.
	if err := srv.Fail(wechattest.OpRead, 503, 3); err != nil {
		t.Fatal(err)
	}
	r = post(t, srv, p, wechattest.Subscribe(bound), wechattest.Safe)
	if r.Diagnostics.HasErrors() || len(r.Events) != 1 || r.Events[0].Record["unionid"] != nil ||
		len(r.Diagnostics) != 1 || r.Diagnostics[0].Severity != providers.Warning {
		t.Fatalf("%+v %v", r.Events, r.Diagnostics)
	}
}

func TestVerifyURL(t *testing.T) {
	t.Parallel()
	srv, p := account(t, wechattest.Safe, nil)
	u, err := srv.Verification("https://musubi.example/v1/webhooks/wechat.test", "6593937946813549331")
	if err != nil {
		t.Fatal(err)
	}
	if echo, ds := p.VerifyWebhookURL(providers.WebhookRequest{URL: u}); ds.HasErrors() || echo != "6593937946813549331" {
		t.Fatalf("%q %v", echo, ds.Err())
	}
	forged := strings.Replace(u, "signature=", "signature=0", 1)
	if echo, ds := p.VerifyWebhookURL(providers.WebhookRequest{URL: forged}); providers.CodeOf(ds.Err()) != providers.ErrAuth || echo != "" {
		t.Fatalf("a forged verification: %q %v", echo, ds.Err())
	}
}

// FuzzCallback feeds arbitrary bodies to the parser and, signed, to the receiver in both
// modes: nothing may panic, and what is refused yields no events.
func FuzzCallback(f *testing.F) {
	f.Add([]byte(vectorMessage))
	f.Add([]byte("<xml><Encrypt><![CDATA[" + vectorEncrypt + "]]></Encrypt></xml>"))
	f.Add([]byte("<xml><MsgType>event</MsgType><Event>SCAN</Event><EventKey>store_1</EventKey></xml>"))
	f.Add([]byte("<xml><MsgType>event</MsgType><Event>subscribe</Event><FromUserName>o</FromUserName><CreateTime>-1</CreateTime></xml>"))
	f.Add([]byte("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><xml>&a;</xml>"))
	safe := receiver(f, map[string]any{"encoding_aes_key": vectorAESKey})
	plain := receiver(f, nil)
	q := url.Values{"signature": {vectorSignature}, "timestamp": {vectorTimestamp}, "nonce": {vectorNonce},
		"encrypt_type": {"aes"}, "msg_signature": {vectorMsgSig}}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseCallback(body, DefaultStoreScenePrefix)
		if err != nil && events != nil {
			t.Fatal("a refused body gave events")
		}
		openEnvelope([]byte(strings.Repeat("k", 32)), vectorAppID, string(body))
		for _, p := range []*Provider{safe, plain} {
			r := p.ReceiveWebhook(context.Background(), providers.WebhookRequest{URL: callbackURL(q), Body: body})
			if r.Diagnostics.HasErrors() && len(r.Events) > 0 {
				t.Fatal("a refused callback gave events")
			}
		}
	})
}

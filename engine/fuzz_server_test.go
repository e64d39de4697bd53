package engine

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/line"
	"github.com/musubi-hq/musubi/providers/shopify"
	"github.com/musubi-hq/musubi/providers/signature"
	"github.com/musubi-hq/musubi/providers/smaregi"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/wechat"
)

// The secrets the fuzzed server's receivers verify with: the fuzzer signs its bodies, so
// they reach the parsers and the engine behind the signature check.
const (
	fuzzShopifySecret = "shpss_fuzz-secret"
	fuzzSquareKey     = "square-fuzz-signature-key"
	fuzzLINESecret    = "line-fuzz-channel-secret"
	fuzzSquareURL     = "https://rules.example.jp/v1/webhooks/square.store"
	fuzzWeChatToken   = "wechatfuzztoken"
	fuzzSmaregiSecret = "smaregi-fuzz-webhook-secret"
)

// fuzzServer is one engine, with the quickstart's rules and a source fed by each real
// receiver, shared by every input of a fuzz run: what one input does must not stop it.
type fuzzServer struct {
	once sync.Once
	dir  string // the fuzz target's, which outlives each input
	h    http.Handler
	err  error
}

func (fuzzServer *fuzzServer) handler(t *testing.T) http.Handler {
	fuzzServer.once.Do(func() {
		receivers := map[string]providers.WebhookReceiver{}
		for name, c := range map[string]struct {
			p      providers.Provider
			config map[string]any
		}{
			"shopify.jp": {&shopify.Provider{}, map[string]any{"shop": "musubi-fuzz.myshopify.com", "token": "shpat_x", "client_secret": fuzzShopifySecret,
				// A cart asks the shop for its currency: ask nowhere off this machine.
				"api_url": "http://127.0.0.1:1"}},
			"square.store": {&square.Provider{}, map[string]any{"token": "sq-x", "webhook_signature_key": fuzzSquareKey, "webhook_url": fuzzSquareURL}},
			"line.oa":      {&line.Provider{}, map[string]any{"channel_token": "line-x", "channel_secret": fuzzLINESecret}},
			// WeChat and Smaregi read nothing but what is posted, or ask only this machine.
			"wechat.oa": {wechat.New(), map[string]any{"appid": "wx0123456789abcdef", "secret": "wechat-x", "token": fuzzWeChatToken,
				"api_url": "http://127.0.0.1:1"}},
			"smaregi.store": {&smaregi.Provider{}, map[string]any{"contract_id": "fuzz", "client_id": "c", "client_secret": "s",
				"api_url": "http://127.0.0.1:1", "id_url": "http://127.0.0.1:1", "webhook_secret": fuzzSmaregiSecret}},
		} {
			if ds := c.p.Configure(context.Background(), providers.ConfigureRequest{Name: name, Config: c.config}).Diagnostics; ds.HasErrors() {
				fuzzServer.err = ds.Err()
				return
			}
			receivers[name] = c.p.(providers.WebhookReceiver)
		}
		s, err := OpenSQLite(filepath.Join(fuzzServer.dir, "engine.db"))
		if err != nil {
			fuzzServer.err = err
			return
		}
		e, err := Open(context.Background(), Options{Store: s, BundlePoll: -1, DisableDelivery: true, Receivers: receivers,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			fuzzServer.err = err
			return
		}
		bundle := quickstartBundle(t, func(b *rules.Bundle) {
			b.Sources = append(b.Sources,
				rules.Source{Name: "shop", Provider: "shopify.jp", Identifiers: map[string]string{"email": "email", "ec_id": "customer_id"}},
				rules.Source{Name: "register", Provider: "square.store", Identifiers: map[string]string{"phone": "phone_number"}},
				rules.Source{Name: "oa", Provider: "line.oa", Identifiers: map[string]string{"line_user": "userId"}},
				rules.Source{Name: "wx", Provider: "wechat.oa", Identifiers: map[string]string{"wechat_openid": "openid"}},
				rules.Source{Name: "till", Provider: "smaregi.store", Identifiers: map[string]string{"member": "customerCode"}})
		})
		if _, err := e.PushBundle(context.Background(), bundle, "fuzz"); err != nil {
			fuzzServer.err = err
			return
		}
		fuzzServer.h = e.Handler(ServerOptions{PublicURL: "https://rules.example.jp"})
	})
	if fuzzServer.err != nil {
		t.Fatal(fuzzServer.err)
	}
	return fuzzServer.h
}

// serveOnce answers one request in-process.
func serveOnce(h http.Handler, req *http.Request) (int, string) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// stillHealthy fails unless the engine answers /healthz 200: no input may stop it.
func stillHealthy(t *testing.T, h http.Handler, after string, status int, body string) {
	t.Helper()
	if status >= 500 {
		t.Fatalf("%s: %d %s", after, status, body)
	}
	if hs, hb := serveOnce(h, httptest.NewRequest("GET", "/healthz", nil)); hs != http.StatusOK {
		t.Fatalf("after %s (%d %s), /healthz: %d %s", after, status, body, hs, hb)
	}
}

// FuzzEventsEndpoint posts arbitrary bodies to /v1/events: each gets an answer below 500,
// and the engine goes on.
func FuzzEventsEndpoint(f *testing.F) {
	f.Add([]byte(purchase))
	f.Add([]byte(`[` + purchase + `,` + follow + `]`))
	f.Add([]byte(`{"id": "x", "type": "custom.x", "identifiers": {"email": "a@b.jp"}, "data": {"k": [1, {"a": null}]}}`))
	f.Add([]byte(`{"id": "s", "type": "segment.entered", "identifiers": {"email": "a@b.jp"}}`))
	f.Add([]byte(`{"id": "o", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"total": 9223372036854775807}}`))
	f.Add([]byte(`{"id": "t", "type": "cart.updated", "time": "0001-01-01T00:00:01Z", "identifiers": {"phone": "090"}}`))
	srv := &fuzzServer{dir: f.TempDir()}
	f.Fuzz(func(t *testing.T, body []byte) {
		h := srv.handler(t)
		req := httptest.NewRequest("POST", "/v1/events", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		status, resp := serveOnce(h, req)
		stillHealthy(t, h, "POST /v1/events", status, resp)
	})
}

// FuzzWebhookRoutes posts arbitrary, correctly signed bodies to each provider's webhook
// route, and forged ones: each gets an answer below 500, and the engine goes on.
func FuzzWebhookRoutes(f *testing.F) {
	f.Add(uint8(0), "orders/create", []byte(`{"id": 450789469, "email": "hanako@example.jp", "total_price": "3200", "currency": "JPY", "line_items": []}`))
	f.Add(uint8(0), "customers/update", []byte(`{"id": 706405506, "email": "hanako@example.jp", "updated_at": "2027-03-01T10:00:00+09:00"}`))
	f.Add(uint8(1), "", []byte(`{"merchant_id": "M", "type": "payment.updated", "event_id": "e-1", "data": {"type": "payment", "id": "p-1", "object": {"payment": {"id": "p-1", "status": "COMPLETED", "amount_money": {"amount": 3200, "currency": "JPY"}}}}}`))
	f.Add(uint8(2), "", []byte(`{"destination": "U0", "events": [{"type": "follow", "webhookEventId": "01H", "timestamp": 1700000000000, "source": {"type": "user", "userId": "U4af4980629a1b2c3d4e5f60718293a4b"}, "deliveryContext": {"isRedelivery": false}}]}`))
	f.Add(uint8(3), "", []byte(`<xml><ToUserName>gh_x</ToUserName><FromUserName>oFuzz</FromUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>`))
	f.Add(uint8(4), "", []byte(`{"contractId": "fuzz", "event": "pos:transactions", "action": "created", "transactionHeadIds": ["1"]}`))
	f.Add(uint8(5), "orders/create", []byte(`{}`))
	srv := &fuzzServer{dir: f.TempDir()}
	f.Fuzz(func(t *testing.T, route uint8, topic string, body []byte) {
		h := srv.handler(t)
		var req *http.Request
		switch route % 6 {
		case 0:
			req = httptest.NewRequest("POST", "/v1/webhooks/shopify.jp", strings.NewReader(string(body)))
			req.Header.Set(signature.ShopifyHeader, signature.SignShopify(fuzzShopifySecret, body))
			req.Header.Set(shopify.ShopHeader, "musubi-fuzz.myshopify.com")
			req.Header.Set(shopify.WebhookIDHeader, "fuzz-"+topic)
			req.Header.Set(shopify.TopicHeader, topic)
		case 1:
			req = httptest.NewRequest("POST", "/v1/webhooks/square.store", strings.NewReader(string(body)))
			req.Header.Set(signature.SquareHeader, signature.SignSquare(fuzzSquareKey, fuzzSquareURL, body))
		case 2:
			req = httptest.NewRequest("POST", "/v1/webhooks/line.oa", strings.NewReader(string(body)))
			req.Header.Set(signature.LINEHeader, signature.SignLINE(fuzzLINESecret, body))
		case 3:
			// WeChat signs the URL's timestamp and nonce with the token, not the body.
			ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "fuzz"
			parts := []string{fuzzWeChatToken, ts, nonce}
			slices.Sort(parts)
			sum := sha1.Sum([]byte(strings.Join(parts, "")))
			req = httptest.NewRequest("POST", "/v1/webhooks/wechat.oa?timestamp="+ts+"&nonce="+nonce+"&signature="+hex.EncodeToString(sum[:]),
				strings.NewReader(string(body)))
		case 4:
			req = httptest.NewRequest("POST", "/v1/webhooks/smaregi.store", strings.NewReader(string(body)))
			req.Header.Set(smaregi.DefaultWebhookHeader, fuzzSmaregiSecret)
		default: // forged: signed with another secret
			req = httptest.NewRequest("POST", "/v1/webhooks/line.oa", strings.NewReader(string(body)))
			req.Header.Set(signature.LINEHeader, signature.SignLINE("not-the-secret", body))
		}
		req.Header.Set("Content-Type", "application/json")
		status, resp := serveOnce(h, req)
		stillHealthy(t, h, req.Method+" "+req.URL.Path, status, resp)
	})
}

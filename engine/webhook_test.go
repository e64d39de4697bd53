package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

// signedReceiver stands in for a provider's webhook receiver: a request signed "ok" in
// X-Test-Signature is taken, its body being the event ID of one follow.
type signedReceiver struct{}

func (signedReceiver) ReceiveWebhook(_ context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	if req.Header.Get("X-Test-Signature") != "ok" {
		return providers.WebhookResponse{Diagnostics: providers.FromError("webhook refused",
			&providers.APIError{Code: providers.ErrAuth, Message: "bad signature"})}
	}
	id := strings.TrimSpace(string(req.Body))
	if id == "" {
		return providers.WebhookResponse{} // a verification call: no events
	}
	return providers.WebhookResponse{Events: []providers.InboundEvent{{ID: id, Type: "follow", Channel: "line",
		Record: map[string]any{"userId": "U" + strings.Repeat("1", 32)}}}}
}

// webhookServer runs an engine that takes webhooks of sandbox.line (which feeds the
// quickstart's line source, and with edit maybe more) and of line.other (which feeds none).
func webhookServer(t *testing.T, edit func(*rules.Bundle)) *httptest.Server {
	t.Helper()
	_, srv := webhookEngine(t, edit, map[string]providers.WebhookReceiver{"sandbox.line": signedReceiver{}, "line.other": signedReceiver{}})
	return srv
}

// webhookEngine runs an engine on the quickstart's rules that takes the webhooks of receivers.
func webhookEngine(t *testing.T, edit func(*rules.Bundle), receivers map[string]providers.WebhookReceiver) (*Engine, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	s, err := OpenSQLite(filepath.Join(dir, "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: noon}
	e, err := Open(context.Background(), Options{Store: s, Now: c.Now, BundlePoll: -1, DisableDelivery: true, Receivers: receivers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); s.Close() })
	if _, err := e.PushBundle(context.Background(), quickstartBundle(t, edit), "test"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler(ServerOptions{}))
	t.Cleanup(srv.Close)
	return e, srv
}

type webhookCase struct {
	name, path, body string
	unsigned         bool
	header           http.Header // sent instead of signedReceiver's signature, when set
	status           int
	want             string // in the body
}

func (c webhookCase) run(t *testing.T, srv *httptest.Server) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+c.path, strings.NewReader(c.body))
	switch {
	case c.header != nil:
		req.Header = c.header.Clone()
	case !c.unsigned:
		req.Header.Set("X-Test-Signature", "ok")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
		t.Errorf("%s: POST %s: %d %s\nwant %d with %s", c.name, c.path, resp.StatusCode, b, c.status, c.want)
	}
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}

// The URL's ?source= says which identity_source a webhook feeds, as the LINE provider
// registers it; without it, the provider's only source. A source that is unknown, or fed by
// another provider, is refused naming the ones the provider feeds; so is a webhook of a
// provider that feeds several when the URL names none. The signature is checked first.
func TestWebhookSourceFromTheURL(t *testing.T) {
	srv := webhookServer(t, nil)
	for _, c := range []webhookCase{
		{name: "the only source", path: "/v1/webhooks/sandbox.line", body: "ev-1", status: 200, want: `"customer":"c_`},
		{name: "named", path: "/v1/webhooks/sandbox.line?source=line", body: "ev-2", status: 200, want: `"customer":"c_`},
		{name: "redelivered", path: "/v1/webhooks/sandbox.line?source=line", body: "ev-1", status: 200, want: `"duplicate":true`},
		{name: "verification", path: "/v1/webhooks/sandbox.line?source=line", status: 200, want: `"results":[]`},
		{name: "misspelt", path: "/v1/webhooks/sandbox.line?source=lin", body: "ev-3", status: 400,
			want: jsonText(`source: no identity_source "lin" in the active rules (did you mean "line"?); provider sandbox.line feeds "line"`)},
		{name: "misspelt, no events", path: "/v1/webhooks/sandbox.line?source=nope", status: 400,
			want: jsonText(`source: no identity_source "nope" in the active rules; provider sandbox.line feeds "line"`)},
		{name: "another provider's", path: "/v1/webhooks/sandbox.line?source=pos", body: "ev-4", status: 400,
			want: jsonText(`source: identity_source "pos" is fed by provider sandbox.pos, not sandbox.line; provider sandbox.line feeds "line"`)},
		{name: "empty", path: "/v1/webhooks/sandbox.line?source=", body: "ev-5", status: 400,
			want: jsonText(`source: empty; name the identity_source this webhook feeds (provider sandbox.line feeds "line")`)},
		{name: "unsigned", path: "/v1/webhooks/sandbox.line?source=nope", body: "ev-6", unsigned: true, status: 401, want: "bad signature"},
		{name: "a provider feeding none", path: "/v1/webhooks/line.other", body: "ev-7", status: 422,
			want: "no identity_source in the active rules uses provider line.other"},
		{name: "a provider feeding none, named", path: "/v1/webhooks/line.other?source=line", body: "ev-8", status: 400,
			want: jsonText(`source: identity_source "line" is fed by provider sandbox.line, not line.other; no identity_source in the active rules uses provider line.other`)},
	} {
		c.run(t, srv)
	}
}

// With two sources on one provider, the URL must say which. The provider's event IDs are one
// space: its signature does not cover the URL, so one signed event posted again under the
// other source is the same event, a duplicate, not a second one.
func TestWebhookOfAProviderFeedingSeveralSources(t *testing.T) {
	srv := webhookServer(t, func(b *rules.Bundle) {
		b.Sources = append(b.Sources, rules.Source{Name: "app", Provider: "sandbox.line", Identifiers: map[string]string{"line_user": "userId"}})
	})
	for _, c := range []webhookCase{
		{name: "unnamed", path: "/v1/webhooks/sandbox.line", body: "ev-1", status: 400,
			want: "provider sandbox.line feeds several identity sources (app, line): name the one this webhook feeds in its URL, as ?source=NAME"},
		{name: "unnamed, no events", path: "/v1/webhooks/sandbox.line", status: 400, want: "feeds several identity sources"},
		{name: "app", path: "/v1/webhooks/sandbox.line?source=app", body: "ev-1", status: 200, want: `"customer":"c_`},
		{name: "app again", path: "/v1/webhooks/sandbox.line?source=app", body: "ev-1", status: 200, want: `"duplicate":true`},
		{name: "line, replaying app's", path: "/v1/webhooks/sandbox.line?source=line", body: "ev-1", status: 200, want: `"duplicate":true`},
		{name: "line", path: "/v1/webhooks/sandbox.line?source=line", body: "ev-9", status: 200, want: `"customer":"c_`},
		{name: "named as Shopify names it", path: "/v1/webhooks/sandbox.line?musubi_marker=x&musubi_source=app", body: "ev-10", status: 200, want: `"customer":"c_`},
		{name: "misspelt", path: "/v1/webhooks/sandbox.line?source=ap", body: "ev-2", status: 400,
			want: jsonText(`(did you mean "app"?); provider sandbox.line feeds "app", "line"`)},
	} {
		c.run(t, srv)
	}
	webhookCase{name: "line again", path: "/v1/webhooks/sandbox.line?source=line", body: "ev-9", status: 200, want: `"duplicate":true`}.run(t, srv)
}

// echoReceiver checks its URL as WeChat's does and asks for a text reply to its calls.
type echoReceiver struct{ signedReceiver }

func (echoReceiver) VerifyWebhookURL(req providers.WebhookRequest) (string, providers.Diagnostics) {
	u, _ := url.Parse(req.URL)
	if u.Query().Get("signature") != "ok" {
		return "", providers.FromError("refused", &providers.APIError{Code: providers.ErrAuth, Message: "bad signature"})
	}
	return u.Query().Get("echostr"), nil
}

func (r echoReceiver) ReceiveWebhook(ctx context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	resp := r.signedReceiver.ReceiveWebhook(ctx, req)
	resp.Reply = "success"
	return resp
}

// A system that checks its webhook URL with a GET gets its echo; one that wants a text reply
// gets it instead of the engine's JSON. Other receivers take no GET.
func TestWebhookURLCheckAndTextReply(t *testing.T) {
	_, srv := webhookEngine(t, nil, map[string]providers.WebhookReceiver{"sandbox.line": echoReceiver{}, "line.other": signedReceiver{}})
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/v1/webhooks/sandbox.line?signature=ok&echostr=12345", 200, "12345"},
		{"/v1/webhooks/sandbox.line?signature=forged&echostr=12345", 401, "bad signature"},
		{"/v1/webhooks/line.other?signature=ok&echostr=12345", 404, "checks its webhook URL"},
		{"/v1/webhooks/nope?echostr=1", 404, "checks its webhook URL"},
	} {
		status, body := get(t, srv.URL+c.path)
		if status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("GET %s: %d %q, want %d with %q", c.path, status, body, c.status, c.body)
		}
	}
	webhookCase{name: "text reply", path: "/v1/webhooks/sandbox.line", body: "ev-1", status: 200, want: "success"}.run(t, srv)
	webhookCase{name: "text reply, no events", path: "/v1/webhooks/sandbox.line", status: 200, want: "success"}.run(t, srv)
}

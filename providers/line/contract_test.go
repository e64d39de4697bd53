package line

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/line/linetest"
)

// raw calls the contract server as any HTTP client would, to check the rules it enforces.
func raw(t *testing.T, srv *linetest.Server, method, path string, body any, header map[string]string) (int, lineError, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var le lineError
	json.NewDecoder(res.Body).Decode(&le)
	return res.StatusCode, le, res.Header
}

func text(s string) map[string]string { return map[string]string{"type": "text", "text": s} }

func TestContractServerRules(t *testing.T) {
	t.Parallel()
	srv := linetest.NewServer()
	defer srv.Close()
	key := RetryKey("k")
	six := []any{text("1"), text("2"), text("3"), text("4"), text("5"), text("6")}
	cases := []struct {
		name       string
		method     string
		path       string
		body       any
		header     map[string]string
		status     int
		property   string // a detail must name it
		messageHas string
	}{
		{"six messages", "POST", "/v2/bot/message/push", map[string]any{"to": user(1), "messages": six}, nil, 400, "messages", ""},
		{"text over 5000 UTF-16 units", "POST", "/v2/bot/message/push", map[string]any{"to": user(1), "messages": []any{text(strings.Repeat("🍎", 2501))}}, nil, 400, "messages[0].text", ""},
		{"push to a non-user", "POST", "/v2/bot/message/push", map[string]any{"to": "someone", "messages": []any{text("x")}}, nil, 400, "to", ""},
		{"multicast to 501", "POST", "/v2/bot/message/multicast", map[string]any{"to": users(501), "messages": []any{text("x")}}, nil, 400, "to", ""},
		{"retry key not a UUID", "POST", "/v2/bot/message/push", map[string]any{"to": user(1), "messages": []any{text("x")}}, map[string]string{"X-Line-Retry-Key": "evt-1"}, 400, "", "X-Line-Retry-Key"},
		{"retry key where LINE takes none", "PUT", "/v2/bot/channel/webhook/endpoint", map[string]any{"endpoint": "https://a.example/h"}, map[string]string{"X-Line-Retry-Key": key}, 400, "", "Retry-Key"},
		{"webhook over plain HTTP", "PUT", "/v2/bot/channel/webhook/endpoint", map[string]any{"endpoint": "http://a.example/h"}, nil, 400, "endpoint", ""},
		{"audience name of 121", "POST", "/v2/bot/audienceGroup/upload", map[string]any{"description": strings.Repeat("a", 121)}, nil, 400, "description", ""},
		{"upload of 10,001 IDs", "POST", "/v2/bot/audienceGroup/upload", map[string]any{"description": "a", "audiences": ids(10_001)}, nil, 400, "audiences", ""},
		{"unknown audience group", "GET", "/v2/bot/audienceGroup/42", nil, nil, 400, "", "audience group not found"},
		{"wrong token", "GET", "/v2/bot/info", nil, map[string]string{"Authorization": "Bearer nope"}, 401, "", "Authentication failed"},
	}
	for _, c := range cases {
		status, le, h := raw(t, srv, c.method, c.path, c.body, c.header)
		if status != c.status || le.Message == "" || h.Get(requestIDHeader) == "" {
			t.Errorf("%s: %d %q (request ID %q), want %d with a message and a request ID", c.name, status, le.Message, h.Get(requestIDHeader), c.status)
			continue
		}
		if c.property != "" && !hasProperty(le, c.property) {
			t.Errorf("%s: details %+v do not name %s", c.name, le.Details, c.property)
		}
		if !strings.Contains(le.String(), c.messageHas) {
			t.Errorf("%s: %q does not mention %q", c.name, le.String(), c.messageHas)
		}
	}
	if n := len(srv.Deliveries()); n != 0 {
		t.Fatalf("refused requests delivered %d times", n)
	}
}

func hasProperty(le lineError, property string) bool {
	for _, d := range le.Details {
		if d.Property == property {
			return true
		}
	}
	return false
}

func ids(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"id": user(i)}
	}
	return out
}

// A retry key is remembered for 24 hours: the same key a day later is a new request.
func TestContractRetryKeyLifetime(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return now })
	first := send(p, user(1), "x", "k")
	now = now.Add(23 * time.Hour)
	if r := send(p, user(1), "x", "k"); !r.Duplicate || r.ID != first.ID {
		t.Fatalf("23 hours later: %+v, want a duplicate", r)
	}
	now = now.Add(2 * time.Hour)
	if r := send(p, user(1), "x", "k"); r.Duplicate || r.Diagnostics.HasErrors() {
		t.Fatalf("25 hours later: %+v %v, want a new delivery", r, r.Diagnostics.Err())
	}
	if n := len(srv.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

// Narrowcast allows 60 requests an hour: the 61st is a rate limit, not the monthly quota.
func TestContractNarrowcastRateLimit(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	p.retry.attempts = 1
	ctx := context.Background()
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "k",
		Attributes: providers.Attrs{"segment": "s", "description": "d"}})
	if err := p.AddMembers(ctx, r.ID, users(50)); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		if _, err := p.Broadcast(ctx, Broadcast{AudienceID: r.ID, Text: "x", IdempotencyKey: fmt.Sprint(i)}); err != nil {
			t.Fatalf("narrowcast %d: %v", i+1, err)
		}
	}
	_, err := p.Broadcast(ctx, Broadcast{AudienceID: r.ID, Text: "x", IdempotencyKey: "61"})
	if ae := apiError(err); ae == nil || ae.Code != providers.ErrRateLimited || ae.RetryAfter != rateLimitWait {
		t.Fatalf("61st narrowcast in an hour: %v, want rate_limited", err)
	}
	_ = srv
}

// Reads of a group report LINE's asynchronous build: an expired group is gone, so the next
// apply makes a new one; a failed build is a warning.
func TestAudienceExpiredIsGone(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	ctx := context.Background()
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "k",
		Attributes: providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}})
	id, _ := parseAudienceID(r.ID)
	if err := srv.ExpireAudience(id); err != nil {
		t.Fatal(err)
	}
	if got := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: r.ID}); got.Found || got.Diagnostics.HasErrors() {
		t.Fatalf("an expired group: %+v", got)
	}
	if got := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, IdempotencyKey: "k"}); got.Found {
		t.Fatal("an expired group is found by its create's key")
	}
	again := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "k",
		Attributes: providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}})
	if again.ID == r.ID || again.Diagnostics.HasErrors() {
		t.Fatalf("create after expiry: %+v, want a new group", again)
	}
}

// The name LINE shows carries the description and Musubi's mark; a group renamed without the
// mark reads as another segment's, so the plan replaces it.
func TestAudienceName(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	ctx := context.Background()
	planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindAudience, Proposed: providers.Attrs{"segment": "loyal_store"}}).Planned
	if planned.String("description") != "loyal_store" {
		t.Fatalf("a segment without a description: planned %v, want the group named after the segment", planned)
	}
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "apply-1", Attributes: planned})
	id, _ := parseAudienceID(r.ID)
	a, _ := srv.Audience(id)
	if want := "loyal_store [musubi loyal_store " + keyTag("apply-1") + "]"; a.Name != want {
		t.Fatalf("name %q, want %q", a.Name, want)
	}
	ds := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindAudience, Attributes: providers.Attrs{"segment": "s", "description": "two\nlines"}}).Diagnostics
	if !ds.HasErrors() || ds[0].Attribute != "description" {
		t.Fatalf("a line break in the name: %v, want an error on description", ds.Err())
	}
	srv.RenameAudience(id, "常連")
	got := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: r.ID})
	if d := providers.Diff(providers.KindAudience, planned, got.Attributes); strings.Join(d, ",") != "description,segment" {
		t.Fatalf("renamed without the mark: differs in %v", d)
	}
}

func TestSubscriptionPlan(t *testing.T) {
	t.Parallel()
	_, p, _ := contract(t)
	ctx := context.Background()
	planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindSubscription,
		Proposed: providers.Attrs{"source": "line", "topics": []string{"purchase", "follow"}}}).Planned
	if planned.String("endpoint") != "https://musubi.example/v1/webhooks/line.test?source=line" ||
		strings.Join(planned.Strings("topics"), ",") != "follow,unfollow" {
		t.Fatalf("planned %v: want musubi serve's route and the topics LINE delivers", planned)
	}
	again := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindSubscription, Prior: planned, Proposed: planned}).Planned
	if d := providers.Diff(providers.KindSubscription, planned, again); len(d) != 0 {
		t.Fatalf("planning a planned subscription changes %v", d)
	}
	q := New()
	q.Configure(ctx, providers.ConfigureRequest{Name: "line.oa", Config: map[string]any{"channel_token": "t"}})
	ds := q.Validate(ctx, providers.ValidateRequest{Kind: providers.KindSubscription, Attributes: providers.Attrs{"source": "line", "topics": []string{"follow"}}}).Diagnostics
	if !ds.HasErrors() || ds[0].Attribute != "endpoint" || !strings.Contains(ds.Err().Error(), "engine_url") {
		t.Fatalf("no engine_url and no endpoint: %v, want an error on endpoint naming engine_url", ds.Err())
	}
}

// LINE sends follows and unfollows whatever is asked, as the schema says: asking for more is a
// warning, asking for none of them an error, as with Square and Shopify.
func TestSubscriptionTopicsLINEDoesNotSend(t *testing.T) {
	t.Parallel()
	_, p, _ := contract(t)
	ctx := context.Background()
	if got := p.Schema(ctx).Kinds[providers.KindSubscription].Topics; strings.Join(got, ",") != "follow,unfollow" {
		t.Errorf("the schema says LINE delivers %v", got)
	}
	validate := func(topics ...string) providers.Diagnostics {
		return p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindSubscription,
			Attributes: providers.Attrs{"source": "line", "topics": topics}}).Diagnostics
	}
	if ds := validate("follow", "unfollow"); len(ds) != 0 {
		t.Errorf("follow and unfollow: %v", ds)
	}
	if ds := validate("purchase", "follow"); len(ds) != 1 || ds[0].Severity != providers.Warning ||
		ds[0].Detail != "LINE sends no purchase events; the webhook delivers follow and unfollow only" {
		t.Errorf("purchase and follow: %v, want one warning naming purchase", ds)
	}
	if ds := validate("purchase", "cart.updated"); !ds.HasErrors() || ds[0].Attribute != "topics" ||
		!strings.Contains(ds.Err().Error(), `LINE sends none of the events ["purchase" "cart.updated"]; it delivers follow and unfollow`) {
		t.Errorf("purchase and cart.updated: %v, want an error on topics", ds.Err())
	}
}

// Destroying the subscription leaves a URL someone else has set since.
func TestSubscriptionDeleteLeavesAnotherURL(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	ctx := context.Background()
	planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindSubscription, Proposed: providers.Attrs{"source": "line", "topics": []string{"follow"}}}).Planned
	c := p.Create(ctx, providers.CreateRequest{Kind: providers.KindSubscription, IdempotencyKey: "k", Attributes: planned})
	srv.SetWebhookEndpoint("https://other-bot.example/callback")
	if err := p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindSubscription, ID: c.ID, Prior: planned}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if got := srv.WebhookEndpoint(); got != "https://other-bot.example/callback" {
		t.Fatalf("the webhook URL is %q after the delete, want the other system's kept", got)
	}
}

func TestSubscriptionOfAnotherChannel(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	srv.SetWebhookEndpoint("https://elsewhere.example/hook")
	srv.SetWebhookActive(false)
	ctx := context.Background()
	if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindSubscription, ID: "U" + strings.Repeat("0", 32)}); r.Found {
		t.Fatal("a subscription recorded for another bot is found on this channel")
	}
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindSubscription, ID: srv.BotUserID()})
	if !r.Found || len(r.Diagnostics) != 1 || r.Diagnostics[0].Severity != providers.Warning {
		t.Fatalf("%+v, want found with a warning that webhooks are off", r)
	}
}

func TestUnsupportedKinds(t *testing.T) {
	t.Parallel()
	_, p, _ := contract(t)
	ctx := context.Background()
	for _, k := range []providers.Kind{providers.KindCoupon, providers.KindCodePool, providers.KindRules} {
		if _, ok := p.Schema(ctx).Kinds[k]; ok {
			t.Errorf("the schema declares %s", k)
		}
		if r := p.Create(ctx, providers.CreateRequest{Kind: k, IdempotencyKey: "k"}); !r.Diagnostics.HasErrors() {
			t.Errorf("Create %s succeeded", k)
		}
	}
	ds := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindMessage, Attributes: providers.Attrs{"template": "x", "subject": "Hi"}}).Diagnostics
	if !ds.HasErrors() || ds[0].Attribute != "subject" {
		t.Fatalf("a message with a subject: %v, want an error naming subject", ds.Err())
	}
}

func TestImportMessageRefuses(t *testing.T) {
	t.Parallel()
	_, p, _ := contract(t)
	r := p.Import(context.Background(), providers.ImportRequest{Kind: providers.KindMessage, ID: "msg-123"})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound || !strings.Contains(r.Diagnostics.Err().Error(), "keeps no message templates") {
		t.Fatalf("import of a message: %v", r.Diagnostics.Err())
	}
}

// In another process, a message's read answers from the state's copy: LINE has nothing to
// compare it with, so it never drifts.
func TestMessageReadFromState(t *testing.T) {
	t.Parallel()
	_, p, _ := contract(t)
	ctx := context.Background()
	prior := providers.Attrs{"name": "trigger.cart_nudge", "template": "あと少し"}
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindMessage, ID: messageID("k"), Prior: prior})
	if !r.Found || len(providers.Diff(providers.KindMessage, prior, r.Attributes)) != 0 {
		t.Fatalf("%+v", r)
	}
	// An interrupted create is made again: it only repeats LINE's validation.
	if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindMessage, IdempotencyKey: "k", Prior: prior}); r.Found {
		t.Fatal("a create this process never made is found by its key")
	}
}

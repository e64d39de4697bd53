package email

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/email/sendgridtest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

const testAPIKey = "SG.test-key.0123456789abcdefghijklmnopqrstuvwxyz"

// sendgridProvider configures a SendGrid email provider against a contract server.
func sendgridProvider(t testing.TB, srv *sendgridtest.Server, overrides map[string]any) (*Provider, *providertest.Sleeps) {
	t.Helper()
	s := &providertest.Sleeps{}
	p := &Provider{Sleep: s.Sleep}
	providertest.Configure(t, p, "email.sg", map[string]any{
		"transport": "sendgrid", "api_key": testAPIKey, "endpoint": srv.URL,
		"from": "news@shop.example", "from_name": "結びストア", "reply_to": "support@shop.example",
		"unsubscribe_url": "https://shop.example/unsubscribe?c={customer}",
		"asm_group_id":    float64(4242), "categories": []any{"musubi", "spring"},
		"ledger": filepath.Join(t.TempDir(), "ledger.db"),
	}, overrides, "api_key")
	t.Cleanup(func() { p.Close() })
	return p, s
}

func newSendGrid(t testing.TB) *sendgridtest.Server {
	srv := sendgridtest.NewServer(testAPIKey)
	t.Cleanup(srv.Close)
	return srv
}

func TestSendGridSend(t *testing.T) {
	t.Parallel()
	srv := newSendGrid(t)
	p, _ := sendgridProvider(t, srv, nil)
	res := send(t, p, spring("trigger.cart_nudge/evt_1/cus_0042"))
	sent := srv.Sent()
	if len(sent) != 1 {
		t.Fatalf("SendGrid accepted %d messages, want 1", len(sent))
	}
	m := sent[0]
	if res.ID == "" || res.ID != m.MessageID {
		t.Errorf("Send returned ID %q, want SendGrid's X-Message-Id %q", res.ID, m.MessageID)
	}
	pz := m.Personalizations[0]
	if len(m.Personalizations) != 1 || len(pz.To) != 1 || pz.To[0].Email != "hanako@example.jp" {
		t.Errorf("personalizations %+v", m.Personalizations)
	}
	wantArgs := map[string]string{argKey: "trigger.cart_nudge/evt_1/cus_0042", argName: "campaign.spring", argCustomer: "cus_0042",
		argMessage: strings.Split(messageID(spring(""), "news@shop.example"), "@")[0]}
	for k, v := range wantArgs {
		if pz.CustomArgs[k] != v {
			t.Errorf("custom_args[%s] = %q, want %q", k, pz.CustomArgs[k], v)
		}
	}
	if m.From.Email != "news@shop.example" || m.From.Name != "結びストア" || m.ReplyTo.Email != "support@shop.example" {
		t.Errorf("from %+v reply_to %+v", m.From, m.ReplyTo)
	}
	if m.Subject != jaSubject || len(m.Content) != 1 || m.Content[0].Type != "text/plain" || m.Content[0].Value != jaText {
		t.Errorf("subject %q content %+v", m.Subject, m.Content)
	}
	if m.Headers["List-Unsubscribe"] != "<https://shop.example/unsubscribe?c=cus_0042>" || m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("headers %v", m.Headers)
	}
	if g, _ := m.ASM.GroupID.Int64(); g != 4242 || strings.Join(m.Categories, ",") != "musubi,spring" {
		t.Errorf("asm %v categories %v", m.ASM, m.Categories)
	}

	retry := send(t, p, spring("trigger.cart_nudge/evt_1/cus_0042"))
	if !retry.Duplicate || retry.ID != res.ID || len(srv.Sent()) != 1 {
		t.Fatalf("a retry with the same key: duplicate=%v id=%q, SendGrid holds %d", retry.Duplicate, retry.ID, len(srv.Sent()))
	}
}

func TestSendGridSandboxModeDeliversNothing(t *testing.T) {
	t.Parallel()
	srv := newSendGrid(t)
	p, _ := sendgridProvider(t, srv, map[string]any{"sandbox_mode": true})
	send(t, p, spring("k"))
	if n := len(srv.Sent()); n != 0 {
		t.Fatalf("sandbox mode delivered %d messages", n)
	}
}

func TestSendGridRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("retried after Retry-After", func(t *testing.T) {
		t.Parallel()
		srv := newSendGrid(t)
		p, s := sendgridProvider(t, srv, nil)
		srv.Inject(sendgridtest.OpSend, contracttest.Fault{Status: 429, RetryAfter: 3 * time.Second, Times: 2})
		send(t, p, spring("k"))
		if w := s.Waits(); len(w) != 2 || w[0] != 3*time.Second || w[1] != 3*time.Second {
			t.Fatalf("waited %v, want [3s 3s]", w)
		}
		if len(srv.Sent()) != 1 {
			t.Fatal("the throttled send was not delivered once")
		}
	})
	t.Run("gives up after three attempts", func(t *testing.T) {
		t.Parallel()
		srv := newSendGrid(t)
		p, s := sendgridProvider(t, srv, nil)
		srv.Inject(sendgridtest.OpSend, contracttest.Fault{Status: 429, RetryAfter: 5 * time.Second, Times: 3})
		err := p.Send(context.Background(), spring("k")).Diagnostics.Err()
		var ae *providers.APIError
		if !errors.As(err, &ae) || ae.Code != providers.ErrRateLimited || ae.RetryAfter != 5*time.Second || ae.Status != 429 {
			t.Fatalf("got %v, want rate_limited with retry after 5s", err)
		}
		if len(s.Waits()) != 2 {
			t.Fatalf("waited %v", s.Waits())
		}
		// The key was released: once SendGrid accepts again, the retry delivers.
		if res := send(t, p, spring("k")); res.Duplicate || len(srv.Sent()) != 1 {
			t.Fatal("the retry after giving up did not deliver")
		}
	})
	t.Run("a long wait is left to the caller", func(t *testing.T) {
		t.Parallel()
		srv := newSendGrid(t)
		p, s := sendgridProvider(t, srv, nil)
		srv.Inject(sendgridtest.OpSend, contracttest.Fault{Status: 429, RetryAfter: 10 * time.Minute, Times: 1})
		err := p.Send(context.Background(), spring("k")).Diagnostics.Err()
		var ae *providers.APIError
		if !errors.As(err, &ae) || ae.RetryAfter != 10*time.Minute || len(s.Waits()) != 0 {
			t.Fatalf("got %v after waiting %v", err, s.Waits())
		}
	})
}

func TestSendGridErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(srv *sendgridtest.Server)
		cfg   map[string]any
		want  providers.ErrorCode
	}{
		{name: "wrong key", cfg: map[string]any{"api_key": "SG.wrong"}, want: providers.ErrAuth},
		{name: "forbidden", setup: func(s *sendgridtest.Server) { s.Fail(sendgridtest.OpSend, 403, 1) }, want: providers.ErrAuth},
		{name: "credits used up", setup: func(s *sendgridtest.Server) { s.ExhaustCredits() }, want: providers.ErrQuota},
		{name: "too large", setup: func(s *sendgridtest.Server) { s.Fail(sendgridtest.OpSend, 413, 1) }, want: providers.ErrInvalid},
		{name: "outage", setup: func(s *sendgridtest.Server) { s.Fail(sendgridtest.OpSend, 503, maxAttempts) }, want: providers.ErrUnavailable},
		{name: "lost response", setup: func(s *sendgridtest.Server) { s.Lose(sendgridtest.OpSend, 1) }, want: providers.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newSendGrid(t)
			p, s := sendgridProvider(t, srv, c.cfg)
			if c.setup != nil {
				c.setup(srv)
			}
			err := p.Send(context.Background(), spring("k")).Diagnostics.Err()
			if got := providers.CodeOf(err); got != c.want {
				t.Fatalf("error class %q, want %q: %v", got, c.want, err)
			}
			if c.want != providers.ErrUnavailable && len(s.Waits()) > 0 {
				t.Fatalf("a %s error was retried", c.want)
			}
		})
	}
}

// TestSendGridContract checks the contract server enforces the documented mail send rules
// and error shape, so the provider's tests against it mean something.
func TestSendGridContract(t *testing.T) {
	t.Parallel()
	srv := newSendGrid(t)
	valid := func() map[string]any {
		return map[string]any{
			"personalizations": []any{map[string]any{"to": []any{map[string]any{"email": "a@example.jp"}}}},
			"from":             map[string]any{"email": "news@shop.example"},
			"subject":          "hi", "content": []any{map[string]any{"type": "text/plain", "value": "hello"}},
		}
	}
	many := make([]any, sendgridtest.MaxPersonalizations+1)
	for i := range many {
		many[i] = map[string]any{"to": []any{map[string]any{"email": "a@example.jp"}}}
	}
	cases := []struct {
		name   string
		change func(m map[string]any)
		auth   string
		status int
		field  string
	}{
		{name: "valid", status: 202},
		{name: "no key", auth: "-", status: 401},
		{name: "basic auth", auth: "Basic " + testAPIKey, status: 401},
		{name: "1001 personalizations", change: func(m map[string]any) { m["personalizations"] = many }, status: 400, field: "personalizations"},
		{name: "no personalizations", change: func(m map[string]any) { m["personalizations"] = []any{} }, status: 400, field: "personalizations"},
		{name: "no from", change: func(m map[string]any) { delete(m, "from") }, status: 400, field: "from.email"},
		{name: "unicode from", change: func(m map[string]any) { m["from"] = map[string]any{"email": "ニュース@shop.example"} }, status: 400, field: "from.email"},
		{name: "no subject", change: func(m map[string]any) { delete(m, "subject") }, status: 400, field: "subject"},
		{name: "no content", change: func(m map[string]any) { delete(m, "content") }, status: 400, field: "content"},
		{name: "11 categories", change: func(m map[string]any) {
			m["categories"] = []any{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
		}, status: 400, field: "categories"},
		{name: "reserved header", change: func(m map[string]any) { m["headers"] = map[string]any{"Subject": "x"} }, status: 400, field: "headers"},
		{name: "huge custom args", change: func(m map[string]any) {
			m["custom_args"] = map[string]any{"x": strings.Repeat("a", sendgridtest.MaxCustomArgsBytes)}
		}, status: 400, field: "personalizations.0.custom_args"},
		{name: "reply_to and reply_to_list", change: func(m map[string]any) {
			m["reply_to"] = map[string]any{"email": "r@shop.example"}
			m["reply_to_list"] = []any{map[string]any{"email": "r@shop.example"}}
		}, status: 400, field: "reply_to"},
	}
	for _, c := range cases {
		m := valid()
		if c.change != nil {
			c.change(m)
		}
		b, _ := json.Marshal(m)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v3/mail/send", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		switch c.auth {
		case "":
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
		case "-":
		default:
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Errors []struct {
				Message string  `json:"message"`
				Field   *string `json:"field"`
			} `json:"errors"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: HTTP %d, want %d (%+v)", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if c.status == 202 && resp.Header.Get("X-Message-Id") == "" {
			t.Errorf("%s: 202 without X-Message-Id", c.name)
		}
		if c.status >= 400 && (len(body.Errors) == 0 || body.Errors[0].Message == "") {
			t.Errorf("%s: the error body %+v has no errors[].message", c.name, body)
		}
		if c.field != "" {
			named := false
			for _, e := range body.Errors {
				named = named || (e.Field != nil && *e.Field == c.field)
			}
			if !named {
				t.Errorf("%s: no error names field %s: %+v", c.name, c.field, body.Errors)
			}
		}
	}
}

func TestSendGridClientRefusesTooManyPersonalizations(t *testing.T) {
	t.Parallel()
	srv := newSendGrid(t)
	p, _ := sendgridProvider(t, srv, nil)
	m := &sgMail{From: sgAddress{Email: "news@shop.example"}, Subject: "s", Content: []sgContent{{"text/plain", "t"}}}
	for range maxPersonalizations + 1 {
		m.Personalizations = append(m.Personalizations, sgPersonalization{To: []sgAddress{{Email: "a@example.jp"}}})
	}
	before := len(srv.Received())
	if _, err := p.sg.sendMail(context.Background(), m); providers.CodeOf(err) != providers.ErrInvalid || len(srv.Received()) != before {
		t.Fatalf("1001 personalizations: %v, %d requests made", err, len(srv.Received())-before)
	}
	m.Personalizations = m.Personalizations[:maxPersonalizations]
	if _, err := p.sg.sendMail(context.Background(), m); err != nil {
		t.Fatalf("1000 personalizations: %v", err)
	}
}

func TestSendGridErrorBody(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"errors":[{"message":"The from email does not contain a valid address.","field":"from.email","help":"http://sendgrid.com/docs"}]}`: "from.email: The from email does not contain a valid address. (http://sendgrid.com/docs)",
		`{"errors":[{"message":"a","field":null},{"message":"b","field":"x"}]}`:                                                              "a; x: b",
		`{"errors":["Maximum credits exceeded"],"message":"error"}`:                                                                          "Maximum credits exceeded",
		`<html>bad gateway</html>`: "",
	} {
		if got := errorMessages([]byte(body)); got != want {
			t.Errorf("errorMessages(%s) = %q, want %q", body, got, want)
		}
	}
}

func FuzzErrorMessages(f *testing.F) {
	f.Add([]byte(`{"errors":[{"message":"m","field":"f","help":"h"}]}`))
	f.Add([]byte(`{"errors":["x",1,{"message":""}]}`))
	f.Add([]byte(`{"errors":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		errorMessages(b)
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"X-Ratelimit-Reset": {"1803891660"}}, time.Minute},
		{http.Header{"X-Ratelimit-Reset": {"1803978060"}}, providers.MaxRetryAfter},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{}, 0},
	} {
		if got := throttleWait(c.h, now); got != c.want {
			t.Errorf("throttleWait(%v) = %s, want %s", c.h, got, c.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "10000000000", "Wed, 21 Oct 2026 07:28:00 GMT", "soon", ""} {
		f.Add(s, "1803978060")
	}
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ra, reset string) {
		if d := throttleWait(http.Header{"Retry-After": {ra}, "X-Ratelimit-Reset": {reset}}, now); d < 0 {
			t.Fatalf("throttleWait(%q, %q) = %s", ra, reset, d)
		}
	})
}

// FuzzListName checks that a list name made from a segment and description reads back as
// the same attributes, whatever the description holds.
func FuzzListName(f *testing.F) {
	f.Add("loyal_store", "Store regulars")
	f.Add("big_spenders", "¥30,000 or more: online and in store")
	f.Add("lapsed", "")
	f.Fuzz(func(t *testing.T, seg, desc string) {
		if seg == "" || strings.Contains(seg, listSeparator) {
			t.Skip()
		}
		a := providers.Attrs{"segment": seg}
		if desc != "" {
			a["description"] = desc
		}
		if got := listAttrs(sgList{Name: listName(a)}); len(providers.Diff(providers.KindAudience, a, got)) > 0 {
			t.Fatalf("%v read back as %v", a, got)
		}
	})
}

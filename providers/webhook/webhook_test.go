package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/signature"
)

const secret = "whsec-0123456789abcdef-musubi"

// receiver is a system taking Musubi's webhooks: it verifies each delivery, remembers the
// signed ids it has seen (answering 409 to a repeat), and answers as scripted.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []delivery
	seen    map[string]bool
	answers []answer // consumed in order; then 200
}

type delivery struct {
	header  http.Header
	body    []byte
	payload Payload
	sigErr  error
}

type answer struct {
	status int
	header map[string]string
	body   string
	hangUp bool
}

func newReceiver(t testing.TB, answers ...answer) *receiver {
	r := &receiver{seen: map[string]bool{}, answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		d := delivery{header: req.Header.Clone(), body: body}
		_, d.sigErr = signature.VerifyMusubi(secret, body, req.Header.Get(signature.MusubiHeader), now, 0)
		json.Unmarshal(body, &d.payload)
		_, verr := atNow().Verify(req.Header, body)
		r.mu.Lock()
		r.got = append(r.got, d)
		var a *answer
		if len(r.answers) > 0 {
			a = &r.answers[0]
			r.answers = r.answers[1:]
		}
		key := d.payload.ID
		dup := r.seen[key]
		r.mu.Unlock()
		switch {
		case a != nil && a.hangUp:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		case a != nil:
			for k, v := range a.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(a.status)
			io.WriteString(w, a.body)
			return
		case d.sigErr != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
		case verr != nil:
			http.Error(w, verr.Error(), http.StatusBadRequest)
		case dup:
			w.WriteHeader(http.StatusConflict)
		default:
			r.mu.Lock()
			r.seen[key] = true
			n := len(r.seen)
			r.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"crm-%d"}`, n)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

var now = time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)

// atNow is a receiver whose clock shows the test's time, which remembers no requests.
func atNow() *Receiver { return &Receiver{Secret: secret, Now: func() time.Time { return now }} }

func configured(t testing.TB, url string, extra map[string]any) (*Provider, *providertest.Sleeps) {
	t.Helper()
	s := &providertest.Sleeps{}
	p := &Provider{Sleep: s.Sleep, Now: func() time.Time { return now }}
	providertest.Configure(t, p, "webhook.crm", map[string]any{"url": url, "secret": secret, "address": "member", "consent": "push",
		"headers": map[string]any{"Authorization": "Bearer crm-token-123", "X-Tenant": "shop-jp"}}, extra, "secret", "headers")
	t.Cleanup(func() { p.Close() })
	return p, s
}

func nudge(key string) providers.SendRequest {
	return providers.SendRequest{Name: "trigger.cart_nudge", To: "M-000123", Customer: "cus_0042",
		Text: "あと200円で10%オフ", IdempotencyKey: key}
}

func TestSendSignsThePayload(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p, _ := configured(t, r.URL, nil)
	res := p.Send(context.Background(), nudge("trigger.cart_nudge/evt_1/cus_0042"))
	if err := res.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if res.ID != "crm-1" || res.Duplicate {
		t.Errorf("Send returned %+v, want the receiver's ID crm-1", res)
	}
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	d := got[0]
	if d.sigErr != nil {
		t.Fatalf("the receiver could not verify the signature: %v", d.sigErr)
	}
	want := Payload{ID: "trigger.cart_nudge/evt_1/cus_0042", Name: "trigger.cart_nudge", Customer: "cus_0042", To: "M-000123",
		Text: "あと200円で10%オフ", SentAt: "2027-03-01T09:00:00Z"}
	if d.payload != want {
		t.Errorf("payload %+v, want %+v", d.payload, want)
	}
	var fields map[string]any
	json.Unmarshal(d.body, &fields)
	for _, f := range []string{"id", "name", "customer", "to", "subject", "text", "sent_at"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("the payload has no %q field: %s", f, d.body)
		}
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Idempotency-Key": want.ID,
		"Authorization": "Bearer crm-token-123", "X-Tenant": "shop-jp"} {
		if d.header.Get(k) != v {
			t.Errorf("header %s is %q, want %q", k, d.header.Get(k), v)
		}
	}

	sig := d.header.Get(signature.MusubiHeader)
	if want := signature.SignMusubi(secret, now, d.body); sig != want || !strings.HasPrefix(sig, "t=1803891600,v1=") {
		t.Errorf("X-Musubi-Signature %q, want %q: signed at the time of sending", sig, want)
	}

	// The other way round: what a receiver must refuse.
	for name, c := range map[string]struct {
		secret, header string
		body           []byte
		at             time.Time
		want           error
	}{
		"body changed":  {secret, sig, []byte(strings.Replace(string(d.body), "M-000123", "M-999999", 1)), now, signature.ErrMismatch},
		"other secret":  {"another-secret-of-16+", sig, d.body, now, signature.ErrMismatch},
		"no signature":  {secret, "", d.body, now, signature.ErrMissing},
		"bare hex":      {secret, sig[strings.Index(sig, "v1=")+3:], d.body, now, signature.ErrMismatch},
		"other time":    {secret, strings.Replace(sig, "t=1803891600", "t=1803891660", 1), d.body, now.Add(time.Minute), signature.ErrMismatch},
		"an hour later": {secret, sig, d.body, now.Add(time.Hour), signature.ErrStale},
		"our own again": {secret, signature.SignMusubi(secret, now, d.body), d.body, now, nil},
	} {
		if _, err := signature.VerifyMusubi(c.secret, c.body, c.header, c.at, 0); !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("%s: VerifyMusubi = %v, want %v", name, err, c.want)
		}
	}
}

func TestSendDuplicateIsDelivered(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p, _ := configured(t, r.URL, nil)
	p.Send(context.Background(), nudge("k"))
	res := p.Send(context.Background(), nudge("k"))
	if err := res.Diagnostics.Err(); err != nil || !res.Duplicate {
		t.Fatalf("a repeated key: %+v %v, want a duplicate", res, err)
	}
}

func TestSendRetries(t *testing.T) {
	t.Parallel()
	t.Run("5xx then success, same body and key, each attempt signed", func(t *testing.T) {
		t.Parallel()
		r := newReceiver(t, answer{status: 503, header: map[string]string{"Retry-After": "2"}}, answer{status: 500})
		p, s := configured(t, r.URL, nil)
		if err := p.Send(context.Background(), nudge("k")).Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		got := r.deliveries()
		if len(got) != 3 || len(s.Waits()) != 2 || s.Waits()[0] != 2*time.Second || s.Waits()[1] != 2*time.Second {
			t.Fatalf("%d attempts after waiting %v; want 3 after [2s 2s]", len(got), s.Waits())
		}
		// The test's clock stands still: each attempt is still signed a second after the last,
		// so none is the replay of another.
		for i, d := range got {
			if string(d.body) != string(got[0].body) || d.header.Get("Idempotency-Key") != "k" {
				t.Fatal("a retry changed the body or key")
			}
			at := now.Add(time.Duration(i) * time.Second)
			if sig := d.header.Get(signature.MusubiHeader); sig != signature.SignMusubi(secret, at, d.body) || d.sigErr != nil {
				t.Errorf("attempt %d signed %q (%v), want the signature at %s", i+1, sig, d.sigErr, at)
			}
		}
	})
	t.Run("rate limited throughout", func(t *testing.T) {
		t.Parallel()
		limited := answer{status: 429, header: map[string]string{"Retry-After": "5"}}
		r := newReceiver(t, limited, limited, limited)
		p, s := configured(t, r.URL, nil)
		err := p.Send(context.Background(), nudge("k")).Diagnostics.Err()
		var ae *providers.APIError
		if !errors.As(err, &ae) || ae.Code != providers.ErrRateLimited || ae.RetryAfter != 5*time.Second || len(s.Waits()) != 2 {
			t.Fatalf("got %v after waiting %v", err, s.Waits())
		}
	})
	t.Run("a long Retry-After is left to the caller", func(t *testing.T) {
		t.Parallel()
		r := newReceiver(t, answer{status: 503, header: map[string]string{"Retry-After": now.Add(time.Hour).Format(http.TimeFormat)}})
		p, s := configured(t, r.URL, nil)
		err := p.Send(context.Background(), nudge("k")).Diagnostics.Err()
		var ae *providers.APIError
		if !errors.As(err, &ae) || ae.Code != providers.ErrUnavailable || ae.RetryAfter != time.Hour || len(s.Waits()) != 0 {
			t.Fatalf("got %v after waiting %v", err, s.Waits())
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Parallel()
		r := newReceiver(t)
		r.Close()
		p, s := configured(t, r.URL, nil)
		err := p.Send(context.Background(), nudge("k")).Diagnostics.Err()
		if providers.CodeOf(err) != providers.ErrUnavailable || len(s.Waits()) != 2 {
			t.Fatalf("got %v after waiting %v", err, s.Waits())
		}
	})
}

func TestSendErrorClasses(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]providers.ErrorCode{
		400: providers.ErrInvalid, 401: providers.ErrAuth, 403: providers.ErrAuth, 404: providers.ErrNotFound,
		413: providers.ErrInvalid, 422: providers.ErrInvalid, 500: providers.ErrUnavailable, 502: providers.ErrUnavailable,
	} {
		a := answer{status: status, header: map[string]string{"X-Request-Id": "req-77"}, body: "refused\n  by the CRM"}
		r := newReceiver(t, a, a, a)
		p, _ := configured(t, r.URL, nil)
		err := p.Send(context.Background(), nudge("k")).Diagnostics.Err()
		var ae *providers.APIError
		if !errors.As(err, &ae) || ae.Code != want || ae.Status != status || ae.RequestID != "req-77" ||
			!strings.Contains(ae.Message, "refused by the CRM") {
			t.Errorf("HTTP %d: %v, want %s with the request ID and the receiver's message", status, err, want)
		}
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p, _ := configured(t, r.URL, nil)
	if ms := p.Messaging(); ms.Address != "member" || ms.Consent != "push" {
		t.Errorf("Messaging() = %+v", ms)
	}
	if k := p.Schema(context.Background()).Kinds; len(k) != 0 {
		t.Errorf("a webhook provider declares kinds %v", k)
	}
	if ds := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindMessage}).Diagnostics; !ds.HasErrors() {
		t.Error("Create of a message succeeded")
	}
	for name, c := range map[string]struct {
		change map[string]any
		attr   string
	}{
		"no url":          {map[string]any{"url": nil}, "url"},
		"relative url":    {map[string]any{"url": "/hooks"}, "url"},
		"ftp url":         {map[string]any{"url": "ftp://crm.example/hooks"}, "url"},
		"short secret":    {map[string]any{"secret": "abc"}, "secret"},
		"no address":      {map[string]any{"address": nil}, "address"},
		"bad address":     {map[string]any{"address": "Member ID"}, "address"},
		"bad consent":     {map[string]any{"consent": "Push!"}, "consent"},
		"signature clash": {map[string]any{"headers": map[string]any{"x-musubi-signature": "x"}}, "headers"},
		"bad header name": {map[string]any{"headers": map[string]any{"X Tenant": "x"}}, "headers"},
		"header newline":  {map[string]any{"headers": map[string]any{"X-Tenant": "a\r\nX-Evil: 1"}}, "headers"},
	} {
		cfg := map[string]any{"url": "https://crm.example/hooks", "secret": secret, "address": "member"}
		for k, v := range c.change {
			if v == nil {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		ds := (&Provider{}).Configure(context.Background(), providers.ConfigureRequest{Name: "webhook.crm", Config: cfg}).Diagnostics
		named := false
		for _, d := range ds {
			named = named || (d.Severity == providers.Error && d.Attribute == c.attr)
		}
		if !named {
			t.Errorf("%s: want an error on %s, got %v", name, c.attr, ds.Err())
		}
	}
	ds := (&Provider{}).Configure(context.Background(), providers.ConfigureRequest{Config: map[string]any{
		"url": "http://crm.example/hooks", "secret": secret, "address": "member"}}).Diagnostics
	if ds.HasErrors() || len(ds) != 1 || ds[0].Severity != providers.Warning {
		t.Errorf("plain http to another host: want one warning, got %+v", ds)
	}
}

func BenchmarkSend(b *testing.B) {
	r := newReceiver(b)
	p, _ := configured(b, r.URL, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if res := p.Send(ctx, nudge(fmt.Sprint("k", i))); res.Diagnostics.HasErrors() {
			b.Fatal(res.Diagnostics.Err())
		}
	}
}

// The signature covers the body, not Idempotency-Key: a receiver keying on the header would
// take a signed delivery posted again under a fresh key for a new message. Verify gives the
// signed payload's id to key on, and refuses a header that disagrees with it.
func TestReplayUnderAFreshIdempotencyKey(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	p, _ := configured(t, r.URL, nil)
	if err := p.Send(context.Background(), nudge("k1")).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	d := r.deliveries()[0]
	for _, c := range []struct {
		name, key string
		want      int
	}{{"a fresh key", "k2", http.StatusBadRequest}, {"no key", "", http.StatusConflict}} {
		req, _ := http.NewRequest(http.MethodPost, r.URL, bytes.NewReader(d.body))
		req.Header = d.header.Clone()
		req.Header.Set("Idempotency-Key", c.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("the delivery replayed with %s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}

	if got, err := atNow().Verify(d.header, d.body); err != nil || got != d.payload || got.ID != "k1" {
		t.Errorf("Verify = %+v, %v; want the payload of k1", got, err)
	}
	h := d.header.Clone()
	h.Set("Idempotency-Key", "k2")
	if _, err := atNow().Verify(h, d.body); err == nil || !strings.Contains(err.Error(), `Idempotency-Key "k2"`) {
		t.Errorf("Verify with another key: %v", err)
	}
	h.Set(signature.MusubiHeader, signature.SignMusubi("another-secret-of-16+", now, d.body))
	if _, err := atNow().Verify(h, d.body); !errors.Is(err, signature.ErrMismatch) {
		t.Errorf("Verify with another secret: %v", err)
	}
}

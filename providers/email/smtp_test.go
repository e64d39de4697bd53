package email

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/musubi-hq/musubi/providers"
)

// smtpProvider configures an SMTP email provider against a relay.
func smtpProvider(t testing.TB, r *relay, overrides map[string]any) *Provider {
	t.Helper()
	cfg := map[string]any{
		"transport": "smtp", "host": "127.0.0.1", "port": float64(r.port), "tls": "starttls",
		"username": r.user, "password": r.password, "ca_file": r.caFile,
		"from": "news@shop.example", "from_name": "結びストア", "reply_to": "support@shop.example",
		"unsubscribe_url":    "https://shop.example/unsubscribe?c={customer}&m={name}",
		"unsubscribe_mailto": "unsubscribe@shop.example",
		"ledger":             filepath.Join(t.TempDir(), "ledger.db"),
	}
	for k, v := range overrides {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	p := &Provider{}
	resp := p.Configure(context.Background(), providers.ConfigureRequest{Name: "email.news", Config: cfg,
		Sensitive: map[string]bool{"password": true}})
	if err := resp.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

const jaSubject = "【春のセール】あと200円で10%オフ — 結びストア"

var jaText = "山田様\r\n\r\nいつもご利用ありがとうございます。\r\nカートの合計があと200円で、春のセール10%オフの対象になります。\r\n" +
	"クーポンコード: SPR-AB12-CD34\r\n\r\n=== 結びストア ===\r\n" + "長い行" + strings.Repeat("あいうえお", 40) + "\r\n"

func spring(key string) providers.SendRequest {
	return providers.SendRequest{Name: "campaign.spring", To: "hanako@example.jp", Customer: "cus_0042",
		Subject: jaSubject, Text: jaText, IdempotencyKey: key}
}

func send(t testing.TB, p *Provider, req providers.SendRequest) providers.SendResponse {
	t.Helper()
	r := p.Send(context.Background(), req)
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatalf("send %s: %v", req.IdempotencyKey, err)
	}
	return r
}

// decodedBody returns a message's body, undoing its Content-Transfer-Encoding.
func decodedBody(t *testing.T, m *mail.Message) string {
	t.Helper()
	var r io.Reader = m.Body
	switch cte := strings.ToLower(m.Header.Get("Content-Transfer-Encoding")); cte {
	case "quoted-printable":
		r = quotedprintable.NewReader(m.Body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, m.Body)
	case "", "7bit", "8bit":
	default:
		t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSMTPDeliversJapaneseMailWithUnsubscribe(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, nil)
	resp := send(t, p, spring("trigger.cart_nudge/evt_1/cus_0042"))

	got := r.messages()
	if len(got) != 1 {
		t.Fatalf("the relay received %d messages, want 1", len(got))
	}
	env := got[0]
	if !env.tls || !env.auth {
		t.Fatalf("delivered without STARTTLS (%v) or AUTH (%v)", env.tls, env.auth)
	}
	if env.from != "news@shop.example" || len(env.to) != 1 || env.to[0] != "hanako@example.jp" {
		t.Fatalf("envelope from %q to %v", env.from, env.to)
	}
	for _, line := range bytes.Split(env.data, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("a line of %d octets breaks RFC 5322's limit", len(line))
		}
		for _, c := range line {
			if c > 127 {
				t.Fatalf("raw 8-bit data in the message: %q", line)
			}
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(env.data))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(h.Get("Subject")); err != nil || subj != jaSubject {
		t.Errorf("Subject decodes to %q (%v), want %q; raw %q", subj, err, jaSubject, h.Get("Subject"))
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?UTF-8?") {
		t.Errorf("the subject is not RFC 2047 encoded: %q", h.Get("Subject"))
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "結びストア" || from[0].Address != "news@shop.example" {
		t.Errorf("From is %v (%v)", from, err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "hanako@example.jp" {
		t.Errorf("To is %v (%v)", to, err)
	}
	if rt := h.Get("Reply-To"); !strings.Contains(rt, "support@shop.example") {
		t.Errorf("Reply-To is %q", rt)
	}
	if ct := h.Get("Content-Type"); !strings.Contains(strings.ToLower(ct), "text/plain") || !strings.Contains(strings.ToLower(ct), "charset=utf-8") {
		t.Errorf("Content-Type is %q", ct)
	}
	if body := decodedBody(t, m); body != jaText {
		t.Errorf("the body decodes to\n%q\nwant\n%q", body, jaText)
	}
	wantID := "<" + messageID(spring(""), "news@shop.example") + ">"
	if got := h.Get("Message-Id"); got != wantID || !regexp.MustCompile(`^<[0-9a-f]{32}@shop\.example>$`).MatchString(got) {
		t.Errorf("Message-ID is %q, want %q", got, wantID)
	}
	if resp.ID != strings.Trim(wantID, "<>") {
		t.Errorf("Send returned ID %q, want the Message-ID", resp.ID)
	}
	wantUnsub := "<https://shop.example/unsubscribe?c=cus_0042&m=campaign.spring>, <mailto:unsubscribe@shop.example?subject=unsubscribe%20cus_0042>"
	if got := h.Get("List-Unsubscribe"); got != wantUnsub {
		t.Errorf("List-Unsubscribe is %q, want %q", got, wantUnsub)
	}
	if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post is %q", got)
	}
	if h.Get("Date") == "" {
		t.Error("no Date header")
	}
}

func TestSMTPBodyEncodingFollowsTheText(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, nil)
	mostlyASCII := "Hi Hanako,\r\nyour SPR-AB12-CD34 coupon is waiting: 10% off until 31 March.\r\n結びストア\r\n"
	for i, c := range []struct{ text, cte string }{{jaText, "base64"}, {mostlyASCII, "quoted-printable"}} {
		q := spring(strconv.Itoa(i))
		q.Text = c.text
		send(t, p, q)
		m, err := mail.ReadMessage(bytes.NewReader(r.messages()[i].data))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("Content-Transfer-Encoding"); got != c.cte {
			t.Errorf("message %d: Content-Transfer-Encoding %q, want %q", i, got, c.cte)
		}
		if body := decodedBody(t, m); body != c.text {
			t.Errorf("message %d decodes to %q", i, body)
		}
	}
}

func TestSMTPMessageIDIsStablePerMessageAndCustomer(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, nil)
	first := send(t, p, spring("k1"))
	again := send(t, p, spring("k2")) // a resend of the same message under a new key
	other := spring("k3")
	other.Customer = "cus_0043"
	third := send(t, p, other)
	ids := map[string]int{}
	for _, e := range r.messages() {
		m, err := mail.ReadMessage(bytes.NewReader(e.data))
		if err != nil {
			t.Fatal(err)
		}
		ids[m.Header.Get("Message-Id")]++
	}
	if first.ID != again.ID || ids["<"+first.ID+">"] != 2 {
		t.Errorf("two sends of campaign.spring to cus_0042 carry Message-IDs %q and %q (seen %v)", first.ID, again.ID, ids)
	}
	if third.ID == first.ID {
		t.Errorf("another customer got the same Message-ID %q", third.ID)
	}
}

func TestSMTPRetryWithSameKeyIsNotDeliveredTwice(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, nil)
	first := send(t, p, spring("trigger.cart_nudge/evt_9/cus_0042"))
	if first.Duplicate {
		t.Fatal("the first send reported a duplicate")
	}
	retry := send(t, p, spring("trigger.cart_nudge/evt_9/cus_0042"))
	if !retry.Duplicate || retry.ID != first.ID {
		t.Fatalf("the retry: duplicate=%v id=%q, want a duplicate of %q", retry.Duplicate, retry.ID, first.ID)
	}
	// Another process (a restarted server) sharing the ledger file sees the key too.
	p2 := smtpProvider(t, r, map[string]any{"ledger": p.ledger.path})
	if again := send(t, p2, spring("trigger.cart_nudge/evt_9/cus_0042")); !again.Duplicate {
		t.Fatal("a second provider on the same ledger sent the key again")
	}
	// Workers racing on one key: exactly one delivers.
	var wg sync.WaitGroup
	results := make([]providers.SendResponse, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.Send(context.Background(), spring("race"))
		}()
	}
	wg.Wait()
	delivered := 0
	for _, res := range results {
		switch {
		case res.Diagnostics.HasErrors():
			if providers.CodeOf(res.Diagnostics.Err()) != providers.ErrUnavailable {
				t.Errorf("a racing send failed with %v, want unavailable (in progress)", res.Diagnostics.Err())
			}
		case !res.Duplicate:
			delivered++
		}
	}
	if n := len(r.messages()); delivered != 1 || n != 2 {
		t.Fatalf("racing sends delivered %d (relay holds %d messages), want 1 (and 2)", delivered, n)
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		relay     relayOptions
		overrides map[string]any
		reject    *smtp.SMTPError
		want      providers.ErrorCode
	}{
		{name: "wrong password", overrides: map[string]any{"password": "wrong"}, want: providers.ErrAuth},
		{name: "untrusted certificate", overrides: map[string]any{"ca_file": nil}, want: providers.ErrAuth},
		{name: "no STARTTLS offered", relay: relayOptions{noTLS: true}, want: providers.ErrAuth},
		{name: "mailbox unknown", reject: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, want: providers.ErrInvalid},
		{name: "greylisted", reject: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "try again later"}, want: providers.ErrUnavailable},
		{name: "throttled", reject: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "receiving mail at a rate that prevents delivery"}, want: providers.ErrRateLimited},
		{name: "credits used up", reject: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Maximum credits exceeded"}, want: providers.ErrQuota},
		{name: "relaying denied", reject: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relaying denied"}, want: providers.ErrAuth},
		{name: "nothing listening", overrides: map[string]any{"port": float64(1)}, want: providers.ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, c.relay)
			p := smtpProvider(t, r, c.overrides)
			if c.reject != nil {
				r.rejectNext(c.reject)
			}
			res := p.Send(context.Background(), spring("k"))
			if got := providers.CodeOf(res.Diagnostics.Err()); got != c.want {
				t.Fatalf("error class %q, want %q: %v", got, c.want, res.Diagnostics.Err())
			}
			if c.reject == nil {
				return
			}
			// The refused send released its key: the retry delivers.
			if res := send(t, p, spring("k")); res.Duplicate || len(r.messages()) != 1 {
				t.Fatalf("the retry after a refusal: duplicate=%v, relay holds %d", res.Duplicate, len(r.messages()))
			}
		})
	}
}

func TestSMTPTLSModes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		relay   relayOptions
		tls     string
		wantTLS bool
	}{
		{"implicit", relayOptions{implicitTLS: true}, "implicit", true},
		{"opportunistic, offered", relayOptions{}, "opportunistic", true},
		// Without TLS, AUTH PLAIN goes only to a relay on this machine.
		{"opportunistic, not offered", relayOptions{noTLS: true}, "opportunistic", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, c.relay)
			p := smtpProvider(t, r, map[string]any{"tls": c.tls})
			send(t, p, spring("k"))
			if m := r.messages(); len(m) != 1 || m[0].tls != c.wantTLS {
				t.Fatalf("delivered %d messages, over TLS: %v; want 1, %v", len(m), len(m) == 1 && m[0].tls, c.wantTLS)
			}
		})
	}
}

func TestSMTPReusesConnections(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, nil)
	for i := range 5 {
		send(t, p, spring(strconv.Itoa(i)))
	}
	if n := r.connections(); n != 1 {
		t.Fatalf("5 sequential sends opened %d connections, want 1", n)
	}
	// The server dropped the idle connection: the next send notices and dials again.
	tr := p.tr.(*smtpTransport)
	c := <-tr.idle
	c.Close()
	tr.idle <- c
	send(t, p, spring("after-drop"))
	if n, m := r.connections(), len(r.messages()); n != 2 || m != 6 {
		t.Fatalf("after a dropped connection: %d connections, %d messages; want 2 and 6", n, m)
	}
}

func TestSendRefusesBadRequests(t *testing.T) {
	t.Parallel()
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, nil)
	for name, change := range map[string]func(*providers.SendRequest){
		"no address":       func(q *providers.SendRequest) { q.To = "cus_0042" },
		"named address":    func(q *providers.SendRequest) { q.To = "Hanako <hanako@example.jp>" },
		"no subject":       func(q *providers.SendRequest) { q.Subject = " " },
		"header injection": func(q *providers.SendRequest) { q.Subject = "hi\r\nBcc: all@example.jp" },
		"no text":          func(q *providers.SendRequest) { q.Text = "" },
	} {
		q := spring("k-" + name)
		change(&q)
		if got := providers.CodeOf(p.Send(context.Background(), q).Diagnostics.Err()); got != providers.ErrInvalid {
			t.Errorf("%s: error class %q, want invalid", name, got)
		}
	}
	if n := len(r.messages()); n != 0 {
		t.Fatalf("refused requests delivered %d messages", n)
	}
}

func ExampleProvider_Send() {
	fmt.Println(messageID(providers.SendRequest{Name: "campaign.spring", Customer: "cus_0042"}, "news@shop.example"))
	// Output: d7a565645366190fa44dbc4eae02131b@shop.example
}

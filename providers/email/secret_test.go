package email

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/musubi-hq/musubi/providers"
)

// diagText is everything a diagnostic could show a person or a log.
func diagText(ds providers.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s|%s|%s|", d.Summary, d.Detail, d.Attribute)
		if d.Err != nil {
			fmt.Fprintf(&b, "%s|%+v|", d.Err.Error(), *d.Err)
		}
	}
	if err := ds.Err(); err != nil {
		b.WriteString(err.Error())
	}
	return b.String()
}

// TestSecretsNeverShow fails every way it can with a password and an API key set, and greps
// every diagnostic, error and the ledger file for them.
func TestSecretsNeverShow(t *testing.T) {
	t.Parallel()
	const password = "smtp-pass-9f8e7d6c5b4a"
	const apiKey = "SG.secret-api-key.ZYXWVUTSRQPONMLKJIHGFEDCBA"
	var seen []string
	record := func(what string, ds providers.Diagnostics) {
		seen = append(seen, what+": "+diagText(ds))
	}
	ctx := context.Background()

	r := startRelay(t, relayOptions{})
	r.password = "the relay wants another one"
	p := smtpProvider(t, r, map[string]any{"password": password})
	record("smtp wrong password", p.Send(ctx, spring("a")).Diagnostics)
	r.password = password
	r.rejectNext(&smtp.SMTPError{Code: 550, Message: "no such user"})
	record("smtp rejected", p.Send(ctx, spring("b")).Diagnostics)
	down := smtpProvider(t, r, map[string]any{"password": password, "port": float64(1)})
	record("smtp down", down.Send(ctx, spring("c")).Diagnostics)
	record("smtp untrusted", smtpProvider(t, r, map[string]any{"password": password, "ca_file": nil}).Send(ctx, spring("d")).Diagnostics)
	record("smtp config", (&Provider{}).Configure(ctx, providers.ConfigureRequest{Config: map[string]any{
		"transport": "smtp", "host": "127.0.0.1", "tls": "none", "from": "news@shop.example", "username": "u", "password": password,
		"api_key": apiKey, "ledger": filepath.Join(t.TempDir(), "l.db")}}).Diagnostics)

	srv := newSendGrid(t)
	sg, _ := sendgridProvider(t, srv, map[string]any{"api_key": apiKey})
	record("sendgrid wrong key", sg.Send(ctx, spring("e")).Diagnostics)
	srv2 := newSendGrid(t)
	sg2, _ := sendgridProvider(t, srv2, map[string]any{"api_key": testAPIKey})
	srv2.Fail("send", 500, maxAttempts)
	record("sendgrid outage", sg2.Send(ctx, spring("f")).Diagnostics)
	record("sendgrid list", sg.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience,
		Attributes: providers.Attrs{"segment": "loyal_store"}, IdempotencyKey: "k"}).Diagnostics)
	srv.Close()
	record("sendgrid down", sg.Send(ctx, spring("g")).Diagnostics)
	record("sendgrid config", (&Provider{}).Configure(ctx, providers.ConfigureRequest{Config: map[string]any{
		"transport": "sendgrid", "api_key": apiKey, "endpoint": "ftp://" + apiKey, "from": "news@shop.example",
		"password": password, "ledger": filepath.Join(t.TempDir(), "l.db")},
		Sensitive: map[string]bool{"api_key": true, "endpoint": true, "password": true}}).Diagnostics)

	all := strings.Join(seen, "\n")
	if len(seen) < 9 || !strings.Contains(all, "auth") || !strings.Contains(all, "endpoint must be") {
		t.Fatalf("the failures did not happen as planned:\n%s", all)
	}
	if strings.Contains(all, "hanako@example.jp") {
		t.Errorf("a recipient address shows in diagnostics:\n%s", all)
	}
	for _, secret := range []string{password, apiKey} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret shows in diagnostics:\n%s", all)
		}
		for _, l := range []string{p.ledger.path, sg.ledger.path} {
			b, err := os.ReadFile(l)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), secret) {
				t.Errorf("the ledger %s holds a secret", l)
			}
		}
	}
}

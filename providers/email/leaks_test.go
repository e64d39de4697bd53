package email

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// recipient is the address the leak checks send to: personal data, which no error may show.
const recipient = "hanako@example.jp"

// leakSecrets are what an email provider must never show: its credentials and the recipient.
func leakSecrets(_ *testing.T, p providers.Provider) []string {
	c := p.(*Provider).cfg
	return []string{c.password, c.apiKey, recipient}
}

// ledgerFile is the provider's ledger as stored, which must hold no secret either.
func ledgerFile(t *testing.T, p providers.Provider) []any {
	b, err := os.ReadFile(p.(*Provider).ledger.path)
	if err != nil {
		t.Fatal(err)
	}
	return []any{b}
}

// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaksSMTP(t *testing.T) {
	providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "email",
		Config: func(t *testing.T) map[string]any {
			return map[string]any{"transport": "smtp", "host": "127.0.0.1", "tls": "starttls", "username": "musubi",
				"password": "smtp-pass-9f8e7d6c5b4a", "from": "news@shop.example", "ledger": filepath.Join(t.TempDir(), "l.db")}
		},
		New: func(t *testing.T) providers.Provider { return relayed(t, nil) },
		Refused: func(t *testing.T) providers.Provider {
			return relayed(t, map[string]any{"password": "smtp-pass-9f8e7d6c5b4a"})
		},
		Gone: func(t *testing.T) providers.Provider {
			return smtpProvider(t, startRelay(t, relayOptions{}), map[string]any{"port": float64(1)})
		},
		Fail:    func(t *testing.T, p providers.Provider, status int) { relays.Of(p).rejectEvery(smtpReplies[status]) },
		Secrets: leakSecrets,
		Cases:   []providertest.Case{messageCase(nil)},
		SendTo:  recipient,
		Exercise: func(t *testing.T, p providers.Provider) []any {
			out := ledgerFile(t, p)
			if r := relays.Of(p); r != nil {
				// A relay whose certificate the provider cannot trust gets no password.
				untrusted := smtpProvider(t, r, map[string]any{"ca_file": nil})
				out = append(out, untrusted.Send(t.Context(), spring("untrusted")))
			}
			return out
		},
	})
}

// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaksSendGrid(t *testing.T) {
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "email",
		Config: func(t *testing.T) map[string]any {
			return map[string]any{"transport": "sendgrid", "api_key": testAPIKey, "from": "news@shop.example",
				"ledger": filepath.Join(t.TempDir(), "l.db")}
		},
		New: func(t *testing.T) providers.Provider { return faulty(t, newSendGrid(t), nil) },
		Refused: func(t *testing.T) providers.Provider {
			return faulty(t, newSendGrid(t), map[string]any{"api_key": "SG.secret-api-key.ZYXWVUTSRQPONMLKJIHGFEDCBA"})
		},
		Gone: func(t *testing.T) providers.Provider {
			srv := newSendGrid(t)
			p := faulty(t, srv, nil)
			srv.Close()
			return p
		},
		Fail:     func(t *testing.T, p providers.Provider, status int) { sgFault.Of(p).FailAll(status, nil) },
		Secrets:  leakSecrets,
		Cases:    []providertest.Case{messageCase(providers.Attrs{"audience": "segment.loyal_store.audience[email.sg]"}), audienceCase},
		SendTo:   recipient,
		Exercise: ledgerFile,
	})
	if !strings.Contains(found.Text, "endpoint must be") {
		t.Error("no broken endpoint was refused: the check does not exercise what it means to")
	}
}

package smaregi

import (
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

const wrongSecret = "s3cr3t-wrong-value"

var faults providertest.Fixtures[*providertest.Faults]

// faulty is a fixture with faults in front of its contract server.
func faulty(t *testing.T, config map[string]any) *fixture {
	f := newFixture(t, quiet, config)
	faults.Keep(t, f.p, providertest.Inject(f.p.client.cfg.HTTPClient))
	return f
}

// The client secret, the Basic credentials and the access tokens never appear in errors,
// diagnostics or logs, whatever fails.
// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	var working *fixture
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "smaregi",
		Config: func(*testing.T) map[string]any {
			return map[string]any{"contract_id": "c", "client_id": "i", "client_secret": wrongSecret}
		},
		New: func(t *testing.T) providers.Provider {
			working = faulty(t, nil)
			return working.p
		},
		Refused: func(t *testing.T) providers.Provider {
			return faulty(t, map[string]any{"client_secret": wrongSecret}).p
		},
		Gone: func(t *testing.T) providers.Provider {
			f := faulty(t, nil)
			f.srv.Close()
			return f.p
		},
		Fail: func(t *testing.T, p providers.Provider, status int) { faults.Of(p).FailAll(status, nil) },
		Secrets: func(t *testing.T, p providers.Provider) []string {
			srv := fixtureOf(t, p).srv
			return append([]string{srv.ClientSecret(), srv.BasicAuth(), strings.TrimPrefix(srv.BasicAuth(), "Basic "), wrongSecret},
				srv.IssuedTokens()...)
		},
		Cases: []providertest.Case{{Kind: providers.KindCoupon, Attrs: percentCoupon(), Update: providers.Attrs{"percent": 15.0}}},
		// NewClient (client.go) quotes these in the errors Configure passes on.
		Quoted: []string{"contract_id", "api_url", "id_url"},
		Exercise: func(t *testing.T, p providers.Provider) []any {
			f := fixtureOf(t, p)
			a := percentCoupon()
			a["code"] = "spring sale!"
			out := []any{create(t, f.p, "refused-code", a)}
			faults.Of(p).Lose()
			out = append(out, create(t, f.p, "lost", percentCoupon()))
			// The token expires and its renewal fails, then succeeds.
			f.clock.Advance(2 * time.Hour)
			faults.Of(p).Fail(500, nil, DefaultMaxAttempts)
			read := providers.ReadRequest{Kind: providers.KindCoupon, ID: "1"}
			return append(out, f.p.Read(ctx, read), f.p.Read(ctx, read))
		},
	})
	if len(working.srv.IssuedTokens()) < 2 || !strings.Contains(found.Text, "invalid_client") || !strings.Contains(found.Text, "HTTP 503") {
		t.Errorf("the failures did not happen as planned: %d tokens issued, %v", len(working.srv.IssuedTokens()), found.Codes)
	}
}

package square_test

import (
	"net/http"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/square"
)

// Credentials Square does not know: the provider must keep these to itself too.
const refusedToken, signatureKey = "EAAAsecret-token-that-must-not-leak", "sig-secret-that-must-not-leak"

// The credentials never show in attributes, errors or logs, whatever fails.
// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "square",
		Config: func(*testing.T) map[string]any {
			return map[string]any{"token": refusedToken, "timezone": "Asia/Tokyo", "webhook_url": webhookURL,
				"webhook_signature_key": signatureKey}
		},
		New:     providertest.Fresh(configure, map[string]any{"webhook_signature_key": signatureKey}),
		Refused: providertest.Fresh(configure, map[string]any{"token": refusedToken, "webhook_signature_key": signatureKey}),
		Gone:    providertest.Gone(configure, map[string]any{"webhook_signature_key": signatureKey}),
		Client:  func(p providers.Provider) *http.Client { return p.(*square.Provider).Client().HTTP },
		Secrets: func(t *testing.T, p providers.Provider) []string {
			return []string{refusedToken, signatureKey, servers.Of(p).Token}
		},
		Cases: []providertest.Case{couponCase, audienceCouponCase, audienceCase, subscriptionCase},
	})
	if n := found.Codes[providers.ErrAuth]; n < 10 {
		t.Errorf("only %d calls failed as auth; the check does not exercise what it means to", n)
	}
}

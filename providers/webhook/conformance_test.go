package webhook

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

const (
	// queryToken is a token some receivers want in the URL's query string.
	queryToken   = "query-secret-xyz"
	headerToken  = "crm-token-123"
	refusedToken = "another-secret-the-receiver-refuses"
)

// rig is a provider, its receiver and the faults in front of it.
type rig struct {
	r      *receiver
	faults *providertest.Faults
}

var rigs providertest.Fixtures[*rig]

func rigged(t *testing.T, url func(*receiver) string, extra map[string]any) *Provider {
	r := newReceiver(t)
	p, _ := configured(t, url(r), extra)
	rigs.Keep(t, p, &rig{r: r, faults: providertest.Inject(p.HTTPClient)})
	return p
}

func plainURL(r *receiver) string { return r.URL }

// withToken puts a token in the query string, which no error may repeat.
func withToken(r *receiver) string { return r.URL + "/hook?token=" + queryToken }

func TestConformance(t *testing.T) {
	t.Parallel()
	// A webhook provider manages no resources: only the provider-wide checks apply.
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) providers.Provider { return rigged(t, plainURL, nil) }})
}

func TestSenderConformance(t *testing.T) {
	t.Parallel()
	providertest.RunSender(t, providertest.SenderHarness{
		New: func(t *testing.T) providers.Sender { return rigged(t, plainURL, nil) },
		To:  "M-000123",
		// The receiver treats a repeated signed id as the message it has.
		Deliveries: func(t *testing.T, s providers.Sender) []providertest.Delivery {
			var out []providertest.Delivery
			seen := map[string]bool{}
			for _, d := range rigs.Of(s).r.deliveries() {
				key := d.payload.ID
				if d.sigErr == nil && (key == "" || !seen[key]) {
					out = append(out, providertest.Delivery{To: d.payload.To, Key: key})
					seen[key] = true
				}
			}
			return out
		},
		Unknown: func(t *testing.T, s providers.Sender) string {
			rigs.Of(s).faults.Fail(http.StatusNotFound, nil, 1)
			return "M-999999"
		},
		Throttle: func(t *testing.T, s providers.Sender) time.Duration {
			// Longer than the provider waits itself: the wait is left to the outbox.
			rigs.Of(s).faults.Fail(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}}, 1)
			return time.Minute
		},
		Stall:   func(t *testing.T, s providers.Sender) { rigs.Of(s).faults.Stall() },
		Lose:    func(t *testing.T, s providers.Sender) { rigs.Of(s).faults.Lose() },
		Secrets: func(*testing.T, providers.Sender) []string { return []string{secret, headerToken} },
	})
}

// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "webhook",
		Config: func(*testing.T) map[string]any {
			return map[string]any{"url": "https://crm.example/hooks?token=" + queryToken, "secret": secret, "address": "member",
				"headers": map[string]any{"Authorization": "Bearer " + headerToken}}
		},
		New: func(t *testing.T) providers.Provider { return rigged(t, withToken, nil) },
		// The receiver cannot verify a signature made with another secret, and answers 401.
		Refused: func(t *testing.T) providers.Provider {
			return rigged(t, withToken, map[string]any{"secret": refusedToken})
		},
		Gone: func(t *testing.T) providers.Provider {
			p := rigged(t, withToken, nil)
			rigs.Of(p).r.Close()
			return p
		},
		Fail: func(t *testing.T, p providers.Provider, status int) {
			rigs.Of(p).faults.FailAll(status, http.Header{"Retry-After": {"9999"}})
		},
		Secrets: func(*testing.T, providers.Provider) []string {
			return []string{secret, headerToken, queryToken, refusedToken, "short-whse"}
		},
		SendTo: "M-000123",
		Exercise: func(t *testing.T, p providers.Provider) []any {
			// A secret too short to use must not be quoted back either.
			return []any{(&Provider{}).Configure(context.Background(), providers.ConfigureRequest{
				Config:    map[string]any{"url": "https://crm.example/hooks", "secret": "short-whse", "address": "member"},
				Sensitive: map[string]bool{"secret": true}})}
		},
	})
	if found.Codes[providers.ErrRateLimited] == 0 || found.Codes[providers.ErrNotFound] == 0 {
		t.Errorf("the failures did not happen as planned: %v", found.Codes)
	}
}

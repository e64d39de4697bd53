package line

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/line/linetest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// rig is a provider's contract server and the faults in front of it.
type rig struct {
	srv    *linetest.Server
	faults *providertest.Faults
}

var rigs providertest.Fixtures[*rig]

// rigged configures a provider against srv, with faults in front of it.
func rigged(t *testing.T, srv *linetest.Server) *Provider {
	p := configure(t, srv, nil)
	rigs.Keep(t, p, &rig{srv: srv, faults: providertest.Inject(p.http)})
	return p
}

func newServer(t *testing.T) *linetest.Server {
	srv := linetest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

func TestSenderConformance(t *testing.T) {
	t.Parallel()
	providertest.RunSender(t, providertest.SenderHarness{
		New: func(t *testing.T) providers.Sender { return rigged(t, newServer(t)) },
		To:  user(1),
		Deliveries: func(t *testing.T, s providers.Sender) []providertest.Delivery {
			var out []providertest.Delivery
			for _, d := range rigs.Of(s).srv.Deliveries() {
				out = append(out, providertest.Delivery{To: d.To[0], Key: d.RetryKey})
			}
			return out
		},
		KeyAs: RetryKey,
		// LINE does not say which user IDs exist: only the form can be wrong.
		Unknown: func(*testing.T, providers.Sender) string { return "U-not-a-user" },
		Throttle: func(t *testing.T, s providers.Sender) time.Duration {
			// Longer than the provider waits itself: the wait is left to the outbox.
			rigs.Of(s).faults.Fail(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}}, 1)
			return time.Minute
		},
		Stall: func(t *testing.T, s providers.Sender) { rigs.Of(s).faults.Stall() },
		Lose:  func(t *testing.T, s providers.Sender) { rigs.Of(s).faults.Lose() },
		Secrets: func(t *testing.T, s providers.Sender) []string {
			return []string{rigs.Of(s).srv.Token, rigs.Of(s).srv.Secret}
		},
	})
}

// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	ctx := context.Background()
	providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "line",
		Config: func(*testing.T) map[string]any {
			return map[string]any{"channel_token": "line-token-3f9a7c1e5b", "channel_secret": "line-secret-8d2e6b0a4c",
				"engine_url": "https://musubi.example"}
		},
		New: func(t *testing.T) providers.Provider { return rigged(t, newServer(t)) },
		Refused: func(t *testing.T) providers.Provider {
			p := rigged(t, newServer(t))
			p.token = "wrong-" + p.token
			return p
		},
		Gone: func(t *testing.T) providers.Provider {
			srv := linetest.NewServer()
			p := rigged(t, srv)
			srv.Close()
			return p
		},
		Fail: func(t *testing.T, p providers.Provider, status int) { rigs.Of(p).faults.FailAll(status, nil) },
		Secrets: func(t *testing.T, p providers.Provider) []string {
			return []string{p.(*Provider).token, p.(*Provider).secret}
		},
		Cases:  []providertest.Case{audienceCase, subscriptionCase, messageCase},
		SendTo: user(1),
		Exercise: func(t *testing.T, q providers.Provider) []any {
			p := q.(*Provider)
			_, broadcast := p.Broadcast(ctx, Broadcast{To: users(2), Text: "春のセール", IdempotencyKey: "leak-broadcast"})
			// Credentials in URLs that are not marked sensitive must not be quoted back either.
			mistaken := New().Configure(ctx, providers.ConfigureRequest{Config: map[string]any{"channel_token": p.token,
				"channel_secret": p.secret, "api_url": "ftp://" + p.token, "engine_url": "http://" + p.secret}})
			return []any{broadcast, p.AddMembers(ctx, "12", users(1)), mistaken}
		},
	})
}

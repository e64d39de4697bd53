package meta

import (
	"context"
	"net/http"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// A token the ad account does not know: the provider must keep it to itself too.
const refusedToken = "EAAG-access-token-that-must-not-leak"

// The access token never shows in attributes, errors or logs, whatever fails: a refused
// token, an unreachable Graph API, every error status, a member upload.
// Not parallel: NoSecretLeaks captures the default logger.
func TestNoSecretLeaks(t *testing.T) {
	found := providertest.NoSecretLeaks(t, providertest.Leaks{
		Type: "meta",
		Config: func(*testing.T) map[string]any {
			return map[string]any{"ad_account_id": "act_1234567890", "access_token": refusedToken}
		},
		New:     providertest.Fresh(configure, nil),
		Refused: providertest.Fresh(configure, map[string]any{"access_token": refusedToken}),
		Gone:    providertest.Gone(configure, nil),
		Client:  func(p providers.Provider) *http.Client { return p.(*Provider).http },
		Secrets: func(t *testing.T, p providers.Provider) []string {
			return []string{refusedToken, p.(*Provider).cfg.token}
		},
		Cases: []providertest.Case{audienceCase},
		Exercise: func(t *testing.T, p providers.Provider) []any {
			ctx := context.Background()
			mp := p.(*Provider)
			c := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "leak-members",
				Attributes: providers.Attrs{"segment": "low_awareness", "description": "Low awareness"}})
			add, addErr := mp.AddMembers(ctx, c.ID, "leak-add", []Member{member(1)})
			rm, rmErr := mp.RemoveMembers(ctx, "238500000000000", "leak-remove", []Member{member(1)})
			return []any{c, add, addErr, rm, rmErr}
		},
	})
	if n := found.Codes[providers.ErrAuth]; n < 6 {
		t.Errorf("only %d calls failed as auth; the check does not exercise what it means to", n)
	}
}

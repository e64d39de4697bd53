package providertest

import (
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Backstage is what a contract server built on contracttest lets a suite do behind a
// provider's back: change and remove its objects, and make its calls fail.
type Backstage interface {
	Tamper(kind providers.Kind, id, attr string, value any) error
	Remove(kind providers.Kind, id string) error
	Inject(op string, f contracttest.Fault) error
}

// WithBackstage fills h's Tamper, Remove and Fail with calls to the contract server kept in
// servers for each provider. attempts says how many calls of op the provider makes when they
// fail with status, or lose their answer: the fault meets every one of them.
func WithBackstage[S Backstage](h Harness, servers *Fixtures[S], attempts func(op string, status int, lose bool) int) Harness {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	h.Tamper = func(t *testing.T, p providers.Provider, k providers.Kind, id, attr string, value any) {
		must(t, servers.Of(p).Tamper(k, id, attr, value))
	}
	h.Remove = func(t *testing.T, p providers.Provider, k providers.Kind, id string) {
		must(t, servers.Of(p).Remove(k, id))
	}
	h.Fail = func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
		must(t, servers.Of(p).Inject(op, contracttest.Fault{Status: status, Lose: lose, Times: attempts(op, status, lose)}))
	}
	return h
}

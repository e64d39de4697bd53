package line

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/line/linetest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// configure returns a provider pointed at the contract server, whose retries wait on w.
func configure(t testing.TB, srv *linetest.Server, w *providertest.Sleeps) *Provider {
	t.Helper()
	p := New()
	providertest.Configure(t, p, "line.test", map[string]any{"channel_token": srv.Token, "channel_secret": srv.Secret,
		"api_url": srv.URL, "engine_url": "https://musubi.example"}, nil, "channel_token", "channel_secret")
	if w == nil {
		w = &providertest.Sleeps{}
	}
	p.retry.sleep = w.Sleep
	t.Cleanup(func() { p.Close() })
	return p
}

// contract starts a contract server and a provider on it.
func contract(t testing.TB) (*linetest.Server, *Provider, *providertest.Sleeps) {
	srv := linetest.NewServer()
	t.Cleanup(srv.Close)
	w := &providertest.Sleeps{}
	return srv, configure(t, srv, w), w
}

// servers maps the conformance suite's providers to their contract servers.
var servers sync.Map

func serverOf(t *testing.T, p providers.Provider) *linetest.Server {
	srv, ok := servers.Load(p)
	if !ok {
		t.Fatal("the provider has no contract server")
	}
	return srv.(*linetest.Server)
}

func harness(fail bool) providertest.Harness {
	h := providertest.Harness{
		New: func(t *testing.T) providers.Provider {
			srv, p, _ := contract(t)
			// The suite's Fail breaks a single call; the retries it would hide are tested on
			// their own.
			p.retry.attempts = 1
			servers.Store(p, srv)
			t.Cleanup(func() { servers.Delete(p) })
			return p
		},
		Tamper: func(t *testing.T, p providers.Provider, k providers.Kind, id, attr string, value any) {
			srv := serverOf(t, p)
			switch k {
			case providers.KindAudience:
				// As someone renaming the group in LINE Official Account Manager, keeping the mark.
				n, _ := strconv.ParseInt(id, 10, 64)
				a, ok := srv.Audience(n)
				if !ok || attr != "description" {
					t.Fatalf("cannot change %s of audience group %s", attr, id)
				}
				_, seg, tag := parseAudienceName(a.Name)
				if err := srv.RenameAudience(n, audienceName(value.(string), seg, tag)); err != nil {
					t.Fatal(err)
				}
			case providers.KindSubscription:
				srv.SetWebhookEndpoint(value.(string))
			default:
				t.Fatalf("LINE keeps no %s to change", k)
			}
		},
		Remove: func(t *testing.T, p providers.Provider, k providers.Kind, id string) {
			srv := serverOf(t, p)
			switch k {
			case providers.KindAudience:
				n, _ := strconv.ParseInt(id, 10, 64)
				srv.RemoveAudience(n)
			case providers.KindSubscription:
				srv.SetWebhookEndpoint("")
			default:
				t.Fatalf("LINE keeps no %s to remove", k)
			}
		},
	}
	if fail {
		h.Fail = func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			if err := serverOf(t, p).Inject(op, contracttest.Fault{Status: status, Lose: lose}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return h
}

var audienceCase = providertest.AudienceCase("edited in Official Account Manager", map[string]providers.Attrs{
	"segment":     {"segment": "loyal store!"},
	"description": {"description": strings.Repeat("常", 100)},
})

var subscriptionCase = providertest.Case{
	Kind:   providers.KindSubscription,
	Attrs:  providers.Attrs{"source": "line", "topics": []string{"follow", "unfollow"}},
	Update: providers.Attrs{"endpoint": "https://hooks.example.jp/line"},
	// The channel was pointed at another host in the LINE Developers console.
	DriftAttr:  "endpoint",
	DriftValue: "https://elsewhere.example/v1/webhooks/line.test?source=line",
	Invalid: map[string]providers.Attrs{
		"endpoint": {"endpoint": "http://musubi.example/v1/webhooks/line.test"},
		"source":   {"source": ""},
		"topics":   {"topics": []string{"purchase"}},
	},
}

func TestConformance(t *testing.T) {
	t.Parallel()
	h := harness(true)
	h.Cases = []providertest.Case{audienceCase, subscriptionCase}
	providertest.Run(t, h)
}

var messageCase = providertest.Case{
	Kind: providers.KindMessage,
	Attrs: providers.Attrs{"name": "campaign.spring", "template": "春のセール: {{ campaign.coupon.percent }}%オフ {{ code }}",
		"audience": "segment.loyal_store.audience[line.test]"},
	Update: providers.Attrs{"template": "もう少しで割引です", "variants": map[string]string{"casual": "あと少し！"}},
	Invalid: map[string]providers.Attrs{
		// 2,501 characters, but 5,002 as LINE counts them.
		"template": {"template": strings.Repeat("🍎", 2501)},
		"variants": {"variants": map[string]string{"long": strings.Repeat("x", 5001)}},
	},
}

// LINE keeps no message templates: there is no remote object to break, tamper with or lose,
// so messages run the suite without the failure and drift cases.
func TestConformanceMessage(t *testing.T) {
	t.Parallel()
	h := harness(false)
	h.Cases = []providertest.Case{messageCase}
	providertest.Run(t, h)
}

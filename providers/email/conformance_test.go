package email

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

func newSendGridProvider(t *testing.T) providers.Provider {
	srv := newSendGrid(t)
	p, _ := sendgridProvider(t, srv, nil)
	sgs.Keep(t, p, srv)
	return p
}

func newSMTPProvider(t *testing.T) providers.Provider {
	p := &Provider{}
	resp := p.Configure(context.Background(), providers.ConfigureRequest{Name: "email.relay", Config: map[string]any{
		"transport": "smtp", "host": "relay.shop.example", "from": "news@shop.example",
		"unsubscribe_url": "https://shop.example/u/{customer}", "ledger": filepath.Join(t.TempDir(), "ledger.db"),
	}})
	if err := resp.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

// Messages live in the ledger: tampering edits the file as another process would.
func tamperMessage(t *testing.T, p providers.Provider, _ providers.Kind, id, attr string, value any) {
	ep := p.(*Provider)
	m, err := ep.ledger.message(context.Background(), ep.name, id)
	if err != nil || m == nil {
		t.Fatalf("message %s: %v", id, err)
	}
	m.Attributes[attr] = value
	if _, err := ep.ledger.updateMessage(context.Background(), ep.name, id, m.Attributes); err != nil {
		t.Fatal(err)
	}
}

func removeMessage(t *testing.T, p providers.Provider, _ providers.Kind, id string) {
	ep := p.(*Provider)
	if err := ep.ledger.deleteMessage(context.Background(), ep.name, id); err != nil {
		t.Fatal(err)
	}
}

func messageCase(extra providers.Attrs) providertest.Case {
	a := providers.Attrs{
		"name":     "campaign.spring",
		"subject":  "{{ customer.first_name }}様、春のセール {{ campaign.coupon.percent }}%オフ",
		"template": "{{ customer.first_name }}様\nクーポンコード {{ coupon.code }} をご利用ください。",
		"variants": map[string]string{"casual": "{{ customer.first_name }}さん、春のセールだよ！"},
	}
	for k, v := range extra {
		a[k] = v
	}
	return providertest.Case{
		Kind:       providers.KindMessage,
		Attrs:      a,
		Update:     providers.Attrs{"subject": "春のセール開催中", "template": "春のセールは3月31日まで。"},
		Replace:    providers.Attrs{"name": "campaign.summer"},
		DriftAttr:  "template",
		DriftValue: "edited by hand",
		Invalid: map[string]providers.Attrs{
			"subject":  {"subject": ""},
			"template": {"template": " "},
			"variants": {"variants": map[string]string{"formal": ""}},
		},
	}
}

var audienceCase = providertest.AudienceCase("renamed in SendGrid", map[string]providers.Attrs{
	"segment":     {"segment": ""},
	"description": {"description": strings.Repeat("長", 100)},
})

func TestConformanceSMTPMessage(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Harness{
		New:    newSMTPProvider,
		Cases:  []providertest.Case{messageCase(nil)},
		Tamper: tamperMessage,
		Remove: removeMessage,
	})
}

func TestConformanceSendGridMessage(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Harness{
		New:    newSendGridProvider,
		Cases:  []providertest.Case{messageCase(providers.Attrs{"audience": "segment.loyal_store.audience[email.sg]"})},
		Tamper: tamperMessage,
		Remove: removeMessage,
	})
}

func TestConformanceSendGridAudience(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Harness{
		New:   newSendGridProvider,
		Cases: []providertest.Case{audienceCase},
		// Someone renames the list in SendGrid's contact screens.
		Tamper: func(t *testing.T, p providers.Provider, _ providers.Kind, id, attr string, value any) {
			srv := sgs.Of(p)
			for _, l := range srv.Lists() {
				if l.ID == id {
					a := listAttrs(sgList{Name: l.Name})
					a[attr] = value
					srv.RenameList(id, listName(a))
					return
				}
			}
			t.Fatalf("no list %s", id)
		},
		Remove: func(t *testing.T, p providers.Provider, _ providers.Kind, id string) {
			if !sgs.Of(p).DeleteList(id) {
				t.Fatalf("no list %s", id)
			}
		},
		// A retryable status keeps failing through every retry, as an outage would.
		Fail: func(t *testing.T, p providers.Provider, op string, status int, lose bool) {
			srv := sgs.Of(p)
			switch {
			case lose:
				srv.Lose(op, 1)
			case status == 429 || status >= 500:
				srv.Fail(op, status, maxAttempts)
			default:
				srv.Fail(op, status, 1)
			}
		},
	})
}

func TestSMTPRefusesAudiences(t *testing.T) {
	t.Parallel()
	p := newSMTPProvider(t).(*Provider)
	defer p.Close()
	ctx := context.Background()
	if _, ok := p.Schema(ctx).Kinds[providers.KindAudience]; ok {
		t.Error("a configured SMTP provider declares audiences")
	}
	if _, ok := (&Provider{}).Schema(ctx).Kinds[providers.KindAudience]; !ok {
		t.Error("the unconfigured provider type does not declare audiences, which SendGrid manages")
	}
	for kind, attrs := range map[providers.Kind]providers.Attrs{
		providers.KindAudience: {"segment": "loyal_store"},
		providers.KindMessage:  {"name": "campaign.spring", "subject": "s", "template": "t", "audience": "segment.loyal_store.audience[email.relay]"},
	} {
		ds := p.Validate(ctx, providers.ValidateRequest{Kind: kind, Attributes: attrs}).Diagnostics
		if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "SMTP server keeps no lists") {
			t.Errorf("Validate %s: %v, want a refusal explaining SMTP keeps no lists", kind, ds.Err())
		}
	}
}

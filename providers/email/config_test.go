package email

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

func TestConfigErrorsNameTheAttribute(t *testing.T) {
	t.Parallel()
	smtpBase := func() map[string]any {
		return map[string]any{"transport": "smtp", "host": "relay.shop.example", "from": "news@shop.example",
			"unsubscribe_url": "https://shop.example/u/{customer}"}
	}
	sgBase := func() map[string]any {
		return map[string]any{"transport": "sendgrid", "api_key": "SG.x", "from": "news@shop.example", "asm_group_id": float64(7)}
	}
	cases := []struct {
		name   string
		base   func() map[string]any
		change map[string]any
		attr   string
	}{
		{"no transport", smtpBase, map[string]any{"transport": nil}, "transport"},
		{"unknown transport", smtpBase, map[string]any{"transport": "ses"}, "transport"},
		{"no host", smtpBase, map[string]any{"host": nil}, "host"},
		{"unknown tls", smtpBase, map[string]any{"tls": "ssl"}, "tls"},
		{"bad port", smtpBase, map[string]any{"port": float64(70000)}, "port"},
		{"fractional port", smtpBase, map[string]any{"port": 587.5}, "port"},
		{"user without password", smtpBase, map[string]any{"username": "u"}, "password"},
		{"password in clear", smtpBase, map[string]any{"username": "u", "password": "p", "tls": "none"}, "tls"},
		{"sendgrid attribute on smtp", smtpBase, map[string]any{"categories": []any{"x"}}, "categories"},
		{"from with a name", smtpBase, map[string]any{"from": "Shop <news@shop.example>"}, "from"},
		{"no from", smtpBase, map[string]any{"from": nil}, "from"},
		{"bad reply_to", smtpBase, map[string]any{"reply_to": "support"}, "reply_to"},
		{"http unsubscribe", smtpBase, map[string]any{"unsubscribe_url": "http://shop.example/u"}, "unsubscribe_url"},
		{"bad unsubscribe address", smtpBase, map[string]any{"unsubscribe_mailto": "nobody"}, "unsubscribe_mailto"},
		{"missing CA file", smtpBase, map[string]any{"ca_file": "missing.pem"}, "ca_file"},
		{"no api key", sgBase, map[string]any{"api_key": nil}, "api_key"},
		{"smtp attribute on sendgrid", sgBase, map[string]any{"host": "smtp.sendgrid.net"}, "host"},
		{"http endpoint", sgBase, map[string]any{"endpoint": "http://api.sendgrid.com"}, "endpoint"},
		{"unicode sender", sgBase, map[string]any{"from": "ニュース@shop.example"}, "from"},
		{"11 categories", sgBase, map[string]any{"categories": []any{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}}, "categories"},
		{"repeated category", sgBase, map[string]any{"categories": []any{"a", "a"}}, "categories"},
		{"category not a string", sgBase, map[string]any{"categories": []any{1.0}}, "categories"},
		{"negative group", sgBase, map[string]any{"asm_group_id": float64(-1)}, "asm_group_id"},
	}
	for _, c := range cases {
		cfg := c.base()
		cfg["ledger"] = filepath.Join(t.TempDir(), "l.db")
		for k, v := range c.change {
			if v == nil {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		p := &Provider{}
		ds := p.Configure(context.Background(), providers.ConfigureRequest{Name: "email.x", Config: cfg}).Diagnostics
		named := false
		for _, d := range ds {
			named = named || (d.Severity == providers.Error && d.Attribute == c.attr)
		}
		if !named {
			t.Errorf("%s: want an error on %s, got %v", c.name, c.attr, ds.Err())
		}
		p.Close()
	}
}

func TestConfigWarnsWithoutUnsubscribe(t *testing.T) {
	t.Parallel()
	p := &Provider{}
	defer p.Close()
	ds := p.Configure(context.Background(), providers.ConfigureRequest{Name: "email.x", Config: map[string]any{
		"transport": "smtp", "host": "relay.shop.example", "from": "news@shop.example", "ledger": filepath.Join(t.TempDir(), "l.db")}}).Diagnostics
	if ds.HasErrors() || len(ds) != 1 || ds[0].Severity != providers.Warning || ds[0].Attribute != "unsubscribe_url" {
		t.Fatalf("want one warning about unsubscribe_url, got %+v", ds)
	}
	if p.cfg.port != 587 || p.cfg.tls != tlsStartTLS {
		t.Errorf("defaults: port %d tls %q, want 587 starttls", p.cfg.port, p.cfg.tls)
	}
}

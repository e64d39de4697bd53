package scenario

import (
	"context"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/zclconf/go-cty/cty"
)

// engineSender stands in for a messaging provider in a run: it addresses customers as the
// provider does, so the engine queues exactly the messages it would, and it sends nothing
// (runs never deliver: the outbox is what a test checks).
type engineSender struct {
	ms providers.MessagingSupport
}

var _ providers.Sender = engineSender{}

// Messaging is the provider's own: its address type and consent channel.
func (s engineSender) Messaging() providers.MessagingSupport { return s.ms }

// Send accepts every message and delivers none.
func (s engineSender) Send(_ context.Context, req providers.SendRequest) providers.SendResponse {
	return providers.SendResponse{ID: "musubi-test:" + req.IdempotencyKey}
}

// Senders are the stand-ins of the configuration's messaging providers, by "TYPE.NAME". How
// a provider addresses customers comes from its type, read from an unconfigured instance of
// the built-in (nothing is started, no secret read), and from its settings where they choose
// it: a webhook's address and consent, a sandbox's system (only a messaging one sends).
// Providers that are not built in (plugins) are not stood in for: their sends are dead
// letters in a run, as on a server without them.
func Senders(cfg *lang.Config) map[string]engineSender {
	out := map[string]engineSender{}
	for name, p := range cfg.Providers {
		reg, ok := providers.Lookup(p.Ref.Type)
		if !ok || reg.New == nil {
			continue
		}
		s, ok := reg.New().(providers.Sender)
		if !ok {
			continue
		}
		ms := s.Messaging()
		if sys, ok := setting(p, "system"); ok && sys != "messaging" {
			continue
		}
		if a, ok := setting(p, "address"); ok {
			ms.Address = a
		}
		if c, ok := setting(p, "consent"); ok {
			ms.Consent = c
		}
		if ms.Address == "" {
			continue
		}
		out[name] = engineSender{ms: ms}
	}
	return out
}

func setting(p *lang.Provider, name string) (string, bool) {
	v, ok := p.Config[name]
	if !ok || v.IsNull() || !v.IsKnown() {
		return "", false
	}
	v, _ = v.Unmark()
	if v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func senderMap(s map[string]engineSender) map[string]providers.Sender {
	out := make(map[string]providers.Sender, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

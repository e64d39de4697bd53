package sandbox

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// fault adds a fault on the sandbox's next send.
func fault(t *testing.T, s providers.Sender, f Fault) {
	p := s.(*Provider)
	f.Provider, f.Op, f.Nth = p.name, "send", 1
	if err := p.Store().AddFault(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

func TestSenderConformance(t *testing.T) {
	providertest.RunSender(t, providertest.SenderHarness{
		New: func(t *testing.T) providers.Sender {
			p := configure(t, filepath.Join(t.TempDir(), "sandbox.db"), "sandbox.line", "messaging")
			p.Stderr = io.Discard // the line a hang fault prints
			return p
		},
		To: "U4af4980629d2a6e9d1b7c3b5f0e8a2d1",
		Deliveries: func(t *testing.T, s providers.Sender) []providertest.Delivery {
			p := s.(*Provider)
			out, err := p.Store().Outbox(context.Background(), p.name)
			if err != nil {
				t.Fatal(err)
			}
			var ds []providertest.Delivery
			for _, d := range out {
				ds = append(ds, providertest.Delivery{To: d.Recipient, Key: d.Key})
			}
			return ds
		},
		Throttle: func(t *testing.T, s providers.Sender) time.Duration {
			fault(t, s, Fault{Status: 429})
			return time.Second // what a sandbox 429 asks for
		},
		// A hang fault delivers first, as a send cut short after the channel took it.
		Stall: func(t *testing.T, s providers.Sender) { fault(t, s, Fault{Hang: true}) },
		Lose:  func(t *testing.T, s providers.Sender) { fault(t, s, Fault{LoseResponse: true}) },
	})
}

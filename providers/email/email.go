// Package email is the built-in provider that sends Musubi's messages by email, through an
// SMTP server (submission with STARTTLS or implicit TLS and SMTP AUTH, via go-mail) or through
// SendGrid's v3 API. One provider type covers both; `transport` chooses.
//
// How campaign features land:
//
//   - a message (campaign.message, a trigger's send action) is a template Musubi renders
//     per customer; neither SMTP nor SendGrid's mail send stores such a template, so the
//     provider keeps it in its ledger file, where plans read it back and show drift;
//   - an audience (the segment a campaign messages) is a SendGrid Marketing list named after
//     the segment ("loyal_store: Store regulars"); an SMTP server keeps no lists, so an SMTP
//     provider refuses audiences at plan time;
//   - every send carries List-Unsubscribe (https and mailto, with RFC 8058 one-click) and,
//     over SMTP, a Message-ID derived from the message name and the customer, so a resend is
//     recognisable as the same message; SendGrid sends carry the idempotency key in
//     custom_args, where its event webhook returns it;
//   - neither transport takes an idempotency key, so the ledger remembers each key sent: a
//     retry with the same key delivers nothing and reports Duplicate.
package email

import (
	"context"
	"net/http"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "email",
		Description: "email through an SMTP server or SendGrid",
		New:         func() providers.Provider { return &Provider{} },
	})
}

var (
	_ providers.Provider = (*Provider)(nil)
	_ providers.Sender   = (*Provider)(nil)
)

// Provider is one configured email sender.
type Provider struct {
	name   string
	cfg    config
	ledger *ledger
	tr     transport
	sg     *sendgridClient // nil for SMTP

	// HTTPClient makes SendGrid's requests; nil uses a client with a 30 s timeout.
	HTTPClient *http.Client
	// Sleep waits between retries of a rate-limited or failed SendGrid call; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of the ledger and of Retry-After dates; tests replace it.
	Now func() time.Time
}

// transport delivers one message and returns the ID the system gave it.
type transport interface {
	deliver(ctx context.Context, o *outgoing) (string, error)
	close() error
}

// Schema describes the provider block and, once configured, what its transport manages.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{Config: configSchema, Kinds: p.kinds()}
}

func (p *Provider) kinds() map[providers.Kind]providers.KindSupport {
	message := providers.KindSupport{Attributes: []string{"name", "template", "subject", "variants", "audience"},
		ForceNew: []string{"name"}, Description: "an email template kept in the provider's ledger; Musubi renders it per customer"}
	audience := providers.KindSupport{Attributes: []string{"segment", "description"}, ForceNew: []string{"segment"},
		Description: "a SendGrid Marketing list named after the segment"}
	switch p.cfg.transport {
	case transportSMTP:
		message.Attributes = []string{"name", "template", "subject", "variants"}
		return map[providers.Kind]providers.KindSupport{providers.KindMessage: message}
	default:
		// Before Configure the planner asks what the type can do at all; SMTP's limits are
		// reported by Validate.
		return map[providers.Kind]providers.KindSupport{providers.KindMessage: message, providers.KindAudience: audience}
	}
}

// Configure checks the block, opens the ledger and prepares the transport. It connects to
// nothing: plans work offline, and the first send dials.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	cfg, ds := parseConfig(req.Config, req.Sensitive)
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	providers.DefaultClock(&p.Now, &p.Sleep)
	p.Close()
	var tr transport
	switch cfg.transport {
	case transportSMTP:
		t, tds := newSMTP(&cfg, req.WorkDir)
		if tds.HasErrors() {
			return providers.ConfigureResponse{Diagnostics: append(ds, tds...)}
		}
		tr = t
	case transportSendGrid:
		hc := p.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 30 * time.Second}
		}
		p.sg = &sendgridClient{endpoint: cfg.endpoint, apiKey: cfg.apiKey, http: hc, now: p.Now}
		tr = &sendgridTransport{cfg: &cfg, client: p.sg, retry: p.retry}
	}
	l, err := openLedger(resolve(req.WorkDir, cfg.ledger), p.Now)
	if err != nil {
		tr.close()
		return providers.ConfigureResponse{Diagnostics: append(ds, providers.AttributeError("ledger", "Cannot open the email ledger", "%v", err))}
	}
	p.name, p.cfg, p.ledger, p.tr = req.Name, cfg, l, tr
	return providers.ConfigureResponse{Diagnostics: ds}
}

// Close releases the ledger and idle connections.
func (p *Provider) Close() error {
	var err error
	if p.tr != nil {
		err = p.tr.close()
		p.tr = nil
	}
	if p.ledger != nil {
		if lerr := p.ledger.close(); err == nil {
			err = lerr
		}
		p.ledger = nil
	}
	return err
}

// Messaging says customers are reached by email address, with email consent.
func (p *Provider) Messaging() providers.MessagingSupport {
	return providers.MessagingSupport{Address: "email", Consent: "email"}
}

func (p *Provider) configured() providers.Diagnostics {
	if p.ledger == nil {
		return providers.Errorf("Email provider not configured", "Configure was not called, or failed")
	}
	return nil
}

// Retries of SendGrid calls that failed with a status saying "try again".
const (
	maxAttempts  = 3
	maxRetryWait = 30 * time.Second // longer waits are left to the caller, with RetryAfter
)

// retry runs op until it succeeds, fails for good, or maxAttempts have failed with 429 or
// 5xx, waiting as long as SendGrid asked (or 1 s, 2 s). A failure without a status (the
// request may have arrived) is not retried.
func (p *Provider) retry(ctx context.Context, op func(attempt int) error) error {
	r := providers.Retry{Attempts: maxAttempts, Backoff: time.Second, MaxWait: maxRetryWait, Sleep: p.Sleep}
	return r.Do(ctx, op, func(ae *providers.APIError) bool { return ae.Status != 0 })
}

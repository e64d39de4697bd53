package email

import (
	"net/http"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/email/sendgridtest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

// The relay of each SMTP provider under test, and the contract server and the faults in front
// of it of each SendGrid provider.
var (
	relays  providertest.Fixtures[*relay]
	sgs     providertest.Fixtures[*sendgridtest.Server]
	sgFault providertest.Fixtures[*providertest.Faults]
)

// relayed configures an SMTP provider against a fresh relay.
func relayed(t *testing.T, overrides map[string]any) *Provider {
	r := startRelay(t, relayOptions{})
	p := smtpProvider(t, r, overrides)
	relays.Keep(t, p, r)
	return p
}

// faulty configures a SendGrid provider against srv, with faults in front of it.
func faulty(t *testing.T, srv *sendgridtest.Server, overrides map[string]any) *Provider {
	p, _ := sendgridProvider(t, srv, overrides)
	sgs.Keep(t, p, srv)
	sgFault.Keep(t, p, providertest.Inject(p.sg.http))
	return p
}

// SMTP replies to the failures the suites ask for by HTTP status.
var (
	noSuchUser  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	rateLimited = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "rate limit exceeded, try again later"}
	smtpReplies = map[int]*smtp.SMTPError{
		400: {Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "syntax error in parameters"},
		401: {Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication credentials invalid"},
		403: {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relaying denied"},
		404: noSuchUser,
		409: {Code: 554, EnhancedCode: smtp.EnhancedCode{5, 3, 0}, Message: "transaction failed"},
		422: {Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "mailbox name not allowed"},
		429: rateLimited,
		500: {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "local error in processing"},
		503: {Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available, closing channel"},
	}
)

func TestSenderConformanceSMTP(t *testing.T) {
	t.Parallel()
	providertest.RunSender(t, providertest.SenderHarness{
		New: func(t *testing.T) providers.Sender { return relayed(t, nil) },
		To:  "hanako@example.jp",
		// SMTP takes no idempotency key: the ledger remembers them.
		Deliveries: func(t *testing.T, s providers.Sender) []providertest.Delivery {
			var out []providertest.Delivery
			for _, m := range relays.Of(s).messages() {
				out = append(out, providertest.Delivery{To: m.to[0]})
			}
			return out
		},
		Unknown: func(t *testing.T, s providers.Sender) string {
			relays.Of(s).rejectNext(noSuchUser)
			return "nobody@shop.example"
		},
		// SMTP names no wait.
		Throttle: func(t *testing.T, s providers.Sender) time.Duration {
			relays.Of(s).rejectNext(rateLimited)
			return 0
		},
		// No Stall: go-mail's SendWithSMTPClient takes no context, so a relay that stops
		// answering mid-transaction holds Send for the 30 s connection timeout, however soon
		// its context ends.
		Secrets: func(t *testing.T, s providers.Sender) []string { return []string{relays.Of(s).password} },
	})
}

func TestSenderConformanceSendGrid(t *testing.T) {
	t.Parallel()
	providertest.RunSender(t, providertest.SenderHarness{
		New: func(t *testing.T) providers.Sender { return faulty(t, newSendGrid(t), nil) },
		To:  "hanako@example.jp",
		Deliveries: func(t *testing.T, s providers.Sender) []providertest.Delivery {
			var out []providertest.Delivery
			for _, m := range sgs.Of(s).Sent() {
				pz := m.Personalizations[0]
				out = append(out, providertest.Delivery{To: pz.To[0].Email, Key: pz.CustomArgs[argKey]})
			}
			return out
		},
		// SendGrid accepts any well-formed address: only the form can be wrong.
		Unknown: func(*testing.T, providers.Sender) string { return "nobody at shop.example" },
		Throttle: func(t *testing.T, s providers.Sender) time.Duration {
			// Longer than the provider waits itself: the wait is left to the outbox.
			sgFault.Of(s).Fail(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}}, 1)
			return time.Minute
		},
		Stall: func(t *testing.T, s providers.Sender) { sgFault.Of(s).Stall() },
		// No Lose: SendGrid's mail send takes no idempotency key, so a send whose answer was
		// lost is sent again on the retry.
		Secrets: func(*testing.T, providers.Sender) []string { return []string{testAPIKey} },
	})
}

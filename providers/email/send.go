package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// outgoing is one rendered message to one recipient.
type outgoing struct {
	to, subject, text string
	// messageID is the RFC 5322 Message-ID without angle brackets.
	messageID           string
	name, customer, key string
	unsubscribe         []string
	oneClick            bool
}

// Send delivers one message. The ledger claims the idempotency key first: a key sent before
// reports Duplicate without delivering, and a key another sender is delivering right now is
// a temporary error, so two workers never send the same message at once.
func (p *Provider) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	if ds := p.configured(); ds != nil {
		return providers.SendResponse{Diagnostics: ds}
	}
	o, err := p.outgoing(req)
	if err != nil {
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", err)}
	}
	if req.IdempotencyKey == "" {
		id, err := p.tr.deliver(ctx, o)
		return providers.SendResponse{ID: id, Diagnostics: providers.FromError("send failed", err)}
	}
	c, err := p.ledger.claimSend(ctx, p.name, req.IdempotencyKey)
	switch {
	case err != nil:
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", err)}
	case c.sent != "":
		return providers.SendResponse{ID: c.sent, Duplicate: true}
	case c.busy > 0:
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", &providers.APIError{
			Code: providers.ErrUnavailable, RetryAfter: c.busy,
			Message: "another send with the same idempotency key is in progress"})}
	}
	id, err := p.tr.deliver(ctx, o)
	// Record the outcome even when the caller gave up meanwhile.
	bg := context.WithoutCancel(ctx)
	if err != nil {
		if rerr := p.ledger.release(bg, p.name, req.IdempotencyKey); rerr != nil {
			err = fmt.Errorf("%w (and the ledger kept the claim: %v)", err, rerr)
		}
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", err)}
	}
	resp := providers.SendResponse{ID: id}
	if err := p.ledger.sent(bg, p.name, req.IdempotencyKey, id); err != nil {
		resp.Diagnostics = providers.Diagnostics{{Severity: providers.Warning, Summary: "Sent, but not recorded",
			Detail: fmt.Sprintf("the message went out, but the ledger could not record it (%v); a retry after %s would send it again", err, sendLease)}}
	}
	return resp
}

// outgoing checks a request and adds what every message carries.
func (p *Provider) outgoing(req providers.SendRequest) (*outgoing, error) {
	invalid := func(format string, args ...any) error {
		return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf(format, args...)}
	}
	to, err := mail.ParseAddress(req.To)
	if err != nil || to.Name != "" {
		return nil, invalid("the recipient %q is not an email address", req.To)
	}
	if strings.TrimSpace(req.Subject) == "" {
		return nil, invalid("%s has no subject; an email needs one", req.Name)
	}
	if strings.ContainsAny(req.Subject, "\r\n") {
		return nil, invalid("the subject of %s spans several lines", req.Name)
	}
	if strings.TrimSpace(req.Text) == "" {
		return nil, invalid("%s has no text", req.Name)
	}
	o := &outgoing{to: to.Address, subject: req.Subject, text: req.Text, name: req.Name, customer: req.Customer, key: req.IdempotencyKey}
	o.messageID = messageID(req, p.cfg.from.Address)
	o.unsubscribe, o.oneClick = p.cfg.unsubscribeURIs(req.Name, req.Customer)
	return o, nil
}

// messageID derives the Message-ID from what sends the message and to whom, never from an
// address, so every resend of one message to one customer carries the same ID and mail
// systems can recognise it: <32 hex digits@sender's domain>.
func messageID(req providers.SendRequest, from string) string {
	who := req.Customer
	if who == "" {
		who = "key:" + req.IdempotencyKey
	}
	sum := sha256.Sum256([]byte(req.Name + "\x00" + who))
	_, domain, _ := strings.Cut(from, "@")
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// sendgridTransport sends through SendGrid's v3 mail send, one personalization per message.
type sendgridTransport struct {
	cfg    *config
	client *sendgridClient
	retry  func(ctx context.Context, op func(attempt int) error) error
}

// Custom args every SendGrid message carries; the Event Webhook returns them with each event.
const (
	argKey      = "musubi_key"      // the idempotency key
	argName     = "musubi_name"     // what sent it: campaign.spring
	argCustomer = "musubi_customer" // the unified customer ID
	argMessage  = "musubi_message"  // the stable message identity SMTP puts in Message-ID
)

func (t *sendgridTransport) deliver(ctx context.Context, o *outgoing) (string, error) {
	args := map[string]string{argName: o.name, argMessage: strings.SplitN(o.messageID, "@", 2)[0]}
	if o.key != "" {
		args[argKey] = o.key
	}
	if o.customer != "" {
		args[argCustomer] = o.customer
	}
	m := &sgMail{
		Personalizations: []sgPersonalization{{To: []sgAddress{{Email: o.to}}, CustomArgs: args}},
		From:             sgAddress{Email: t.cfg.from.Address, Name: t.cfg.from.Name},
		Subject:          o.subject,
		Content:          []sgContent{{Type: "text/plain", Value: o.text}},
		Categories:       t.cfg.categories,
	}
	if t.cfg.replyTo != "" {
		m.ReplyTo = &sgAddress{Email: t.cfg.replyTo}
	}
	if len(o.unsubscribe) > 0 {
		m.Headers = map[string]string{"List-Unsubscribe": "<" + strings.Join(o.unsubscribe, ">, <") + ">"}
		if o.oneClick {
			m.Headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
		}
	}
	if t.cfg.asmGroupID != 0 {
		m.ASM = &sgASM{GroupID: t.cfg.asmGroupID}
	}
	if t.cfg.sandboxMode {
		m.MailSettings = &sgMailSettings{}
		m.MailSettings.SandboxMode.Enable = true
	}
	var id string
	err := t.retry(ctx, func(int) error {
		var err error
		id, err = t.client.sendMail(ctx, m)
		return err
	})
	return id, err
}

func (t *sendgridTransport) close() error {
	t.client.http.CloseIdleConnections()
	return nil
}

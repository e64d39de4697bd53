package providers

import "context"

// Sender is implemented by messaging providers (LINE, email, webhook, the sandbox's messaging
// system). The engine's send actions and campaign broadcasts both deliver through it, so one
// rate limiter and one idempotency rule cover every message a customer receives.
type Sender interface {
	// Messaging says how the provider addresses customers. It is valid after Configure.
	Messaging() MessagingSupport
	// Send delivers one message to one recipient. A retry with the same idempotency key must
	// not deliver a second message; a system that recognises the key reports Duplicate.
	Send(ctx context.Context, req SendRequest) SendResponse
}

// MessagingSupport describes how a Sender reaches customers.
type MessagingSupport struct {
	// Address is the identifier type recipients are addressed by: line_user, email, phone.
	Address string
	// Consent is the consent channel that must be true before a send: line, email, sms, push.
	// Empty means the channel needs no consent (a webhook to the retailer's own system).
	Consent string
	// Rate is the most sends a second the system takes from one account, where its API
	// documents one (LINE: 2,000 pushes a second a channel); 0 when it publishes none. The
	// engine paces every send through the provider below it; a `send_rate` of the delivery
	// block sets another rate (an account whose plan allows more, or a system that says nothing).
	Rate float64
}

// SendRequest is one message to one recipient.
type SendRequest struct {
	// Name says what sends it: "trigger.cart_nudge", "campaign.spring".
	Name string
	// MessageID is the ID of the message resource (template) in the system, when there is one.
	MessageID string
	// To is the recipient's address on this channel (a LINE user ID, an email address).
	To string
	// Customer is the unified customer ID; systems that keep a stable per-recipient message ID
	// (email's Message-ID) derive it from Name and Customer. Never an address.
	Customer string
	// Subject is the email subject; other channels ignore it.
	Subject string
	// Text is the rendered message.
	Text string
	// IdempotencyKey is derived from what caused the send (trigger, event, customer), so a
	// crash or retry never sends twice. Providers pass it on where the API takes one (LINE's
	// X-Line-Retry-Key) and otherwise remember it.
	IdempotencyKey string
}

// SendResponse reports a delivery.
type SendResponse struct {
	// ID is the system's ID of the sent message, when it returns one.
	ID string
	// Duplicate is true when the system recognised the idempotency key and sent nothing new.
	Duplicate   bool
	Diagnostics Diagnostics
}

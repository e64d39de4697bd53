package providers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// WebhookReceiver is implemented by providers whose systems post events (LINE, Shopify,
// Square). `musubi serve` routes POST /v1/webhooks/NAME to the configured provider NAME
// ("line.oa"), which verifies the signature with its own secret and translates the payload.
type WebhookReceiver interface {
	// ReceiveWebhook verifies the request and turns its body into events. A missing or wrong
	// signature is an ErrAuth diagnostic and no events; a body that cannot be read is ErrInvalid.
	// Payload parts that carry no event Musubi knows (a LINE "read" receipt) are skipped.
	ReceiveWebhook(ctx context.Context, req WebhookRequest) WebhookResponse
}

// WebhookVerifier is implemented by receivers whose systems check the webhook URL with a GET
// before they post to it (WeChat's echostr): `musubi serve` routes GET /v1/webhooks/NAME to
// it and answers with the text it returns.
type WebhookVerifier interface {
	// VerifyWebhookURL checks the request and returns the body to answer with; a forged
	// check is an ErrAuth diagnostic.
	VerifyWebhookURL(req WebhookRequest) (string, Diagnostics)
}

// WebhookRequest is an inbound webhook call as received.
type WebhookRequest struct {
	// URL is the full URL the sender called, as it signed it (Square signs the URL too).
	URL    string
	Header http.Header
	Body   []byte
}

// WebhookResponse carries the events of one webhook call.
type WebhookResponse struct {
	Events      []InboundEvent
	Diagnostics Diagnostics
	// Reply, when set, is the text the system expects in answer to a call taken (WeChat:
	// "success"), sent instead of the engine's JSON.
	Reply string
}

// InboundEvent is one event a system reported, in Musubi's terms.
type InboundEvent struct {
	// ID names the event by what the system's signature covers (LINE webhookEventId, Square
	// event_id, a Shopify order's ID): the engine drops an ID it has seen before, so a
	// redelivery is harmless, and a replay under new unsigned headers is one too.
	ID string
	// Type is the Musubi event type: purchase, follow, unfollow, cart.updated...
	Type string
	Time time.Time
	// Channel is where it happened: pos, ec, line, email.
	Channel string
	// StoreID is the store it happened in, for in-store events whose system says.
	StoreID string
	// Record holds the source record's fields by their name in the system (userId, email,
	// phone_number); the identity_source's identifiers say which are identifiers.
	Record map[string]any
	// Data holds the fields of the Musubi event type (total, currency, items, account...).
	Data map[string]any
}

// RefuseWebhook is the answer to a webhook call that is refused: a diagnostic under summary
// ("Shopify webhook refused") carrying an error of the code, and no events.
func RefuseWebhook(summary string, code ErrorCode, format string, args ...any) WebhookResponse {
	return WebhookResponse{Diagnostics: FromError(summary, &APIError{Code: code, Message: fmt.Sprintf(format, args...)})}
}

// CheckWebhookURL accepts what systems take as a webhook address: an absolute HTTPS URL.
// system names the system in the message.
func CheckWebhookURL(s, system string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute https:// URL; %s delivers webhooks only over HTTPS", s, system)
	}
	return nil
}

// NonEmpty makes a record of key-value pairs, leaving out the empty values: a webhook
// payload's fields that are unset.
func NonEmpty(kv ...string) map[string]any {
	out := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// TimeOr reads an RFC 3339 time of a payload, or returns dflt when s is not one.
func TimeOr(s string, dflt time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	return dflt
}

package square

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/signature"
)

// notification is the body of a Square webhook notification.
type notification struct {
	MerchantID string `json:"merchant_id"`
	Type       string `json:"type"`
	EventID    string `json:"event_id"`
	CreatedAt  string `json:"created_at"`
	Data       struct {
		Type   string `json:"type"`
		ID     string `json:"id"`
		Object struct {
			Payment  *payment  `json:"payment"`
			Customer *customer `json:"customer"`
		} `json:"object"`
	} `json:"data"`
}

type payment struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	OrderID            string `json:"order_id"`
	CustomerID         string `json:"customer_id"`
	LocationID         string `json:"location_id"`
	BuyerEmailAddress  string `json:"buyer_email_address"`
	CreatedAt          string `json:"created_at"`
	AmountMoney        *Money `json:"amount_money"`
	ApplicationDetails *struct {
		SquareProduct string `json:"square_product"`
	} `json:"application_details"`
}

type customer struct {
	ID           string `json:"id"`
	EmailAddress string `json:"email_address"`
	PhoneNumber  string `json:"phone_number"`
	ReferenceID  string `json:"reference_id"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
}

// ReceiveWebhook verifies a Square notification's x-square-hmacsha256-signature (HMAC-SHA256
// of the notification URL followed by the body, keyed by the subscription's signature key)
// and turns it into an event.
func (p *Provider) ReceiveWebhook(_ context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	if p.signatureKey == "" {
		return providers.RefuseWebhook("webhook refused", providers.ErrAuth, "provider %s has no webhook_signature_key to verify Square's signature; set it from the environment", p.name)
	}
	// Square signs the URL exactly as registered, which a proxy in front of Musubi may change.
	u := p.webhookURL
	if u == "" {
		u = req.URL
	}
	if err := signature.VerifySquare(p.signatureKey, u, req.Body, req.Header.Get(signature.SquareHeader)); err != nil {
		return providers.RefuseWebhook("webhook refused", providers.ErrAuth, "%s: %v (checked against the notification URL %s)", signature.SquareHeader, err, u)
	}
	// The called URL's ?source= says which source the engine files the events under, each
	// with its own record of event IDs: it must be the signed URL's, or a notification could
	// be posted again under another source.
	if called, signed := sourceOf(req.URL), sourceOf(u); !slices.Equal(called, signed) {
		return providers.RefuseWebhook("webhook refused", providers.ErrAuth, "the request names %s, but the notification URL Square signed names %s", sourceText(called), sourceText(signed))
	}
	evs, err := ParseNotification(req.Body)
	if err != nil {
		return providers.RefuseWebhook("webhook refused", providers.ErrInvalid, "%v", err)
	}
	return providers.WebhookResponse{Events: evs}
}

// ParseNotification turns a verified notification body into Musubi events:
//
//   - payment.created / payment.updated with status COMPLETED → purchase (channel pos, or ec
//     for Square Online), total in minor units, the payment's location as the store. Its ID
//     is the payment's, not the event's: Square reports a completed payment again when a
//     refund or a fee changes it, and each of those must not count as another purchase. A payment naming no customer is skipped,
//     as nothing ties it to one.
//   - customer.created / customer.updated → account.linked, whose record carries the
//     profile's identifiers (customer_id, phone_number, email_address, reference_id). Its ID
//     is the event_id, so a redelivery is dropped.
//
// Other notifications carry nothing Musubi uses and give no events.
func ParseNotification(body []byte) ([]providers.InboundEvent, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("the body is not a Square notification: %v", err)
	}
	if n.EventID == "" || n.Type == "" {
		return nil, errors.New("the notification has no event_id or type")
	}
	at := providers.TimeOr(n.CreatedAt, time.Time{})
	switch n.Type {
	case "payment.created", "payment.updated":
		pm := n.Data.Object.Payment
		if pm == nil || pm.Status != "COMPLETED" {
			return nil, nil
		}
		if pm.ID == "" || pm.AmountMoney == nil {
			return nil, fmt.Errorf("%s %s: a completed payment without id or amount_money", n.Type, n.EventID)
		}
		record := providers.NonEmpty("customer_id", pm.CustomerID, "buyer_email_address", pm.BuyerEmailAddress)
		if len(record) == 0 {
			return nil, nil
		}
		channel := "pos"
		if ad := pm.ApplicationDetails; ad != nil && (ad.SquareProduct == "ONLINE_STORE" || ad.SquareProduct == "ECOMMERCE_API") {
			channel = "ec"
		}
		data := map[string]any{"total": pm.AmountMoney.Amount, "currency": pm.AmountMoney.Currency}
		if pm.OrderID != "" {
			data["order_id"] = pm.OrderID
		}
		return []providers.InboundEvent{{ID: "payment:" + pm.ID, Type: "purchase", Time: providers.TimeOr(pm.CreatedAt, at),
			Channel: channel, StoreID: pm.LocationID, Record: record, Data: data}}, nil
	case "customer.created", "customer.updated":
		c := n.Data.Object.Customer
		if c == nil || c.ID == "" {
			return nil, fmt.Errorf("%s %s: no customer in data.object", n.Type, n.EventID)
		}
		record := providers.NonEmpty("customer_id", c.ID, "phone_number", c.PhoneNumber, "email_address", c.EmailAddress, "reference_id", c.ReferenceID)
		return []providers.InboundEvent{{ID: n.EventID, Type: "account.linked", Time: providers.TimeOr(c.UpdatedAt, providers.TimeOr(c.CreatedAt, at)),
			Channel: "pos", Record: record, Data: map[string]any{"account": "square"}}}, nil
	}
	return nil, nil
}

// sourceOf is the source a webhook URL's query names, nil for none.
func sourceOf(u string) []string {
	pu, err := url.Parse(u)
	if err != nil {
		return nil
	}
	return pu.Query()["source"]
}

func sourceText(v []string) string {
	if len(v) == 0 {
		return "no source"
	}
	return fmt.Sprintf("source %q", strings.Join(v, "&"))
}

package shopify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/signature"
)

// Headers of a Shopify webhook delivery, besides the signature.
const (
	TopicHeader       = "X-Shopify-Topic"
	ShopHeader        = "X-Shopify-Shop-Domain"
	WebhookIDHeader   = "X-Shopify-Webhook-Id"
	TriggeredAtHeader = "X-Shopify-Triggered-At"
)

// The parts of Shopify's webhook payloads (REST resource JSON) Musubi reads. IDs are numbers
// beyond float64's precision, so they are read as json.Number.
type (
	orderPayload struct {
		ID            json.Number      `json:"id"`
		Email         string           `json:"email"`
		Phone         string           `json:"phone"`
		CreatedAt     string           `json:"created_at"`
		Currency      string           `json:"currency"`
		TotalPrice    string           `json:"total_price"`
		SourceName    string           `json:"source_name"`
		LocationID    json.Number      `json:"location_id"` // where a POS order was rung up
		CartToken     string           `json:"cart_token"`
		Customer      *customerPayload `json:"customer"`
		LineItems     []linePayload    `json:"line_items"`
		DiscountCodes []struct {
			Code string `json:"code"`
		} `json:"discount_codes"`
	}
	customerPayload struct {
		ID        json.Number `json:"id"`
		Email     string      `json:"email"`
		Phone     string      `json:"phone"`
		CreatedAt string      `json:"created_at"`
		UpdatedAt string      `json:"updated_at"`
	}
	linePayload struct {
		SKU          string `json:"sku"`
		Title        string `json:"title"`
		Name         string `json:"name"`
		VariantTitle string `json:"variant_title"`
		Price        string `json:"price"`
		LinePrice    string `json:"line_price"`
		Quantity     int64  `json:"quantity"`
		PriceSet     *struct {
			ShopMoney struct {
				CurrencyCode string `json:"currency_code"`
			} `json:"shop_money"`
		} `json:"price_set"`
	}
	cartPayload struct {
		ID        string        `json:"id"`
		Token     string        `json:"token"`
		UpdatedAt string        `json:"updated_at"`
		LineItems []linePayload `json:"line_items"`
	}
)

// ReceiveWebhook verifies a Shopify delivery's X-Shopify-Hmac-SHA256 (base64 HMAC-SHA256 of
// the raw body, keyed by the app's client secret), checks it comes from the configured shop
// (an app's secret signs the webhooks of every shop it is installed on), and turns it into
// events. The signature covers the body and no header, so X-Shopify-Topic must fit the body
// and events are named by the body, never by X-Shopify-Webhook-Id: a signed body posted
// again under a new webhook ID is a redelivery, which the engine drops.
func (p *Provider) ReceiveWebhook(ctx context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	if p.secret == "" {
		return providers.RefuseWebhook("Shopify webhook refused", providers.ErrAuth, "provider %s has no client_secret to verify Shopify's signature with; set it from the environment", p.name)
	}
	if err := signature.VerifyShopify(p.secret, req.Body, req.Header.Get(signature.ShopifyHeader)); err != nil {
		return providers.RefuseWebhook("Shopify webhook refused", providers.ErrAuth, "%s: %v", signature.ShopifyHeader, err)
	}
	if shop := strings.ToLower(strings.TrimSpace(req.Header.Get(ShopHeader))); p.shop != "" && shop != p.shop {
		return providers.RefuseWebhook("Shopify webhook refused", providers.ErrAuth, "the delivery is from shop %q, not %s, which provider %s manages", shop, p.shop, p.name)
	}
	id := strings.TrimSpace(req.Header.Get(WebhookIDHeader))
	topic := strings.TrimSpace(req.Header.Get(TopicHeader))
	if id == "" || topic == "" {
		return providers.RefuseWebhook("Shopify webhook refused", providers.ErrInvalid, "the delivery has no %s or %s header", WebhookIDHeader, TopicHeader)
	}
	at, _ := time.Parse(time.RFC3339Nano, req.Header.Get(TriggeredAtHeader))
	currency := ""
	if topic == "carts/update" || topic == "carts/create" {
		// A cart names no currency unless its lines carry price sets; then it is the shop's.
		if s, err := p.shopSettings(ctx); err == nil {
			currency = s.CurrencyCode
		}
	}
	evs, err := ParseWebhook(topic, at, currency, req.Body)
	if err != nil {
		return providers.RefuseWebhook("Shopify webhook refused", providers.ErrInvalid, "%v", err)
	}
	return providers.WebhookResponse{Events: evs}
}

// ParseWebhook turns a verified delivery of topic (X-Shopify-Topic) into Musubi events;
// currency is the shop's, for carts whose lines carry none:
//
//   - orders/create → purchase, channel ec (pos for orders of Shopify POS, with the
//     location_id as the store); total is total_price in minor units, with order_id, items
//     and the coupon_codes redeemed; the record carries customer_id, email, phone and cart_token.
//   - customers/create, customers/update → account.linked, channel ec; the record carries
//     customer_id, email and phone; data.account is shopify.
//   - carts/create, carts/update → cart.updated, channel ec, with the cart's total,
//     item_count and items; Shopify's cart names no customer, so the record carries the
//     cart_token, which the order of the cart carries too.
//
// Other topics give no events. A payload missing what its event needs, or not of the kind
// its topic names, is an error. An event's ID is what the signed body says, so a replay is a
// duplicate whatever its headers: order:ID for a purchase, customer:ID@UPDATED_AT for a
// linked account, cart:TOKEN@UPDATED_AT for a cart (the body's digest when it has no time).
func ParseWebhook(topic string, at time.Time, currency string, body []byte) ([]providers.InboundEvent, error) {
	if err := topicFits(topic, body); err != nil {
		return nil, err
	}
	switch topic {
	case "orders/create":
		var o orderPayload
		if err := json.Unmarshal(body, &o); err != nil {
			return nil, fmt.Errorf("the body is not a Shopify order: %v", err)
		}
		if o.ID == "" || o.Currency == "" {
			return nil, fmt.Errorf("%s: the order has no id or currency", topic)
		}
		total, err := RoundMinor(o.TotalPrice, o.Currency)
		if err != nil {
			return nil, fmt.Errorf("%s: total_price: %v", topic, err)
		}
		record := providers.NonEmpty("email", o.Email, "phone", o.Phone, "cart_token", o.CartToken)
		if c := o.Customer; c != nil {
			for k, v := range providers.NonEmpty("customer_id", c.ID.String(), "email", c.Email, "phone", c.Phone) {
				if _, set := record[k]; !set {
					record[k] = v
				}
			}
		}
		if len(record) == 0 {
			return nil, nil // nothing ties the order to anyone
		}
		items, err := lineItems(o.LineItems, o.Currency)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", topic, err)
		}
		var codes []any
		for _, dc := range o.DiscountCodes {
			if dc.Code != "" {
				codes = append(codes, dc.Code)
			}
		}
		data := map[string]any{"order_id": o.ID.String(), "total": total, "currency": o.Currency, "items": items}
		if len(codes) > 0 {
			data["coupon_codes"] = codes
		}
		channel := "ec"
		if o.SourceName == "pos" {
			channel = "pos"
		}
		return []providers.InboundEvent{{ID: "order:" + o.ID.String(), Type: "purchase", Time: providers.TimeOr(o.CreatedAt, at),
			Channel: channel, StoreID: o.LocationID.String(), Record: record, Data: data}}, nil
	case "customers/create", "customers/update":
		var c customerPayload
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("the body is not a Shopify customer: %v", err)
		}
		if c.ID == "" {
			return nil, fmt.Errorf("%s: the customer has no id", topic)
		}
		id := "customer:" + c.ID.String() + "@" + version(body, c.UpdatedAt, c.CreatedAt)
		return []providers.InboundEvent{{ID: id, Type: "account.linked", Time: providers.TimeOr(c.UpdatedAt, providers.TimeOr(c.CreatedAt, at)),
			Channel: "ec", Record: providers.NonEmpty("customer_id", c.ID.String(), "email", c.Email, "phone", c.Phone),
			Data: map[string]any{"account": "shopify"}}}, nil
	case "carts/create", "carts/update":
		var c cartPayload
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("the body is not a Shopify cart: %v", err)
		}
		if c.Token == "" {
			return nil, fmt.Errorf("%s: the cart has no token", topic)
		}
		cur := currency
		for _, l := range c.LineItems {
			if l.PriceSet != nil && l.PriceSet.ShopMoney.CurrencyCode != "" {
				cur = l.PriceSet.ShopMoney.CurrencyCode
				break
			}
		}
		if cur == "" && len(c.LineItems) > 0 {
			return nil, fmt.Errorf("%s: the cart's lines name no currency, and the shop's is not known", topic)
		}
		items, err := lineItems(c.LineItems, cur)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", topic, err)
		}
		var total, count int64
		for i, l := range c.LineItems {
			lp := l.LinePrice
			if lp == "" {
				lp = "0"
			}
			n, err := RoundMinor(lp, cur)
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: line_price: %v", topic, i, err)
			}
			total += n
			count += l.Quantity
		}
		id := c.ID
		if id == "" {
			id = c.Token
		}
		cart := map[string]any{"id": id, "total": total, "currency": cur, "item_count": count, "items": items}
		return []providers.InboundEvent{{ID: "cart:" + c.Token + "@" + version(body, c.UpdatedAt), Type: "cart.updated", Time: providers.TimeOr(c.UpdatedAt, at),
			Channel: "ec", Record: map[string]any{"cart_token": c.Token}, Data: map[string]any{"cart": cart}}}, nil
	}
	return nil, nil
}

// topicFits checks topic against the body, which alone is signed: an orders/* topic needs an
// order, carts/* a cart, and customers/* neither, so a signed order cannot be passed off as
// a customer (linking its ID as an account) or as a cart. Other topics are not checked.
func topicFits(topic string, body []byte) error {
	family, _, _ := strings.Cut(topic, "/")
	noun := map[string]string{"orders": "order", "carts": "cart", "customers": "customer"}[family]
	if noun == "" {
		return nil
	}
	// Fields only an order has, and fields of a cart (which an order has too).
	var probe struct {
		OrderNumber     json.RawMessage `json:"order_number"`
		TotalPrice      json.RawMessage `json:"total_price"`
		FinancialStatus json.RawMessage `json:"financial_status"`
		Token           json.RawMessage `json:"token"`
		LineItems       json.RawMessage `json:"line_items"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return fmt.Errorf("the body is not a Shopify %s: %v", noun, err)
	}
	kind := "customer" // neither order nor cart: what a customers/* topic takes
	switch {
	case probe.OrderNumber != nil || probe.TotalPrice != nil || probe.FinancialStatus != nil:
		kind = "order"
	case probe.Token != nil || probe.LineItems != nil:
		kind = "cart"
	}
	if kind == noun {
		return nil
	}
	article := map[string]string{"order": "an order", "cart": "a cart"}
	is := article[kind]
	if kind == "customer" {
		is = "not " + article[noun]
	}
	return fmt.Errorf("%s is %s, but the body is %s; the topic is not signed, so it must fit the body", TopicHeader, topic, is)
}

// version is the first of times the body gives, else the body's digest: what tells one
// version of a customer or cart from the next.
func version(body []byte, times ...string) string {
	for _, t := range times {
		if t != "" {
			return t
		}
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

func lineItems(lines []linePayload, currency string) ([]any, error) {
	out := make([]any, 0, len(lines))
	for i, l := range lines {
		price := int64(0)
		if l.Price != "" {
			n, err := RoundMinor(l.Price, currency)
			if err != nil {
				return nil, fmt.Errorf("line %d: price: %v", i, err)
			}
			price = n
		}
		name := l.Name
		if name == "" {
			name = l.Title
		}
		item := map[string]any{"name": name, "price": price, "quantity": l.Quantity}
		if l.SKU != "" {
			item["sku"] = l.SKU
		}
		out = append(out, item)
	}
	return out, nil
}

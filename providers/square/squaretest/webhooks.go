package squaretest

import (
	"net/http"
	"net/url"
	"sort"
	"unicode/utf8"
)

const (
	maxSubscriptionName = 64
	maxSubscriptionPage = 100
)

// EventTypes are the webhook event types the server accepts in a subscription: those a
// marketing programme listens to, and a few others.
var EventTypes = []string{
	"payment.created", "payment.updated", "refund.created", "refund.updated",
	"customer.created", "customer.updated", "customer.deleted",
	"order.created", "order.updated", "order.fulfillment.updated",
	"loyalty.account.created", "loyalty.account.updated", "loyalty.event.created",
	"catalog.version.updated", "inventory.count.updated",
}

type subscription struct {
	ID              string   `json:"id,omitempty"`
	Name            string   `json:"name,omitempty"`
	Enabled         *bool    `json:"enabled,omitempty"`
	EventTypes      []string `json:"event_types,omitempty"`
	NotificationURL string   `json:"notification_url,omitempty"`
	APIVersion      string   `json:"api_version,omitempty"`
	SignatureKey    string   `json:"signature_key,omitempty"`
	CreatedAt       string   `json:"created_at,omitempty"`
	UpdatedAt       string   `json:"updated_at,omitempty"`
	seq             int
}

type subscriptionBody struct {
	Subscription *subscription `json:"subscription"`
}

// public is what reads return: the signature key only ever leaves with the create.
func (sub *subscription) public() *subscription {
	c := *sub
	c.SignatureKey = ""
	c.EventTypes = append([]string(nil), sub.EventTypes...)
	return &c
}

// checkSubscription validates the fields set in sub; create requires what update may leave out.
func checkSubscription(sub *subscription, create bool) error {
	if sub == nil {
		return invalid("MISSING_REQUIRED_PARAMETER", "subscription", "subscription is required")
	}
	if n := utf8.RuneCountInString(sub.Name); n > maxSubscriptionName {
		return invalid("VALUE_TOO_LONG", "subscription.name", "name is %d characters; the limit is %d", n, maxSubscriptionName)
	}
	if sub.EventTypes != nil || create {
		if len(sub.EventTypes) == 0 {
			return invalid("VALUE_EMPTY", "subscription.event_types", "Value for `subscription.event_types` should not be empty.")
		}
		for _, e := range sub.EventTypes {
			if !contains(EventTypes, e) {
				return invalid("INVALID_VALUE", "subscription.event_types", "%q is not an event type this application can subscribe to", e)
			}
		}
	}
	if sub.NotificationURL != "" || create {
		if sub.NotificationURL == "" {
			return invalid("MISSING_REQUIRED_PARAMETER", "subscription.notification_url", "notification_url is required")
		}
		if u, err := url.Parse(sub.NotificationURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return invalid("INVALID_VALUE", "subscription.notification_url", "URL is not valid: %q must be an absolute HTTPS URL", sub.NotificationURL)
		}
	}
	if sub.APIVersion != "" && !versionRE.MatchString(sub.APIVersion) {
		return invalid("INVALID_VALUE", "subscription.api_version", "api_version %q is not YYYY-MM-DD", sub.APIVersion)
	}
	if sub.ID != "" || sub.SignatureKey != "" || sub.CreatedAt != "" || sub.UpdatedAt != "" {
		return invalid("INVALID_VALUE", "subscription", "id, signature_key, created_at and updated_at are read-only")
	}
	return nil
}

func (s *Server) createSubscription(r *http.Request) (any, error) {
	var req struct {
		IdempotencyKey string        `json:"idempotency_key"`
		Subscription   *subscription `json:"subscription"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkKey(req.IdempotencyKey, false, maxSubscriptionKey); err != nil {
		return nil, err
	}
	if err := checkSubscription(req.Subscription, true); err != nil {
		return nil, err
	}
	return s.idempotent("webhooks/subscriptions", req.IdempotencyKey, req, func() (any, error) {
		s.seq++
		sub := *req.Subscription
		sub.ID, sub.SignatureKey, sub.seq = "wbhk_"+randomHex(12), randomKey(), s.seq
		sub.CreatedAt = s.now()
		sub.UpdatedAt = sub.CreatedAt
		if sub.Enabled == nil {
			t := true
			sub.Enabled = &t
		}
		if sub.APIVersion == "" {
			sub.APIVersion = r.Header.Get("Square-Version")
		}
		s.subs[sub.ID] = &sub
		c := sub // the create alone returns the signature key
		return subscriptionBody{&c}, nil
	})
}

func (s *Server) subscription(r *http.Request) (*subscription, error) {
	id := r.PathValue("id")
	sub := s.subs[id]
	if sub == nil {
		return nil, notFound("subscription_id", "Webhook subscription with ID %s not found.", id)
	}
	return sub, nil
}

func (s *Server) getSubscription(r *http.Request) (any, error) {
	sub, err := s.subscription(r)
	if err != nil {
		return nil, err
	}
	return subscriptionBody{sub.public()}, nil
}

func (s *Server) updateSubscription(r *http.Request) (any, error) {
	sub, err := s.subscription(r)
	if err != nil {
		return nil, err
	}
	var req subscriptionBody
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkSubscription(req.Subscription, false); err != nil {
		return nil, err
	}
	u := req.Subscription
	if u.Name != "" {
		sub.Name = u.Name
	}
	if u.Enabled != nil {
		sub.Enabled = u.Enabled
	}
	if u.EventTypes != nil {
		sub.EventTypes = u.EventTypes
	}
	if u.NotificationURL != "" {
		sub.NotificationURL = u.NotificationURL
	}
	if u.APIVersion != "" {
		sub.APIVersion = u.APIVersion
	}
	sub.UpdatedAt = s.now()
	return subscriptionBody{sub.public()}, nil
}

func (s *Server) deleteSubscription(r *http.Request) (any, error) {
	sub, err := s.subscription(r)
	if err != nil {
		return nil, err
	}
	delete(s.subs, sub.ID)
	return struct{}{}, nil
}

func (s *Server) listSubscriptions(r *http.Request) (any, error) {
	limit, err := limitParam(r, maxSubscriptionPage, maxSubscriptionPage)
	if err != nil {
		return nil, err
	}
	withDisabled := r.URL.Query().Get("include_disabled") == "true"
	var all []*subscription
	for _, sub := range s.subs {
		if withDisabled || sub.Enabled == nil || *sub.Enabled {
			all = append(all, sub)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	pg, next, err := page(all, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Subscriptions []*subscription `json:"subscriptions,omitempty"`
		Cursor        string          `json:"cursor,omitempty"`
	}{Cursor: next}
	for _, sub := range pg {
		out.Subscriptions = append(out.Subscriptions, sub.public())
	}
	return out, nil
}

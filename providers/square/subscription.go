package square

import (
	"context"

	"github.com/musubi-hq/musubi/providers"
)

// topicEvents maps the Musubi event types Square can deliver to the Square event types that
// carry them. A payment reaches COMPLETED either on creation or on a later update, so both
// are needed for every purchase.
var topicEvents = providers.TopicMap{
	{Topic: "account.linked", Hooks: []string{"customer.created", "customer.updated"}},
	{Topic: "purchase", Hooks: []string{"payment.created", "payment.updated"}},
}

func (p *Provider) checkSubscription(a providers.Attrs, bad func(attr, format string, args ...any)) providers.Diagnostics {
	if s := a.String("source"); !providers.NameRE.MatchString(s) || len(s) > maxSourceLen {
		bad("source", "source %q must be an identity_source name of at most %d characters; it names the Square subscription", s, maxSourceLen)
	}
	return p.subscriptions().Check(a, bad)
}

// subscriptions is how Square takes webhook subscriptions: one per identity source.
func (p *Provider) subscriptions() providers.Subscriptions {
	return providers.Subscriptions{System: "Square", Topics: topicEvents, Address: "a notification URL",
		Delivers: "the subscription delivers", WebhookURL: p.webhookURL}
}

// subscriptionAttrs reads a subscription back. A disabled subscription delivers nothing, so
// it reads as having no topics: the next apply enables it again.
func subscriptionAttrs(s *WebhookSubscription) providers.Attrs {
	source, _, ok := parseSubscriptionName(s.Name)
	if !ok {
		source = s.Name
	}
	a := providers.Attrs{"source": source}
	if s.NotificationURL != "" {
		a["endpoint"] = s.NotificationURL
	}
	if s.Enabled == nil || *s.Enabled {
		if t := topicEvents.TopicsOf(s.EventTypes); len(t) > 0 {
			a["topics"] = t
		}
	}
	return a
}

func (p *Provider) createSubscription(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	a := req.Attributes
	topics, _ := topicEvents.Deliverable(a.Strings("topics"))
	enabled := true
	s, err := p.client.CreateWebhookSubscription(ctx, req.IdempotencyKey, WebhookSubscription{
		Name: subscriptionName(a.String("source"), markerOf(req.IdempotencyKey)), Enabled: &enabled,
		EventTypes: topicEvents.Hooks(topics), NotificationURL: p.subscriptions().Endpoint(a), APIVersion: APIVersion,
	})
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.failure("create failed", err)}
	}
	s.SignatureKey = "" // a secret: it goes to the operator through Square's console, never into state
	return providers.CreateResponse{ID: s.ID, Attributes: subscriptionAttrs(s)}
}

func (p *Provider) readSubscription(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	s, err := p.client.WebhookSubscription(ctx, req.ID)
	if err != nil {
		return providers.ReadResponse{Diagnostics: p.failure("read failed", err)}
	}
	if s == nil {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: s.ID, Attributes: subscriptionAttrs(s)}
}

// updateSubscription changes topics and endpoint, unless the subscription changed in Square
// since the plan.
func (p *Provider) updateSubscription(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	fail := func(err error) providers.UpdateResponse {
		return providers.UpdateResponse{Diagnostics: p.failure("update failed", err)}
	}
	s, err := p.client.WebhookSubscription(ctx, req.ID)
	if err != nil {
		return fail(err)
	}
	if s == nil {
		return fail(notFound("webhook subscription %s no longer exists in Square", req.ID))
	}
	live := subscriptionAttrs(s)
	if req.Prior != nil {
		if changed := providers.Diff(providers.KindSubscription, req.Prior, live); len(changed) > 0 {
			return fail(conflict("webhook subscription %s changed in Square since it was planned (%s); nothing was overwritten: plan again to see the change",
				req.ID, providers.DescribeChanges(changed, live)))
		}
	}
	topics, _ := topicEvents.Deliverable(req.Planned.Strings("topics"))
	enabled := true
	s, err = p.client.UpdateWebhookSubscription(ctx, req.ID, WebhookSubscription{
		Enabled: &enabled, EventTypes: topicEvents.Hooks(topics), NotificationURL: p.subscriptions().Endpoint(req.Planned)})
	if err != nil {
		return fail(err)
	}
	s.SignatureKey = ""
	return providers.UpdateResponse{Attributes: subscriptionAttrs(s)}
}

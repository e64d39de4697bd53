package square

import (
	"context"
	"fmt"
	"strings"

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
	var warnings providers.Diagnostics
	if s := a.String("source"); !providers.NameRE.MatchString(s) || len(s) > maxSourceLen {
		bad("source", "source %q must be an identity_source name of at most %d characters; it names the Square subscription", s, maxSourceLen)
	}
	ok, dropped := topicEvents.Deliverable(a.Strings("topics"))
	if len(ok) == 0 {
		bad("topics", "Square sends none of the events %q; it delivers %s", a.Strings("topics"), strings.Join(topicEvents.Topics(), " and "))
	} else if len(dropped) > 0 {
		warnings = append(warnings, providers.Diagnostic{Severity: providers.Warning, Attribute: "topics",
			Summary: "Events Square does not send",
			Detail:  fmt.Sprintf("Square sends no %s events; the subscription delivers %s only", strings.Join(dropped, ", "), strings.Join(ok, ", "))})
	}
	switch ep := p.endpoint(a); {
	case ep == "":
		bad("endpoint", "a Square webhook subscription needs a notification URL: set webhook_url on the provider")
	default:
		if err := providers.CheckWebhookURL(ep, "Square"); err != nil {
			bad("endpoint", "%v", err)
		}
	}
	return warnings
}

func (p *Provider) endpoint(a providers.Attrs) string {
	if ep := a.String("endpoint"); ep != "" {
		return ep
	}
	return p.webhookURL
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
		EventTypes: topicEvents.Hooks(topics), NotificationURL: p.endpoint(a), APIVersion: APIVersion,
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
				req.ID, describe(changed, live)))
		}
	}
	topics, _ := topicEvents.Deliverable(req.Planned.Strings("topics"))
	enabled := true
	s, err = p.client.UpdateWebhookSubscription(ctx, req.ID, WebhookSubscription{
		Enabled: &enabled, EventTypes: topicEvents.Hooks(topics), NotificationURL: p.endpoint(req.Planned)})
	if err != nil {
		return fail(err)
	}
	s.SignatureKey = ""
	return providers.UpdateResponse{Attributes: subscriptionAttrs(s)}
}

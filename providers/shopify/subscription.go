package shopify

import (
	"context"
	"slices"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// topicHooks maps the Musubi event types Shopify can deliver to the webhook topics that
// carry them.
var topicHooks = providers.TopicMap{
	{Topic: "account.linked", Hooks: []string{"CUSTOMERS_CREATE", "CUSTOMERS_UPDATE"}},
	{Topic: "cart.updated", Hooks: []string{"CARTS_UPDATE"}},
	{Topic: "purchase", Hooks: []string{"ORDERS_CREATE"}},
}

func (p *Provider) checkSubscription(a providers.Attrs, bad func(attr, format string, args ...any)) providers.Diagnostics {
	if s := a.String("source"); !providers.NameRE.MatchString(s) {
		bad("source", "source %q must be an identity_source name; it rides on the webhook URI", s)
	}
	return p.subscriptions().Check(a, bad)
}

// subscriptions is how Shopify takes webhook subscriptions: one per topic.
func (p *Provider) subscriptions() providers.Subscriptions {
	return providers.Subscriptions{System: "Shopify", Topics: topicHooks, Address: "a URI",
		Delivers: "the subscriptions deliver", WebhookURL: p.webhookURL}
}

// webhooksOf returns the subscriptions whose URI carries marker, from list or, when list is
// nil, from a listing of the app's subscriptions.
func (p *Provider) webhooksOf(ctx context.Context, marker string, list []WebhookSubscription) ([]WebhookSubscription, error) {
	if list == nil {
		var err error
		if list, err = p.client.WebhookSubscriptions(ctx); err != nil {
			return nil, err
		}
	}
	var out []WebhookSubscription
	for _, wh := range list {
		if _, _, m, ok := parseSubscriptionURI(wh.URI); ok && m == marker {
			out = append(out, wh)
		}
	}
	return out, nil
}

// subscriptionAttrs reads an identity source's subscriptions back. Subscriptions pointed at
// different URIs read as all of them, so the next apply points them back at one.
func subscriptionAttrs(whs []WebhookSubscription) providers.Attrs {
	a := providers.Attrs{}
	var hooks, endpoints []string
	for _, wh := range whs {
		hooks = append(hooks, wh.Topic)
		ep, source, _, _ := parseSubscriptionURI(wh.URI)
		if !slices.Contains(endpoints, ep) {
			endpoints = append(endpoints, ep)
		}
		if a.String("source") == "" && source != "" {
			a["source"] = source
		}
	}
	slices.Sort(endpoints)
	if len(endpoints) > 0 {
		a["endpoint"] = strings.Join(endpoints, " ")
	}
	if t := topicHooks.TopicsOf(hooks); len(t) > 0 {
		a["topics"] = t
	}
	return a
}

// syncWebhooks makes the subscriptions of marker exactly those of topics at uri: it creates
// the missing ones, points the others at uri, and deletes those of topics no longer wanted.
// wrote says whether anything was created, for a create to report a partial failure.
func (p *Provider) syncWebhooks(ctx context.Context, have []WebhookSubscription, topics []string, uri string) (wrote bool, err error) {
	want := topicHooks.Hooks(topics)
	for _, wh := range have {
		switch {
		case !slices.Contains(want, wh.Topic):
			if err := p.client.DeleteWebhook(ctx, wh.ID); err != nil {
				return wrote, err
			}
		case wh.URI != uri:
			if _, err := p.client.UpdateWebhook(ctx, wh.ID, uri); err != nil {
				return wrote, err
			}
		}
	}
	for _, t := range want {
		if slices.ContainsFunc(have, func(wh WebhookSubscription) bool { return wh.Topic == t }) {
			continue
		}
		if _, err := p.client.CreateWebhook(ctx, t, uri); err != nil {
			return wrote, err
		}
		wrote = true
	}
	return wrote, nil
}

func (p *Provider) createSubscription(ctx context.Context, req providers.CreateRequest) (string, providers.Attrs, error) {
	a := req.Attributes
	marker := markerOf(req.IdempotencyKey)
	have, err := p.webhooksOf(ctx, marker, nil)
	if err != nil {
		return "", nil, err
	}
	topics, _ := topicHooks.Deliverable(a.Strings("topics"))
	uri := subscriptionURI(p.subscriptions().Endpoint(a), a.String("source"), marker)
	id := subscriptionID(marker)
	wrote, err := p.syncWebhooks(ctx, have, topics, uri)
	if err != nil {
		if wrote || len(have) > 0 {
			return "", nil, partial(err, "subscription "+id)
		}
		return "", nil, err
	}
	now, err := p.webhooksOf(ctx, marker, nil)
	if err != nil {
		return "", nil, partial(err, "subscription "+id)
	}
	return id, subscriptionAttrs(now), nil
}

func (p *Provider) readSubscriptions(ctx context.Context, reqs []providers.ReadRequest, idx []int, out []providers.ReadResponse) {
	if len(idx) == 0 {
		return
	}
	list, err := p.client.WebhookSubscriptions(ctx)
	if list == nil {
		list = []WebhookSubscription{}
	}
	for _, i := range idx {
		if err != nil {
			out[i].Diagnostics = p.failure("read failed", err)
			continue
		}
		marker, ok := parseSubscriptionID(reqs[i].ID)
		var whs []WebhookSubscription
		if ok {
			whs, _ = p.webhooksOf(ctx, marker, list)
		}
		if len(whs) == 0 {
			out[i] = providers.ReadResponse{}
			continue
		}
		out[i] = providers.ReadResponse{Found: true, ID: reqs[i].ID, Attributes: subscriptionAttrs(whs)}
	}
}

// updateSubscription changes topics, endpoint and source, unless the subscriptions changed in
// Shopify since the plan.
func (p *Provider) updateSubscription(ctx context.Context, req providers.UpdateRequest) (providers.Attrs, error) {
	marker, ok := parseSubscriptionID(req.ID)
	if !ok {
		return nil, notFound("%s is not a subscription ID", req.ID)
	}
	have, err := p.webhooksOf(ctx, marker, nil)
	if err != nil {
		return nil, err
	}
	if len(have) == 0 {
		return nil, notFound("the webhook subscriptions %s no longer exist in Shopify", req.ID)
	}
	if err := changedSince(providers.KindSubscription, "webhook subscriptions", req.ID, req.Prior, subscriptionAttrs(have)); err != nil {
		return nil, err
	}
	topics, _ := topicHooks.Deliverable(req.Planned.Strings("topics"))
	if _, err := p.syncWebhooks(ctx, have, topics, subscriptionURI(p.subscriptions().Endpoint(req.Planned), req.Planned.String("source"), marker)); err != nil {
		return nil, err
	}
	now, err := p.webhooksOf(ctx, marker, nil)
	if err != nil {
		return nil, err
	}
	return subscriptionAttrs(now), nil
}

func (p *Provider) deleteSubscription(ctx context.Context, id string) error {
	marker, ok := parseSubscriptionID(id)
	if !ok {
		return nil
	}
	have, err := p.webhooksOf(ctx, marker, nil)
	if err != nil {
		return err
	}
	for _, wh := range have {
		if err := p.client.DeleteWebhook(ctx, wh.ID); err != nil {
			return err
		}
	}
	return nil
}

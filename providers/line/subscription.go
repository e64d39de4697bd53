package line

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/musubi-hq/musubi/providers"
)

// webhookTopics are the events of LINE's webhook that Musubi turns into its own. LINE sends
// every event of the channel to its one endpoint and lets no one choose.
var webhookTopics = []string{"follow", "unfollow"}

// webhookURL is where LINE is to post: the declared endpoint, else musubi serve's route for
// this provider, with the identity source in the query so the channel's settings say which
// source it feeds.
func (p *Provider) webhookURL(a providers.Attrs) (string, error) {
	ep := a.String("endpoint")
	if ep == "" && p.engineURL != "" {
		ep = p.engineURL + "/v1/webhooks/" + p.name
	}
	if ep == "" {
		return "", fmt.Errorf("LINE needs a webhook URL: set engine_url on the provider (the public URL of musubi serve), or the subscription's endpoint")
	}
	u, err := url.Parse(ep)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("the webhook URL %q is not an https:// URL; LINE posts webhooks over HTTPS only", ep)
	}
	if src := a.String("source"); src != "" {
		q := u.Query()
		q.Set("source", src)
		u.RawQuery = q.Encode()
	}
	s := u.String()
	if len(s) > MaxWebhookURL {
		return "", fmt.Errorf("the webhook URL is %d characters; LINE takes %d at most", len(s), MaxWebhookURL)
	}
	return s, nil
}

func (p *Provider) checkSubscription(a providers.Attrs) providers.Diagnostics {
	var ds providers.Diagnostics
	if a.String("source") == "" {
		ds = append(ds, providers.AttributeError("source", "Missing identity source", "a LINE webhook subscription needs the identity source it feeds"))
	}
	if _, err := p.webhookURL(a); err != nil {
		ds = append(ds, providers.AttributeError("endpoint", "Unusable LINE webhook URL", "%v", err))
	}
	// As with Square and Shopify: an event LINE never sends is a warning, a subscription to
	// none of the events LINE sends an error. LINE delivers both whatever is asked.
	var dropped []string
	for _, t := range a.Strings("topics") {
		if !slices.Contains(webhookTopics, t) {
			dropped = append(dropped, t)
		}
	}
	switch topics := a.Strings("topics"); {
	case len(topics) > 0 && len(dropped) == len(topics):
		ds = append(ds, providers.AttributeError("topics", "Not possible on LINE",
			"LINE sends none of the events %q; it delivers %s", topics, strings.Join(webhookTopics, " and ")))
	case len(dropped) > 0:
		ds = append(ds, providers.Diagnostic{Severity: providers.Warning, Attribute: "topics",
			Summary: "Events LINE does not send",
			Detail:  fmt.Sprintf("LINE sends no %s events; the webhook delivers %s only", strings.Join(dropped, ", "), strings.Join(webhookTopics, " and "))})
	}
	return ds
}

func (p *Provider) planSubscription(a providers.Attrs) providers.Attrs {
	out := a.Clone()
	out["topics"] = slices.Clone(webhookTopics)
	if ep, err := p.webhookURL(a); err == nil {
		out["endpoint"] = ep
	}
	return out
}

// subscriptionAttrs reads a subscription back from the channel's webhook URL.
func subscriptionAttrs(endpoint string) providers.Attrs {
	out := providers.Attrs{"endpoint": endpoint, "topics": slices.Clone(webhookTopics)}
	if u, err := url.Parse(endpoint); err == nil {
		if src := u.Query().Get("source"); src != "" {
			out["source"] = src
		}
	}
	return out
}

// botID returns the bot's user ID, the ID of the channel's one webhook subscription. The
// channel does not change under a configured provider, so it is asked once.
func (p *Provider) botID(ctx context.Context) (string, error) {
	p.mu.Lock()
	id := p.botUserID
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var info *messaging_api.BotInfoResponse
	_, err := p.do(ctx, "read the bot's info", repeatable, func() (*http.Response, error) {
		res, body, err := p.messaging(ctx).GetBotInfoWithHttpInfo()
		info = body
		return res, err
	})
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.botUserID = info.UserId
	p.mu.Unlock()
	return info.UserId, nil
}

func (p *Provider) setWebhook(ctx context.Context, what, endpoint string) error {
	_, err := p.do(ctx, what, repeatable, func() (*http.Response, error) {
		res, _, err := p.messaging(ctx).SetWebhookEndpointWithHttpInfo(&messaging_api.SetWebhookEndpointRequest{Endpoint: endpoint})
		return res, err
	})
	return err
}

// putSubscription points the channel's webhook at the planned URL.
func (p *Provider) putSubscription(ctx context.Context, a providers.Attrs) (string, providers.Attrs, error) {
	ep, err := p.webhookURL(a)
	if err != nil {
		return "", nil, &providers.APIError{Code: providers.ErrInvalid, Message: err.Error()}
	}
	id, err := p.botID(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := p.setWebhook(ctx, "set the webhook endpoint", ep); err != nil {
		return "", nil, err
	}
	return id, subscriptionAttrs(ep), nil
}

// clearSubscription clears the channel's webhook URL, unless someone has pointed it
// elsewhere since Musubi set it: that URL is not Musubi's to remove.
func (p *Provider) clearSubscription(ctx context.Context, prior providers.Attrs) error {
	if set := prior.String("endpoint"); set != "" {
		got, err := p.webhook(ctx)
		if err != nil {
			return err
		}
		if got.Endpoint != set {
			return nil
		}
	}
	return p.setWebhook(ctx, "clear the webhook endpoint", "")
}

func (p *Provider) webhook(ctx context.Context) (*messaging_api.GetWebhookEndpointResponse, error) {
	var got *messaging_api.GetWebhookEndpointResponse
	_, err := p.do(ctx, "read the webhook endpoint", repeatable, func() (*http.Response, error) {
		res, body, err := p.messaging(ctx).GetWebhookEndpointWithHttpInfo()
		got = body
		return res, err
	})
	return got, err
}

// readSubscription reads the channel's webhook URL. A channel without one has no
// subscription; an ID of another channel's bot is not this channel's subscription.
func (p *Provider) readSubscription(ctx context.Context, id string) (providers.ReadResponse, error) {
	got, err := p.webhook(ctx)
	if err != nil || got.Endpoint == "" {
		return providers.ReadResponse{}, err
	}
	bot, err := p.botID(ctx)
	if err != nil {
		return providers.ReadResponse{}, err
	}
	if id != "" && id != bot {
		return providers.ReadResponse{}, nil
	}
	r := providers.ReadResponse{Found: true, ID: bot, Attributes: subscriptionAttrs(got.Endpoint)}
	if !got.Active {
		r.Diagnostics = providers.Diagnostics{{Severity: providers.Warning, Summary: "LINE webhook is switched off",
			Detail: "the channel's \"Use webhook\" setting is off in the LINE Developers console; LINE posts no events until it is on"}}
	}
	return r, nil
}

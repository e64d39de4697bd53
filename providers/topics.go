package providers

import (
	"fmt"
	"slices"
	"strings"
)

// TopicMap maps the Musubi event types a system's webhooks can deliver (a subscription's
// topics) to the webhook topics or event types that system names them by, in order.
type TopicMap []TopicHooks

// TopicHooks is one Musubi event type and the system's webhook topics that carry it; all of
// them are needed to receive every such event.
type TopicHooks struct {
	Topic string
	Hooks []string
}

// Topics lists the Musubi event types the system delivers.
func (m TopicMap) Topics() []string {
	out := make([]string, len(m))
	for i, t := range m {
		out[i] = t.Topic
	}
	return out
}

// Deliverable splits topics into those the system delivers (sorted, once each) and the rest.
func (m TopicMap) Deliverable(topics []string) (ok, dropped []string) {
	return Deliverable(m.Topics(), topics)
}

// Deliverable splits topics into those in known (sorted, once each) and the rest.
func Deliverable(known, topics []string) (ok, dropped []string) {
	for _, t := range topics {
		if slices.Contains(known, t) {
			ok = append(ok, t)
		} else {
			dropped = append(dropped, t)
		}
	}
	slices.Sort(ok)
	return slices.Compact(ok), dropped
}

// Hooks lists the system's webhook topics for Musubi topics, in the map's order.
func (m TopicMap) Hooks(topics []string) []string {
	var out []string
	for _, th := range m {
		if slices.Contains(topics, th.Topic) {
			out = append(out, th.Hooks...)
		}
	}
	return out
}

// TopicsOf reads topics back from subscribed webhook topics: a Musubi topic counts when all
// of its webhook topics are subscribed.
func (m TopicMap) TopicsOf(hooks []string) []string {
	var out []string
	for _, th := range m {
		all := true
		for _, h := range th.Hooks {
			all = all && slices.Contains(hooks, h)
		}
		if all {
			out = append(out, th.Topic)
		}
	}
	return out
}

// CheckTopics checks the topics a subscription asks for against known, those its system
// sends: none of them is an error, reported through bad; some it does not send, a warning,
// as the subscription is made without them. system names the system in messages
// ("Shopify"), delivers what does the delivering ("the subscription delivers").
func CheckTopics(topics, known []string, system, delivers string, bad func(attr, format string, args ...any)) Diagnostics {
	ok, dropped := Deliverable(known, topics)
	if len(ok) == 0 {
		bad("topics", "%s sends none of the events %q; it delivers %s", system, topics, strings.Join(known, ", "))
		return nil
	}
	if len(dropped) == 0 {
		return nil
	}
	return Diagnostics{{Severity: Warning, Attribute: "topics", Summary: "Events " + system + " does not send",
		Detail: fmt.Sprintf("%s sends no %s events; %s %s only", system, strings.Join(dropped, ", "), delivers, strings.Join(ok, ", "))}}
}

// Subscriptions describes how a system takes webhook subscriptions pointed at an endpoint,
// for the checks and plans its provider's subscriptions share with other systems'.
type Subscriptions struct {
	// System names the system in messages: "Shopify".
	System string
	Topics TopicMap
	// Address is what the system calls a subscription's URL, in messages: "a URI".
	Address string
	// Delivers is what delivers the events, in messages: "the subscription delivers".
	Delivers string
	// WebhookURL is the provider's webhook_url: the endpoint of a subscription naming none.
	WebhookURL string
}

// Endpoint is where a subscription points: its endpoint, else the provider's webhook_url.
func (s Subscriptions) Endpoint(a Attrs) string {
	if ep := a.String("endpoint"); ep != "" {
		return ep
	}
	return s.WebhookURL
}

// Check checks a subscription's topics and endpoint; the provider checks its source, whose
// rules differ between systems.
func (s Subscriptions) Check(a Attrs, bad func(attr, format string, args ...any)) Diagnostics {
	warnings := CheckTopics(a.Strings("topics"), s.Topics.Topics(), s.System, s.Delivers, bad)
	if ep := s.Endpoint(a); ep == "" {
		bad("endpoint", "a %s webhook subscription needs %s: set webhook_url on the provider", s.System, s.Address)
	} else if err := CheckWebhookURL(ep, s.System); err != nil {
		bad("endpoint", "%v", err)
	}
	return warnings
}

// Plan fills what the system will hold of a planned subscription: its endpoint, and the
// topics it delivers.
func (s Subscriptions) Plan(planned Attrs) Attrs {
	planned = planned.Clone()
	if planned == nil {
		planned = Attrs{}
	}
	if planned.String("endpoint") == "" && s.WebhookURL != "" {
		planned["endpoint"] = s.WebhookURL
	}
	if topics, _ := s.Topics.Deliverable(planned.Strings("topics")); len(topics) > 0 {
		planned["topics"] = topics
	}
	return planned
}

package providers

import "slices"

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
	known := m.Topics()
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

package line

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/signature"
)

// webhookBody is the part of LINE's webhook body Musubi reads; other event types and fields
// are left alone, so an event type LINE adds later cannot break the ones Musubi reads.
type webhookBody struct {
	Destination string `json:"destination"`
	Events      []struct {
		Type           string `json:"type"`
		Timestamp      int64  `json:"timestamp"`
		WebhookEventID string `json:"webhookEventId"`
		Source         struct {
			UserID string `json:"userId"`
		} `json:"source"`
		Follow *struct {
			IsUnblocked bool `json:"isUnblocked"`
		} `json:"follow"`
	} `json:"events"`
}

// ReceiveWebhook checks x-line-signature with the channel secret and turns follow and
// unfollow events into Musubi's; LINE's other events are skipped. Each event's ID is its
// webhookEventId, so a redelivery is dropped by the engine.
func (p *Provider) ReceiveWebhook(_ context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	if p.secret == "" {
		return providers.RefuseWebhook("LINE webhook refused", providers.ErrAuth, "provider %s has no channel_secret to verify webhooks with", p.name)
	}
	if err := signature.VerifyLINE(p.secret, req.Body, req.Header.Get(signature.LINEHeader)); err != nil {
		return providers.RefuseWebhook("LINE webhook refused", providers.ErrAuth, "%s: %v", signature.LINEHeader, err)
	}
	events, err := parseWebhook(req.Body)
	if err != nil {
		return providers.RefuseWebhook("LINE webhook refused", providers.ErrInvalid, "%v", err)
	}
	return providers.WebhookResponse{Events: events}
}

// parseWebhook reads a webhook body. A follow or unfollow without a user or an event ID is
// an error for the whole body, so nothing of a malformed call is applied.
func parseWebhook(body []byte) ([]providers.InboundEvent, error) {
	var wb webhookBody
	if err := json.Unmarshal(body, &wb); err != nil {
		return nil, fmt.Errorf("the body is not LINE's webhook JSON: %v", err)
	}
	var out []providers.InboundEvent
	for i, e := range wb.Events {
		if e.Type != "follow" && e.Type != "unfollow" {
			continue
		}
		if e.WebhookEventID == "" || e.Source.UserID == "" {
			return nil, fmt.Errorf("event %d (%s) has no webhookEventId or source.userId", i, e.Type)
		}
		ev := providers.InboundEvent{
			ID:      e.WebhookEventID,
			Type:    e.Type,
			Time:    time.UnixMilli(e.Timestamp).UTC(),
			Channel: "line",
			Record:  map[string]any{"userId": e.Source.UserID},
			Data:    map[string]any{"account": wb.Destination},
		}
		if e.Type == "follow" {
			ev.Data["unblocked"] = e.Follow != nil && e.Follow.IsUnblocked
		}
		out = append(out, ev)
	}
	return out, nil
}

package smaregi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// DefaultWebhookHeader is the custom header a Smaregi webhook is expected to carry the
// shared secret in, unless webhook_header names another.
const DefaultWebhookHeader = "X-Musubi-Webhook-Secret"

// maxWebhookIDs bounds the transactions one notification may make the provider read, and
// webhookBudget the time reading them: Smaregi waits 3 seconds for the answer. What does not
// fit is left to the next poll.
const (
	maxWebhookIDs = 20
	webhookBudget = 2500 * time.Millisecond
)

// notification is the body of a Smaregi webhook: it names what changed, it does not hold it.
type notification struct {
	ContractID         string   `json:"contractId"`
	Event              string   `json:"event"`
	Action             string   `json:"action"`
	TransactionHeadIDs []string `json:"transactionHeadIds"`
}

// ReceiveWebhook takes a Smaregi pos:transactions notification and turns the sales it names
// into purchases, read from the API as a poll reads them (same event IDs, so a sale both
// bring is one).
//
// Smaregi signs nothing: its webhooks carry the app's custom headers, set in Smaregi
// Developers, and the provider takes a call only with webhook_header set to webhook_secret.
// And the body is not trusted: it only names transaction IDs, and each is read from the API
// with the app's token, so a forged call can make the provider read a sale of its contract,
// never make one up. Notifications of another contract (one app's webhooks go to one URL for
// every contract it is installed in) and of other events give no events.
func (p *Provider) ReceiveWebhook(ctx context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	if p.webhookSecret == "" {
		return providers.RefuseWebhook("Smaregi webhook refused", providers.ErrAuth,
			"provider %s has no webhook_secret; set one from the environment, and the same value as the custom header %s of the app's webhooks in Smaregi Developers",
			p.name, p.webhookHeader)
	}
	got := req.Header.Get(p.webhookHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.webhookSecret)) != 1 {
		return providers.RefuseWebhook("Smaregi webhook refused", providers.ErrAuth, "the %s header is missing or wrong", p.webhookHeader)
	}
	var n notification
	if err := json.Unmarshal(req.Body, &n); err != nil {
		return providers.RefuseWebhook("Smaregi webhook refused", providers.ErrInvalid, "the body is not a Smaregi notification: %v", err)
	}
	if n.ContractID != p.client.cfg.ContractID || n.Event != "pos:transactions" || (n.Action != "created" && n.Action != "edited") {
		return providers.WebhookResponse{}
	}
	if len(n.TransactionHeadIDs) > maxWebhookIDs {
		// Too many to read within Smaregi's 3 seconds: the next poll reads them.
		return providers.WebhookResponse{}
	}
	ctx, cancel := context.WithTimeout(ctx, webhookBudget)
	defer cancel()
	var evs []providers.InboundEvent
	for _, id := range n.TransactionHeadIDs {
		t, err := p.client.GetTransaction(ctx, id)
		if providers.CodeOf(err) == providers.ErrNotFound {
			continue
		}
		if err != nil {
			return providers.WebhookResponse{Diagnostics: providers.FromError("Smaregi webhook not taken",
				fmt.Errorf("reading transaction %s: %w", id, err))}
		}
		if ev, ok := p.purchase(t); ok {
			evs = append(evs, ev)
		}
	}
	return providers.WebhookResponse{Events: evs}
}

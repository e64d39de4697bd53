package protocol

import (
	"context"

	"github.com/musubi-hq/musubi/providers"
)

// Provider returns the client as a value that implements exactly the optional interfaces the
// plugin reported, so a type assertion on it (p.(providers.Sender)) answers as it would on the
// plugin's provider running in-process.
func (c *Client) Provider(info Info) providers.Provider {
	b, s, w := batchReader{c}, sender{c}, webhookReceiver{c}
	switch {
	case info.BatchReader && info.Sender && info.WebhookReceiver:
		return struct {
			*Client
			batchReader
			sender
			webhookReceiver
		}{c, b, s, w}
	case info.BatchReader && info.Sender:
		return struct {
			*Client
			batchReader
			sender
		}{c, b, s}
	case info.BatchReader && info.WebhookReceiver:
		return struct {
			*Client
			batchReader
			webhookReceiver
		}{c, b, w}
	case info.Sender && info.WebhookReceiver:
		return struct {
			*Client
			sender
			webhookReceiver
		}{c, s, w}
	case info.BatchReader:
		return struct {
			*Client
			batchReader
		}{c, b}
	case info.Sender:
		return struct {
			*Client
			sender
		}{c, s}
	case info.WebhookReceiver:
		return struct {
			*Client
			webhookReceiver
		}{c, w}
	}
	return c
}

// ClientOf returns the Client behind a provider that Provider returned.
func ClientOf(p providers.Provider) (*Client, bool) {
	u, ok := p.(interface{ pluginClient() *Client })
	if !ok {
		return nil, false
	}
	return u.pluginClient(), true
}

func (c *Client) pluginClient() *Client { return c }

type batchReader struct{ c *Client }

// ReadBatch implements providers.BatchReader in one RPC.
func (b batchReader) ReadBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	return b.c.readBatch(ctx, reqs)
}

type sender struct{ c *Client }

// Messaging implements providers.Sender. The answer is kept until the next Configure.
func (s sender) Messaging() providers.MessagingSupport { return s.c.messagingSupport() }

// Send implements providers.Sender.
func (s sender) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	return s.c.send(ctx, req)
}

type webhookReceiver struct{ c *Client }

// ReceiveWebhook implements providers.WebhookReceiver.
func (w webhookReceiver) ReceiveWebhook(ctx context.Context, req providers.WebhookRequest) providers.WebhookResponse {
	return w.c.receiveWebhook(ctx, req)
}

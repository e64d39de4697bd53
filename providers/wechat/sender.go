package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/musubi-hq/musubi/providers"
)

// Messaging says how WeChat reaches customers: by the openid of this account, with consent to
// WeChat messages. WeChat publishes daily quotas, not a rate a second.
func (p *Provider) Messaging() providers.MessagingSupport {
	return providers.MessagingSupport{Address: "wechat_openid", Consent: "wechat"}
}

// ClientMsgID is the client_msg_id a send with this idempotency key carries: WeChat sends one
// message per openid and client_msg_id within ten minutes.
func ClientMsgID(idempotencyKey string) string {
	sum := sha256.Sum256([]byte("musubi/wechat#client_msg_id\x00" + idempotencyKey))
	return hex.EncodeToString(sum[:16])
}

func invalid(format string, args ...any) error {
	return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// Send posts a template message to one follower. The text is the rendered message: its
// template_id, url and field values (see parseMessage). The ledger claims the idempotency key
// first: a key sent before is reported as a duplicate and not sent again, and a key another
// sender holds is a temporary error. The ID is WeChat's msgid.
//
// The ledger cannot cover a crash between WeChat's answer and the ledger's write: the retry
// then sends again, unless it comes within ten minutes, when WeChat drops it by its
// client_msg_id.
func (p *Provider) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	r, err := p.send(ctx, req)
	if err != nil {
		return providers.SendResponse{Diagnostics: providers.FromError("WeChat template message failed", err)}
	}
	return r
}

func (p *Provider) send(ctx context.Context, req providers.SendRequest) (providers.SendResponse, error) {
	var none providers.SendResponse
	if p.ledger == nil {
		return none, fmt.Errorf("the provider is not configured")
	}
	if !openIDRE.MatchString(req.To) {
		return none, invalid("the recipient %q is not an openid", req.To)
	}
	if req.IdempotencyKey == "" {
		return none, invalid("a WeChat send needs an idempotency key: the ledger and WeChat's client_msg_id stop a second delivery by it")
	}
	m, err := parseMessage(req.Text)
	if err == nil {
		err = m.checkValues()
	}
	if err != nil {
		return none, invalid("%s is not a WeChat template message: %v", req.Name, err)
	}
	c, err := p.ledger.claim(ctx, req.IdempotencyKey)
	switch {
	case err != nil:
		return none, err
	case c.msgID != "":
		return providers.SendResponse{ID: c.msgID, Duplicate: true}, nil
	case c.wait > 0:
		return none, &providers.APIError{Code: providers.ErrUnavailable, RetryAfter: c.wait,
			Message: "another send with the same idempotency key is under way"}
	}
	data := make(map[string]map[string]string, len(m.Fields))
	for _, f := range m.Fields {
		data[f.Key] = map[string]string{"value": f.Value}
	}
	body := map[string]any{"touser": req.To, "template_id": m.TemplateID, "data": data,
		"client_msg_id": ClientMsgID(req.IdempotencyKey)}
	if m.URL != "" {
		body["url"] = m.URL
	}
	var got struct {
		MsgID int64 `json:"msgid"`
	}
	err = p.call(ctx, request{what: "send the template message", path: "message/template/send", body: body}, &got)
	// The outcome is recorded even when the caller gave up meanwhile.
	bg := context.WithoutCancel(ctx)
	if err != nil {
		if rerr := p.ledger.release(bg, req.IdempotencyKey); rerr != nil {
			err = fmt.Errorf("%w (and the ledger kept the claim for %s: %v)", err, claimLease, rerr)
		}
		return none, err
	}
	r := providers.SendResponse{ID: strconv.FormatInt(got.MsgID, 10)}
	if err := p.ledger.sent(bg, req.IdempotencyKey, r.ID); err != nil {
		// Sent: an error would have the outbox send it again.
		r.Diagnostics = providers.Diagnostics{{Severity: providers.Warning, Summary: "Sent, but not recorded",
			Detail: fmt.Sprintf("the message went out, but the ledger could not record it (%v); a retry after %s would send it again", err, claimLease)}}
	}
	return r, nil
}

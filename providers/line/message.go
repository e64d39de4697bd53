package line

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/musubi-hq/musubi/providers"
)

// template is a message template this process had LINE validate. LINE keeps no copy, so
// after the process ends the template lives only in Musubi's state, which the planner hands
// back as the prior attributes on every read.
type template struct {
	attrs providers.Attrs
	gone  bool
}

// messageID is the ID of the message made by a create with this idempotency key: LINE hands
// out none, and a retried create must come back with the same one.
func messageID(idempotencyKey string) string { return "msg-" + RetryKey(idempotencyKey) }

// checkMessage applies LINE's limits on text messages to a template and its variants.
func checkMessage(a providers.Attrs) providers.Diagnostics {
	var ds providers.Diagnostics
	tooLong := func(attr, what string, n int) {
		ds = append(ds, providers.AttributeError(attr, "Too long for LINE",
			"%s is %d characters as LINE counts them (UTF-16 code units); a LINE text message holds %d", what, n, MaxTextLength))
	}
	if strings.TrimSpace(a.String("template")) == "" {
		ds = append(ds, providers.AttributeError("template", "Empty LINE message", "a LINE message needs a template"))
	} else if n := textLength(a.String("template")); n > MaxTextLength {
		tooLong("template", "the template", n)
	}
	for _, name := range variantNames(a) {
		if n := textLength(a.StringMap("variants")[name]); n > MaxTextLength {
			tooLong("variants", fmt.Sprintf("variant %q", name), n)
		}
	}
	return ds
}

func variantNames(a providers.Attrs) []string {
	names := make([]string, 0, len(a.StringMap("variants")))
	for name := range a.StringMap("variants") {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// validateMessage has LINE validate the template and each variant as the text messages they
// will be sent as: by narrowcast for a campaign's audience, else by push.
func (p *Provider) validateMessage(ctx context.Context, a providers.Attrs) error {
	if err := checkMessage(a).Err(); err != nil {
		return err
	}
	texts := []string{a.String("template")}
	for _, name := range variantNames(a) {
		texts = append(texts, a.StringMap("variants")[name])
	}
	narrowcast := a.String("audience") != ""
	for start := 0; start < len(texts); start += MaxMessages {
		req := &messaging_api.ValidateMessageRequest{Messages: textMessages(texts[start:min(start+MaxMessages, len(texts))])}
		_, err := p.do(ctx, "validate the message", repeatable, func() (*http.Response, error) {
			api := p.messaging(ctx)
			if narrowcast {
				res, _, err := api.ValidateNarrowcastWithHttpInfo(req)
				return res, err
			}
			res, _, err := api.ValidatePushWithHttpInfo(req)
			return res, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func textMessages(texts []string) []messaging_api.MessageInterface {
	msgs := make([]messaging_api.MessageInterface, len(texts))
	for i, t := range texts {
		msgs[i] = &messaging_api.TextMessage{Text: t}
	}
	return msgs
}

func (p *Provider) createMessage(ctx context.Context, a providers.Attrs, idempotencyKey string) (string, providers.Attrs, error) {
	if err := p.validateMessage(ctx, a); err != nil {
		return "", nil, err
	}
	id := messageID(idempotencyKey)
	p.keepTemplate(id, a)
	return id, a.Clone(), nil
}

func (p *Provider) updateMessage(ctx context.Context, id string, a providers.Attrs) (providers.Attrs, error) {
	if err := p.validateMessage(ctx, a); err != nil {
		return nil, err
	}
	p.keepTemplate(id, a)
	return a.Clone(), nil
}

func (p *Provider) keepTemplate(id string, a providers.Attrs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.templates[id] = template{attrs: a.Clone()}
}

func (p *Provider) deleteMessage(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.templates[id] = template{gone: true}
}

// readMessage answers from Musubi's own record: what this process wrote, else the state's
// copy. A create looked up by its key is found only if this process made it; otherwise the
// planner creates it again, which only repeats LINE's validation.
func (p *Provider) readMessage(id, idempotencyKey string, prior providers.Attrs) providers.ReadResponse {
	byKey := id == ""
	if byKey {
		id = messageID(idempotencyKey)
	}
	p.mu.Lock()
	t, known := p.templates[id]
	p.mu.Unlock()
	switch {
	case known && !t.gone:
		return providers.ReadResponse{Found: true, ID: id, Attributes: t.attrs.Clone()}
	case known || byKey || prior == nil:
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: id, Attributes: prior.Clone()}
}

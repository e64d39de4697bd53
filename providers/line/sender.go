package line

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/musubi-hq/musubi/providers"
)

var userIDRE = regexp.MustCompile(`^U[0-9a-f]{32}$`)

func invalid(format string, args ...any) error {
	return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf(format, args...)}
}

// Messaging says how LINE reaches customers: by LINE user ID, with consent to LINE messages.
func (p *Provider) Messaging() providers.MessagingSupport {
	return providers.MessagingSupport{Address: "line_user", Consent: "line", Rate: PushRate}
}

// Send pushes a text to one user. The request carries X-Line-Retry-Key, a UUIDv5 of the
// idempotency key: LINE accepts it once and answers a repeat with 409 and the ID of the
// request it accepted, which Send reports as a duplicate with that ID. The ID is LINE's
// request ID, the same on every repeat. A text longer than one message goes as up to five,
// split at a line break where one is near.
func (p *Provider) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	id, dup, err := p.push(ctx, req)
	if err != nil {
		return providers.SendResponse{Diagnostics: providers.FromError("LINE push failed", err)}
	}
	return providers.SendResponse{ID: id, Duplicate: dup}
}

func (p *Provider) push(ctx context.Context, req providers.SendRequest) (string, bool, error) {
	if !userIDRE.MatchString(req.To) {
		return "", false, invalid("the recipient %q is not a LINE user ID (U and 32 hex digits)", req.To)
	}
	if req.IdempotencyKey == "" {
		return "", false, invalid("a LINE push needs an idempotency key: it becomes the X-Line-Retry-Key that stops a second delivery")
	}
	texts, err := splitText(req.Text)
	if err != nil {
		return "", false, invalid("%v", err)
	}
	body := &messaging_api.PushMessageRequest{To: req.To, Messages: textMessages(texts)}
	return p.send(ctx, "push message", RetryKey(req.IdempotencyKey), func(api *messaging_api.MessagingApiAPI, key string) (*http.Response, error) {
		res, _, err := api.PushMessageWithHttpInfo(body, key)
		return res, err
	})
}

// Broadcast is one text for many customers at once. It carries no personal fields: every
// recipient reads the same words. A campaign whose template is personal (a code per customer)
// goes through Send instead, one push per customer.
type Broadcast struct {
	// AudienceID is a LINE audience group: the text goes to it by narrowcast.
	AudienceID string
	// To lists LINE user IDs instead: the text goes by multicast, MaxMulticast a request.
	To   []string
	Text string
	// IdempotencyKey makes the broadcast safe to repeat: every request carries a retry key
	// derived from it and from its place, so LINE refuses the requests it accepted before and
	// a repeat after a failure sends only what did not go.
	IdempotencyKey string
}

// BroadcastResult reports the requests LINE accepted.
type BroadcastResult struct {
	// RequestIDs are LINE's IDs of the accepted requests: one narrowcast, or one per
	// multicast of up to MaxMulticast users. NarrowcastProgress reads a narrowcast's.
	RequestIDs []string
	// Duplicates counts the requests LINE had accepted on an earlier try.
	Duplicates int
}

// Broadcast sends one text to an audience group or to a list of users.
func (p *Provider) Broadcast(ctx context.Context, b Broadcast) (BroadcastResult, error) {
	var out BroadcastResult
	if b.IdempotencyKey == "" {
		return out, invalid("a LINE broadcast needs an idempotency key: it becomes the X-Line-Retry-Key of each request")
	}
	if (b.AudienceID == "") == (len(b.To) == 0) {
		return out, invalid("a LINE broadcast goes to an audience group or to user IDs, exactly one of them")
	}
	texts, err := splitText(b.Text)
	if err != nil {
		return out, invalid("%v", err)
	}
	msgs := textMessages(texts)
	if b.AudienceID != "" {
		group, ok := parseAudienceID(b.AudienceID)
		if !ok {
			return out, invalid("%q is not a LINE audience group ID", b.AudienceID)
		}
		body := &messaging_api.NarrowcastRequest{Messages: msgs, Recipient: &messaging_api.AudienceRecipient{AudienceGroupId: group}}
		id, dup, err := p.send(ctx, "narrowcast", RetryKey(b.IdempotencyKey), func(api *messaging_api.MessagingApiAPI, key string) (*http.Response, error) {
			res, _, err := api.NarrowcastWithHttpInfo(body, key)
			return res, err
		})
		if err != nil {
			return out, err
		}
		out.RequestIDs = []string{id}
		if dup {
			out.Duplicates++
		}
		return out, nil
	}
	for _, to := range b.To {
		if !userIDRE.MatchString(to) {
			return out, invalid("%q is not a LINE user ID (U and 32 hex digits)", to)
		}
	}
	for start := 0; start < len(b.To); start += MaxMulticast {
		body := &messaging_api.MulticastRequest{To: b.To[start:min(start+MaxMulticast, len(b.To))], Messages: msgs}
		key := RetryKey(b.IdempotencyKey + "#" + strconv.Itoa(start/MaxMulticast))
		id, dup, err := p.send(ctx, "multicast", key, func(api *messaging_api.MessagingApiAPI, key string) (*http.Response, error) {
			res, _, err := api.MulticastWithHttpInfo(body, key)
			return res, err
		})
		if err != nil {
			return out, fmt.Errorf("after %d of %d users: %w", start, len(b.To), err)
		}
		out.RequestIDs = append(out.RequestIDs, id)
		if dup {
			out.Duplicates++
		}
	}
	return out, nil
}

// send makes one request with a retry key and returns LINE's ID of the accepted request,
// this one's or, on a repeat, the one accepted before.
func (p *Provider) send(ctx context.Context, what, key string, call func(*messaging_api.MessagingApiAPI, string) (*http.Response, error)) (string, bool, error) {
	var first string
	var dup bool
	res, err := p.do(ctx, what, repeatable, func() (*http.Response, error) {
		res, err := call(p.messaging(ctx), key)
		if res != nil && res.StatusCode == http.StatusConflict && res.Header.Get(acceptedHeader) != "" {
			first, dup = res.Header.Get(acceptedHeader), true
			return res, nil
		}
		return res, err
	})
	switch {
	case err != nil:
		return "", false, err
	case dup:
		return first, true, nil
	}
	return res.Header.Get(requestIDHeader), false, nil
}

// Progress is how far LINE got with a narrowcast.
type Progress struct {
	// Phase is waiting, sending, succeeded or failed.
	Phase                      string
	Succeeded, Failed, Targets int64
	// ErrorCode and Description say why a narrowcast failed; code 4 is an audience too small
	// (under 50 users) to send to.
	ErrorCode   int64
	Description string
}

// NarrowcastProgress reads a narrowcast's progress by its request ID.
func (p *Provider) NarrowcastProgress(ctx context.Context, requestID string) (Progress, error) {
	var got *messaging_api.NarrowcastProgressResponse
	_, err := p.do(ctx, "read narrowcast progress", repeatable, func() (*http.Response, error) {
		res, body, err := p.messaging(ctx).GetNarrowcastProgressWithHttpInfo(requestID)
		got = body
		return res, err
	})
	if err != nil {
		return Progress{}, err
	}
	return Progress{Phase: string(got.Phase), Succeeded: got.SuccessCount, Failed: got.FailureCount, Targets: got.TargetCount,
		ErrorCode: got.ErrorCode, Description: got.FailedDescription}, nil
}

package line

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/line/line-bot-sdk-go/v8/linebot/manage_audience"
	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/musubi-hq/musubi/providers"
)

// retrying says how often a call is tried and how long the client waits between tries.
type retrying struct {
	attempts int
	// maxWait is the longest wait honoured in-process; a longer Retry-After is left to the
	// caller (the engine's outbox reschedules the send).
	maxWait time.Duration
	sleep   func(ctx context.Context, d time.Duration) error
}

var defaultRetrying = retrying{attempts: 3, maxWait: 10 * time.Second, sleep: providers.Sleep}

// repeat says whether a call may be sent again after a failure whose outcome is unknown.
type repeat bool

const (
	// repeatable calls cannot act twice: reads, PUTs, DELETEs, validation, and sends that
	// carry a retry key.
	repeatable repeat = true
	// actsOnce calls could: only a 429, which LINE answers before acting, is retried.
	actsOnce repeat = false
)

// rateLimitWait is assumed when a 429 carries no Retry-After, which LINE's never do.
const rateLimitWait = time.Second

// Headers LINE sets on responses.
const (
	requestIDHeader = "X-Line-Request-Id"
	acceptedHeader  = "X-Line-Accepted-Request-Id"
)

// do runs one API call through the SDK, retrying what is safe to retry, and returns LINE's
// response with a classified error. what names the call in errors ("push message").
func (p *Provider) do(ctx context.Context, what string, rep repeat, call func() (*http.Response, error)) (*http.Response, error) {
	if p.token == "" {
		return nil, fmt.Errorf("%s: the provider is not configured", what)
	}
	var res *http.Response
	r := providers.Retry{Attempts: p.retry.attempts, Backoff: 250 * time.Millisecond, MaxWait: p.retry.maxWait, Sleep: p.retry.sleep}
	err := r.Do(ctx, func(int) error {
		var err error
		if res, err = call(); err != nil {
			return classify(ctx, res, err)
		}
		return nil
	}, func(ae *providers.APIError) bool { return rep == repeatable || ae.Code == providers.ErrRateLimited })
	if err != nil {
		return res, fmt.Errorf("%s: %w", what, err)
	}
	return res, nil
}

// lineError is LINE's error body.
type lineError struct {
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

func readError(res *http.Response) lineError {
	var le lineError
	if res.Body == nil {
		return le
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if json.Unmarshal(b, &le) != nil || le.Message == "" {
		le.Message = strings.TrimSpace(http.StatusText(res.StatusCode) + " " + truncate(string(b), 200))
	}
	return le
}

func (le lineError) String() string {
	msg := le.Message
	for _, d := range le.Details {
		switch {
		case d.Property != "" && d.Message != "":
			msg += "; " + d.Property + ": " + d.Message
		case d.Message != "":
			msg += "; " + d.Message
		}
	}
	return msg
}

func (le lineError) hasDetail(message string) bool {
	for _, d := range le.Details {
		if d.Message == message {
			return true
		}
	}
	return false
}

// classify maps a failed SDK call to Musubi's error classes, keeping LINE's request ID.
func classify(ctx context.Context, res *http.Response, err error) *providers.APIError {
	if res == nil || res.StatusCode/100 == 2 {
		// No answer, or an answer that could not be read: the call's outcome is unknown.
		msg := err.Error()
		if ctx.Err() != nil {
			msg = "interrupted: " + ctx.Err().Error()
		}
		ae := &providers.APIError{Code: providers.ErrUnavailable, Message: msg}
		if res != nil {
			ae.Status, ae.RequestID = res.StatusCode, res.Header.Get(requestIDHeader)
		}
		return ae
	}
	le := readError(res)
	ae := &providers.APIError{Status: res.StatusCode, Message: le.String(), RequestID: res.Header.Get(requestIDHeader)}
	switch s := res.StatusCode; {
	case s == http.StatusBadRequest && le.hasDetail("AUDIENCE_GROUP_NOT_FOUND"),
		// An expired group takes no uploads: it is gone, as its reads say.
		s == http.StatusBadRequest && le.hasDetail("AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED"):
		ae.Code = providers.ErrNotFound
	case s == http.StatusTooManyRequests && strings.Contains(strings.ToLower(le.Message), "monthly limit"):
		ae.Code = providers.ErrQuota
	case s == http.StatusRequestTimeout:
		ae.Code = providers.ErrUnavailable
	default:
		ae.Code = providers.StatusCode(s)
	}
	if ae.Code == providers.ErrRateLimited {
		ae.RetryAfter = cmp.Or(providers.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now()), rateLimitWait)
	}
	return ae
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// apiError returns the classified error inside err, if any.
func apiError(err error) *providers.APIError {
	var ae *providers.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// messaging returns an SDK client for one call. The SDK keeps the call's context on the
// client, so clients are not shared between calls.
func (p *Provider) messaging(ctx context.Context) *messaging_api.MessagingApiAPI {
	c, err := messaging_api.NewMessagingApiAPI(p.token, messaging_api.WithHTTPClient(p.http), messaging_api.WithEndpoint(p.apiURL))
	if err != nil {
		panic("line: unusable configuration: " + err.Error()) // do and Configure check it first
	}
	return c.WithContext(ctx)
}

// audiences returns an SDK audience client for one call.
func (p *Provider) audiences(ctx context.Context) *manage_audience.ManageAudienceAPI {
	c, err := manage_audience.NewManageAudienceAPI(p.token, manage_audience.WithHTTPClient(p.http), manage_audience.WithEndpoint(p.apiURL))
	if err != nil {
		panic("line: unusable configuration: " + err.Error())
	}
	return c.WithContext(ctx)
}

// retryNamespace is the UUIDv5 namespace of X-Line-Retry-Key values.
var retryNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/musubi-hq/musubi/providers/line#X-Line-Retry-Key"))

// RetryKey returns the X-Line-Retry-Key for an idempotency key: LINE wants a UUID, and the
// same key must give the same UUID in every process, so it is a UUIDv5 of the key.
func RetryKey(idempotencyKey string) string {
	return uuid.NewSHA1(retryNamespace, []byte(idempotencyKey)).String()
}

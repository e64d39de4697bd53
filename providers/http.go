package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// StatusCode classifies an HTTP error status as most APIs mean it: 401 and 403 auth, 404
// not_found, 409 conflict, 429 rate_limited, 5xx unavailable, any other invalid. A provider
// checks its API's exceptions (a quota reported as 401, say) before it.
func StatusCode(status int) ErrorCode {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrAuth
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500:
		return ErrUnavailable
	}
	return ErrInvalid
}

// TransportCause strips the method and URL net/http puts in front of a transport error:
// the URL is in the message already, or its query holds what must not be repeated.
func TransportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Unanswered is the error of a call to path that got no answer, so its outcome is unknown:
// unavailable, saying why. Only the transport's cause is kept: a *url.Error would quote the
// URL, and with it any credential in its query.
func Unanswered(ctx context.Context, path string, err error) *APIError {
	msg := fmt.Sprintf("no answer to %s: %v", path, TransportCause(err))
	if ctx.Err() != nil {
		msg = fmt.Sprintf("%s interrupted: %v", path, ctx.Err())
	}
	return &APIError{Code: ErrUnavailable, Message: msg}
}

// WithoutQuery drops a URL's query, for messages.
func WithoutQuery(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return u
}

// EncodeCall prepares a JSON API call: the URL of path on base with query, and the body
// that encodes in (nil when in is nil).
func EncodeCall(method, base, path string, query url.Values, in any) (string, []byte, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return "", nil, fmt.Errorf("encoding the %s %s request: %w", method, path, err)
		}
	}
	u := base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u, body, nil
}

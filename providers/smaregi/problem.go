package smaregi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Problem is an error body of the Smaregi Platform API: an RFC 7807 problem document
// (application/problem+json) with type, title, detail and status, and, where the API names the
// request fields it refused, a list of them. The ID server's OAuth errors ({error,
// error_description}) are read into Title and Detail.
type Problem struct {
	Type   string
	Title  string
	Detail string
	Status int
	// InvalidParams are the request fields the API refused, sorted by name.
	InvalidParams []InvalidParam
}

// InvalidParam is one refused request field.
type InvalidParam struct {
	Name   string // the field as the API spells it: couponName, startDate...
	Reason string
}

// maxProblemBody bounds how much of an error body is read: a proxy's HTML error page must not
// fill memory or a terminal.
const maxProblemBody = 64 << 10

// ParseProblem reads an error body. It accepts the shapes seen in problem documents: the
// field list as "invalid-params", "invalid_params" or "invalidParams", each either a list of
// {name, reason} objects or an object of field → message(s). A body that is not JSON yields
// ok=false.
func ParseProblem(body []byte) (p Problem, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(body), &m); err != nil {
		return Problem{}, false
	}
	p.Type = jsonText(m["type"])
	p.Title = jsonText(m["title"])
	p.Detail = jsonText(m["detail"])
	if s := jsonText(m["status"]); s != "" {
		p.Status, _ = strconv.Atoi(s)
	}
	if p.Title == "" && p.Detail == "" {
		// OAuth 2.0 token endpoint errors.
		p.Title = jsonText(m["error"])
		p.Detail = jsonText(m["error_description"])
	}
	for _, key := range []string{"invalid-params", "invalid_params", "invalidParams"} {
		if raw, found := m[key]; found {
			p.InvalidParams = append(p.InvalidParams, parseParams(raw)...)
		}
	}
	sort.SliceStable(p.InvalidParams, func(i, j int) bool { return p.InvalidParams[i].Name < p.InvalidParams[j].Name })
	return p, true
}

func parseParams(raw json.RawMessage) []InvalidParam {
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		out := make([]InvalidParam, 0, len(list))
		for _, e := range list {
			name := firstText(e, "name", "field", "param", "pointer")
			reason := firstText(e, "reason", "message", "detail")
			if name != "" || reason != "" {
				out = append(out, InvalidParam{Name: name, Reason: reason})
			}
		}
		return out
	}
	var byField map[string]json.RawMessage
	if json.Unmarshal(raw, &byField) == nil {
		out := make([]InvalidParam, 0, len(byField))
		for name, v := range byField {
			var msgs []string
			if json.Unmarshal(v, &msgs) != nil {
				msgs = []string{jsonText(v)}
			}
			out = append(out, InvalidParam{Name: name, Reason: strings.Join(msgs, "; ")})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return nil
}

func firstText(m map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if s := jsonText(m[k]); s != "" {
			return s
		}
	}
	return ""
}

// jsonText returns a JSON string or number as text, and "" for anything else.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// String renders the problem as one line: "Bad Request: detail (couponName: reason)".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Title)
	if p.Detail != "" && p.Detail != p.Title {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Detail)
	}
	if len(p.InvalidParams) > 0 {
		b.WriteString(" (")
		for i, ip := range p.InvalidParams {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(ip.Name)
			if ip.Reason != "" {
				b.WriteString(": " + ip.Reason)
			}
		}
		b.WriteString(")")
	}
	return b.String()
}

// Error is an error answer of the Smaregi API, classified. It unwraps to the
// providers.APIError, so the planner reacts to it like to any provider's error, and keeps the
// problem document so diagnostics can point at the refused fields.
type Error struct {
	API     *providers.APIError
	Problem Problem
}

func (e *Error) Error() string { return e.API.Error() }

// Unwrap returns the classified error.
func (e *Error) Unwrap() error { return e.API }

// newError builds the classified error of a non-2xx answer.
func newError(status int, header http.Header, body []byte, now time.Time) *Error {
	p, ok := ParseProblem(body)
	msg := p.String()
	if !ok || msg == "" {
		msg = http.StatusText(status)
	}
	e := &Error{Problem: p, API: &providers.APIError{
		Code: providers.StatusCode(status), Status: status, Message: msg,
		RequestID: header.Get("X-Request-Id"),
	}}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.API.RetryAfter = providers.ParseRetryAfter(header.Get("Retry-After"), now)
	}
	return e
}

// unavailable is the error of a call that got no answer.
func unavailable(format string, args ...any) *Error {
	return &Error{API: &providers.APIError{Code: providers.ErrUnavailable, Message: fmt.Sprintf(format, args...)}}
}

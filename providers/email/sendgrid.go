package email

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// SendGrid v3 limits the client checks before sending, as the API would refuse.
const (
	maxPersonalizations = 1000  // personalizations, and recipients, per mail send
	maxCustomArgsBytes  = 10000 // custom_args of one message
	maxListName         = 100   // a Marketing list name
)

// sendgridClient calls SendGrid's v3 API: mail send, and Marketing lists for audiences. Each
// method makes one request; the provider decides what to retry.
type sendgridClient struct {
	endpoint string
	apiKey   string
	http     *http.Client
	now      func() time.Time
}

type sgAddress struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

type sgPersonalization struct {
	To         []sgAddress       `json:"to"`
	CustomArgs map[string]string `json:"custom_args,omitempty"`
}

type sgContent struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type sgASM struct {
	GroupID int64 `json:"group_id"`
}

type sgMailSettings struct {
	SandboxMode struct {
		Enable bool `json:"enable"`
	} `json:"sandbox_mode"`
}

// sgMail is a v3 mail send request.
type sgMail struct {
	Personalizations []sgPersonalization `json:"personalizations"`
	From             sgAddress           `json:"from"`
	ReplyTo          *sgAddress          `json:"reply_to,omitempty"`
	Subject          string              `json:"subject"`
	Content          []sgContent         `json:"content"`
	Headers          map[string]string   `json:"headers,omitempty"`
	Categories       []string            `json:"categories,omitempty"`
	ASM              *sgASM              `json:"asm,omitempty"`
	MailSettings     *sgMailSettings     `json:"mail_settings,omitempty"`
}

// sgList is a Marketing Campaigns contact list.
type sgList struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ContactCount int    `json:"contact_count"`
}

// sendMail posts a mail send and returns SendGrid's X-Message-Id. 202 means queued for
// delivery; 200 answers sandbox mode, where nothing is delivered.
func (c *sendgridClient) sendMail(ctx context.Context, m *sgMail) (string, error) {
	if n := len(m.Personalizations); n == 0 || n > maxPersonalizations {
		return "", &providers.APIError{Code: providers.ErrInvalid,
			Message: fmt.Sprintf("a mail send takes 1 to %d personalizations, not %d", maxPersonalizations, n)}
	}
	for i, p := range m.Personalizations {
		size := 0
		for k, v := range p.CustomArgs {
			size += len(k) + len(v)
		}
		if size >= maxCustomArgsBytes {
			return "", &providers.APIError{Code: providers.ErrInvalid,
				Message: fmt.Sprintf("personalization %d: custom_args take %d bytes; SendGrid takes less than %d", i, size, maxCustomArgsBytes)}
		}
	}
	resp, _, err := c.do(ctx, http.MethodPost, "/v3/mail/send", m, http.StatusAccepted, http.StatusOK)
	if err != nil {
		return "", err
	}
	return resp.Header.Get("X-Message-Id"), nil
}

func (c *sendgridClient) createList(ctx context.Context, name string) (sgList, error) {
	var l sgList
	_, body, err := c.do(ctx, http.MethodPost, "/v3/marketing/lists", map[string]string{"name": name}, http.StatusCreated, http.StatusOK)
	if err == nil {
		err = decode(body, &l)
	}
	return l, err
}

// getList returns a list by ID; found is false when it does not exist.
func (c *sendgridClient) getList(ctx context.Context, id string) (l sgList, found bool, err error) {
	_, body, err := c.do(ctx, http.MethodGet, "/v3/marketing/lists/"+url.PathEscape(id), nil, http.StatusOK)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return l, false, nil
	}
	if err == nil {
		err = decode(body, &l)
	}
	return l, err == nil, err
}

func (c *sendgridClient) renameList(ctx context.Context, id, name string) (sgList, error) {
	var l sgList
	_, body, err := c.do(ctx, http.MethodPatch, "/v3/marketing/lists/"+url.PathEscape(id), map[string]string{"name": name}, http.StatusOK)
	if err == nil {
		err = decode(body, &l)
	}
	return l, err
}

// deleteList deletes a list and keeps its contacts, which other lists may hold. A list
// already gone is not an error.
func (c *sendgridClient) deleteList(ctx context.Context, id string) error {
	_, _, err := c.do(ctx, http.MethodDelete, "/v3/marketing/lists/"+url.PathEscape(id)+"?delete_contacts=false", nil,
		http.StatusNoContent, http.StatusOK, http.StatusAccepted)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return nil
	}
	return err
}

// findList looks a list up by name, paging through the account's lists (at most 1,000 exist).
func (c *sendgridClient) findList(ctx context.Context, name string) (l sgList, found bool, err error) {
	path := "/v3/marketing/lists?page_size=1000"
	for pages := 0; path != "" && pages < 100; pages++ {
		_, body, err := c.do(ctx, http.MethodGet, path, nil, http.StatusOK)
		if err != nil {
			return l, false, err
		}
		var page struct {
			Result   []sgList `json:"result"`
			Metadata struct {
				Next string `json:"next"`
			} `json:"_metadata"`
		}
		if err := decode(body, &page); err != nil {
			return l, false, err
		}
		for _, r := range page.Result {
			if r.Name == name {
				return r, true, nil
			}
		}
		path = ""
		if next, err := url.Parse(page.Metadata.Next); err == nil && page.Metadata.Next != "" {
			path = next.Path + "?" + next.RawQuery
		}
	}
	return l, false, nil
}

// do makes one request and returns the response and its body when the status is one of
// want; any other status is a classified APIError.
func (c *sendgridClient) do(ctx context.Context, method, path string, in any, want ...int) (*http.Response, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, body)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// No status: the request may or may not have reached SendGrid, so it is not retried
		// here (a mail send carries no idempotency key). The url.Error names only the URL.
		return nil, nil, &providers.APIError{Code: providers.ErrUnavailable, Message: fmt.Sprintf("%s %s: %v", method, providers.WithoutQuery(path), providers.TransportCause(err))}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, &providers.APIError{Code: providers.ErrUnavailable, Status: resp.StatusCode, Message: "reading the response: " + err.Error()}
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, b, nil
		}
	}
	return nil, nil, sendgridError(method+" "+providers.WithoutQuery(path), resp, b, c.now())
}

func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return &providers.APIError{Code: providers.ErrUnavailable, Message: "SendGrid answered with unreadable JSON: " + err.Error()}
	}
	return nil
}

// sendgridError classifies a failed response. SendGrid's error body is
// {"errors":[{"message","field","help"}]}; older endpoints send {"errors":["text"]}.
func sendgridError(doing string, resp *http.Response, body []byte, now time.Time) *providers.APIError {
	ae := &providers.APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	msg := errorMessages(body)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	ae.Message = doing + ": " + msg
	ae.Code = providers.StatusCode(resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && strings.Contains(strings.ToLower(msg), "credits exceeded"):
		// SendGrid reports a used-up monthly plan as 401 "Maximum credits exceeded".
		ae.Code = providers.ErrQuota
	case ae.Code == providers.ErrRateLimited:
		ae.RetryAfter = throttleWait(resp.Header, now)
	case ae.Code == providers.ErrUnavailable:
		ae.RetryAfter = providers.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return ae
}

// errorMessages joins the messages of an error body, each prefixed with its field.
func errorMessages(body []byte) string {
	var e struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var out []string
	for _, raw := range e.Errors {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out = append(out, s)
			continue
		}
		var o struct {
			Message string `json:"message"`
			Field   string `json:"field"`
			Help    string `json:"help"`
		}
		if json.Unmarshal(raw, &o) != nil || o.Message == "" {
			continue
		}
		m := o.Message
		if o.Field != "" {
			m = o.Field + ": " + m
		}
		if o.Help != "" {
			m += " (" + o.Help + ")"
		}
		out = append(out, m)
	}
	return strings.Join(out, "; ")
}

// throttleWait reads how long a rate-limited client waits: Retry-After, else until the
// X-RateLimit-Reset time SendGrid's v3 API sends with every response, capped alike.
func throttleWait(h http.Header, now time.Time) time.Duration {
	if d := providers.ParseRetryAfter(h.Get("Retry-After"), now); d > 0 {
		return d
	}
	if v := h.Get("X-RateLimit-Reset"); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			if d := time.Unix(s, 0).Sub(now); d > 0 {
				return min(d, providers.MaxRetryAfter)
			}
		}
	}
	return 0
}

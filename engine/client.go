package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Client calls a running `musubi serve` over its admin API: the engine provider pushes
// bundles with it, `musubi customer` and `musubi outbox` read and repair with it.
type Client struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8787.
	URL   string
	Token string
	HTTP  *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("User-Agent", "musubi")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &providers.APIError{Code: providers.ErrUnavailable, Message: "musubi serve at " + c.URL + " is not reachable: " + unwrapURLError(err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 300 {
		var eb errorBody
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		ae := &providers.APIError{Status: resp.StatusCode, Message: msg}
		switch {
		case resp.StatusCode == 401 || resp.StatusCode == 403:
			ae.Code = providers.ErrAuth
		case resp.StatusCode == 404:
			ae.Code = providers.ErrNotFound
		case resp.StatusCode == 409:
			ae.Code = providers.ErrConflict
		case resp.StatusCode == 429:
			ae.Code = providers.ErrRateLimited
			ae.RetryAfter = providers.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		case resp.StatusCode < 500:
			ae.Code = providers.ErrInvalid
		default:
			ae.Code = providers.ErrUnavailable
		}
		return ae
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func unwrapURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}

// Bundle returns the active bundle's hash and summary.
func (c *Client) Bundle(ctx context.Context) (BundleInfo, error) {
	var b BundleInfo
	err := c.do(ctx, http.MethodGet, "/v1/admin/bundle", nil, &b)
	return b, err
}

// PushBundle activates a bundle.
func (c *Client) PushBundle(ctx context.Context, data []byte) (BundleInfo, error) {
	var b BundleInfo
	err := c.do(ctx, http.MethodPut, "/v1/admin/bundle", data, &b)
	return b, err
}

// RemoveBundle deactivates the rules.
func (c *Client) RemoveBundle(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/admin/bundle", nil, nil)
}

// Customer explains a customer.
func (c *Client) Customer(ctx context.Context, id string) (*CustomerView, error) {
	var v CustomerView
	err := c.do(ctx, http.MethodGet, "/v1/admin/customers/"+url.PathEscape(id), nil, &v)
	return &v, err
}

// Unmerge undoes a merge of the customer.
func (c *Client) Unmerge(ctx context.Context, id, merge string) (*UnmergeResult, error) {
	body, _ := json.Marshal(map[string]string{"merge": merge})
	var v UnmergeResult
	err := c.do(ctx, http.MethodPost, "/v1/admin/customers/"+url.PathEscape(id)+"/unmerge", body, &v)
	return &v, err
}

// Forget erases a customer.
func (c *Client) Forget(ctx context.Context, id string) (*ForgetResult, error) {
	var v ForgetResult
	err := c.do(ctx, http.MethodDelete, "/v1/admin/customers/"+url.PathEscape(id), nil, &v)
	return &v, err
}

// Unsuppress lifts the suppression of a forgotten identifier (TYPE:VALUE); found is false
// when it was not suppressed.
func (c *Client) Unsuppress(ctx context.Context, ref string) (found bool, err error) {
	err = c.do(ctx, http.MethodDelete, "/v1/admin/suppressions/"+url.PathEscape(ref), nil, nil)
	var ae *providers.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// Segments reports the segments' sizes and their audiences' sync.
func (c *Client) Segments(ctx context.Context) ([]SegmentStatus, error) {
	var v struct {
		Segments []SegmentStatus `json:"segments"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/segments", nil, &v)
	return v.Segments, err
}

// Estimate asks the server what a rule bundle would make of its customers.
func (c *Client) Estimate(ctx context.Context, req providers.EstimateRequest) (*providers.EstimateResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var resp providers.EstimateResponse
	if err := c.do(ctx, http.MethodPost, "/v1/admin/estimate", body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Outbox lists outbox items with a status ("" for all).
func (c *Client) Outbox(ctx context.Context, status string) ([]OutboxItem, error) {
	var v struct {
		Items []OutboxItem `json:"items"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/admin/outbox?status="+url.QueryEscape(status), nil, &v)
	return v.Items, err
}

// RetryOutbox sends a dead letter again, by sequence number or idempotency key.
func (c *Client) RetryOutbox(ctx context.Context, ref string) (*OutboxItem, error) {
	var v OutboxItem
	err := c.do(ctx, http.MethodPost, "/v1/admin/outbox/"+url.PathEscape(ref)+"/retry", []byte("{}"), &v)
	return &v, err
}

// Events posts events and returns their results.
func (c *Client) Events(ctx context.Context, body []byte) ([]Result, error) {
	var v struct {
		Results []Result `json:"results"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/events", body, &v)
	if err != nil {
		return nil, fmt.Errorf("posting events: %w", err)
	}
	return v.Results, nil
}

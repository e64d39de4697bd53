package linetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers/signature"
)

// The channel's own endpoints (bot info, webhook URL), and webhook calls as LINE posts them.

func (s *Server) botInfo(call) reply {
	return reply{status: http.StatusOK, body: map[string]string{"userId": s.botUserID, "basicId": "@musubi-test",
		"displayName": "Musubi contract server", "chatMode": "bot", "markAsReadMode": "auto"}}
}

func (s *Server) getEndpoint(call) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	return reply{status: http.StatusOK, body: map[string]any{"endpoint": s.endpoint, "active": s.active}}
}

func (s *Server) setEndpoint(c call) reply {
	body := c.body
	var req struct {
		Endpoint *string `json:"endpoint"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Endpoint == nil {
		return invalidBody(errorDetail{Message: "must be specified", Property: "endpoint"})
	}
	u := *req.Endpoint
	if u != "" && (!strings.HasPrefix(u, "https://") || len(u) > MaxWebhookURL || strings.ContainsAny(u, " \t\n")) {
		return invalidBody(errorDetail{Message: fmt.Sprintf("must be an HTTPS URL of at most %d characters", MaxWebhookURL), Property: "endpoint"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoint = u
	return reply{status: http.StatusOK, body: struct{}{}}
}

// Webhook builds a webhook call as the LINE Platform posts it: the body with the given events
// for this channel, and its x-line-signature.
func (s *Server) Webhook(events ...map[string]any) (body []byte, sig string) {
	if events == nil {
		events = []map[string]any{}
	}
	body, _ = json.Marshal(map[string]any{"destination": s.botUserID, "events": events})
	return body, signature.SignLINE(s.Secret, body)
}

// PostWebhook posts a signed webhook call with the events to url, as LINE would.
func (s *Server) PostWebhook(url string, events ...map[string]any) (*http.Response, error) {
	body, sig := s.Webhook(events...)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Line-Signature", sig)
	return http.DefaultClient.Do(req)
}

// FollowEvent returns a follow event of a user, with LINE's fields.
func FollowEvent(userID string, unblocked bool) map[string]any {
	e := event("follow", userID)
	e["replyToken"] = randomHex(16)
	e["follow"] = map[string]any{"isUnblocked": unblocked}
	return e
}

// UnfollowEvent returns an unfollow event of a user.
func UnfollowEvent(userID string) map[string]any { return event("unfollow", userID) }

func event(typ, userID string) map[string]any {
	return map[string]any{
		"type":            typ,
		"mode":            "active",
		"timestamp":       time.Now().UnixMilli(),
		"webhookEventId":  "01" + strings.ToUpper(randomHex(12)),
		"deliveryContext": map[string]any{"isRedelivery": false},
		"source":          map[string]any{"type": "user", "userId": userID},
	}
}

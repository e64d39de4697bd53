package linetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The message endpoints: push, multicast, narrowcast and its progress, and validation.

type message struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// checkMessages applies LINE's rules for a messages array and returns the texts.
func checkMessages(raw json.RawMessage) ([]string, []errorDetail) {
	var msgs []message
	if len(raw) == 0 || json.Unmarshal(raw, &msgs) != nil {
		return nil, []errorDetail{{Message: "must be specified", Property: "messages"}}
	}
	if len(msgs) < 1 || len(msgs) > MaxMessages {
		return nil, []errorDetail{{Message: fmt.Sprintf("Size must be between 1 and %d", MaxMessages), Property: "messages"}}
	}
	var details []errorDetail
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		prop := fmt.Sprintf("messages[%d]", i)
		switch m.Type {
		case "text":
			if n := utf16Len(m.Text); n < 1 || n > MaxTextLength {
				details = append(details, errorDetail{Message: fmt.Sprintf("Length must be between 1 and %d", MaxTextLength), Property: prop + ".text"})
			}
			texts[i] = m.Text
		case "":
			details = append(details, errorDetail{Message: "must be specified", Property: prop + ".type"})
		default:
			// The provider sends text only; the server does not model the other types.
			details = append(details, errorDetail{Message: "this contract server accepts text messages only", Property: prop + ".type"})
		}
	}
	return texts, details
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

type pushResponse struct {
	SentMessages []sentMessage `json:"sentMessages"`
}

func (s *Server) push(c call) reply {
	body := c.body
	var req struct {
		To       string          `json:"to"`
		Messages json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	texts, details := checkMessages(req.Messages)
	if !recipientRE.MatchString(req.To) {
		details = append(details, errorDetail{Message: "The property, 'to', in the request body is invalid", Property: "to"})
	}
	if len(details) > 0 {
		return invalidBody(details...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spend(1) {
		return quotaReply
	}
	resp := pushResponse{}
	for range texts {
		s.seq++
		resp.SentMessages = append(resp.SentMessages, sentMessage{ID: strconv.FormatInt(s.seq, 10), QuoteToken: randomHex(8)})
	}
	s.deliveries = append(s.deliveries, Delivery{RequestID: c.requestID, API: "push", To: []string{req.To}, Texts: texts})
	return reply{status: http.StatusOK, body: resp}
}

func (s *Server) multicast(c call) reply {
	body := c.body
	var req struct {
		To       []string        `json:"to"`
		Messages json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	texts, details := checkMessages(req.Messages)
	if len(req.To) < 1 || len(req.To) > MaxMulticast {
		details = append(details, errorDetail{Message: fmt.Sprintf("Size must be between 1 and %d", MaxMulticast), Property: "to"})
	}
	for i, to := range req.To {
		if !userIDRE.MatchString(to) {
			details = append(details, errorDetail{Message: "must be a user ID", Property: fmt.Sprintf("to[%d]", i)})
			break
		}
	}
	if len(details) > 0 {
		return invalidBody(details...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spend(len(req.To)) {
		return quotaReply
	}
	s.deliveries = append(s.deliveries, Delivery{RequestID: c.requestID, API: "multicast", To: req.To, Texts: texts})
	return reply{status: http.StatusOK, body: struct{}{}}
}

func (s *Server) narrowcast(c call) reply {
	body := c.body
	var req struct {
		Messages  json.RawMessage `json:"messages"`
		Recipient *struct {
			Type            string `json:"type"`
			AudienceGroupID int64  `json:"audienceGroupId"`
		} `json:"recipient"`
		Limit *struct {
			Max                int  `json:"max"`
			UpToRemainingQuota bool `json:"upToRemainingQuota"`
		} `json:"limit"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	texts, details := checkMessages(req.Messages)
	if req.Recipient == nil || req.Recipient.Type != "audience" {
		// Narrowcast also takes operators and redelivery; the provider sends to audiences only.
		details = append(details, errorDetail{Message: "this contract server accepts audience recipients only", Property: "recipient"})
	}
	if len(details) > 0 {
		return invalidBody(details...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.audiences[req.Recipient.AudienceGroupID]
	if !ok || a.Status == "EXPIRED" {
		return invalidBody(errorDetail{Message: "audience group not found", Property: "recipient.audienceGroupId"})
	}
	targets := len(a.UserIDs)
	if req.Limit != nil && req.Limit.Max > 0 && req.Limit.Max < targets {
		targets = req.Limit.Max
	}
	nc := &narrowcast{accepted: s.now(), targets: targets}
	if targets < MinNarrowcastTarget {
		nc.errorCode = 4 // LINE refuses audiences too small to keep recipients anonymous
	} else if !s.spend(targets) {
		if req.Limit == nil || !req.Limit.UpToRemainingQuota {
			return quotaReply
		}
	}
	id := c.requestID
	s.narrowcasts[id] = nc
	if nc.errorCode == 0 {
		s.deliveries = append(s.deliveries, Delivery{RequestID: id, API: "narrowcast", To: append([]string(nil), a.UserIDs[:targets]...), AudienceID: a.ID, Texts: texts})
	}
	return reply{status: http.StatusAccepted, body: struct{}{}}
}

func (s *Server) progress(c call) reply {
	r := c.r
	id := r.URL.Query().Get("requestId")
	s.mu.Lock()
	defer s.mu.Unlock()
	nc, ok := s.narrowcasts[id]
	if !ok {
		return errorReply(http.StatusNotFound, "Not found")
	}
	out := map[string]any{"phase": "succeeded", "successCount": nc.targets, "failureCount": 0, "targetCount": nc.targets,
		"acceptedTime": nc.accepted.UTC().Format(time.RFC3339Nano), "completedTime": nc.accepted.UTC().Format(time.RFC3339Nano)}
	if nc.errorCode != 0 {
		out["phase"], out["successCount"], out["errorCode"] = "failed", 0, nc.errorCode
		out["failedDescription"] = fmt.Sprintf("the audience has fewer than %d users", MinNarrowcastTarget)
	}
	return reply{status: http.StatusOK, body: out}
}

func (s *Server) validate(c call) reply {
	body := c.body
	var req struct {
		Messages json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	if _, details := checkMessages(req.Messages); len(details) > 0 {
		return invalidBody(details...)
	}
	return reply{status: http.StatusOK, body: struct{}{}}
}

package linetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Routing, authentication, retry keys, injected faults and limits: what every call goes through.

// lineError is LINE's error body.
type lineError struct {
	Message      string        `json:"message"`
	Details      []errorDetail `json:"details,omitempty"`
	SentMessages []sentMessage `json:"sentMessages,omitempty"`
}

type errorDetail struct {
	Message  string `json:"message,omitempty"`
	Property string `json:"property,omitempty"`
}

// reply is a handler's answer, written once the call has met its fault, if any.
type reply struct {
	status int
	body   any
	header map[string]string
}

func errorReply(status int, message string, details ...errorDetail) reply {
	return reply{status: status, body: lineError{Message: message, Details: details}}
}

// invalidBody is the 400 LINE answers when request properties are invalid.
func invalidBody(details ...errorDetail) reply {
	return errorReply(http.StatusBadRequest, fmt.Sprintf("The request body has %d error(s)", len(details)), details...)
}

var audienceNotFound = errorReply(http.StatusBadRequest, "audience group not found", errorDetail{Message: "AUDIENCE_GROUP_NOT_FOUND"})

type route struct {
	op      string
	limit   string // rate-limit group
	retries bool   // the endpoint takes X-Line-Retry-Key
	handle  func(s *Server, c call) reply
}

// call is one request as a handler sees it.
type call struct {
	r         *http.Request
	body      []byte
	requestID string
}

// routeOf finds the endpoint a request calls. The webhook endpoint's operation depends on
// what the request does to the channel.
func (s *Server) routeOf(r *http.Request, body []byte) (route, bool) {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/v2/bot/message/push":
		return route{OpSend, "push", true, (*Server).push}, true
	case r.Method == http.MethodPost && p == "/v2/bot/message/multicast":
		return route{OpSend, "multicast", true, (*Server).multicast}, true
	case r.Method == http.MethodPost && p == "/v2/bot/message/narrowcast":
		return route{OpSend, "narrowcast", true, (*Server).narrowcast}, true
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/v2/bot/message/validate/"):
		switch strings.TrimPrefix(p, "/v2/bot/message/validate/") {
		case "push", "multicast", "narrowcast", "broadcast", "reply":
			return route{OpValidate, "other", false, (*Server).validate}, true
		}
	case r.Method == http.MethodGet && p == "/v2/bot/message/progress/narrowcast":
		return route{OpRead, "other", false, (*Server).progress}, true
	case r.Method == http.MethodGet && p == "/v2/bot/info":
		return route{OpRead, "other", false, (*Server).botInfo}, true
	case p == "/v2/bot/channel/webhook/endpoint" && r.Method == http.MethodGet:
		return route{OpRead, "other", false, (*Server).getEndpoint}, true
	case p == "/v2/bot/channel/webhook/endpoint" && r.Method == http.MethodPut:
		var req struct {
			Endpoint string `json:"endpoint"`
		}
		_ = json.Unmarshal(body, &req)
		s.mu.Lock()
		had := s.endpoint != ""
		s.mu.Unlock()
		op := OpUpdate
		switch {
		case req.Endpoint == "":
			op = OpDelete
		case !had:
			op = OpCreate
		}
		return route{op, "other", false, (*Server).setEndpoint}, true
	case p == "/v2/bot/audienceGroup/upload" && r.Method == http.MethodPost:
		return route{OpCreate, "audience", false, (*Server).createAudience}, true
	case p == "/v2/bot/audienceGroup/upload" && r.Method == http.MethodPut:
		return route{OpUpdate, "audience", false, (*Server).addAudience}, true
	case p == "/v2/bot/audienceGroup/list" && r.Method == http.MethodGet:
		return route{OpRead, "audience", false, (*Server).listAudiences}, true
	case strings.HasPrefix(p, "/v2/bot/audienceGroup/"):
		rest := strings.TrimPrefix(p, "/v2/bot/audienceGroup/")
		if id, ok := strings.CutSuffix(rest, "/updateDescription"); ok && r.Method == http.MethodPut && isNumber(id) {
			return route{OpUpdate, "audience", false, (*Server).renameAudience}, true
		}
		if isNumber(rest) {
			switch r.Method {
			case http.MethodGet:
				return route{OpRead, "audience", false, (*Server).getAudience}, true
			case http.MethodDelete:
				return route{OpDelete, "audience", false, (*Server).deleteAudience}, true
			}
		}
	}
	return route{}, false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	requestID := uuid.NewString()
	w.Header().Set("x-line-request-id", requestID)
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		errorReply(http.StatusUnauthorized, "Authentication failed. Confirm that the access token in the authorization header is valid.").write(w)
		return
	}
	body, err := contracttest.ReadBody(r)
	if err != nil {
		errorReply(http.StatusBadRequest, "The request body could not be read").write(w)
		return
	}
	rt, ok := s.routeOf(r, body)
	if !ok {
		errorReply(http.StatusNotFound, "Not found").write(w)
		return
	}
	retryKey := r.Header.Get("X-Line-Retry-Key")
	if retryKey != "" && !rt.retries {
		errorReply(http.StatusBadRequest, "The X-Line-Retry-Key header is not supported by this API").write(w)
		return
	}
	if retryKey != "" {
		if _, err := uuid.Parse(retryKey); err != nil || len(retryKey) != 36 {
			errorReply(http.StatusBadRequest, "The value for the 'X-Line-Retry-Key' header is invalid").write(w)
			return
		}
	}
	contracttest.Serve(s.Control, w, r, rt.op, func(w http.ResponseWriter, r *http.Request) {
		s.answer(rt, call{r: r, body: body, requestID: requestID}, retryKey).write(w)
	})
}

// answer serves a call that met no fault: rate limits, retry keys, then the endpoint.
func (s *Server) answer(rt route, c call, retryKey string) reply {
	s.mu.Lock()
	limited := !s.allow(rt.limit)
	acc, seen := s.retryKeys[retryKey]
	if seen && s.now().Sub(acc.at) >= retryKeyLifetime {
		delete(s.retryKeys, retryKey)
		seen = false
	}
	s.mu.Unlock()
	switch {
	case limited:
		return errorReply(http.StatusTooManyRequests, RateLimitMessage)
	case retryKey != "" && seen:
		return reply{status: http.StatusConflict,
			body:   lineError{Message: "The retry key is already accepted", SentMessages: acc.sent},
			header: map[string]string{"x-line-accepted-request-id": acc.requestID}}
	}
	rep := rt.handle(s, c)
	if retryKey != "" && rep.status/100 == 2 {
		s.mu.Lock()
		acc := accepted{requestID: c.requestID, at: s.now()}
		if pr, ok := rep.body.(pushResponse); ok {
			acc.sent = pr.SentMessages
		}
		s.retryKeys[retryKey] = acc
		if n := len(s.deliveries); n > 0 && s.deliveries[n-1].RequestID == c.requestID {
			s.deliveries[n-1].RetryKey = retryKey
		}
		s.mu.Unlock()
	}
	return rep
}

func (rep reply) write(w http.ResponseWriter) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	json.NewEncoder(w).Encode(rep.body)
}

// faultReply is what an injected failure answers, with the message LINE gives for the status.
func faultReply(status int) reply {
	switch status {
	case http.StatusUnauthorized:
		return errorReply(status, "Authentication failed. Confirm that the access token in the authorization header is valid.")
	case http.StatusForbidden:
		return errorReply(status, "Access to this API is not available for your account")
	case http.StatusTooManyRequests:
		return errorReply(status, RateLimitMessage)
	case http.StatusConflict:
		return errorReply(status, "The request conflicts with the current state of the channel")
	}
	if status >= 500 {
		return errorReply(status, "Internal server error")
	}
	return invalidBody(errorDetail{Message: "refused (injected failure)"})
}

// allow counts a call against its endpoint's rate window. Called with s.mu held.
func (s *Server) allow(group string) bool {
	if s.unlimited {
		return true
	}
	lim := rateLimits[group]
	now := s.now()
	w := s.windows[group]
	if w == nil || now.Sub(w.start) >= lim.per {
		w = &window{start: now}
		s.windows[group] = w
	}
	w.n++
	return w.n <= lim.max
}

// spend counts n messages against the month's allowance. Called with s.mu held.
func (s *Server) spend(n int) bool {
	month := s.now().Format("2006-01")
	if month != s.month {
		s.month, s.sentInMonth = month, 0
	}
	if s.monthlyLimit > 0 && s.sentInMonth+n > s.monthlyLimit {
		return false
	}
	s.sentInMonth += n
	return true
}

var quotaReply = errorReply(http.StatusTooManyRequests, MonthlyLimitMessage)

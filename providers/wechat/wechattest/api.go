package wechattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Routing, access tokens, quotas and injected faults: what every call goes through.

// answer is a JSON answer, always sent with HTTP 200, as WeChat's are.
type answer map[string]any

func write(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(a)
}

// refusal is WeChat's error answer, with the request ID it appends to errmsg.
func refusal(code int, msg string) answer {
	rid := contracttest.RandomHex(4) + "-" + contracttest.RandomHex(4) + "-" + contracttest.RandomHex(4)
	return answer{"errcode": code, "errmsg": msg + " rid: " + rid}
}

var done = answer{"errcode": 0, "errmsg": "ok"}

// faultAnswer is what an injected failure of an HTTP status answers: the errcode WeChat
// gives for the like, with HTTP 200.
func faultAnswer(status int) answer {
	switch {
	case status == http.StatusUnauthorized:
		return refusal(40001, "invalid credential, access_token is invalid or not latest")
	case status == http.StatusForbidden:
		return refusal(48001, "api unauthorized")
	case status == http.StatusNotFound:
		return refusal(40003, "invalid openid")
	case status == http.StatusConflict:
		return refusal(45157, "invalid tag name")
	case status == http.StatusTooManyRequests:
		return refusal(45009, "reach max api daily quota limit")
	case status >= 500:
		return refusal(-1, "system error")
	}
	return refusal(47001, "data format error")
}

// call is one request as a handler sees it.
type call struct {
	r    *http.Request
	q    url.Values
	body []byte
}

// decode reads the JSON body into v; a body that is not JSON is WeChat's 47001.
func (c call) decode(v any) (answer, bool) {
	if len(c.body) == 0 {
		return refusal(44002, "empty post data"), false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return refusal(47001, "data format error"), false
	}
	return nil, true
}

type route struct {
	op     string
	method string
	handle func(*Server, call) answer
}

// routes are the APIs the server answers, by their path under /cgi-bin/.
var routes = map[string]route{
	"token":                             {OpToken, http.MethodGet, (*Server).token},
	"stable_token":                      {OpToken, http.MethodPost, (*Server).stableToken},
	"tags/create":                       {OpCreate, http.MethodPost, (*Server).createTag},
	"tags/get":                          {OpRead, http.MethodGet, (*Server).listTags},
	"tags/update":                       {OpUpdate, http.MethodPost, (*Server).updateTag},
	"tags/delete":                       {OpDelete, http.MethodPost, (*Server).deleteTag},
	"tags/members/batchtagging":         {OpUpdate, http.MethodPost, (*Server).batchTagging},
	"tags/members/batchuntagging":       {OpUpdate, http.MethodPost, (*Server).batchUntagging},
	"user/tag/get":                      {OpRead, http.MethodPost, (*Server).tagFollowers},
	"user/info":                         {OpRead, http.MethodGet, (*Server).userInfo},
	"template/get_all_private_template": {OpRead, http.MethodGet, (*Server).listTemplates},
	"message/template/send":             {OpSend, http.MethodPost, (*Server).sendTemplate},
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	api, found := strings.CutPrefix(r.URL.Path, "/cgi-bin/")
	rt, known := routes[api]
	switch {
	case !found || !known:
		write(w, refusal(40066, "invalid url"))
		return
	case r.Method != rt.method && rt.method == http.MethodPost:
		write(w, refusal(43002, "require POST method"))
		return
	case r.Method != rt.method:
		write(w, refusal(43001, "require GET method"))
		return
	}
	body, err := contracttest.ReadBody(r)
	if err != nil {
		write(w, refusal(44002, "empty post data"))
		return
	}
	c := call{r: r, q: r.URL.Query(), body: body}
	if rt.op != OpToken {
		if refused := s.authorize(c.q.Get("access_token")); refused != nil {
			write(w, refused)
			return
		}
	}
	contracttest.Serve(s.Control, w, r, rt.op, func(w http.ResponseWriter, r *http.Request) {
		if !s.spend(api) {
			write(w, refusal(45009, "reach max api daily quota limit"))
			return
		}
		write(w, rt.handle(s, c))
	})
}

// authorize checks an access token: nil when it works.
func (s *Server) authorize(tok string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, known := s.tokens[tok]
	now := s.now()
	switch {
	case tok == "":
		return refusal(41001, "access_token missing")
	case !known, !t.replaced.IsZero() && !now.Before(t.replaced):
		return refusal(40001, "invalid credential, access_token is invalid or not latest")
	case !now.Before(t.expires):
		return refusal(42001, "access_token expired")
	}
	return nil
}

// spend counts a call of an API against its daily quota, in China Standard Time days.
func (s *Server) spend(api string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	day := s.now().In(time.FixedZone("CST", 8*60*60)).Format(time.DateOnly)
	if day != s.day {
		s.day, s.used = day, map[string]int{}
	}
	if q := s.quotas[api]; q > 0 && s.used[api] >= q {
		return false
	}
	s.used[api]++
	return true
}

// credentials checks a token request's grant type, appid and secret.
func (s *Server) credentials(grant, appID, secret string) answer {
	switch {
	case grant != "client_credential":
		return refusal(40002, "invalid grant_type")
	case appID != s.AppID:
		return refusal(40013, "invalid appid")
	case secret != s.Secret:
		return refusal(40125, "invalid appsecret")
	}
	return nil
}

// issue makes a new token. Called with s.mu held.
func (s *Server) issue(stable bool) string {
	tok := contracttest.RandomHex(48)
	s.tokens[tok] = &issued{expires: s.now().Add(TokenLifetime), stable: stable}
	return tok
}

func (s *Server) tokenAnswer(tok string) answer {
	left := s.tokens[tok].expires.Sub(s.now())
	return answer{"access_token": tok, "expires_in": int64(left / time.Second)}
}

// token is GET /cgi-bin/token: a new token each call; the previous ones keep working for
// five minutes. Tokens of stable_token are apart and stay.
func (s *Server) token(c call) answer {
	if refused := s.credentials(c.q.Get("grant_type"), c.q.Get("appid"), c.q.Get("secret")); refused != nil {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if !t.stable && t.replaced.IsZero() {
			t.replaced = s.now().Add(tokenGrace)
		}
	}
	return s.tokenAnswer(s.issue(false))
}

// stableToken is POST /cgi-bin/stable_token: the same token while it has more than five
// minutes left, a new one after (the old one keeps working until it expires); force_refresh
// replaces it at once.
func (s *Server) stableToken(c call) answer {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if refused, ok := c.decode(&req); !ok {
		return refused
	}
	if refused := s.credentials(req.GrantType, req.AppID, req.Secret); refused != nil {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.tokens[s.stable]
	now := s.now()
	switch {
	case req.ForceRefresh && cur != nil:
		cur.replaced = now
		s.stable = s.issue(true)
	case cur == nil || !cur.replaced.IsZero() || cur.expires.Sub(now) <= tokenGrace:
		s.stable = s.issue(true)
	}
	return s.tokenAnswer(s.stable)
}

// errorf formats an errmsg.
func errorf(code int, format string, args ...any) answer {
	return refusal(code, fmt.Sprintf(format, args...))
}

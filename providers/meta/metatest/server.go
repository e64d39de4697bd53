// Package metatest runs a local server that answers like the Marketing API of the Graph API
// for one ad account's custom audiences, so the meta provider and the CLI's scripts are
// tested against Meta's documented rules instead of a mock that accepts anything. Real ad
// accounts cannot be made up for tests, nor people for their audiences to match.
//
// What it enforces, as Meta documents it (developers.facebook.com/docs/marketing-api/audiences):
//   - every path starts with a version, vNN.0; one older than MinVersion is refused with
//     code 2635, as Meta refuses a retired version;
//   - an access token, as the access_token parameter or an Authorization: Bearer header:
//     none is code 104, a wrong one 190;
//   - parameters in the query or the body, form-encoded (or JSON);
//   - custom audiences of the ad account: POST /act_{id}/customaudiences with a name,
//     subtype CUSTOM and a customer_file_source (USER_PROVIDED_ONLY,
//     PARTNER_PROVIDED_ONLY, BOTH_USER_AND_PARTNER_PROVIDED); listed by GET with fields and
//     cursor paging; read by GET /{id}?fields= (a field the node lacks is code 100); renamed
//     by POST /{id}; deleted by DELETE /{id}; an audience that does not exist (any more) is
//     code 100, subcode 33;
//   - members through POST (add) and DELETE (remove) /{id}/users: a payload of a schema
//     (EMAIL, PHONE, or their _SHA256 names, alone or as a list) and data rows, each value
//     the SHA-256 of a normalised value in lower-case hex (an unhashed email address or
//     phone number, or anything else, is code 100), 1 to 10,000 rows a request; a session
//     {session_id, batch_seq, last_batch_flag, estimated_num_total}: a session starts at
//     batch 1 and goes on one batch at a time, a repeated batch_seq is answered as before and
//     applied no second time, a skipped one is refused, and last_batch_flag closes it. The
//     answer counts num_received and num_invalid_entries (rows with no value at all).
//
// An audience's members are kept as the set of hashes its rows brought (Members), which tests
// read; Meta matches them to people, which the server does not pretend to.
//
// Tests and scripts make calls fail, lose their answers or wait through the controls of
// package contracttest, which the server embeds; an injected failure is worded as Meta's
// error object for the status (see Fail). The Admin renames and deletes audiences as Ads
// Manager would.
package metatest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Limits the server enforces, from Meta's documentation.
const (
	// MaxRows is the most rows an upload request takes.
	MaxRows = 10_000
	// MinVersion is the oldest Marketing API version served: v25.0, since v24.0 expired on
	// 10 November 2026.
	MinVersion = 25
	// DefaultPageSize and MaxPageSize bound a page of the list of audiences.
	DefaultPageSize = 25
	MaxPageSize     = 500
	// maxBody bounds a request's body: 10,000 rows of two hashes, form-encoded, take 1.6 MB.
	maxBody = 8 << 20
)

// Operations name what a call does, for the faults of contracttest.
const (
	OpRead   = "read"   // GET /{id}, GET /act_{id}/customaudiences
	OpCreate = "create" // POST /act_{id}/customaudiences
	OpUpdate = "update" // POST /{id}
	OpDelete = "delete" // DELETE /{id}
	OpUsers  = "users"  // POST and DELETE /{id}/users
)

// Ops are the operations faults target.
var Ops = []string{OpRead, OpCreate, OpUpdate, OpDelete, OpUsers}

// Audience is a custom audience as the server holds it.
type Audience struct {
	ID, Name, Description string
	Subtype, Source       string // subtype and customer_file_source
	Created, Updated      time.Time
	// Members counts the hashes the audience holds, in snapshots.
	Members int
}

// Server is a running contract server. Its methods are safe for concurrent use.
type Server struct {
	*contracttest.Control
	*contracttest.Admin

	// URL is the base URL to use instead of https://graph.facebook.com.
	URL string
	// AdAccount is the ad account's ID, act_ and digits; Token the access token it takes.
	AdAccount, Token string

	srv *httptest.Server

	mu        sync.Mutex
	now       func() time.Time
	seq       int64
	audiences map[string]*Audience
	members   map[string]map[[32]byte]struct{} // hashes by audience ID
	sessions  map[sessionKey]*Session
}

// NewServer starts a server for a fresh ad account: random credentials, no audiences. Close
// it when done.
func NewServer() *Server {
	n, _ := strconv.ParseUint(contracttest.RandomHex(6), 16, 64)
	s := &Server{
		AdAccount: fmt.Sprintf("act_%d", 100000000000+n%900000000000),
		Token:     "EAAG" + contracttest.RandomHex(24),
		now:       time.Now,
		seq:       23850000000000000,
		audiences: map[string]*Audience{},
		members:   map[string]map[[32]byte]struct{}{},
		sessions:  map[sessionKey]*Session{},
	}
	s.Control = contracttest.New(contracttest.Vendor{Ops: Ops, Fail: s.fail})
	s.Admin = &contracttest.Admin{Vendor: "the Meta ad account", Lock: &s.mu, Kinds: map[providers.Kind]contracttest.Kind{
		providers.KindAudience: {IDs: s.audienceIDs, Tamper: s.tamperAudience, Remove: s.removeAudience},
	}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetClock replaces the server's clock: creation and update times.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// graphErr is the Graph API's error object.
type graphErr struct {
	status  int
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    int    `json:"code"`
	Subcode int    `json:"error_subcode,omitempty"`
	UserMsg string `json:"error_user_msg,omitempty"`
	// Transient marks errors worth retrying, as Meta's is_transient does.
	Transient bool   `json:"is_transient"`
	TraceID   string `json:"fbtrace_id"`
	header    http.Header
}

func (e *graphErr) Error() string { return fmt.Sprintf("(#%d) %s", e.Code, e.Message) }

// refusal is a Graph error answered with HTTP 400, as Meta answers most.
func refusal(code int, format string, args ...any) *graphErr {
	return &graphErr{status: http.StatusBadRequest, Type: "OAuthException", Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid is code 100, an invalid parameter, with what to do about it.
func invalid(format string, args ...any) *graphErr {
	e := refusal(100, "(#100) Invalid parameter")
	e.UserMsg = fmt.Sprintf(format, args...)
	return e
}

// noObject is code 100, subcode 33: what Meta answers for an ID it does not know.
func noObject(method, id string) *graphErr {
	e := refusal(100, "Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
		strings.ToLower(method), id)
	e.Type, e.Subcode = "GraphMethodException", 33
	return e
}

// write sends an answer: a JSON value, or a Graph error.
func write(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if e, ok := v.(*graphErr); ok {
		for k, vs := range e.header {
			w.Header()[k] = vs
		}
		e.TraceID = traceID()
		w.WriteHeader(e.status)
		v = map[string]any{"error": e}
	}
	json.NewEncoder(w).Encode(v)
}

// traceID makes up an fbtrace_id, which Meta's support asks for.
func traceID() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	b := make([]byte, 11)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// fail words an injected failure as Meta's error object for the status. Meta has no conflict
// of its own; 409 is worded as code 506, a duplicate request.
func (s *Server) fail(w http.ResponseWriter, status int, retryAfter time.Duration) {
	e := &graphErr{status: status, Type: "OAuthException"}
	switch {
	case status == http.StatusUnauthorized:
		e.Code, e.Message = 190, "Error validating access token: Session has expired."
	case status == http.StatusForbidden:
		e.Code, e.Message = 200, "(#200) Permissions error"
	case status == http.StatusNotFound:
		e = noObject(http.MethodGet, "0")
		e.status = status
	case status == http.StatusConflict:
		e.Code, e.Message = 506, "Duplicate request"
	case status == http.StatusTooManyRequests:
		e.Code, e.Message = 80003, "There have been too many calls for this ad account's custom audiences. Wait a bit and try again."
		e.header = http.Header{"X-Business-Use-Case-Usage": {s.usage(retryAfter)}}
	case status == http.StatusServiceUnavailable:
		e.Code, e.Message, e.Transient = 2, "Service temporarily unavailable", true
	case status >= 500:
		e.Code, e.Message, e.Transient = 1, "An unknown error has occurred.", true
	default:
		e.Code, e.Message = 100, "(#100) Invalid parameter"
	}
	write(w, e)
}

// usage is the X-Business-Use-Case-Usage of a throttled ad account: its custom audience use
// case at 100%, and the wait, rounded up to whole minutes.
func (s *Server) usage(wait time.Duration) string {
	b, _ := json.Marshal(map[string]any{strings.TrimPrefix(s.AdAccount, "act_"): []map[string]any{{
		"type": "custom_audience", "call_count": 100, "total_cputime": 12, "total_time": 15,
		"estimated_time_to_regain_access": int((wait + time.Minute - 1) / time.Minute),
	}}})
	return string(b)
}

var (
	versionRE = regexp.MustCompile(`^/v([0-9]+)\.0(/.*)$`)
	accountRE = regexp.MustCompile(`^/(act_[0-9]+)/customaudiences$`)
	objectRE  = regexp.MustCompile(`^/([0-9]+)(/users)?$`)
)

// call is one request, its parameters read.
type call struct {
	r      *http.Request
	params url.Values
	path   string // after the version
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := versionRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		write(w, refusal(2500, "Unknown path components: %s", r.URL.Path))
		return
	}
	op, h := s.route(r.Method, m[2])
	if h == nil {
		write(w, refusal(2500, "Unknown path components: %s", m[2]))
		return
	}
	contracttest.Serve(s.Control, w, r, op, func(w http.ResponseWriter, r *http.Request) {
		if v, _ := strconv.Atoi(m[1]); v < MinVersion {
			write(w, refusal(2635, "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v%d.0.", MinVersion))
			return
		}
		params, err := readParams(r)
		if err != nil {
			write(w, invalid("%v", err))
			return
		}
		if e := s.authorize(r, params); e != nil {
			write(w, e)
			return
		}
		write(w, h(call{r: r, params: params, path: m[2]}))
	})
}

// route finds the operation and handler of a request.
func (s *Server) route(method, path string) (string, func(call) any) {
	if accountRE.MatchString(path) {
		switch method {
		case http.MethodGet:
			return OpRead, s.listAudiences
		case http.MethodPost:
			return OpCreate, s.createAudience
		}
		return "", nil
	}
	m := objectRE.FindStringSubmatch(path)
	switch {
	case m == nil:
		return "", nil
	case m[2] != "" && (method == http.MethodPost || method == http.MethodDelete):
		return OpUsers, s.users
	case m[2] != "":
		return "", nil
	case method == http.MethodGet:
		return OpRead, s.readAudience
	case method == http.MethodPost:
		return OpUpdate, s.updateAudience
	case method == http.MethodDelete:
		return OpDelete, s.deleteAudience
	}
	return "", nil
}

// readParams merges a request's query and its body, form-encoded or JSON, as the Graph API
// takes parameters from either; a JSON value that is not a string is kept as JSON text.
func readParams(r *http.Request) (url.Values, error) {
	params := r.URL.Query()
	if r.Body == nil {
		return params, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the request: %v", err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("the request is larger than %d bytes", maxBody)
	}
	if len(body) == 0 {
		return params, nil
	}
	switch ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("the body is not form-encoded: %v", err)
		}
		for k, vs := range form {
			params[k] = append(params[k], vs...)
		}
	case "application/json":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, fmt.Errorf("the body is not a JSON object: %v", err)
		}
		for k, raw := range obj {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				str = string(raw)
			}
			params.Add(k, str)
		}
	default:
		return nil, fmt.Errorf("a body of type %q; send parameters form-encoded or as JSON", ct)
	}
	return params, nil
}

// authorize checks the access token, from the header or the parameters.
func (s *Server) authorize(r *http.Request, params url.Values) *graphErr {
	tok := params.Get("access_token")
	if h := r.Header.Get("Authorization"); h != "" {
		bearer, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return refusal(190, "Invalid OAuth access token - Cannot parse access token")
		}
		tok = bearer
	}
	switch tok {
	case "":
		return refusal(104, "An access token is required to request this resource.")
	case s.Token:
		return nil
	}
	return refusal(190, "Invalid OAuth access token - Cannot parse access token")
}

// Package linetest runs a local server that answers like the LINE Platform's Messaging API,
// so the line provider, its sender and the CLI's scripts are tested against LINE's documented
// rules instead of a mock that accepts anything. LINE's guidelines forbid load tests and
// messages to made-up users on the real platform; this server is where those happen.
//
// What it enforces, as LINE documents it:
//   - Authorization: Bearer with the channel access token, or 401;
//   - every response carries an x-line-request-id header; errors have the body
//     {"message": …, "details": [{"message": …, "property": …}]};
//   - X-Line-Retry-Key only on push, multicast and narrowcast (400 elsewhere), in UUID form;
//     a key accepted in the last 24 hours is refused with 409 and x-line-accepted-request-id;
//   - 1 to 5 messages a request, text messages of 1 to 5,000 characters counted in UTF-16
//     code units; push to one user, multicast to 1 to 500 user IDs, narrowcast to an audience
//     group (which fails, as LINE's does, when the audience has fewer than 50 users);
//   - 429 "You have reached your monthly limit." once the month's message allowance is used,
//     and a different 429 when an endpoint's rate limit is exceeded (LINE sends no Retry-After);
//   - audience groups: at most 1,000 a channel, named with 1 to 120 characters and no control
//     characters, at most 10,000 user IDs an upload; an unknown group is 400
//     AUDIENCE_GROUP_NOT_FOUND; the build is asynchronous (IN_PROGRESS, then READY); an
//     EXPIRED group takes no uploads (400 AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED);
//   - the channel's one webhook endpoint: an HTTPS URL of at most 500 characters.
//
// Tests and scripts make calls fail, lose their answers or wait through the controls of
// package contracttest, which the server embeds, and drive the rest through SetMonthlyLimit
// and the methods that change objects behind the provider's back, as someone in LINE's
// consoles would.
package linetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Limits the server enforces, from LINE's reference.
const (
	MaxMessages         = 5
	MaxTextLength       = 5000 // UTF-16 code units
	MaxMulticast        = 500
	MaxAudienceUpload   = 10_000
	MaxAudienceName     = 120
	MaxAudiences        = 1000 // groups a channel may hold
	MaxWebhookURL       = 500
	MinNarrowcastTarget = 50
	retryKeyLifetime    = 24 * time.Hour
)

// MonthlyLimitMessage is the message of the 429 LINE answers when the month's allowance of
// messages is used up, as opposed to a rate limit.
const MonthlyLimitMessage = "You have reached your monthly limit."

// RateLimitMessage is the message of the 429 LINE answers when an endpoint's rate limit is
// exceeded.
const RateLimitMessage = "The API rate limit has been exceeded. Try again later."

// Operations name what a call does, for the faults of contracttest.
const (
	OpCreate   = "create"   // make an audience group; set a webhook endpoint where none was
	OpRead     = "read"     // every GET
	OpUpdate   = "update"   // rename an audience group, add user IDs, change the webhook endpoint
	OpDelete   = "delete"   // delete an audience group; clear the webhook endpoint
	OpSend     = "send"     // push, multicast, narrowcast
	OpValidate = "validate" // the message validation endpoints
)

// Ops are the operations faults target.
var Ops = []string{OpCreate, OpRead, OpUpdate, OpDelete, OpSend, OpValidate}

// rate limits per endpoint group, from LINE's rate-limit table.
var rateLimits = map[string]struct {
	max int
	per time.Duration
}{
	"push":       {2000, time.Second},
	"multicast":  {200, time.Second},
	"narrowcast": {60, time.Hour},
	"audience":   {60, time.Minute},
	"other":      {2000, time.Second},
}

var (
	userIDRE    = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	recipientRE = regexp.MustCompile(`^[UCR][0-9a-f]{32}$`)
)

// Audience is an audience group as the server holds it.
type Audience struct {
	ID      int64
	Name    string
	Status  string // IN_PROGRESS until first read, then READY; EXPIRED when set so
	Created time.Time
	UserIDs []string
}

// Delivery is one accepted send.
type Delivery struct {
	RequestID  string
	API        string // push, multicast or narrowcast
	To         []string
	AudienceID int64
	Texts      []string
	RetryKey   string
}

type accepted struct {
	requestID string
	at        time.Time
	sent      []sentMessage
}

type sentMessage struct {
	ID         string `json:"id"`
	QuoteToken string `json:"quoteToken,omitempty"`
}

type narrowcast struct {
	accepted  time.Time
	targets   int
	errorCode int
}

type window struct {
	start time.Time
	n     int
}

// Server is a running contract server. Its methods are safe for concurrent use.
type Server struct {
	*contracttest.Control

	// URL is the base URL to use instead of https://api.line.me.
	URL string
	// Token is the channel access token the server accepts.
	Token string
	// Secret is the channel secret it signs webhooks with.
	Secret string

	srv *httptest.Server

	mu           sync.Mutex
	now          func() time.Time
	seq          int64
	botUserID    string
	endpoint     string
	active       bool
	audiences    map[int64]*Audience
	retryKeys    map[string]accepted
	narrowcasts  map[string]*narrowcast
	deliveries   []Delivery
	windows      map[string]*window
	monthlyLimit int
	unlimited    bool
	sentInMonth  int
	month        string
}

// NewServer starts a server with a fresh channel: a random token and secret, no audiences,
// no webhook endpoint. Close it when done.
func NewServer() *Server {
	s := &Server{
		Control: contracttest.New(contracttest.Vendor{Ops: Ops, Fail: func(w http.ResponseWriter, status int, _ time.Duration) {
			faultReply(status).write(w) // LINE sends no Retry-After
		}}),
		Token:       "line-token-" + randomHex(16),
		Secret:      randomHex(16),
		now:         time.Now,
		botUserID:   "U" + randomHex(16),
		active:      true,
		audiences:   map[int64]*Audience{},
		retryKeys:   map[string]accepted{},
		narrowcasts: map[string]*narrowcast{},
		windows:     map[string]*window{},
		seq:         1_000_000_000_000,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// locked runs f under the server's lock: what the consoles change, tests read.
func (s *Server) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// SetClock replaces the server's clock, for retry-key expiry, rate windows and months.
func (s *Server) SetClock(now func() time.Time) { s.locked(func() { s.now = now }) }

// SetMonthlyLimit sets how many messages the channel may send this month; 0 is no limit.
// Each recipient of a push, multicast or narrowcast counts as one message, as LINE counts.
func (s *Server) SetMonthlyLimit(n int) { s.locked(func() { s.monthlyLimit = n }) }

// LiftRateLimits stops enforcing the per-endpoint rate limits, for benchmarks that call
// faster than LINE allows. Injected 429s still happen.
func (s *Server) LiftRateLimits() { s.locked(func() { s.unlimited = true }) }

// BotUserID is the channel's bot user ID: the destination of its webhooks.
func (s *Server) BotUserID() string { return s.botUserID }

// WebhookEndpoint returns the channel's webhook URL, empty when none is set.
func (s *Server) WebhookEndpoint() (url string) {
	s.locked(func() { url = s.endpoint })
	return url
}

// SetWebhookEndpoint changes the webhook URL as the LINE Developers console does; empty
// clears it.
func (s *Server) SetWebhookEndpoint(url string) { s.locked(func() { s.endpoint = url }) }

// SetWebhookActive turns the console's "Use webhook" switch.
func (s *Server) SetWebhookActive(on bool) { s.locked(func() { s.active = on }) }

// Audiences lists the audience groups, oldest first.
func (s *Server) Audiences() []Audience {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Audience, 0, len(s.audiences))
	for _, a := range s.audiences {
		out = append(out, a.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Audience returns one audience group.
func (s *Server) Audience(id int64) (a Audience, ok bool) {
	return a, s.editAudience(id, func(g *Audience) { a = g.clone() }) == nil
}

// RenameAudience renames a group as LINE Official Account Manager does.
func (s *Server) RenameAudience(id int64, name string) error {
	return s.editAudience(id, func(a *Audience) { a.Name = name })
}

// ExpireAudience marks a group EXPIRED, as LINE does 180 days after a group was made.
func (s *Server) ExpireAudience(id int64) error {
	return s.editAudience(id, func(a *Audience) { a.Status = "EXPIRED" })
}

// editAudience runs edit on a group under the lock.
func (s *Server) editAudience(id int64, edit func(*Audience)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.audiences[id]
	if !ok {
		return fmt.Errorf("no audience group %d", id)
	}
	edit(a)
	return nil
}

func (a *Audience) clone() Audience {
	c := *a
	c.UserIDs = slices.Clone(a.UserIDs)
	return c
}

// RemoveAudience deletes a group behind the provider's back.
func (s *Server) RemoveAudience(id int64) { s.locked(func() { delete(s.audiences, id) }) }

// Deliveries lists the accepted sends, in order.
func (s *Server) Deliveries() (out []Delivery) {
	s.locked(func() { out = slices.Clone(s.deliveries) })
	return out
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// randomHex makes up tokens, secrets and IDs.
var randomHex = contracttest.RandomHex

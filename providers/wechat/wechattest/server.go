// Package wechattest runs a local server that answers like the API of a WeChat Official
// Account (api.weixin.qq.com/cgi-bin), and makes the server callbacks WeChat posts to an
// account's URL, so the wechat provider and the CLI's scripts are tested against WeChat's
// documented rules instead of a mock that accepts anything. Real accounts cannot be made up
// for tests, nor followers, nor template messages sent to them.
//
// What it enforces, as WeChat documents it:
//   - every answer is HTTP 200; errors are {"errcode": N, "errmsg": "… rid: …"};
//   - access tokens from GET /cgi-bin/token (each call makes a new token; the previous one
//     keeps working five more minutes) or POST /cgi-bin/stable_token (the same token while it
//     has more than five minutes left; force_refresh replaces it at once), 7200 seconds
//     each; a wrong appid is 40013, a wrong secret 40125;
//   - every other call needs ?access_token=: none is 41001, an unknown or replaced one 40001,
//     an expired one 42001;
//   - daily quotas per API (45009 once used up, counted in China Standard Time days);
//   - user tags: at most 100 an account, names of at most 30 bytes (45158) and unique (45157),
//     tags 0, 1 and 2 are WeChat's own (45058), an unknown tag is 45159, a tag with more than
//     100,000 followers cannot be deleted (45057); tagging takes 1 to 50 openids (40032), all
//     following the account (40003), each carrying at most 20 tags (45059);
//   - template messages: the template must be one of the account's (40037), the recipient
//     must follow the account (40003 unknown, 43004 unfollowed), keyword values within their
//     type's length (47003); a repeated client_msg_id for the same openid within ten minutes
//     sends nothing new (WeChat does not document its answer; the server answers with the
//     first message's msgid);
//   - user info: subscribe, openid, subscribe_time, tagid_list and, for an account bound to an
//     Open Platform account, unionid.
//
// Tests and scripts make calls fail, lose their answers or wait through the controls of
// package contracttest, which the server embeds; an injected failure is worded as WeChat's
// errcode for the status, with HTTP 200 (see Fail). The methods named after a console's
// actions change the account behind the provider's back.
package wechattest

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Limits the server enforces, from WeChat's documentation.
const (
	TokenLifetime  = 7200 * time.Second
	MaxTags        = 100
	MaxTagName     = 30 // bytes
	MaxTagging     = 50 // openids a call
	MaxUserTags    = 20
	MaxDeletable   = 100_000 // followers of a tag that can still be deleted
	ClientMsgIDTTL = 10 * time.Minute
	// tokenGrace is how long a classic token keeps working after a newer one is issued, and
	// how early the stable token is renewed.
	tokenGrace = 5 * time.Minute
)

// Operations name what a call does, for the faults of contracttest.
const (
	OpToken  = "token"  // GET /cgi-bin/token, POST /cgi-bin/stable_token
	OpRead   = "read"   // tags/get, user/info, user/tag/get, template/get_all_private_template
	OpCreate = "create" // tags/create
	OpUpdate = "update" // tags/update, tagging and untagging
	OpDelete = "delete" // tags/delete
	OpSend   = "send"   // message/template/send
)

// Ops are the operations faults target.
var Ops = []string{OpToken, OpRead, OpCreate, OpUpdate, OpDelete, OpSend}

// Tag is a user tag as the server holds it.
type Tag struct {
	ID   int64
	Name string
}

// Follower is a user who follows (or followed) the account.
type Follower struct {
	OpenID     string
	UnionID    string
	Subscribed bool
	Since      time.Time
	Tags       []int64
}

// Template is one of the account's message templates.
type Template struct {
	ID, Title, Content string
}

// Delivery is one template message the server accepted.
type Delivery struct {
	MsgID       int64
	To          string
	TemplateID  string
	URL         string
	Data        map[string]string
	ClientMsgID string
}

type issued struct {
	expires  time.Time
	replaced time.Time // when a newer token made this one stop working; zero while it works
	stable   bool
}

type sent struct {
	msgID int64
	at    time.Time
}

// Server is a running contract server. Its methods are safe for concurrent use.
type Server struct {
	*contracttest.Control
	*contracttest.Admin

	// URL is the base URL to use instead of https://api.weixin.qq.com.
	URL string
	// AppID and Secret are the account's credentials.
	AppID, Secret string
	// Token and EncodingAESKey are the server configuration's, which callbacks are signed
	// and encrypted with.
	Token, EncodingAESKey string
	// Account is the account's original ID (gh_…), the ToUserName of its callbacks.
	Account string

	srv *httptest.Server

	mu        sync.Mutex
	now       func() time.Time
	seq       int64
	tokens    map[string]*issued
	stable    string
	tags      map[int64]*Tag
	followers map[string]*Follower
	templates map[string]*Template
	sends     []Delivery
	clientIDs map[string]sent
	quotas    map[string]int
	used      map[string]int
	day       string
}

// NewServer starts a server for a fresh account: random credentials, WeChat's own tag 2
// (星标组), no followers and no templates. Close it when done.
func NewServer() *Server {
	s := &Server{
		AppID:          "wx" + contracttest.RandomHex(8),
		Secret:         contracttest.RandomHex(16),
		Token:          alnum(32),
		EncodingAESKey: alnum(43),
		Account:        "gh_" + contracttest.RandomHex(6),
		now:            time.Now,
		seq:            100,
		tokens:         map[string]*issued{},
		tags:           map[int64]*Tag{2: {ID: 2, Name: "星标组"}},
		followers:      map[string]*Follower{},
		templates:      map[string]*Template{},
		clientIDs:      map[string]sent{},
		quotas:         map[string]int{},
		used:           map[string]int{},
	}
	s.Control = contracttest.New(contracttest.Vendor{Ops: Ops, Fail: func(w http.ResponseWriter, status int, _ time.Duration) {
		write(w, faultAnswer(status))
	}})
	s.Admin = &contracttest.Admin{Vendor: "the WeChat account", Lock: &s.mu, Kinds: map[providers.Kind]contracttest.Kind{
		providers.KindAudience: {IDs: s.tagIDs, Tamper: s.tamperTag, Remove: s.removeTag},
	}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// alnum makes up n random letters and digits, as the console's generators do.
func alnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// SetClock replaces the server's clock: token expiry, quota days, client_msg_id windows.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetQuota sets how many calls a day an API takes (its path under /cgi-bin/, such as
// "message/template/send"); 0 is no limit.
func (s *Server) SetQuota(api string, perDay int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotas[api] = perDay
}

// ExpireTokens makes every access token issued so far expire, as two hours passing would.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.expires = s.now().Add(-time.Second)
	}
}

// RevokeTokens makes every access token issued so far stop working (40001), as a stable
// token's force refresh by another system does.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.replaced = s.now().Add(-time.Second)
	}
	s.stable = ""
}

// Tokens lists every access token the server issued.
func (s *Server) Tokens() (out []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Follow makes a user follow the account and returns the openid; an empty openid makes one
// up. unionID, when set, is the user's ID across the Open Platform account's apps.
func (s *Server) Follow(openID, unionID string) string {
	if openID == "" {
		b := make([]byte, 20)
		rand.Read(b)
		openID = "o" + base64.RawURLEncoding.EncodeToString(b)[:27]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followers[openID]
	if f == nil {
		f = &Follower{OpenID: openID}
		s.followers[openID] = f
	}
	f.Subscribed, f.Since = true, s.now()
	if unionID != "" {
		f.UnionID = unionID
	}
	return openID
}

// Unfollow makes a user stop following the account; WeChat drops the user's tags.
func (s *Server) Unfollow(openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.followers[openID]; f != nil {
		f.Subscribed, f.Tags = false, nil
	}
}

// AddTemplate adds a template to the account, as choosing one from the template library in
// the console does; an empty id makes one up. content holds the fields as {{key.DATA}}.
func (s *Server) AddTemplate(id, title, content string) string {
	if id == "" {
		b := make([]byte, 32)
		rand.Read(b)
		id = base64.RawURLEncoding.EncodeToString(b)[:43]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates[id] = &Template{ID: id, Title: title, Content: content}
	return id
}

// RemoveTemplate deletes a template from the account, as the console does.
func (s *Server) RemoveTemplate(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.templates, id)
}

// Templates lists the account's templates by ID.
func (s *Server) Templates() []Template {
	s.mu.Lock()
	defer s.mu.Unlock()
	return contracttest.Snapshot(s.templates, func(a, b *Template) int { return strings.Compare(a.ID, b.ID) })
}

// Tags lists the account's tags by ID, WeChat's own included.
func (s *Server) Tags() []Tag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return contracttest.Snapshot(s.tags, func(a, b *Tag) int { return int(a.ID - b.ID) })
}

// Members lists the openids carrying a tag, sorted.
func (s *Server) Members(tagID int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.membersLocked(tagID)
}

func (s *Server) membersLocked(tagID int64) []string {
	var out []string
	for id, f := range s.followers {
		if slices.Contains(f.Tags, tagID) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Deliveries lists the accepted template messages, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sends)
}

// RenameTag renames a tag, as the console does.
func (s *Server) RenameTag(id int64, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tamperTag(strconv.FormatInt(id, 10), "description", name)
}

// The Admin's view of tags, called with s.mu held.

func (s *Server) tagIDs() []string {
	var out []string
	for id := range s.tags {
		if id > 2 {
			out = append(out, strconv.FormatInt(id, 10))
		}
	}
	slices.Sort(out)
	return out
}

func (s *Server) tagOf(id string) (*Tag, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if t, ok := s.tags[n]; err == nil && ok {
		return t, nil
	}
	return nil, fmt.Errorf("the account has no tag %s", id)
}

func (s *Server) tamperTag(id, attr, value string) error {
	t, err := s.tagOf(id)
	if err != nil {
		return err
	}
	if attr != "description" {
		return fmt.Errorf("a WeChat tag has a name (description), not a %s", attr)
	}
	t.Name = value
	return nil
}

func (s *Server) removeTag(id string) error {
	t, err := s.tagOf(id)
	if err != nil {
		return err
	}
	delete(s.tags, t.ID)
	for _, f := range s.followers {
		f.Tags = slices.DeleteFunc(f.Tags, func(x int64) bool { return x == t.ID })
	}
	return nil
}

// Package sendgridtest is a local contract server for the parts of SendGrid's v3 API the
// email provider uses: mail send and Marketing lists. It enforces the documented rules (Bearer
// API key, at most 1,000 personalizations and recipients, required fields, ASCII sender
// addresses, at most 10 categories, custom args under 10,000 bytes, reserved headers, list
// names of 1 to 100 characters that no other list has) and answers as SendGrid does: 202 with
// X-Message-Id, {"errors":[{message, field, help}]} on 400, 401 "Maximum credits exceeded"
// when the plan is used up, 429 with Retry-After. It records every accepted message so tests
// can read what was sent; calls fail, lose their answers or wait through the controls of
// package contracttest, which the server embeds.
package sendgridtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Limits SendGrid documents.
const (
	MaxPersonalizations = 1000
	MaxRecipients       = 1000
	MaxCategories       = 10
	MaxCustomArgsBytes  = 10000
	MaxBodyBytes        = 30 << 20
	MaxListName         = 100
	MaxLists            = 1000
)

// reservedHeaders may not be set through the headers object.
var reservedHeaders = []string{"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
	"content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}

// Address is an email object.
type Address struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// Personalization is one envelope of a mail send.
type Personalization struct {
	To                  []Address         `json:"to"`
	CC                  []Address         `json:"cc,omitempty"`
	BCC                 []Address         `json:"bcc,omitempty"`
	Subject             string            `json:"subject,omitempty"`
	Headers             map[string]string `json:"headers,omitempty"`
	CustomArgs          map[string]string `json:"custom_args,omitempty"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data,omitempty"`
	SendAt              int64             `json:"send_at,omitempty"`
}

// Content is one body part.
type Content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Mail is a mail send request as the server accepted it.
type Mail struct {
	Personalizations []Personalization `json:"personalizations"`
	From             *Address          `json:"from"`
	ReplyTo          *Address          `json:"reply_to,omitempty"`
	ReplyToList      []Address         `json:"reply_to_list,omitempty"`
	Subject          string            `json:"subject,omitempty"`
	Content          []Content         `json:"content,omitempty"`
	TemplateID       string            `json:"template_id,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	Categories       []string          `json:"categories,omitempty"`
	CustomArgs       map[string]string `json:"custom_args,omitempty"`
	SendAt           int64             `json:"send_at,omitempty"`
	ASM              *struct {
		GroupID         json.Number `json:"group_id"`
		GroupsToDisplay []int64     `json:"groups_to_display,omitempty"`
	} `json:"asm,omitempty"`
	MailSettings *struct {
		SandboxMode *struct {
			Enable bool `json:"enable"`
		} `json:"sandbox_mode,omitempty"`
	} `json:"mail_settings,omitempty"`

	// MessageID is the X-Message-Id the server answered with.
	MessageID string `json:"-"`
}

// List is a Marketing list.
type List struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ContactCount int    `json:"contact_count"`
}

// Ops that faults target: a mail send, and the list calls.
const (
	OpSend   = "send"   // POST /v3/mail/send
	OpCreate = "create" // POST /v3/marketing/lists
	OpRead   = "read"   // GET /v3/marketing/lists[/{id}]
	OpUpdate = "update" // PATCH /v3/marketing/lists/{id}
	OpDelete = "delete" // DELETE /v3/marketing/lists/{id}
)

// Ops are the operations faults target.
var Ops = []string{OpSend, OpCreate, OpRead, OpUpdate, OpDelete}

// Server is a running contract server.
type Server struct {
	*httptest.Server
	*contracttest.Control
	apiKey string

	mu        sync.Mutex
	sent      []Mail
	lists     map[string]*List
	noCredits bool
}

// NewServer starts a server that accepts apiKey. Close it when done.
func NewServer(apiKey string) *Server {
	s := &Server{apiKey: apiKey, lists: map[string]*List{},
		Control: contracttest.New(contracttest.Vendor{Ops: Ops, RetryAfter: time.Second, Fail: writeFault})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// ExhaustCredits makes every mail send fail as an account whose monthly plan is used up.
func (s *Server) ExhaustCredits() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noCredits = true
}

// Sent returns the accepted mail sends, in order.
func (s *Server) Sent() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Lists returns the lists, sorted by name.
func (s *Server) Lists() []List {
	s.mu.Lock()
	defer s.mu.Unlock()
	return contracttest.Snapshot(s.lists, func(a, b *List) int { return strings.Compare(a.Name, b.Name) })
}

// RenameList renames a list, as someone in SendGrid's contact screens would.
func (s *Server) RenameList(id, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[id]
	if ok {
		l.Name = name
	}
	return ok
}

// DeleteList deletes a list behind Musubi's back.
func (s *Server) DeleteList(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.lists[id]
	delete(s.lists, id)
	return ok
}

// apiError is one entry of SendGrid's error body.
type apiError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    string  `json:"help,omitempty"`
}

func field(name string) *string { return &name }

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func opOf(r *http.Request) string {
	switch {
	case r.URL.Path == "/v3/mail/send":
		return OpSend
	case strings.HasPrefix(r.URL.Path, "/v3/marketing/lists"):
		return map[string]string{http.MethodPost: OpCreate, http.MethodGet: OpRead, http.MethodPatch: OpUpdate, http.MethodDelete: OpDelete}[r.Method]
	}
	return ""
}

// writeFault answers an injected failure; a 429 is SendGrid's rate limit, with Retry-After.
func writeFault(w http.ResponseWriter, status int, retryAfter time.Duration) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		writeErrors(w, status, apiError{Message: "too many requests"})
		return
	}
	writeErrors(w, status, apiError{Message: fmt.Sprintf("injected %d", status)})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reset := time.Now().Add(time.Minute).Unix()
	w.Header().Set("X-RateLimit-Limit", "600")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "authorization required"})
		return
	}
	if auth != "Bearer "+s.apiKey {
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "The provided authorization grant is invalid, expired, or revoked"})
		return
	}
	w.Header().Set("X-RateLimit-Remaining", "599")
	op := opOf(r)
	if op == "" {
		writeErrors(w, http.StatusNotFound, apiError{Message: "not found"})
		return
	}
	contracttest.Serve(s.Control, w, r, op, func(w http.ResponseWriter, r *http.Request) { s.route(w, r, op) })
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, op string) {
	id := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v3/marketing/lists"), "/")
	switch {
	case op == OpSend && r.Method == http.MethodPost:
		s.mailSend(w, r)
	case op == OpCreate && id == "":
		s.createList(w, r)
	case op == OpRead && id == "":
		s.allLists(w, r)
	case op == OpRead:
		s.getList(w, id)
	case op == OpUpdate && id != "":
		s.updateList(w, r, id)
	case op == OpDelete && id != "":
		s.deleteList(w, r, id)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, apiError{Message: "method not allowed"})
	}
}

func (s *Server) mailSend(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeErrors(w, http.StatusUnsupportedMediaType, apiError{Message: "Content-Type should be application/json."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "cannot read the request body"})
		return
	}
	if len(body) > MaxBodyBytes {
		writeErrors(w, http.StatusRequestEntityTooLarge, apiError{Message: "The JSON payload you have included in your request is too large."})
		return
	}
	var m Mail
	if err := json.Unmarshal(body, &m); err != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Bad Request", Field: field(""), Help: err.Error()})
		return
	}
	if errs := validateMail(&m); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noCredits {
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "Maximum credits exceeded"})
		return
	}
	sandbox := m.MailSettings != nil && m.MailSettings.SandboxMode != nil && m.MailSettings.SandboxMode.Enable
	if sandbox {
		w.WriteHeader(http.StatusOK)
		return
	}
	m.MessageID = contracttest.RandomHex(11)
	s.sent = append(s.sent, m)
	w.Header().Set("X-Message-Id", m.MessageID)
	w.WriteHeader(http.StatusAccepted)
}

func validAddress(a Address) bool {
	p, err := mail.ParseAddress(a.Email)
	return err == nil && p.Address == a.Email
}

// validateMail applies the mail send rules SendGrid documents, returning every violation.
func validateMail(m *Mail) []apiError {
	var errs []apiError
	bad := func(f, msg, help string) { errs = append(errs, apiError{Message: msg, Field: field(f), Help: help}) }
	n := len(m.Personalizations)
	switch {
	case n == 0:
		bad("personalizations", "You must have at least one personalization.", "")
	case n > MaxPersonalizations:
		bad("personalizations", fmt.Sprintf("The personalization block is limited to %d personalizations per API request. You have provided %d personalizations.", MaxPersonalizations, n), "")
	}
	recipients, customArgs := 0, 0
	everySubject := n > 0
	for k, v := range m.CustomArgs {
		customArgs += len(k) + len(v)
	}
	for i, p := range m.Personalizations {
		if len(p.To) == 0 {
			bad(fmt.Sprintf("personalizations.%d.to", i), "The to array is required for all personalization objects, and must have at least one email object with a valid email address.", "")
		}
		for _, a := range slices.Concat(p.To, p.CC, p.BCC) {
			if !validAddress(a) {
				bad(fmt.Sprintf("personalizations.%d.to", i), "Does not contain a valid address.", "")
			}
		}
		recipients += len(p.To) + len(p.CC) + len(p.BCC)
		everySubject = everySubject && p.Subject != ""
		args := customArgs
		for k, v := range p.CustomArgs {
			args += len(k) + len(v)
		}
		if args >= MaxCustomArgsBytes {
			bad(fmt.Sprintf("personalizations.%d.custom_args", i), fmt.Sprintf("Custom args must be less than %d bytes.", MaxCustomArgsBytes), "")
		}
		errs = append(errs, checkHeaders(fmt.Sprintf("personalizations.%d.headers", i), p.Headers)...)
	}
	if recipients > MaxRecipients {
		bad("personalizations", fmt.Sprintf("There is a limit of %d total recipients (to + cc + bcc) per request.", MaxRecipients), "")
	}
	switch {
	case m.From == nil || m.From.Email == "":
		bad("from.email", "The from email does not contain a valid address.", "")
	case !validAddress(*m.From):
		bad("from.email", "The from email does not contain a valid address.", "")
	default:
		for _, r := range m.From.Email {
			if r > 127 {
				bad("from.email", "The from email does not contain a valid address.", "Unicode is not supported in the from address.")
				break
			}
		}
	}
	if m.ReplyTo != nil && len(m.ReplyToList) > 0 {
		bad("reply_to", "The reply_to and reply_to_list fields are mutually exclusive.", "")
	}
	if m.ReplyTo != nil && !validAddress(*m.ReplyTo) {
		bad("reply_to.email", "The reply_to email does not contain a valid address.", "")
	}
	if m.TemplateID == "" {
		if m.Subject == "" && !everySubject {
			bad("subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.", "")
		}
		if len(m.Content) == 0 {
			bad("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.", "")
		}
	} else if !strings.HasPrefix(m.TemplateID, "d-") {
		bad("template_id", "The template_id must be a valid dynamic template ID.", "")
	}
	for i, c := range m.Content {
		if c.Type == "" || c.Value == "" {
			bad(fmt.Sprintf("content.%d", i), "The content value must be a string at least one character in length.", "")
		}
		if i > 0 && c.Type == "text/plain" {
			bad("content", "If present, text/plain content must be first, followed by text/html and other types.", "")
		}
	}
	if len(m.Categories) > MaxCategories {
		bad("categories", fmt.Sprintf("You may not have more than %d categories per request.", MaxCategories), "")
	}
	for _, c := range m.Categories {
		if c == "" || len(c) > 255 {
			bad("categories", "A category must be 1 to 255 characters.", "")
		}
	}
	if len(slices.Compact(slices.Sorted(slices.Values(m.Categories)))) != len(m.Categories) {
		bad("categories", "Categories must be unique.", "")
	}
	if m.ASM != nil {
		if g, err := m.ASM.GroupID.Int64(); err != nil || g <= 0 {
			bad("asm.group_id", "The asm.group_id must be an integer greater than zero.", "")
		}
	}
	return append(errs, checkHeaders("headers", m.Headers)...)
}

func checkHeaders(where string, h map[string]string) []apiError {
	var errs []apiError
	for k, v := range h {
		if slices.Contains(reservedHeaders, strings.ToLower(k)) {
			errs = append(errs, apiError{Message: fmt.Sprintf("The header %s is reserved and cannot be set.", k), Field: field(where)})
		}
		if strings.ContainsAny(k+v, "\r\n") {
			errs = append(errs, apiError{Message: "Headers may not contain line breaks.", Field: field(where)})
		}
	}
	return errs
}

func (s *Server) readName(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Name *string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "name is required", Field: field("name")})
		return "", false
	}
	if n := utf8.RuneCountInString(*in.Name); n < 1 || n > MaxListName {
		writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("name must be 1 to %d characters", MaxListName), Field: field("name")})
		return "", false
	}
	return *in.Name, true
}

// nameTaken reports whether a list other than self has the name; callers hold s.mu.
func (s *Server) nameTaken(name, self string) bool {
	for id, l := range s.lists {
		if l.Name == name && id != self {
			return true
		}
	}
	return false
}

func (s *Server) createList(w http.ResponseWriter, r *http.Request) {
	name, ok := s.readName(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nameTaken(name, "") {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "a list with this name already exists", Field: field("name")})
		return
	}
	if len(s.lists) >= MaxLists {
		writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("you can create at most %d lists", MaxLists)})
		return
	}
	l := &List{ID: uuid.NewString(), Name: name}
	s.lists[l.ID] = l
	writeJSON(w, http.StatusCreated, s.listJSON(l))
}

func (s *Server) listJSON(l *List) map[string]any {
	return map[string]any{"id": l.ID, "name": l.Name, "contact_count": l.ContactCount,
		"_metadata": map[string]string{"self": s.URL + "/v3/marketing/lists/" + l.ID}}
}

func (s *Server) allLists(w http.ResponseWriter, r *http.Request) {
	size := 100
	if v := r.URL.Query().Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeErrors(w, http.StatusBadRequest, apiError{Message: "page_size must be 1 to 1000", Field: field("page_size")})
			return
		}
		size = n
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("page_token"))
	all := s.Lists()
	result := []map[string]any{}
	for i := start; i < len(all) && i < start+size; i++ {
		result = append(result, s.listJSON(&all[i]))
	}
	meta := map[string]any{"self": s.URL + r.URL.RequestURI(), "count": len(all)}
	if start+size < len(all) {
		meta["next"] = fmt.Sprintf("%s/v3/marketing/lists?page_size=%d&page_token=%d", s.URL, size, start+size)
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": result, "_metadata": meta})
}

func (s *Server) getList(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[id]
	if !ok {
		writeErrors(w, http.StatusNotFound, apiError{Message: "list ID does not exist", Field: field("id")})
		return
	}
	writeJSON(w, http.StatusOK, s.listJSON(l))
}

func (s *Server) updateList(w http.ResponseWriter, r *http.Request, id string) {
	name, ok := s.readName(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.lists[id]
	if !ok {
		writeErrors(w, http.StatusNotFound, apiError{Message: "list ID does not exist", Field: field("id")})
		return
	}
	if s.nameTaken(name, id) {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "a list with this name already exists", Field: field("name")})
		return
	}
	l.Name = name
	writeJSON(w, http.StatusOK, s.listJSON(l))
}

func (s *Server) deleteList(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.lists[id]; !ok {
		writeErrors(w, http.StatusNotFound, apiError{Message: "list ID does not exist", Field: field("id")})
		return
	}
	delete(s.lists, id)
	if r.URL.Query().Get("delete_contacts") == "true" {
		writeJSON(w, http.StatusOK, map[string]string{"job_id": uuid.NewString()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

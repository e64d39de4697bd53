// Package smaregitest is a local contract server for the Smaregi Platform API: the ID server's
// app-token endpoint and the POS coupon, member and transaction endpoints, in one
// httptest.Server, and Smaregi's transaction webhooks. It
// enforces the rules the API documents, so the smaregi provider is tested against them rather
// than against a mock that accepts anything:
//
//   - POST /app/{contract_id}/token takes Basic client credentials, a form body with
//     grant_type=client_credentials and known scopes, and issues bearer tokens that expire;
//   - every API path carries the contract ID, and a call needs an unexpired token of that
//     contract with the scope of the call (pos.coupons:read|write, pos.customers:read,
//     pos.transactions:read);
//   - coupons need couponName, serialNumber, awardType (1, 2, 3), awardValue and
//     applyConditionDivision (0, 1); amounts are whole yen, percentages above 0 and at most
//     100, dates YYYY-MM-DD with the start not after the end; a serial number is unique in a
//     contract;
//   - list calls take limit 1 to 1000 (default 100) and page from 1; a transaction list
//     needs a period (transaction_date_time, terminal_tran_date_time or upd_date_time,
//     [YYYY-MM-DDThh:mm:ssTZD]) of at most 31 days, and sorts by the fields the API names;
//   - a transaction's lines and coupons come with GET /pos/transactions/{id} on
//     with_details=all and with_coupons=all;
//   - a webhook, when set (SetWebhook), is told of every sale and edit as Smaregi tells an
//     app: event pos:transactions, the IDs in the body, the app's custom headers, 3 s to answer;
//   - errors are application/problem+json {type, title, detail, status, invalid-params};
//   - GET calls above ReadsPerSecond and other calls above WritesPerSecond in one second are
//     refused with 429 and Retry-After.
//
// Tests reach behind the API with SetField, Remove, AddSale, EditTransaction and
// ExpireTokens; calls fail, lose their
// answers or wait through the controls of package contracttest, which the server embeds.
package smaregitest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Options configure a Server; zero values take the defaults.
type Options struct {
	ContractID   string // default "smaregi-test"
	ClientID     string // default "client-test"
	ClientSecret string // default a random secret
	// TokenTTL is how long an issued token is valid (default 1 h, as the ID server's expires_in).
	TokenTTL time.Duration
	// Now is the server's clock (default time.Now): token expiry and rate windows follow it.
	Now func() time.Time
	// ReadsPerSecond and WritesPerSecond default to the production limits (50 GET, 20 other
	// calls per second); a negative value turns the limit off.
	ReadsPerSecond, WritesPerSecond int
	// Zone is the contract's time zone, for insDateTime and updDateTime (default Asia/Tokyo).
	Zone *time.Location
}

// Scopes the ID server knows.
var knownScopes = []string{"pos.coupons:read", "pos.coupons:write", "pos.customers:read", "pos.customers:write",
	"pos.products:read", "pos.products:write", "pos.stores:read", "pos.transactions:read"}

// Coupon is a stored coupon, field for field as the API has it.
type Coupon struct {
	CouponID               string `json:"couponId"`
	CouponName             string `json:"couponName"`
	CouponDivision         string `json:"couponDivision"`
	SerialNumber           string `json:"serialNumber"`
	Summary                string `json:"summary,omitempty"`
	AwardType              string `json:"awardType"`
	AwardValue             string `json:"awardValue"`
	ApplyConditionDivision string `json:"applyConditionDivision"`
	MinTargetPrice         string `json:"minTargetPrice,omitempty"`
	MaxTargetPrice         string `json:"maxTargetPrice,omitempty"`
	StartDate              string `json:"startDate,omitempty"`
	EndDate                string `json:"endDate,omitempty"`
	InsDateTime            string `json:"insDateTime"`
	UpdDateTime            string `json:"updDateTime"`
}

// Customer is a stored member; the fields are the API's.
type Customer map[string]any

type token struct {
	contract string
	scopes   []string
	expires  time.Time
}

// Server is a running contract server.
type Server struct {
	*httptest.Server
	*contracttest.Control
	opts Options

	mu        sync.Mutex
	coupons   map[string]*Coupon
	nextID    int
	customers []Customer
	tokens    map[string]token
	window    int64
	reads     int
	writes    int

	transactions  []*Transaction
	nextTxID      int
	webhookURL    string
	webhookHeader http.Header
}

// New starts a server; Close it when done.
func New(opts Options) *Server {
	if opts.ContractID == "" {
		opts.ContractID = "smaregi-test"
	}
	if opts.ClientID == "" {
		opts.ClientID = "client-test"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "secret-" + randomHex(16)
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadsPerSecond == 0 {
		opts.ReadsPerSecond = 50
	}
	if opts.WritesPerSecond == 0 {
		opts.WritesPerSecond = 20
	}
	if opts.Zone == nil {
		opts.Zone = time.FixedZone("JST", 9*3600)
	}
	s := &Server{opts: opts, coupons: map[string]*Coupon{}, tokens: map[string]token{},
		Control: contracttest.New(contracttest.Vendor{Ops: Ops, RetryAfter: time.Second, Fail: fault})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/{contract}/token", func(w http.ResponseWriter, r *http.Request) {
		contracttest.Serve(s.Control, w, r, "token", s.token)
	})
	mux.HandleFunc("GET /{contract}/pos/coupons", s.api("list", "pos.coupons:read", s.listCoupons))
	mux.HandleFunc("POST /{contract}/pos/coupons", s.api("create", "pos.coupons:write", s.createCoupon))
	mux.HandleFunc("GET /{contract}/pos/coupons/{id}", s.api("read", "pos.coupons:read", s.getCoupon))
	mux.HandleFunc("PATCH /{contract}/pos/coupons/{id}", s.api("update", "pos.coupons:write", s.updateCoupon))
	mux.HandleFunc("DELETE /{contract}/pos/coupons/{id}", s.api("delete", "pos.coupons:write", s.deleteCoupon))
	mux.HandleFunc("GET /{contract}/pos/customers", s.api("customers", "pos.customers:read", s.listCustomers))
	mux.HandleFunc("GET /{contract}/pos/transactions", s.api("transactions", "pos.transactions:read", s.listTransactions))
	mux.HandleFunc("GET /{contract}/pos/transactions/{id}", s.api("transaction", "pos.transactions:read", s.getTransaction))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, http.StatusNotFound, "Not Found", fmt.Sprintf("no API at %s %s", r.Method, r.URL.Path))
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// randomHex makes up tokens, secrets and IDs.
var randomHex = contracttest.RandomHex

// ContractID, ClientID and ClientSecret are the credentials the server accepts.
func (s *Server) ContractID() string   { return s.opts.ContractID }
func (s *Server) ClientID() string     { return s.opts.ClientID }
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// InvalidParam is one field of a problem's invalid-params list.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// byName orders invalid params by name.
func byName(a, b InvalidParam) int { return strings.Compare(a.Name, b.Name) }

func problem(w http.ResponseWriter, status int, title, detail string, params ...InvalidParam) {
	body := map[string]any{"type": "about:blank", "title": title, "detail": detail, "status": status}
	if len(params) > 0 {
		body["invalid-params"] = params
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Request-Id", "req-"+randomHex(6))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// fault answers an injected failure as a problem; a 429 or 503 carries Retry-After.
func fault(w http.ResponseWriter, status int, retryAfter time.Duration) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	}
	problem(w, status, http.StatusText(status), "injected fault")
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.PathValue("contract") != s.opts.ContractID {
		oauthErr(http.StatusUnauthorized, "invalid_client", "unknown contract")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication must use the Basic scheme")
		return
	}
	if user != s.opts.ClientID || pass != s.opts.ClientSecret {
		oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		oauthErr(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not client_credentials", gt))
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		oauthErr(http.StatusBadRequest, "invalid_scope", "scope is required")
		return
	}
	for _, sc := range scopes {
		if !slices.Contains(knownScopes, sc) {
			oauthErr(http.StatusBadRequest, "invalid_scope", fmt.Sprintf("unknown scope %q", sc))
			return
		}
	}
	tok := randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = token{contract: s.opts.ContractID, scopes: scopes, expires: s.opts.Now().Add(s.opts.TokenTTL)}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int64(s.opts.TokenTTL / time.Second), "scope": strings.Join(scopes, " ")})
}

// api wraps an API handler with the checks every call goes through: token, contract, scope,
// rate limit, injected faults.
func (s *Server) api(op, scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		now := s.opts.Now()
		s.mu.Lock()
		tok, known := s.tokens[bearer]
		s.mu.Unlock()
		switch {
		case !ok || !known:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			problem(w, http.StatusUnauthorized, "Unauthorized", "a valid access token is required")
			return
		case !now.Before(tok.expires):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			problem(w, http.StatusUnauthorized, "Unauthorized", "the access token has expired")
			return
		case r.PathValue("contract") != tok.contract:
			problem(w, http.StatusUnauthorized, "Unauthorized", "the access token is not valid for contract "+r.PathValue("contract"))
			return
		case !slices.Contains(tok.scopes, scope):
			problem(w, http.StatusForbidden, "Forbidden", "the access token lacks the scope "+scope)
			return
		}
		if wait := s.throttle(r.Method, now); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
			problem(w, http.StatusTooManyRequests, "Too Many Requests", "the request limit per second was exceeded")
			return
		}
		contracttest.Serve(s.Control, w, r, op, h)
	}
}

// throttle counts a call against this second's limits and returns the seconds to wait when it
// is over them.
func (s *Server) throttle(method string, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := now.Unix(); sec != s.window {
		s.window, s.reads, s.writes = sec, 0, 0
	}
	if method == http.MethodGet {
		if s.opts.ReadsPerSecond > 0 && s.reads >= s.opts.ReadsPerSecond {
			return 1
		}
		s.reads++
		return 0
	}
	if s.opts.WritesPerSecond > 0 && s.writes >= s.opts.WritesPerSecond {
		return 1
	}
	s.writes++
	return 0
}

// paging reads limit and page; it answers a 400 and returns ok=false when they are out of range.
func paging(w http.ResponseWriter, r *http.Request) (limit, page int, ok bool) {
	limit, page = 100, 1
	var params []InvalidParam
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			params = append(params, InvalidParam{"limit", "must be an integer from 1 to 1000"})
		}
		limit = n
	}
	if v := r.URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			params = append(params, InvalidParam{"page", "must be an integer from 1"})
		}
		page = n
	}
	if len(params) > 0 {
		problem(w, http.StatusBadRequest, "Bad Request", "the query is invalid", params...)
		return 0, 0, false
	}
	return limit, page, true
}

func pageOf[T any](items []T, limit, page int) []T {
	from := (page - 1) * limit
	if from >= len(items) {
		return []T{}
	}
	return items[from:min(from+limit, len(items))]
}

func (s *Server) listCoupons(w http.ResponseWriter, r *http.Request) {
	limit, page, ok := paging(w, r)
	if !ok {
		return
	}
	writeJSON(w, pageOf(s.Coupons(), limit, page))
}

func (s *Server) getCoupon(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.coupons[r.PathValue("id")]
	var cp Coupon
	if ok {
		cp = *c
	}
	s.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, "Not Found", "指定されたクーポンIDのリソースが見つかりません。")
		return
	}
	writeJSON(w, cp)
}

// couponFields are the fields a request may set, and whether they are required.
var couponFields = map[string]bool{
	"couponName": true, "couponDivision": false, "serialNumber": true, "summary": false, "awardType": true,
	"awardValue": true, "applyConditionDivision": true, "minTargetPrice": false, "maxTargetPrice": false,
	"startDate": false, "endDate": false,
}

// decodeFields reads a JSON object of string fields (null for a PATCH that clears one).
func decodeFields(w http.ResponseWriter, r *http.Request) (map[string]*string, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problem(w, http.StatusBadRequest, "Bad Request", "the body must be application/json")
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", err.Error())
		return nil, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		problem(w, http.StatusBadRequest, "Bad Request", "the body is not a JSON object: "+err.Error())
		return nil, false
	}
	out := map[string]*string{}
	var params []InvalidParam
	for k, v := range raw {
		if _, known := couponFields[k]; !known {
			params = append(params, InvalidParam{k, "is not a field of a coupon"})
			continue
		}
		if string(v) == "null" {
			out[k] = nil
			continue
		}
		var sv string
		if json.Unmarshal(v, &sv) != nil {
			params = append(params, InvalidParam{k, "must be a string"})
			continue
		}
		out[k] = &sv
	}
	if len(params) > 0 {
		slices.SortFunc(params, byName)
		problem(w, http.StatusBadRequest, "Bad Request", "the request body is invalid", params...)
		return nil, false
	}
	return out, true
}

// set copies request fields onto a coupon; nil clears.
func (c *Coupon) set(fields map[string]*string) {
	for k, v := range fields {
		val := ""
		if v != nil {
			val = *v
		}
		*c.field(k) = val
	}
}

func (c *Coupon) field(name string) *string {
	switch name {
	case "couponName":
		return &c.CouponName
	case "couponDivision":
		return &c.CouponDivision
	case "serialNumber":
		return &c.SerialNumber
	case "summary":
		return &c.Summary
	case "awardType":
		return &c.AwardType
	case "awardValue":
		return &c.AwardValue
	case "applyConditionDivision":
		return &c.ApplyConditionDivision
	case "minTargetPrice":
		return &c.MinTargetPrice
	case "maxTargetPrice":
		return &c.MaxTargetPrice
	case "startDate":
		return &c.StartDate
	case "endDate":
		return &c.EndDate
	}
	return nil
}

var (
	wholeRE   = regexp.MustCompile(`^[0-9]{1,10}$`)
	decimalRE = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,2})?$`)
	dateRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// validate checks a coupon as the API would store it; selfID is the coupon being changed.
func (s *Server) validate(c *Coupon, selfID string) []InvalidParam {
	var params []InvalidParam
	bad := func(name, reason string) { params = append(params, InvalidParam{name, reason}) }
	for name, required := range couponFields {
		if required && *c.field(name) == "" {
			bad(name, "is required")
		}
	}
	if !slices.Contains([]string{"", "0", "1"}, c.CouponDivision) {
		bad("couponDivision", "must be 0 (normal) or 1 (giftee)")
	}
	if !slices.Contains([]string{"", "0", "1"}, c.ApplyConditionDivision) {
		bad("applyConditionDivision", "must be 0 (always) or 1 (with a target product)")
	}
	switch c.AwardType {
	case "", "3":
	case "1":
		if c.AwardValue != "" && (!wholeRE.MatchString(c.AwardValue) || c.AwardValue == "0") {
			bad("awardValue", "a fixed discount is a whole number of yen above 0")
		}
	case "2":
		f, err := strconv.ParseFloat(c.AwardValue, 64)
		if c.AwardValue != "" && (!decimalRE.MatchString(c.AwardValue) || err != nil || f <= 0 || f > 100) {
			bad("awardValue", "a percentage discount is above 0 and at most 100")
		}
	default:
		bad("awardType", "must be 1 (fixed amount), 2 (percentage) or 3 (product)")
	}
	for _, name := range []string{"minTargetPrice", "maxTargetPrice"} {
		if v := *c.field(name); v != "" && !wholeRE.MatchString(v) {
			bad(name, "must be a whole number of yen")
		}
	}
	if c.MinTargetPrice != "" && c.MaxTargetPrice != "" {
		lo, _ := strconv.Atoi(c.MinTargetPrice)
		hi, _ := strconv.Atoi(c.MaxTargetPrice)
		if lo > hi {
			bad("maxTargetPrice", "must not be below minTargetPrice")
		}
	}
	dates := 0
	for _, name := range []string{"startDate", "endDate"} {
		v := *c.field(name)
		if v == "" {
			continue
		}
		if _, err := time.Parse("2006-01-02", v); !dateRE.MatchString(v) || err != nil {
			bad(name, "must be a date [YYYY-MM-DD]")
			continue
		}
		dates++
	}
	if dates == 2 && c.EndDate < c.StartDate {
		bad("endDate", "must not be before startDate")
	}
	if c.SerialNumber != "" {
		for id, other := range s.coupons {
			if id != selfID && other.SerialNumber == c.SerialNumber {
				bad("serialNumber", "is already used by coupon "+id)
			}
		}
	}
	slices.SortFunc(params, byName)
	return params
}

func (s *Server) stamp() string {
	return s.opts.Now().In(s.opts.Zone).Format("2006-01-02T15:04:05-07:00")
}

func (s *Server) createCoupon(w http.ResponseWriter, r *http.Request) {
	fields, ok := decodeFields(w, r)
	if !ok {
		return
	}
	c := &Coupon{}
	c.set(fields)
	if c.CouponDivision == "" {
		c.CouponDivision = "0"
	}
	s.mu.Lock()
	if params := s.validate(c, ""); len(params) > 0 {
		s.mu.Unlock()
		problem(w, http.StatusBadRequest, "Bad Request", "入力内容に誤りがあります", params...)
		return
	}
	s.nextID++
	c.CouponID = strconv.Itoa(s.nextID)
	c.InsDateTime, c.UpdDateTime = s.stamp(), s.stamp()
	s.coupons[c.CouponID] = c
	out := *c
	s.mu.Unlock()
	writeJSON(w, out)
}

func (s *Server) updateCoupon(w http.ResponseWriter, r *http.Request) {
	fields, ok := decodeFields(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	cur, found := s.coupons[id]
	if !found {
		s.mu.Unlock()
		problem(w, http.StatusNotFound, "Not Found", "指定されたクーポンIDのリソースが見つかりません。")
		return
	}
	next := *cur
	next.set(fields)
	if params := s.validate(&next, id); len(params) > 0 {
		s.mu.Unlock()
		problem(w, http.StatusBadRequest, "Bad Request", "入力内容に誤りがあります", params...)
		return
	}
	next.UpdDateTime = s.stamp()
	*cur = next
	s.mu.Unlock()
	writeJSON(w, next)
}

func (s *Server) deleteCoupon(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	_, found := s.coupons[id]
	delete(s.coupons, id)
	s.mu.Unlock()
	if !found {
		problem(w, http.StatusNotFound, "Not Found", "指定されたクーポンIDのリソースが見つかりません。")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) {
	limit, page, ok := paging(w, r)
	if !ok {
		return
	}
	code := r.URL.Query().Get("customer_code")
	s.mu.Lock()
	var list []Customer
	for _, c := range s.customers {
		if code == "" || c["customerCode"] == code {
			list = append(list, c)
		}
	}
	s.mu.Unlock()
	writeJSON(w, pageOf(list, limit, page))
}

// Coupons returns the stored coupons, by ID.
func (s *Server) Coupons() []Coupon {
	s.mu.Lock()
	defer s.mu.Unlock()
	return contracttest.Snapshot(s.coupons, func(a, b *Coupon) int {
		x, _ := strconv.Atoi(a.CouponID)
		y, _ := strconv.Atoi(b.CouponID)
		return x - y
	})
}

// Find returns the coupon with an ID or serial number.
func (s *Server) Find(idOrSerial string) (Coupon, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.coupons[idOrSerial]; ok {
		return *c, true
	}
	for _, c := range s.coupons {
		if c.SerialNumber == idOrSerial {
			return *c, true
		}
	}
	return Coupon{}, false
}

// SetField changes one field of a coupon (by ID or serial number) behind the API, as an edit
// in the Smaregi admin would.
func (s *Server) SetField(idOrSerial, field, value string) error {
	c, ok := s.Find(idOrSerial)
	if !ok {
		return fmt.Errorf("no coupon %s", idOrSerial)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.coupons[c.CouponID]
	p := cur.field(field)
	if p == nil {
		return fmt.Errorf("a coupon has no field %q", field)
	}
	*p = value
	cur.UpdDateTime = s.stamp()
	return nil
}

// Remove deletes a coupon (by ID or serial number) behind the API.
func (s *Server) Remove(idOrSerial string) error {
	c, ok := s.Find(idOrSerial)
	if !ok {
		return fmt.Errorf("no coupon %s", idOrSerial)
	}
	s.mu.Lock()
	delete(s.coupons, c.CouponID)
	s.mu.Unlock()
	return nil
}

// AddCoupon stores a coupon as the Smaregi admin would register it, under the API's rules.
func (s *Server) AddCoupon(c Coupon) (Coupon, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.CouponDivision == "" {
		c.CouponDivision = "0"
	}
	if params := s.validate(&c, ""); len(params) > 0 {
		return Coupon{}, fmt.Errorf("invalid coupon: %+v", params)
	}
	s.nextID++
	c.CouponID = strconv.Itoa(s.nextID)
	c.InsDateTime, c.UpdDateTime = s.stamp(), s.stamp()
	s.coupons[c.CouponID] = &c
	return c, nil
}

// AddCustomers stores members, as the register or the admin would register them; a member
// without a customerId gets the next one.
func (s *Server) AddCustomers(cs ...Customer) {
	s.mu.Lock()
	for _, c := range cs {
		if _, ok := c["customerId"]; !ok {
			c["customerId"] = strconv.Itoa(len(s.customers) + 1)
		}
		s.customers = append(s.customers, c)
	}
	s.mu.Unlock()
}

// Ops are the calls faults target.
var Ops = []string{"token", "list", "create", "read", "update", "delete", "customers", "transactions", "transaction"}

// ExpireTokens makes every issued token expire now.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for k, t := range s.tokens {
		t.expires = s.opts.Now()
		s.tokens[k] = t
	}
	s.mu.Unlock()
}

// BasicAuth is the Authorization header value of the server's credentials, for tests that
// check it never leaks.
func (s *Server) BasicAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s.opts.ClientID+":"+s.opts.ClientSecret))
}

// IssuedTokens returns every access token the server issued, for tests that check none leaks.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

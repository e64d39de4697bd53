// Package webhook is the built-in provider that delivers Musubi's messages to any HTTPS
// endpoint as signed JSON, for systems that have no provider of their own: an in-house app's
// push service, a CRM, a call-centre queue, a store's tablet.
//
// It is a pure Sender: it manages no resources (its Schema declares no kinds), because the
// receiving system's templates and lists are its own business and the engine renders every
// message from the rule bundle before calling Send. Each message is one POST:
//
//	POST <url>
//	Content-Type: application/json
//	Idempotency-Key: <the send's idempotency key>
//	X-Musubi-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>", keyed by the secret>
//
//	{"id": KEY, "name": "trigger.cart_nudge", "customer": UNI-ID, "to": ADDRESS,
//	 "subject": "", "text": "...", "sent_at": "2027-03-01T09:00:00Z"}
//
// A 2xx answer is delivered; 409 means the receiver has the key already, which counts as a
// delivery (Duplicate). 429 and 5xx, and requests that got no answer, are retried a few
// times honouring Retry-After, each attempt signed afresh at its own time: a receiver must
// treat a repeated id as the same message. The signature covers its time and the body, no
// header, so the key a receiver goes by is the payload's id, never the Idempotency-Key
// header alone. A Receiver checks a delivery that way, refusing old and replayed signatures.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/signature"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "webhook",
		Description: "signed JSON messages posted to any HTTPS endpoint",
		New:         func() providers.Provider { return &Provider{} },
	})
}

var (
	_ providers.Provider = (*Provider)(nil)
	_ providers.Sender   = (*Provider)(nil)
)

// minSecret is the shortest signing secret accepted: HMAC-SHA256 keys shorter than this are
// guessable.
const minSecret = 16

// Retries of a delivery that failed with 429, 5xx or no answer.
const (
	maxAttempts  = 3
	maxRetryWait = 30 * time.Second // longer waits are left to the caller, with RetryAfter
)

// headers Musubi sets itself, which the configuration may not override.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "Idempotency-Key", signature.MusubiHeader, "Transfer-Encoding"}

var identifierRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var configSchema = []providers.ConfigAttribute{
	{Name: "url", Type: providers.String, Required: true, Description: "endpoint messages are posted to"},
	{Name: "secret", Type: providers.String, Required: true, Sensitive: true, Description: "key of the X-Musubi-Signature HMAC, at least 16 characters"},
	{Name: "address", Type: providers.String, Required: true, Description: "identifier type the receiving system knows customers by (member, email, ec_id…): it becomes the payload's \"to\""},
	{Name: "consent", Type: providers.String, Description: "consent channel a customer must have granted (email, sms, push…); empty for none"},
	{Name: "headers", Type: providers.StringMap, Description: "extra request headers, such as an Authorization the receiver expects"},
}

// Provider is one configured webhook endpoint.
type Provider struct {
	name    string
	url     string
	secret  string
	address string
	consent string
	headers http.Header

	// HTTPClient posts the messages; nil uses a client with a 30 s timeout.
	HTTPClient *http.Client
	// Sleep waits between retries; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now stamps sent_at and reads Retry-After dates; tests replace it.
	Now func() time.Time
}

// Schema describes the provider block. The provider manages no resources.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{Config: configSchema, Kinds: map[providers.Kind]providers.KindSupport{}}
}

// Configure checks the block. It connects to nothing.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Invalid webhook provider configuration", format, args...))
	}
	str := func(name string) string {
		return strings.TrimSpace(req.String(name, "Invalid webhook provider configuration", &ds))
	}
	show := func(name, v string) string {
		if req.Sensitive[name] {
			return "the value from the environment"
		}
		return strconv.Quote(v)
	}

	raw, secret, address, consent := str("url"), str("secret"), str("address"), str("consent")
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		bad("url", "a webhook provider needs the url messages are posted to")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		bad("url", "url must be an absolute https URL, not %s", show("url", raw))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		ds = append(ds, providers.Diagnostic{Severity: providers.Warning, Attribute: "url", Summary: "Messages sent without TLS",
			Detail: "url is plain http: customer identifiers and message texts cross the network readable by anyone on the way; use https"})
	}
	if len(secret) < minSecret {
		bad("secret", "secret must be at least %d characters, so the signature cannot be guessed", minSecret)
	}
	if !identifierRE.MatchString(address) {
		bad("address", "address must name an identifier type such as member or email (lower-case letters, digits, _), not %s", show("address", address))
	}
	if consent != "" && !identifierRE.MatchString(consent) {
		bad("consent", "consent must name a consent channel such as email or push, not %s", show("consent", consent))
	}
	headers := http.Header{}
	switch hs := req.Config["headers"].(type) {
	case nil:
	case map[string]any:
		for k, v := range hs {
			s, ok := v.(string)
			switch {
			case !ok:
				bad("headers", "header %s must be a string, not %T", k, v)
			case !validHeaderName(k):
				bad("headers", "%q is not a valid header name", k)
			case slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, k) }):
				bad("headers", "Musubi sets %s itself", textproto.CanonicalMIMEHeaderKey(k))
			case strings.ContainsAny(s, "\r\n\x00"):
				bad("headers", "the value of header %s contains a line break", k)
			default:
				headers.Set(k, s)
			}
		}
	default:
		bad("headers", "headers must be a map of strings, not %T", hs)
	}
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	providers.DefaultClock(&p.Now, &p.Sleep)
	if p.HTTPClient == nil {
		p.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	p.name, p.url, p.secret, p.address, p.consent, p.headers = req.Name, u.String(), secret, address, consent, headers
	return providers.ConfigureResponse{Diagnostics: ds}
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Messaging says how customers are addressed: by the configured identifier type, gated by
// the configured consent channel, if any.
func (p *Provider) Messaging() providers.MessagingSupport {
	return providers.MessagingSupport{Address: p.address, Consent: p.consent}
}

// Payload is the JSON body of a delivery.
type Payload struct {
	// ID is the send's idempotency key, also sent as Idempotency-Key.
	ID string `json:"id"`
	// Name says what sent it: trigger.cart_nudge, campaign.spring.
	Name string `json:"name"`
	// Customer is the unified customer ID.
	Customer string `json:"customer"`
	// To is the customer's identifier of the configured address type.
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	// SentAt is when Musubi first posted this body, RFC 3339.
	SentAt string `json:"sent_at"`
}

// DefaultTolerance is how far from a receiver's clock a signature's time may be, unless its
// Receiver says otherwise.
const DefaultTolerance = signature.MusubiTolerance

// ErrReplayed is returned for a signed request a Receiver has accepted already.
var ErrReplayed = errors.New("the request was accepted already: a replay")

// Receiver checks deliveries as their receiver must before acting on one: the signature of
// the body and its time, within Tolerance of the receiver's clock; the payload; an
// Idempotency-Key header, when present, equal to the payload's id; and, with a Memory, that
// the same signed request was not accepted before.
//
// Musubi signs every attempt afresh, so a retry of a message is a new signed request with the
// same payload id: the receiver deduplicates messages by that id. The Memory only refuses a
// request posted again as it was, by someone who recorded it.
type Receiver struct {
	// Secret is the webhook provider's secret.
	Secret string
	// Tolerance bounds the age of a signature, either way; 0 is DefaultTolerance.
	Tolerance time.Duration
	// Memory remembers the signed requests accepted within the tolerance; nil remembers
	// none, and a request posted again within the tolerance then passes.
	Memory Memory
	// Now reads the clock; nil is time.Now.
	Now func() time.Time
}

// NewReceiver returns a Receiver with the default tolerance and a Memory in this process.
func NewReceiver(secret string) *Receiver {
	return &Receiver{Secret: secret, Memory: NewMemory()}
}

// Verify checks a delivery and returns its payload. Errors are signature.ErrMissing,
// signature.ErrMismatch, signature.ErrStale, ErrReplayed, or say what is wrong with the
// payload.
func (r *Receiver) Verify(header http.Header, body []byte) (Payload, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	tolerance := r.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	at, err := signature.VerifyMusubi(r.Secret, body, header.Get(signature.MusubiHeader), now, tolerance)
	if err != nil {
		return Payload{}, err
	}
	var pl Payload
	if err := json.Unmarshal(body, &pl); err != nil {
		return Payload{}, fmt.Errorf("the body is not a Musubi webhook payload: %v", err)
	}
	if pl.ID == "" {
		return Payload{}, errors.New("the payload has no id")
	}
	if k := header.Get("Idempotency-Key"); k != "" && k != pl.ID {
		return Payload{}, fmt.Errorf("Idempotency-Key %q is not the signed payload's id %q", k, pl.ID)
	}
	// Keyed by what is signed, not by the header: extra v1 values would make a new header.
	key := fmt.Sprintf("%d.%x", at.Unix(), sha256.Sum256(body))
	if r.Memory != nil && !r.Memory.Remember(key, now, at.Add(tolerance)) {
		return Payload{}, fmt.Errorf("%w: message %s signed at %s", ErrReplayed, pl.ID, at.UTC().Format(time.RFC3339))
	}
	return pl, nil
}

// Verify checks a delivery with the default tolerance and no memory of the requests accepted:
// a Receiver from NewReceiver also refuses a request posted again.
func Verify(secret string, header http.Header, body []byte) (Payload, error) {
	return (&Receiver{Secret: secret}).Verify(header, body)
}

// Memory remembers the signed requests a Receiver accepted. A receiver run as several
// processes shares one, such as a Redis SET with NX and an expiry of until - now.
type Memory interface {
	// Remember records key until the time until, and reports false when it holds key already.
	// now is the receiver's clock.
	Remember(key string, now, until time.Time) bool
}

// NewMemory returns a Memory in this process. It forgets a key once its time is over, when the
// signature is too old to pass anyway, so it holds the requests of one tolerance at most.
func NewMemory() Memory {
	return &memory{keys: map[string]time.Time{}, sweepAt: minSweep}
}

// minSweep is how many keys a memory holds before it first forgets the expired ones.
const minSweep = 1024

type memory struct {
	mu      sync.Mutex
	keys    map[string]time.Time
	sweepAt int
}

func (m *memory) Remember(key string, now, until time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if exp, ok := m.keys[key]; ok && now.Before(exp) {
		return false
	}
	m.keys[key] = until
	if len(m.keys) >= m.sweepAt {
		// Sweeping when the map has doubled keeps the cost per key constant.
		for k, exp := range m.keys {
			if !now.Before(exp) {
				delete(m.keys, k)
			}
		}
		m.sweepAt = max(2*len(m.keys), minSweep)
	}
	return true
}

// Send posts one message. The body and its Idempotency-Key stay the same through the retries
// of one call; the signature is made for each.
func (p *Provider) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	if p.url == "" {
		return providers.SendResponse{Diagnostics: providers.Errorf("Webhook provider not configured", "Configure was not called, or failed")}
	}
	if req.To == "" {
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", &providers.APIError{Code: providers.ErrInvalid,
			Message: "the message has no recipient"})}
	}
	body, err := json.Marshal(Payload{ID: req.IdempotencyKey, Name: req.Name, Customer: req.Customer, To: req.To,
		Subject: req.Subject, Text: req.Text, SentAt: p.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", err)}
	}
	var res providers.SendResponse
	var last int64
	retry := providers.Retry{Attempts: maxAttempts, Backoff: time.Second, MaxWait: maxRetryWait, Sleep: p.Sleep}
	err = retry.Do(ctx, func(int) error {
		// Each attempt is signed at its own time, a second after the last at least, so a
		// receiver that refuses a signature it has seen still takes a retry.
		t := max(p.Now().Unix(), last+1)
		last = t
		var err error
		res, err = p.post(ctx, body, signature.SignMusubi(p.secret, time.Unix(t, 0), body), req.IdempotencyKey)
		return err
	}, nil)
	if err != nil {
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", err)}
	}
	return res
}

// post makes one delivery attempt.
func (p *Provider) post(ctx context.Context, body []byte, sig, key string) (providers.SendResponse, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return providers.SendResponse{}, err
	}
	for k, v := range p.headers {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", "musubi-webhook")
	hreq.Header.Set(signature.MusubiHeader, sig)
	if key != "" {
		hreq.Header.Set("Idempotency-Key", key)
	}
	resp, err := p.HTTPClient.Do(hreq)
	if err != nil {
		// The URL is in the provider's name already; its query may hold a token.
		return providers.SendResponse{}, &providers.APIError{Code: providers.ErrUnavailable,
			Message: fmt.Sprintf("posting to %s: %v", p.name, providers.TransportCause(err))}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return providers.SendResponse{ID: responseID(answer, key)}, nil
	case s == http.StatusConflict:
		return providers.SendResponse{ID: responseID(answer, key), Duplicate: true}, nil
	}
	return providers.SendResponse{}, p.apiError(resp, answer)
}

// responseID is the "id" a receiver answered with, or the idempotency key.
func responseID(answer []byte, key string) string {
	var r struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(answer, &r) == nil {
		switch id := r.ID.(type) {
		case string:
			if id != "" {
				return id
			}
		case float64:
			return strconv.FormatFloat(id, 'f', -1, 64)
		}
	}
	return key
}

func (p *Provider) apiError(resp *http.Response, answer []byte) *providers.APIError {
	ae := &providers.APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	msg := strings.Join(strings.Fields(string(answer)), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	ae.Message = p.name + " answered: " + msg
	ae.Code = providers.StatusCode(resp.StatusCode)
	switch {
	case resp.StatusCode == http.StatusGone:
		ae.Code = providers.ErrNotFound
	case ae.Code == providers.ErrRateLimited || ae.Code == providers.ErrUnavailable:
		ae.RetryAfter = providers.ParseRetryAfter(resp.Header.Get("Retry-After"), p.Now())
	}
	return ae
}

// The webhook provider manages no resources: the planner never asks it to, since its Schema
// declares no kinds. These answer anyone who asks anyway.

func noResources(k providers.Kind) providers.Diagnostics {
	return providers.Errorf("Webhook providers manage no resources",
		"a webhook provider only delivers messages; it keeps no %s", k)
}

// Validate refuses every resource.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: noResources(req.Kind)}
}

// Plan refuses every resource.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	return providers.PlanResponse{Diagnostics: noResources(req.Kind)}
}

// Create refuses every resource.
func (p *Provider) Create(_ context.Context, req providers.CreateRequest) providers.CreateResponse {
	return providers.CreateResponse{Diagnostics: noResources(req.Kind)}
}

// Read finds nothing: there is nothing to find.
func (p *Provider) Read(context.Context, providers.ReadRequest) providers.ReadResponse {
	return providers.ReadResponse{}
}

// Update refuses every resource.
func (p *Provider) Update(_ context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	return providers.UpdateResponse{Diagnostics: noResources(req.Kind)}
}

// Delete succeeds: nothing is there.
func (p *Provider) Delete(context.Context, providers.DeleteRequest) providers.DeleteResponse {
	return providers.DeleteResponse{}
}

// Import refuses every resource.
func (p *Provider) Import(_ context.Context, req providers.ImportRequest) providers.ImportResponse {
	return providers.ImportResponse{Diagnostics: noResources(req.Kind)}
}

// Close releases idle connections.
func (p *Provider) Close() error {
	if p.HTTPClient != nil {
		p.HTTPClient.CloseIdleConnections()
	}
	return nil
}

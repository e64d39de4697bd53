// Package wechat is the built-in `wechat` provider: a WeChat Official Account (公众号),
// through a small typed client of its HTTP API (WeChat publishes no Go SDK).
//
// What each kind lands as:
//
//   - audience: a user tag (POST /cgi-bin/tags/create). A tag keeps only its name, of at most
//     30 bytes, so the segment and the create that made the tag are kept in the provider's
//     ledger; tag names are unique in an account, which is how a create whose answer was
//     lost finds its tag. SyncMembers tags the followers entering a segment and untags
//     those leaving it, in the tag the ledger names for the segment, 50 openids a call.
//   - message: a template message. The template itself (its title and {{key.DATA}} fields) is
//     chosen from WeChat's template library in the console and has a template_id; Musubi's
//     message says which template and what goes in each field, as lines of "key: value"
//     (template_id first, then an optional url, then the fields). Create and Update check
//     the template is in the account and has the fields; the message lives in Musubi's state.
//   - subscription: not managed. The callback URL is set in the WeChat console, not by API.
//   - coupon: not managed (WeChat's card coupons are a separate product).
//
// Send posts one template message to one follower. WeChat takes no idempotency key beyond a
// client_msg_id it remembers for ten minutes, so the provider keeps a send ledger: a retried
// send with the same key is reported as a duplicate and not sent again.
//
// ReceiveWebhook checks WeChat's server callbacks (the SHA-1 signature over the token,
// timestamp and nonce, within a replay window; in safe mode the msg_signature and the AES
// envelope) and turns subscribe, unsubscribe and SCAN events into follow, unfollow and
// store.visit.
//
// Errors come as {"errcode", "errmsg"} with HTTP 200; they are classified by errcode. An
// access token WeChat refuses (40001, 42001) is renewed once and the call made again.
package wechat

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "wechat",
		Description: "a WeChat Official Account: user tags, template messages, its server callbacks",
		New:         func() providers.Provider { return New() },
	})
}

// Interface guards: a broken contract is a compile error.
var (
	_ providers.Provider        = (*Provider)(nil)
	_ providers.Sender          = (*Provider)(nil)
	_ providers.WebhookReceiver = (*Provider)(nil)
	_ providers.WebhookVerifier = (*Provider)(nil)
	_ providers.MemberSyncer    = (*Provider)(nil)
)

// Provider is one configured Official Account. Its methods are safe for concurrent use after
// Configure.
type Provider struct {
	name   string
	cfg    config
	http   *http.Client
	retry  providers.Retry
	now    func() time.Time
	tokens *tokens
	ledger *ledger
	seen   *nonces

	mu       sync.Mutex
	messages map[string]stored // message mappings written by this process, by ID
}

// New returns an unconfigured provider.
func New() *Provider {
	return &Provider{
		http:     &http.Client{Timeout: 30 * time.Second},
		retry:    retries,
		now:      time.Now,
		tokens:   newTokens(),
		seen:     newNonces(),
		messages: map[string]stored{},
	}
}

var kinds = map[providers.Kind]providers.KindSupport{
	providers.KindAudience: {Attributes: []string{"segment", "description"},
		Description: "a user tag of the account; its followers are tagged by the engine"},
	providers.KindMessage: {Attributes: []string{"name", "template", "variants", "audience"},
		Description: "a template message: a template of the account and the values of its fields, kept in Musubi's state"},
}

// Schema describes the provider block and the kinds an Official Account manages. It has no
// subscription: WeChat's callback URL is set in the console, not by API.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{Config: configSchema, Kinds: kinds}
}

// Configure reads the provider block and opens the ledger. It calls nothing: plans work
// offline, and the first call gets a token.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	cfg, ds := parseConfig(req)
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	l, err := openLedger(cfg.ledger, cfg.appID, p.now)
	if err != nil {
		return providers.ConfigureResponse{Diagnostics: append(ds, providers.AttributeError("ledger", "Cannot open the WeChat ledger",
			"%s: %v", req.Show("ledger", cfg.ledger), err))}
	}
	p.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.cfg, p.ledger, p.tokens = req.Name, cfg, l, newTokens()
	return providers.ConfigureResponse{Diagnostics: ds}
}

// Close releases the ledger and idle connections.
func (p *Provider) Close() error {
	p.http.CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ledger == nil {
		return nil
	}
	err := p.ledger.close()
	p.ledger = nil
	return err
}

// kind is what the provider does with the objects of one kind.
type kind interface {
	// check applies WeChat's limits without calling WeChat.
	check(a providers.Attrs) providers.Diagnostics
	// plan fills in what WeChat will hold.
	plan(a providers.Attrs) providers.Attrs
	create(ctx context.Context, a providers.Attrs, key string) (string, providers.Attrs, error)
	read(ctx context.Context, id, key string, prior providers.Attrs) (providers.ReadResponse, error)
	update(ctx context.Context, id string, planned providers.Attrs) (providers.Attrs, error)
	remove(ctx context.Context, id string) error
}

// tagKind is the audience kind: user tags.
type tagKind struct{ *Provider }

// messageKind is the message kind: template messages.
type messageKind struct{ *Provider }

func (p *Provider) kind(k providers.Kind) (kind, providers.Diagnostics) {
	if p.ledger == nil {
		return nil, providers.Errorf("WeChat provider not configured", "Configure was not called, or failed")
	}
	switch k {
	case providers.KindAudience:
		return tagKind{p}, nil
	case providers.KindMessage:
		return messageKind{p}, nil
	}
	return nil, providers.Errorf("Unsupported kind", "a WeChat Official Account manages audience and message, not %s", k)
}

// failed words the error of a call on a kind.
func failed(verb string, k providers.Kind, err error) providers.Diagnostics {
	return providers.FromError(fmt.Sprintf("Cannot %s the WeChat %s", verb, k), err)
}

// Validate checks a desired resource against WeChat's limits without calling WeChat.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	k, ds := p.kind(req.Kind)
	if ds != nil {
		return providers.ValidateResponse{Diagnostics: ds}
	}
	for _, name := range slices.Sorted(maps.Keys(req.Attributes)) {
		if !slices.Contains(kinds[req.Kind].Attributes, name) && !providers.IsZero(req.Attributes[name]) {
			ds = append(ds, providers.AttributeError(name, "Not expressible on WeChat", "a WeChat %s has no %s", req.Kind, name))
		}
	}
	return providers.ValidateResponse{Diagnostics: append(ds, k.check(req.Attributes)...)}
}

// Plan fills in what WeChat will hold: a tag is named after its segment when it has no
// description.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	k, ds := p.kind(req.Kind)
	if ds != nil {
		return providers.PlanResponse{Diagnostics: ds}
	}
	return providers.PlanResponse{Planned: k.plan(req.Proposed)}
}

// Create makes a resource; a retry with the same idempotency key finds the first one.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	k, ds := p.kind(req.Kind)
	if ds != nil {
		return providers.CreateResponse{Diagnostics: ds}
	}
	id, attrs, err := k.create(ctx, req.Attributes, req.IdempotencyKey)
	return providers.CreateResponse{ID: id, Attributes: attrs, Diagnostics: failed("create", req.Kind, err)}
}

// Read returns a resource's live attributes, by ID or by the create's idempotency key.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	k, ds := p.kind(req.Kind)
	if ds != nil {
		return providers.ReadResponse{Diagnostics: ds}
	}
	r, err := k.read(ctx, req.ID, req.IdempotencyKey, req.Prior)
	if err != nil {
		return providers.ReadResponse{Diagnostics: failed("read", req.Kind, err)}
	}
	return r
}

// Update changes a resource in place.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	k, ds := p.kind(req.Kind)
	if ds != nil {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	attrs, err := k.update(ctx, req.ID, req.Planned)
	return providers.UpdateResponse{Attributes: attrs, Diagnostics: failed("update", req.Kind, err)}
}

// Delete removes a resource; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	k, ds := p.kind(req.Kind)
	if ds != nil {
		return providers.DeleteResponse{Diagnostics: ds}
	}
	return providers.DeleteResponse{Diagnostics: failed("delete", req.Kind, k.remove(ctx, req.ID))}
}

// Import reads a tag made outside Musubi by its ID. A message is found only when this process
// wrote it: WeChat holds templates, not Musubi's mapping of fields to values.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	r := p.Read(ctx, providers.ReadRequest{Kind: req.Kind, ID: req.ID})
	missing := fmt.Sprintf("the account has no %s %s", req.Kind, req.ID)
	switch {
	case r.Diagnostics.HasErrors():
		return providers.ImportResponse{Diagnostics: r.Diagnostics}
	case r.Found:
		return providers.ImportResponse{Attributes: r.Attributes, Diagnostics: r.Diagnostics}
	case req.Kind == providers.KindMessage:
		missing = "WeChat keeps templates, not Musubi's messages; declare the message with its template_id and apply it"
	}
	return providers.ImportResponse{Diagnostics: providers.FromError("Cannot import", &providers.APIError{Code: providers.ErrNotFound, Message: missing})}
}

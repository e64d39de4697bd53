// Package line is the built-in `line` provider: a LINE Official Account's Messaging API
// channel, through LINE's Go SDK (github.com/line/line-bot-sdk-go/v8, messaging_api and
// manage_audience).
//
// What each kind lands as:
//
//   - audience: an audience group for uploading user IDs. LINE keeps one name per group and
//     no other field, so the name carries the description and a mark of the segment and of
//     the create that made the group: "Store regulars [musubi loyal_store 3f9a1c2e]". The
//     build is asynchronous; an EXPIRED group reads as gone, so the next apply makes a fresh
//     one. SyncMembers adds a segment's members, 10,000 user IDs a request; LINE cannot take
//     one out, so RebuildMembers makes a fresh group of exactly the members, marked with the
//     segment and the rebuild, and deletes the old one. The resource keeps its first ID:
//     reads, renames and deletes by it find the segment's group by the mark.
//   - subscription: the channel's one webhook endpoint (PUT /v2/bot/channel/webhook/endpoint),
//     pointing at `musubi serve` (engine_url + /v1/webhooks/NAME) with the identity source in
//     its query. Its ID is the bot's user ID, the `destination` of every webhook. LINE sends
//     every event to that URL; Musubi turns follow and unfollow into events, so topics are
//     always [follow, unfollow]. Deleting it clears the URL, unless someone has pointed the
//     channel elsewhere since.
//   - message: LINE keeps no message templates, so the template lives in Musubi's state.
//     Create and Update have LINE validate the message (the validate endpoints) so apply
//     catches what LINE would refuse at send time; Read answers from the state's copy, so a
//     LINE message never drifts, and Import refuses. A campaign's messages reach customers as
//     pushes through Send, one per customer, since templates are personal (each customer's
//     code); Broadcast sends one text that is the same for everyone to an audience group by
//     narrowcast, or to user IDs by multicast, 500 a request.
//   - coupon: not managed. LINE's coupon API (POST /v2/bot/coupon) cannot change a coupon
//     once made, takes no idempotency key and has no field to find a create by, so a retried
//     create could hand customers a second coupon; it cannot express min_total, usage_limit
//     or combines_with either.
//
// Send pushes one message to one user with X-Line-Retry-Key set to a UUIDv5 of the
// idempotency key, so a retry is answered 409 and reported as a duplicate, never delivered
// twice. ReceiveWebhook checks x-line-signature with the channel secret.
//
// Errors keep LINE's x-line-request-id. A 429 is a quota error when LINE says the month's
// allowance is used up, else a rate limit; LINE sends no Retry-After, so a second is assumed.
// Calls are retried a few times on 429 and on 5xx or timeouts where repeating cannot act
// twice.
package line

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "line",
		Description: "a LINE Official Account's Messaging API channel: audience groups, its webhook, push messages",
		New:         func() providers.Provider { return New() },
	})
}

// DefaultAPIURL is LINE's Messaging API.
const DefaultAPIURL = "https://api.line.me"

// Interface guards: a broken contract is a compile error.
var (
	_ providers.Provider        = (*Provider)(nil)
	_ providers.Sender          = (*Provider)(nil)
	_ providers.WebhookReceiver = (*Provider)(nil)
	_ providers.MemberRebuilder = (*Provider)(nil)
	_ providers.MemberSyncer    = (*Provider)(nil)
)

// Provider is one configured LINE channel. Its methods are safe for concurrent use after
// Configure.
type Provider struct {
	name      string
	token     string
	secret    string
	apiURL    string
	engineURL string
	http      *http.Client
	retry     retrying

	mu        sync.Mutex
	botUserID string
	templates map[string]template // message templates written by this process, by ID

	groupsMu sync.Mutex
	groups   map[string][]int64 // the live groups of a segment, as last listed, for syncs
	members  chan struct{}      // held by a membership call: they go one at a time
}

// New returns an unconfigured provider.
func New() *Provider {
	return &Provider{
		http:      &http.Client{Timeout: 30 * time.Second},
		retry:     defaultRetrying,
		templates: map[string]template{},
		groups:    map[string][]int64{},
		members:   make(chan struct{}, 1),
	}
}

var kinds = map[providers.Kind]providers.KindSupport{
	providers.KindAudience: {Attributes: []string{"segment", "description"}, ForceNew: []string{"segment"},
		Description: "a LINE audience group for uploading user IDs"},
	providers.KindSubscription: {Attributes: []string{"source", "topics", "endpoint"},
		Description: "the channel's webhook endpoint", Topics: webhookTopics},
	providers.KindMessage: {Attributes: []string{"name", "template", "variants", "audience"},
		Description: "a text message template LINE has validated; kept in Musubi's state, LINE keeps none"},
}

// Schema describes the provider block and the kinds a LINE channel manages.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "channel_token", Type: providers.String, Required: true, Sensitive: true,
				Description: "the channel access token, from env()"},
			{Name: "channel_secret", Type: providers.String, Sensitive: true,
				Description: "the channel secret, from env(); needed to verify webhooks"},
			{Name: "engine_url", Type: providers.String,
				Description: "public HTTPS base URL of musubi serve; the webhook endpoint defaults to it + /v1/webhooks/NAME"},
			{Name: "api_url", Type: providers.String,
				Description: "base URL of the Messaging API (default " + DefaultAPIURL + "); a contract server's in tests"},
		},
		Kinds: kinds,
	}
}

// Configure reads the provider block.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	str := func(name string) string { s, _ := req.Config[name].(string); return strings.TrimSpace(s) }
	var ds providers.Diagnostics
	token := str("channel_token")
	if token == "" {
		ds = append(ds, providers.AttributeError("channel_token", "Missing channel access token",
			`channel_token is empty; set it with channel_token = env("LINE_TOKEN")`))
	}
	apiURL := strings.TrimSuffix(str("api_url"), "/")
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if u, err := url.Parse(apiURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		ds = append(ds, providers.AttributeError("api_url", "Invalid API URL", "api_url must be an http(s) URL with a host"))
	}
	engineURL := strings.TrimSuffix(str("engine_url"), "/")
	if engineURL != "" {
		if u, err := url.Parse(engineURL); err != nil || u.Scheme != "https" || u.Host == "" {
			ds = append(ds, providers.AttributeError("engine_url", "Invalid engine URL",
				"engine_url must be an https:// URL with a host: LINE posts webhooks over HTTPS only"))
		}
	}
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.token, p.secret, p.apiURL, p.engineURL = req.Name, token, str("channel_secret"), apiURL, engineURL
	p.botUserID = ""
	p.groupsMu.Lock()
	defer p.groupsMu.Unlock()
	p.groups = map[string][]int64{} // another channel, maybe
	return providers.ConfigureResponse{}
}

// Close releases idle connections.
func (p *Provider) Close() error {
	p.http.CloseIdleConnections()
	return nil
}

func unsupported(k providers.Kind) providers.Diagnostics {
	return providers.Errorf("Unsupported kind", "a LINE channel manages audience, message and subscription, not %s", k)
}

// Validate checks a desired resource against LINE's limits without calling LINE.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	var ds providers.Diagnostics
	if ks, ok := kinds[req.Kind]; ok {
		for _, name := range ks.Unheld(req.Attributes) {
			ds = append(ds, providers.AttributeError(name, "Not expressible on LINE", "a LINE %s has no %s", req.Kind, name))
		}
	}
	switch req.Kind {
	case providers.KindAudience:
		ds = append(ds, checkAudience(req.Attributes)...)
	case providers.KindSubscription:
		ds = append(ds, p.checkSubscription(req.Attributes)...)
	case providers.KindMessage:
		ds = append(ds, checkMessage(req.Attributes)...)
	default:
		ds = unsupported(req.Kind)
	}
	return providers.ValidateResponse{Diagnostics: ds}
}

// Plan fills in what LINE will hold: an audience group's name, the webhook URL and topics.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	switch req.Kind {
	case providers.KindAudience:
		return providers.PlanResponse{Planned: planAudience(req.Proposed)}
	case providers.KindSubscription:
		return providers.PlanResponse{Planned: p.planSubscription(req.Proposed)}
	case providers.KindMessage:
		return providers.PlanResponse{Planned: req.Proposed}
	}
	return providers.PlanResponse{Diagnostics: unsupported(req.Kind)}
}

// Create makes a resource; a retry with the same idempotency key finds the first one.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	var id string
	var attrs providers.Attrs
	var err error
	switch req.Kind {
	case providers.KindAudience:
		id, attrs, err = p.createAudience(ctx, req.Attributes, req.IdempotencyKey)
	case providers.KindSubscription:
		id, attrs, err = p.putSubscription(ctx, req.Attributes)
	case providers.KindMessage:
		id, attrs, err = p.createMessage(ctx, req.Attributes, req.IdempotencyKey)
	default:
		return providers.CreateResponse{Diagnostics: unsupported(req.Kind)}
	}
	if err != nil {
		return providers.CreateResponse{Diagnostics: providers.FromError(fmt.Sprintf("Cannot create the LINE %s", req.Kind), err)}
	}
	return providers.CreateResponse{ID: id, Attributes: attrs}
}

// Read returns a resource's live attributes, by ID or by the create's idempotency key.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	var r providers.ReadResponse
	var err error
	switch req.Kind {
	case providers.KindAudience:
		r, err = p.readAudience(ctx, req.ID, req.IdempotencyKey, req.Prior)
	case providers.KindSubscription:
		r, err = p.readSubscription(ctx, req.ID)
	case providers.KindMessage:
		r = p.readMessage(req.ID, req.IdempotencyKey, req.Prior)
	default:
		return providers.ReadResponse{Diagnostics: unsupported(req.Kind)}
	}
	if err != nil {
		return providers.ReadResponse{Diagnostics: providers.FromError(fmt.Sprintf("Cannot read the LINE %s", req.Kind), err)}
	}
	return r
}

// Update changes a resource in place.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	var attrs providers.Attrs
	var err error
	switch req.Kind {
	case providers.KindAudience:
		attrs, err = p.updateAudience(ctx, req.ID, req.Prior, req.Planned)
	case providers.KindSubscription:
		_, attrs, err = p.putSubscription(ctx, req.Planned)
	case providers.KindMessage:
		attrs, err = p.updateMessage(ctx, req.ID, req.Planned)
	default:
		return providers.UpdateResponse{Diagnostics: unsupported(req.Kind)}
	}
	if err != nil {
		return providers.UpdateResponse{Diagnostics: providers.FromError(fmt.Sprintf("Cannot update the LINE %s", req.Kind), err)}
	}
	return providers.UpdateResponse{Attributes: attrs}
}

// Delete removes a resource; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	var err error
	switch req.Kind {
	case providers.KindAudience:
		err = p.deleteAudience(ctx, req.ID, req.Prior)
	case providers.KindSubscription:
		err = p.clearSubscription(ctx, req.Prior)
	case providers.KindMessage:
		p.deleteMessage(req.ID)
	default:
		return providers.DeleteResponse{Diagnostics: unsupported(req.Kind)}
	}
	if err != nil {
		return providers.DeleteResponse{Diagnostics: providers.FromError(fmt.Sprintf("Cannot delete the LINE %s", req.Kind), err)}
	}
	return providers.DeleteResponse{}
}

// Import reads an object made outside Musubi by its LINE ID.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	r := p.Read(ctx, providers.ReadRequest{Kind: req.Kind, ID: req.ID})
	if r.Diagnostics.HasErrors() {
		return providers.ImportResponse{Diagnostics: r.Diagnostics}
	}
	if !r.Found {
		what := fmt.Sprintf("the LINE channel has no %s %s", req.Kind, req.ID)
		if req.Kind == providers.KindMessage {
			what = "LINE keeps no message templates to import; declare the message and apply it"
		}
		return providers.ImportResponse{Diagnostics: providers.FromError("Cannot import",
			&providers.APIError{Code: providers.ErrNotFound, Message: what})}
	}
	return providers.ImportResponse{Attributes: r.Attributes, Diagnostics: r.Diagnostics}
}

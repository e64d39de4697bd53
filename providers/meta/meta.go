// Package meta is the built-in `meta` provider: Custom Audiences of a Meta (Facebook and
// Instagram) ad account, through the Marketing API of the Graph API (Meta publishes no Go
// SDK, so the provider speaks HTTP itself).
//
// What each kind lands as:
//
//   - audience: a customer-file custom audience (POST /act_{id}/customaudiences, subtype
//     CUSTOM), named after the audience's description. Its Meta description carries a mark of
//     the segment and of the create that made it, which is how a create whose answer was lost
//     finds its audience on the next apply instead of making a second. SyncMembers adds a
//     segment's joiners and removes its leavers, in the audience marked with the segment:
//     only SHA-256 hashes of normalised email addresses and phone numbers leave Musubi, only
//     of customers who consented to ads, 10,000 rows a request, in sessions a retried upload
//     continues.
//   - coupon, code_pool, message, subscription: not managed. An ad audience is where Meta
//     fits Musubi's programme; ads themselves are made in Ads Manager.
//
// Errors are the Graph API's error object; its code decides the class: 190 and the
// permission codes are auth, 100 invalid (with subcode 33, not found), 80003 and the other
// rate limits rate_limited with the wait X-Business-Use-Case-Usage gives, 1 and 2
// unavailable.
package meta

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "meta",
		Description: "a Meta (Facebook and Instagram) ad account: custom audiences from hashed customer data",
		New:         func() providers.Provider { return New() },
	})
}

// Interface guards: a broken contract is a compile error.
var (
	_ providers.Provider     = (*Provider)(nil)
	_ providers.MemberSyncer = (*Provider)(nil)
)

// Provider is one configured ad account. Its methods are safe for concurrent use after
// Configure.
type Provider struct {
	http  *http.Client
	retry providers.Retry
	now   func() time.Time

	mu  sync.Mutex // held by Configure
	cfg config

	audiencesMu sync.Mutex
	audiences   map[string][]string // the audience IDs of a segment, as last listed, for syncs
}

// New returns an unconfigured provider.
func New() *Provider {
	return &Provider{http: &http.Client{Timeout: 60 * time.Second}, retry: retries, now: time.Now, audiences: map[string][]string{}}
}

var kinds = map[providers.Kind]providers.KindSupport{
	providers.KindAudience: {Attributes: []string{"segment", "description"}, ForceNew: []string{"segment"},
		Description: "a customer-file custom audience of the ad account; the engine uploads its members' hashed identifiers"},
}

// Schema describes the provider block and the one kind an ad account manages.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{Config: configSchema, Kinds: kinds}
}

// Configure reads the provider block. It calls nothing: plans work offline.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	cfg, ds := parseConfig(req)
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = cfg
	p.audiencesMu.Lock()
	defer p.audiencesMu.Unlock()
	p.audiences = map[string][]string{}
	return providers.ConfigureResponse{Diagnostics: ds}
}

// Close releases idle connections.
func (p *Provider) Close() error {
	p.http.CloseIdleConnections()
	return nil
}

func unsupported(k providers.Kind) providers.Diagnostics {
	return providers.Errorf("Unsupported kind", "a Meta ad account manages audience, not %s", k)
}

// failed words the error of a call.
func failed(verb string, err error) providers.Diagnostics {
	return providers.FromError(fmt.Sprintf("Cannot %s the Meta custom audience", verb), err)
}

// Validate checks a desired audience against what Meta takes, without calling Meta.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	if req.Kind != providers.KindAudience {
		return providers.ValidateResponse{Diagnostics: unsupported(req.Kind)}
	}
	var ds providers.Diagnostics
	for _, name := range kinds[req.Kind].Unheld(req.Attributes) {
		ds = append(ds, providers.AttributeError(name, "Not expressible on Meta", "a Meta custom audience has no %s", name))
	}
	return providers.ValidateResponse{Diagnostics: append(ds, checkAudience(req.Attributes)...)}
}

// Plan fills in what Meta will hold: an audience is named after its segment when it has no
// description.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	if req.Kind != providers.KindAudience {
		return providers.PlanResponse{Diagnostics: unsupported(req.Kind)}
	}
	return providers.PlanResponse{Planned: planAudience(req.Proposed)}
}

// Create makes an audience; a retry with the same idempotency key finds the first one.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if req.Kind != providers.KindAudience {
		return providers.CreateResponse{Diagnostics: unsupported(req.Kind)}
	}
	id, attrs, err := p.createAudience(ctx, req.Attributes, req.IdempotencyKey)
	return providers.CreateResponse{ID: id, Attributes: attrs, Diagnostics: failed("create", err)}
}

// Read returns an audience's live attributes, by ID or by the create's idempotency key. A
// deleted audience is not found.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	if req.Kind != providers.KindAudience {
		return providers.ReadResponse{Diagnostics: unsupported(req.Kind)}
	}
	r, err := p.readAudience(ctx, req.ID, req.IdempotencyKey, req.Prior)
	if err != nil {
		return providers.ReadResponse{Diagnostics: failed("read", err)}
	}
	return r
}

// Update renames an audience.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if req.Kind != providers.KindAudience {
		return providers.UpdateResponse{Diagnostics: unsupported(req.Kind)}
	}
	attrs, err := p.updateAudience(ctx, req.ID, req.Planned)
	return providers.UpdateResponse{Attributes: attrs, Diagnostics: failed("update", err)}
}

// Delete deletes an audience; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	if req.Kind != providers.KindAudience {
		return providers.DeleteResponse{Diagnostics: unsupported(req.Kind)}
	}
	return providers.DeleteResponse{Diagnostics: failed("delete", p.deleteAudience(ctx, req.ID))}
}

// Import reads an audience made outside Musubi by its ID.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	return providers.ImportByRead(ctx, p, "the Meta ad account", req)
}

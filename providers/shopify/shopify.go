// Package shopify is the built-in provider for Shopify, through the Admin GraphQL API pinned
// to APIVersion: a campaign's coupon becomes a code discount of the shop, its unique codes
// the discount's redeem codes, a segment's audience a customer segment, and an identity
// source the webhook subscriptions whose signed deliveries the engine turns into purchase,
// account.linked and cart.updated events.
//
// What each kind lands as:
//
//   - coupon: a basic code discount (discountCodeBasicCreate / Update / Delete): percent or
//     fixed amount off the whole order, minimum subtotal, startsAt / endsAt, usageLimit,
//     appliesOncePerCustomer (per_customer 1), combinesWith, and, for a coupon limited to
//     its audience, a customer segment context. Money is written in the shop's currency,
//     converted from minor units; times as instants. The resource ID is the discount node's
//     GID. A coupon without a code (its codes come from a code pool) is created with a
//     placeholder code derived from the idempotency key, which nobody is given: Shopify
//     requires every code discount to have one.
//   - code_pool: the pool's codes added to the coupon's discount with
//     discountRedeemCodeBulkAdd, 250 a call, each bulk creation polled until Shopify has
//     run it; the pool's pattern, charset and seed are kept in a metafield of the discount
//     in the app-reserved namespace, which is how a pool is found again.
//   - audience: a customer segment (segmentCreate / Update / Delete) whose query selects
//     the customers carrying the segment's tag, musubi:SEGMENT. Shopify's segment language
//     sees Shopify's customer attributes, not Musubi's profiles, and the canonical audience
//     carries the segment's name, not its CEL condition: membership is synced as a tag (see
//     Provider.SyncMembers), which Shopify's segment then reflects.
//   - subscription: one webhook subscription per Shopify topic (webhookSubscriptionCreate),
//     derived from the identity source's topics: purchase → ORDERS_CREATE, account.linked →
//     CUSTOMERS_CREATE and CUSTOMERS_UPDATE, cart.updated → CARTS_UPDATE.
//
// Campaign features Shopify cannot express are refused at plan time, naming the block and
// the provider: a per-customer limit other than one (Shopify's only per-customer setting is
// appliesOncePerCustomer), pools beyond MaxPoolCodes codes, and topics Shopify has no webhook
// for.
//
// Errors: userErrors in an HTTP 200 answer are errors, mapped to the providers error classes
// (a taken code is a conflict) and pointed at the canonical attribute of the input field
// Shopify named. Throttling follows the calculated query cost: the client keeps the
// bucket's last extensions.cost.throttleStatus, waits before a query the bucket cannot pay
// for, and waits out THROTTLED answers and 429s; a wait longer than the client takes by
// itself is a rate_limited error saying how long.
//
// Idempotency: Shopify's discount mutations take no idempotency key, so a create looks its
// object up first: a coupon by its code (codeDiscountNodeByCode), a pool by its metafield, a
// segment by the marker in its name, webhook subscriptions by the marker in their URI. A
// create retried after a lost answer adopts what the first try made.
//
// Shopify's Go SDK is not used: none is available on the module proxy Musubi is built
// against, and the provider needs a couple of dozen fixed operations, so the package carries
// a small typed client written against the documented Admin GraphQL API, tested against the
// contract server in shopifytest, which enforces that API's rules.
package shopify

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "shopify",
		Description: "Shopify (Admin GraphQL): coupons as code discounts, unique codes, customer segments, webhooks",
		New:         func() providers.Provider { return &Provider{} },
	})
}

// Interface guards.
var (
	_ providers.Provider        = (*Provider)(nil)
	_ providers.BatchReader     = (*Provider)(nil)
	_ providers.WebhookReceiver = (*Provider)(nil)
	_ providers.MemberSyncer    = (*Provider)(nil)
)

var kinds = map[providers.Kind]providers.KindSupport{
	providers.KindCoupon: {
		Attributes: []string{"title", "discount_type", "percent", "amount", "currency", "min_total", "code",
			"per_customer", "usage_limit", "starts_at", "ends_at", "timezone", "combines_with", "audience"},
		Description: "a Shopify basic code discount on the whole order",
	},
	providers.KindCodePool: {
		Attributes: []string{"coupon", "pattern", "charset", "count", "seed"},
		// The codes are drawn from pattern, charset and seed: other values are other codes.
		ForceNew:    []string{"coupon", "pattern", "charset", "seed"},
		Description: "redeem codes of the coupon's Shopify discount, added in bulk",
	},
	providers.KindAudience: {
		Attributes:  []string{"segment", "description"},
		Description: "a Shopify customer segment of the customers tagged musubi:SEGMENT",
	},
	providers.KindSubscription: {
		Attributes:  []string{"source", "topics", "endpoint"},
		Description: "Shopify webhook subscriptions, one per topic",
		Topics:      topicHooks.Topics(),
	},
}

// Limits of what Musubi writes.
const (
	maxTitle = 255 - markerSuffixLen // DiscountCodeBasic.title holds the marker too
	maxCode  = 255
	maxInt32 = 1<<31 - 1
	// MaxPoolCodes bounds a code pool: Shopify holds up to 20 million codes a discount, but
	// Musubi generates a pool's codes in memory and reads them back on refresh.
	MaxPoolCodes = 100_000
)

var shopRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`)

// Provider is one configured Shopify shop.
type Provider struct {
	name       string
	shop       string
	client     *Client
	webhookURL string
	secret     string

	// The shop's currency and zone, read once: money is written in the currency, and read
	// back without a prior in the zone.
	shopMu   sync.Mutex
	shopInfo *Shop

	// segIDs remembers the Shopify segment of each segment whose members were synced.
	segMu  sync.Mutex
	segIDs map[string]string
}

// Schema describes the provider block and what a shop can hold.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "shop", Type: providers.String, Required: true,
				Description: "the shop's myshopify.com domain, e.g. example.myshopify.com"},
			{Name: "token", Type: providers.String, Required: true, Sensitive: true,
				Description: "Admin API access token of the app (scopes read/write_discounts, read/write_customers)"},
			{Name: "api_url", Type: providers.String,
				Description: "base URL of the Admin API (default https://SHOP); the GraphQL endpoint is API_URL/admin/api/API_VERSION/graphql.json"},
			{Name: "api_version", Type: providers.String,
				Description: "Admin API version, YYYY-MM of a quarterly release (default " + DefaultAPIVersion + ", the version Musubi's requests are checked against)"},
			{Name: "webhook_url", Type: providers.String,
				Description: "HTTPS URL Shopify posts webhooks to: the default endpoint of subscriptions"},
			{Name: "client_secret", Type: providers.String, Sensitive: true,
				Description: "the app's client secret, which signs Shopify's webhooks, to verify inbound ones"},
		},
		Kinds: kinds,
	}
}

// Configure checks the provider block and prepares the client. No call is made yet.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	var ds providers.Diagnostics
	str := func(k string) string { return strings.TrimSpace(req.String(k, "Invalid Shopify configuration", &ds)) }
	shop := strings.ToLower(str("shop"))
	if shop != "" && !strings.Contains(shop, ".") {
		shop += ".myshopify.com"
	}
	switch {
	case shop == "":
		ds = append(ds, providers.AttributeError("shop", "Missing Shopify shop", "shop is empty; set it to the shop's myshopify.com domain, e.g. shop = \"example.myshopify.com\""))
	case !shopRE.MatchString(shop):
		ds = append(ds, providers.AttributeError("shop", "Invalid Shopify shop",
			"shop must be a myshopify.com domain, not %s: the Admin API is served at the shop's myshopify.com domain, not at its storefront's", req.Show("shop", shop)))
	}
	token := str("token")
	if token == "" {
		ds = append(ds, providers.AttributeError("token", "Missing Shopify token", "token is empty; set it from the environment, e.g. token = env(\"SHOPIFY_TOKEN\")"))
	}
	base := str("api_url")
	if base == "" {
		base = "https://" + shop
	} else if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		ds = append(ds, providers.AttributeError("api_url", "Invalid Shopify API URL", "api_url must be an http(s) URL, not %s", req.Show("api_url", base)))
	}
	hook := str("webhook_url")
	if hook != "" {
		if err := providers.CheckWebhookURL(hook, "Shopify"); err != nil {
			ds = append(ds, providers.AttributeError("webhook_url", "Invalid webhook URL",
				"webhook_url must be an absolute https:// URL, not %s; Shopify delivers webhooks only over HTTPS", req.Show("webhook_url", hook)))
		}
	}
	version := str("api_version")
	if version == "" {
		version = DefaultAPIVersion
	} else if !ValidAPIVersion(version) {
		ds = append(ds, providers.AttributeError("api_version", "Invalid Shopify API version",
			"api_version must be a stable Admin API version, YYYY-MM with MM 01, 04, 07 or 10 (e.g. %s), not %s", DefaultAPIVersion, req.Show("api_version", version)))
	}
	secret := str("client_secret")
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	p.name, p.shop, p.webhookURL, p.secret = req.Name, shop, hook, secret
	p.client = NewVersionClient(base, token, version)
	p.shopInfo = nil
	p.segMu.Lock()
	p.segIDs = nil
	p.segMu.Unlock()
	return providers.ConfigureResponse{}
}

// Client returns the API client, for tests and tools.
func (p *Provider) Client() *Client { return p.client }

// Close releases idle connections.
func (p *Provider) Close() error {
	if p.client != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	return nil
}

// shopSettings reads the shop's currency and zone once.
func (p *Provider) shopSettings(ctx context.Context) (*Shop, error) {
	p.shopMu.Lock()
	defer p.shopMu.Unlock()
	if p.shopInfo != nil {
		return p.shopInfo, nil
	}
	s, err := p.client.Shop(ctx)
	if err != nil {
		return nil, err
	}
	p.shopInfo = &s
	return p.shopInfo, nil
}

// Validate checks a desired resource the way Shopify would refuse it, without calling it.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: p.check(req.Kind, req.Attributes)}
}

func (p *Provider) check(k providers.Kind, a providers.Attrs) providers.Diagnostics {
	ks, ok := kinds[k]
	if !ok {
		return providers.Errorf("Unsupported kind", "Shopify holds no %s; the shopify provider manages coupon, code_pool, audience and subscription", k)
	}
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Not possible in Shopify", format, args...))
	}
	for _, name := range ks.Unheld(a) {
		bad(name, "a Shopify %s has no %s", k, name)
	}
	switch k {
	case providers.KindCoupon:
		checkCoupon(a, bad)
	case providers.KindCodePool:
		checkPool(a, bad)
	case providers.KindAudience:
		checkAudience(a, bad)
	case providers.KindSubscription:
		ds = append(ds, p.checkSubscription(a, bad)...)
	}
	return ds
}

// Plan fills what Shopify will hold: a coupon's discount type and start, a subscription's
// endpoint and the topics Shopify can deliver.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	planned := req.Proposed.Clone()
	if planned == nil {
		planned = providers.Attrs{}
	}
	switch req.Kind {
	case providers.KindCoupon:
		planned = providers.WithDiscountType(planned)
		// Shopify needs a start. A coupon declared without one starts when it is first
		// planned, and keeps that start afterwards, so it never shows as a change.
		if planned.String("starts_at") == "" {
			if prior := req.Prior.String("starts_at"); prior != "" {
				planned["starts_at"] = prior
			} else {
				planned["starts_at"] = time.Now().In(zoneOf(planned.String("timezone"))).Truncate(time.Second).Format(time.RFC3339)
			}
		}
	case providers.KindSubscription:
		planned = p.subscriptions().Plan(planned)
	}
	return providers.PlanResponse{Planned: planned}
}

// Create makes a resource; a retry with the same idempotency key adopts what the first try
// made.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if ds := p.check(req.Kind, req.Attributes); ds.HasErrors() {
		return providers.CreateResponse{Diagnostics: ds}
	}
	var id string
	var attrs providers.Attrs
	var err error
	switch req.Kind {
	case providers.KindCoupon:
		id, attrs, err = p.createCoupon(ctx, req)
	case providers.KindCodePool:
		id, attrs, err = p.createPool(ctx, req)
	case providers.KindAudience:
		id, attrs, err = p.createAudience(ctx, req)
	default:
		id, attrs, err = p.createSubscription(ctx, req)
	}
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.failure("create failed", err)}
	}
	return providers.CreateResponse{ID: id, Attributes: attrs}
}

// Read returns a resource's live attributes, by ID or by the idempotency key of its create.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	return p.ReadBatch(ctx, []providers.ReadRequest{req})[0]
}

// ReadBatch reads coupons and audiences with nodes queries (as many per query as the cost
// limit allows), every subscription with one listing of the app's webhooks, and each code
// pool with one query of its discount.
func (p *Provider) ReadBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	reqs = slices.Clone(reqs) // IDs found by key are filled in below
	out := make([]providers.ReadResponse, len(reqs))
	var coupons, segments, subs []int
	for i, r := range reqs {
		if _, ok := kinds[r.Kind]; !ok {
			continue
		}
		if r.ID == "" {
			id, err := p.findByKey(ctx, r)
			if err != nil {
				out[i].Diagnostics = p.failure("read failed", err)
				continue
			}
			if id == "" {
				continue
			}
			reqs[i].ID, r.ID = id, id
		}
		switch r.Kind {
		case providers.KindCoupon:
			coupons = append(coupons, i)
		case providers.KindAudience:
			segments = append(segments, i)
		case providers.KindSubscription:
			subs = append(subs, i)
		default:
			out[i] = p.readPool(ctx, r)
		}
	}
	p.readCoupons(ctx, reqs, coupons, out)
	p.readAudiences(ctx, reqs, segments, out)
	p.readSubscriptions(ctx, reqs, subs, out)
	return out
}

// findByKey finds what a create with this request's idempotency key made: "" when nothing.
func (p *Provider) findByKey(ctx context.Context, r providers.ReadRequest) (string, error) {
	if r.IdempotencyKey == "" {
		return "", nil
	}
	switch r.Kind {
	case providers.KindCoupon:
		d, err := p.findCoupon(ctx, r.Prior.String("code"), r.IdempotencyKey)
		if d == nil || err != nil {
			return "", err
		}
		return d.ID, nil
	case providers.KindCodePool:
		return p.findPool(ctx, r.Refs["coupon"], r.IdempotencyKey)
	case providers.KindAudience:
		sg, err := p.findSegment(ctx, func(sg Segment) bool {
			_, _, m, ok := parseSegmentName(sg.Name)
			return ok && m == markerOf(r.IdempotencyKey)
		})
		if sg == nil || err != nil {
			return "", err
		}
		return sg.ID, nil
	default:
		whs, err := p.webhooksOf(ctx, markerOf(r.IdempotencyKey), nil)
		if len(whs) == 0 || err != nil {
			return "", err
		}
		return subscriptionID(markerOf(r.IdempotencyKey)), nil
	}
}

// Update changes a resource in place, unless it changed in Shopify since it was planned.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if ds := p.check(req.Kind, req.Planned); ds.HasErrors() {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	var attrs providers.Attrs
	var err error
	switch req.Kind {
	case providers.KindCoupon:
		attrs, err = p.updateCoupon(ctx, req)
	case providers.KindCodePool:
		attrs, err = p.updatePool(ctx, req)
	case providers.KindAudience:
		attrs, err = p.updateAudience(ctx, req)
	default:
		attrs, err = p.updateSubscription(ctx, req)
	}
	if err != nil {
		return providers.UpdateResponse{Diagnostics: p.failure("update failed", err)}
	}
	return providers.UpdateResponse{Attributes: attrs}
}

// Delete removes a resource; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	var err error
	switch req.Kind {
	case providers.KindCoupon:
		err = p.client.DeleteDiscount(ctx, req.ID)
	case providers.KindCodePool:
		err = p.deletePool(ctx, req)
	case providers.KindAudience:
		err = p.client.DeleteSegment(ctx, req.ID)
	case providers.KindSubscription:
		err = p.deleteSubscription(ctx, req.ID)
	}
	return providers.DeleteResponse{Diagnostics: p.failure("delete failed", err)}
}

// Import reads an object made outside Musubi, by its resource ID: a discount node's GID for
// a coupon, DISCOUNT#pool_MARKER for a code pool, a segment's GID, webhooks:MARKER for a
// subscription.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	return providers.ImportByRead(ctx, p, p.name, req)
}

func notFound(format string, args ...any) error {
	return apiError(providers.ErrNotFound, 0, "", format, args...)
}

func conflict(format string, args ...any) error {
	return apiError(providers.ErrConflict, 0, "", format, args...)
}

func invalid(attr, format string, args ...any) error {
	e := apiError(providers.ErrInvalid, 0, "", format, args...)
	e.attr = attr
	return e
}

// partial re-classifies the failure of a create that already wrote something as
// unavailable, whatever it was: the planner then keeps the create's intent, and the next
// apply finishes what this one began under the same key instead of starting another object.
func partial(err error, what string) error {
	var e *Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	out := *e
	api := *e.API
	api.Code = providers.ErrUnavailable
	api.Message = what + " is partly created (" + api.Message + "); the next apply finishes it"
	out.API = &api
	return &out
}

// failure turns an error into diagnostics pointing at the canonical attribute of the input
// field Shopify named, so the planner can show the line of the configuration that set it.
func (p *Provider) failure(summary string, err error) providers.Diagnostics {
	if err == nil {
		return nil
	}
	ds := providers.FromError(summary, err)
	var e *Error
	if errors.As(err, &e) {
		ds[0].Attribute = e.attr
		if ds[0].Attribute == "" {
			ds[0].Attribute = attributeOf(e.Field)
		}
	}
	return ds
}

// fieldAttrs maps input fields Shopify names in userErrors to canonical attributes, most
// specific first.
var fieldAttrs = []struct{ field, attr string }{
	{"title", "title"},
	{"code", "code"},
	{"codes", "code"},
	{"startsAt", "starts_at"},
	{"endsAt", "ends_at"},
	{"usageLimit", "usage_limit"},
	{"appliesOncePerCustomer", "per_customer"},
	{"combinesWith", "combines_with"},
	{"context", "audience"},
	{"customerSelection", "audience"},
	{"percentage", "percent"},
	{"discountAmount", "amount"},
	{"minimumRequirement", "min_total"},
	{"name", "description"},
	{"query", "segment"},
	{"uri", "endpoint"},
	{"topic", "topics"},
}

func attributeOf(field []string) string {
	for i := len(field) - 1; i >= 0; i-- {
		for _, f := range fieldAttrs {
			if field[i] == f.field {
				return f.attr
			}
		}
	}
	return ""
}

// changedSince refuses an update when the object differs from the prior the plan was made
// from: someone changed it in Shopify in between, and the update would overwrite that.
func changedSince(k providers.Kind, what, id string, prior, live providers.Attrs) error {
	if prior == nil {
		return nil
	}
	if changed := providers.Diff(k, prior, live); len(changed) > 0 {
		return conflict("%s %s changed in Shopify since it was planned (%s); nothing was overwritten: plan again to see the change",
			what, id, providers.DescribeChanges(changed, live))
	}
	return nil
}

// zoneOf loads a zone, or UTC.
func zoneOf(name string) *time.Location {
	if name != "" {
		if l, err := providers.Location(name); err == nil {
			return l
		}
	}
	return time.UTC
}

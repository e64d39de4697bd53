// Package square is the built-in provider for Square (POS and Square Online): it pushes a
// campaign's coupon to every register of a seller as an automatic discount, mirrors segments
// as customer groups, subscribes the engine to Square's webhooks, and turns those webhooks
// into Musubi events.
//
// What each kind lands as:
//
//   - coupon: three catalog objects written in one all-or-nothing batch upsert — a DISCOUNT
//     (title, percent or amount off), a PRODUCT_SET of all products, and a PRICING_RULE that
//     ties them together with the validity dates, the minimum order subtotal and, for a
//     coupon limited to its audience, the customer group of that segment. A coupon limited to
//     some stores has all three objects present at those locations only
//     (present_at_all_locations false, present_at_location_ids). Square applies the rule by
//     itself at the register and in the Orders API; the resource ID is the pricing rule's. Updates carry each object's version: an object changed in Square since it was
//     read is a conflict, reported and never overwritten.
//   - audience: a customer group named after the segment (see groupName); the engine keeps
//     its members in sync through SyncMembers.
//   - subscription: a webhook subscription whose event types are derived from the identity
//     source's topics (purchase → payment.created/payment.updated, account.linked →
//     customer.created/customer.updated) and whose notification URL is Musubi's engine.
//
// Square holds no coupon codes: a register recognises a campaign's customers by their record.
// The coupon kind is Codeless, so a campaign with codes and an audience lands here as a
// pricing rule limited to the segment's customer group, without its code and with no code
// pool; without an audience the code is refused at plan time, as are per-customer and total
// usage limits and stacking rules (combines_with).
//
// Square's Go SDK is not used: it cannot be fetched in the environments Musubi is built in,
// and the provider needs a dozen endpoints, so the package carries a small typed client of
// the documented REST API pinned to APIVersion, tested against the contract server in
// squaretest, which enforces that API's rules.
package square

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "square",
		Description: "Square POS: coupons as automatic pricing rules, customer groups, webhooks",
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
		Attributes: []string{"title", "discount_type", "percent", "currency", "min_total",
			"starts_at", "ends_at", "timezone", "audience", "stores"},
		Description: "a Square pricing rule with its discount and product set, applied automatically at the register",
		Codeless:    true,
	},
	providers.KindAudience: {
		Attributes: []string{"segment", "description"}, ForceNew: []string{"segment"},
		Description: "a Square customer group",
	},
	providers.KindSubscription: {
		Attributes: []string{"source", "topics", "endpoint"}, ForceNew: []string{"source"},
		Description: "a Square webhook subscription", Topics: topicEvents.Topics(),
	},
}

// unsupported says why Square cannot hold a coupon attribute; the planner refuses it at
// plan time, and Validate says why.
var unsupported = map[string]string{
	"code":          "Square applies pricing rules automatically at the register; it has no coupon code to type in. Give the campaign an audience: Square then applies the offer to that segment's customer group, and the codes serve the other channels",
	"per_customer":  "Square pricing rules have no per-customer limit",
	"usage_limit":   "Square pricing rules have no limit on total uses",
	"combines_with": "Square decides how automatic discounts stack; a pricing rule cannot name the discounts it combines with",
	// Square applies a pricing rule's discount to each matched item; a FIXED_AMOUNT one
	// cannot come off an order once.
	"amount": "Square takes a pricing rule's fixed amount off each matched item, not once off the order: an amount off would come off every item in the cart. Use a percent off on Square, or leave Square out of the campaign's channels",
}

// Limits Square documents for the fields Musubi writes.
const maxName = 255 // CatalogDiscount.name

// Provider is one configured Square seller account.
type Provider struct {
	name   string
	client *Client
	// loc is the time zone of the seller's locations, in which Square reads pricing rule
	// dates; nil when not configured.
	loc          *time.Location
	zoneName     string
	webhookURL   string
	signatureKey string
	// groups remembers the customer group of each segment whose members were synced.
	groups *memberGroups
}

// Schema describes the provider block and what Square can hold.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "token", Type: providers.String, Required: true, Sensitive: true,
				Description: "access token of the seller (a personal access token: Square manages webhook subscriptions only with one)"},
			{Name: "base_url", Type: providers.String,
				Description: "API base URL (default " + DefaultBaseURL + "; the sandbox is https://connect.squareupsandbox.com)"},
			{Name: "api_version", Type: providers.String,
				Description: "Square-Version, YYYY-MM-DD, that every request pins (default " + APIVersion + ", the version Musubi's requests are checked against)"},
			{Name: "timezone", Type: providers.String,
				Description: "IANA time zone of the seller's locations, in which Square reads validity dates (default: each coupon's own)"},
			{Name: "webhook_url", Type: providers.String,
				Description: "HTTPS URL Square posts events to, exactly as registered: the default endpoint of subscriptions, and what signatures are checked against"},
			{Name: "webhook_signature_key", Type: providers.String, Sensitive: true,
				Description: "signature key of the webhook subscription, from the Developer Console, to verify inbound webhooks"},
		},
		Kinds: kinds,
	}
}

// Configure checks the provider block and prepares the client.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	str := func(k string) string { s, _ := req.Config[k].(string); return strings.TrimSpace(s) }
	var ds providers.Diagnostics
	next := Provider{name: req.Name, webhookURL: str("webhook_url"), signatureKey: str("webhook_signature_key"), groups: &memberGroups{}}
	token := str("token")
	if token == "" {
		ds = append(ds, providers.AttributeError("token", "Missing Square token", "token is empty; set it from the environment, e.g. token = env(\"SQUARE_TOKEN\")"))
	}
	base := str("base_url")
	if base != "" {
		if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			ds = append(ds, providers.AttributeError("base_url", "Invalid Square base URL", "base_url must be an http(s) URL, not %s", req.Show("base_url", base)))
		}
	}
	version := cmp.Or(str("api_version"), APIVersion)
	if !ValidAPIVersion(version) {
		ds = append(ds, providers.AttributeError("api_version", "Invalid Square API version",
			"api_version must be a Square-Version, a date YYYY-MM-DD of a Square release (e.g. %s), not %s", APIVersion, req.Show("api_version", version)))
	}
	if tz := str("timezone"); tz != "" {
		loc, err := providers.Location(tz)
		if err != nil {
			ds = append(ds, providers.AttributeError("timezone", "Unknown time zone", "timezone must be an IANA time zone, not %s", req.Show("timezone", tz)))
		}
		next.loc, next.zoneName = loc, tz
	}
	if next.webhookURL != "" {
		if err := providers.CheckWebhookURL(next.webhookURL, "Square"); err != nil {
			ds = append(ds, providers.AttributeError("webhook_url", "Invalid webhook URL",
				"webhook_url must be an absolute https:// URL, not %s; Square delivers webhooks only over HTTPS", req.Show("webhook_url", next.webhookURL)))
		}
	}
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	next.client = NewClient(base, token)
	next.client.Version = version
	*p = next
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

// Validate checks a desired resource the way Square would refuse it, without calling Square.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: p.check(req.Kind, req.Attributes)}
}

func (p *Provider) check(k providers.Kind, a providers.Attrs) providers.Diagnostics {
	ks, ok := kinds[k]
	if !ok {
		return providers.Errorf("Unsupported kind", "Square has no %s; the square provider manages coupon, audience and subscription", k)
	}
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Not possible in Square", format, args...))
	}
	for _, name := range ks.Unheld(a) {
		if why, ok := unsupported[name]; ok && k == providers.KindCoupon {
			bad(name, "%s", why)
		} else {
			bad(name, "a Square %s has no %s", k, name)
		}
	}
	switch k {
	case providers.KindCoupon:
		checkCoupon(a, bad)
	case providers.KindAudience:
		if s := a.String("segment"); !providers.NameRE.MatchString(s) {
			bad("segment", "segment %q must be a block name (letters, digits, _ and -), which the customer group is named after", s)
		}
	case providers.KindSubscription:
		ds = append(ds, p.checkSubscription(a, bad)...)
	}
	return ds
}

func checkCoupon(a providers.Attrs, bad func(attr, format string, args ...any)) {
	if t := a.String("title"); t == "" {
		bad("title", "a coupon needs a title; Square shows it on receipts")
	} else if n := utf8.RuneCountInString(t); n > maxName {
		bad("title", "the title is %d characters; Square takes at most %d", n, maxName)
	}
	providers.CheckOffer(a, "Square", bad)
	for _, id := range a.Strings("stores") {
		if !locationID.MatchString(id) {
			bad("stores", "%q is not a Square location ID (the ID the Locations API and the Dashboard show, such as L8S2VBGHJ6DK5)", id)
			break
		}
	}
}

// locationID is the shape of a Square location ID: letters and digits, with no spaces.
var locationID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Plan fills what Square will hold: a coupon's discount type, a subscription's endpoint and
// the topics Square can deliver.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	planned := req.Proposed
	switch req.Kind {
	case providers.KindCoupon:
		planned = providers.WithDiscountType(planned)
	case providers.KindSubscription:
		planned = p.subscriptions().Plan(planned)
	}
	return providers.PlanResponse{Planned: planned}
}

// Create makes a resource; a retry with the same idempotency key returns what the first try
// made, as Square replays the key.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if ds := p.check(req.Kind, req.Attributes); ds.HasErrors() {
		return providers.CreateResponse{Diagnostics: ds}
	}
	switch req.Kind {
	case providers.KindCoupon:
		return p.createCoupon(ctx, req)
	case providers.KindAudience:
		return p.createAudience(ctx, req)
	default:
		return p.createSubscription(ctx, req)
	}
}

// Read returns a resource's live attributes, by ID or by the idempotency key of its create.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	if _, ok := kinds[req.Kind]; !ok {
		return providers.ReadResponse{}
	}
	if req.ID == "" {
		id, err := p.findByKey(ctx, req.Kind, req.IdempotencyKey)
		if err != nil {
			return providers.ReadResponse{Diagnostics: p.failure("read failed", err)}
		}
		if id == "" {
			return providers.ReadResponse{}
		}
		req.ID = id
	}
	switch req.Kind {
	case providers.KindCoupon:
		return p.readCoupon(ctx, req)
	case providers.KindAudience:
		return p.readAudience(ctx, req)
	default:
		return p.readSubscription(ctx, req)
	}
}

// findByKey finds the object a create with this idempotency key made, by its marker.
func (p *Provider) findByKey(ctx context.Context, k providers.Kind, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	marker := markerOf(key)
	switch k {
	case providers.KindCoupon:
		return p.findCoupon(ctx, marker)
	case providers.KindAudience:
		return p.findGroup(ctx, func(_, m string) bool { return m == marker })
	default:
		var id string
		err := p.client.ListWebhookSubscriptions(ctx, func(s WebhookSubscription) bool {
			if _, m, ok := parseSubscriptionName(s.Name); ok && m == marker {
				id = s.ID
			}
			return id == ""
		})
		return id, err
	}
}

// ReadBatch reads coupons with one batch retrieve per 1,000; other kinds, which Square reads
// one at a time, are read one by one.
func (p *Provider) ReadBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	out := make([]providers.ReadResponse, len(reqs))
	var ids []string
	var at []int
	for i, r := range reqs {
		if r.Kind == providers.KindCoupon && r.ID != "" {
			ids = append(ids, r.ID)
			at = append(at, i)
			continue
		}
		out[i] = p.Read(ctx, r)
	}
	if len(ids) == 0 {
		return out
	}
	resp, err := p.client.BatchRetrieve(ctx, ids, true)
	var segments map[string]string
	if err == nil {
		segments, err = p.segmentsOf(ctx, resp)
	}
	var idx map[string]*CatalogObject
	if err == nil {
		idx = index(resp.Objects, resp.RelatedObjects)
	}
	for _, i := range at {
		if err != nil {
			out[i].Diagnostics = p.failure("read failed", err)
			continue
		}
		out[i] = p.couponResponse(reqs[i].ID, idx, segments, reqs[i].Prior)
	}
	return out
}

// Update changes a resource in place, unless it changed in Square since it was planned.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if ds := p.check(req.Kind, req.Planned); ds.HasErrors() {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	switch req.Kind {
	case providers.KindCoupon:
		return p.updateCoupon(ctx, req)
	case providers.KindAudience:
		return p.updateAudience(ctx, req)
	default:
		return p.updateSubscription(ctx, req)
	}
}

// Delete removes a resource; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	var err error
	switch req.Kind {
	case providers.KindCoupon:
		err = p.deleteCoupon(ctx, req.ID)
	case providers.KindAudience:
		err = p.client.DeleteCustomerGroup(ctx, req.ID)
	case providers.KindSubscription:
		err = p.client.DeleteWebhookSubscription(ctx, req.ID)
	}
	return providers.DeleteResponse{Diagnostics: p.failure("delete failed", err)}
}

// Import reads an object made outside Musubi, by its Square ID (a pricing rule's, for a
// coupon).
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	return providers.ImportByRead(ctx, p, p.name, req)
}

func notFound(format string, args ...any) error {
	return &Error{API: &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf(format, args...)}}
}

func conflict(format string, args ...any) error {
	return &Error{API: &providers.APIError{Code: providers.ErrConflict, Message: fmt.Sprintf(format, args...)}}
}

// failure turns an error into diagnostics, pointing at the canonical attribute of the field
// Square named, so the planner can show the line of the configuration that set it.
func (p *Provider) failure(summary string, err error) providers.Diagnostics {
	if err == nil {
		return nil
	}
	ds := providers.FromError(summary, err)
	var se *Error
	if errors.As(err, &se) {
		ds[0].Attribute = attributeOf(se.Field())
	}
	return ds
}

// fieldAttrs maps the Square fields Musubi writes to canonical attributes, most specific
// first.
var fieldAttrs = []struct{ field, attr string }{
	{".currency", "currency"},
	{"discount_data.name", "title"},
	{"pricing_rule_data.name", "title"},
	{"discount_data.percentage", "percent"},
	{"discount_data.amount_money", "amount"},
	{"discount_data.discount_type", "discount_type"},
	{"minimum_order_subtotal_money", "min_total"},
	{"valid_from_", "starts_at"},
	{"valid_until_", "ends_at"},
	{"customer_group_ids_any", "audience"},
	{"group.name", "segment"},
	{"subscription.name", "source"},
	{"subscription.event_types", "topics"},
	{"subscription.notification_url", "endpoint"},
}

func attributeOf(field string) string {
	if field == "" {
		return ""
	}
	for _, f := range fieldAttrs {
		if strings.Contains(field, f.field) {
			return f.attr
		}
	}
	return ""
}

package smaregi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "smaregi",
		Description: "Smaregi POS (Smaregi Platform API): coupons at every register, sales to members as purchases",
		New:         func() providers.Provider { return &Provider{} },
	})
}

var (
	_ providers.Provider        = (*Provider)(nil)
	_ providers.BatchReader     = (*Provider)(nil)
	_ providers.EventPoller     = (*Provider)(nil)
	_ providers.WebhookReceiver = (*Provider)(nil)
)

// couponSupport is what a Smaregi coupon holds of the canonical coupon.
var couponSupport = providers.KindSupport{
	Attributes: []string{"title", "discount_type", "percent", "amount", "currency", "min_total", "code",
		"starts_at", "ends_at", "timezone"},
	// The serial number is what a customer presents; a new one is a new coupon.
	ForceNew:    []string{"code"},
	Description: "a Smaregi POS coupon (serial number, award type and value, minimum price, start and end days)",
}

// unsupported says why each canonical coupon attribute Smaregi cannot hold is refused.
var unsupported = map[string]string{
	"per_customer":  "a Smaregi coupon has no per-customer limit: the coupon API cannot express one",
	"usage_limit":   "a Smaregi coupon has no usage limit: the coupon API cannot express one",
	"combines_with": "the Smaregi coupon API has no setting for which discounts a coupon stacks with",
	"audience":      "a Smaregi coupon cannot be restricted to a segment: whoever presents its serial number can use it",
	// The coupon API's fields (couponName, serialNumber, awardType, awardValue,
	// applyConditionDivision, min/maxTargetPrice, start/endDate, summary) and its coupon
	// products (departments, products, groups) name no store: a coupon works at every store.
	"stores": "a Smaregi coupon cannot be limited to some stores: the POS API's coupons and coupon products name no store, so a coupon works at every store of the contract",
}

// Provider manages coupons in one Smaregi contract.
type Provider struct {
	name     string
	client   *Client
	zone     *time.Location
	zoneName string

	pollInterval time.Duration
	// webhookHeader and webhookSecret are the custom header the app's Smaregi webhooks carry
	// and its value, which authenticates them (see ReceiveWebhook); never shown.
	webhookHeader, webhookSecret string

	// Set by tests before Configure: the transport and clock the client uses.
	httpClient *http.Client
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
}

// Client returns the configured API client, for callers that read members (the engine's
// identity sync) through the same credentials and token cache.
func (p *Provider) Client() *Client { return p.client }

// Schema describes the provider block and the coupon kind.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "contract_id", Type: providers.String, Required: true, Description: "the Smaregi contract ID (契約ID) the app is installed in"},
			{Name: "client_id", Type: providers.String, Required: true, Description: "the app's client ID"},
			{Name: "client_secret", Type: providers.String, Required: true, Sensitive: true, Description: "the app's client secret"},
			{Name: "api_url", Type: providers.String, Description: "the API host (default " + DefaultAPIURL + "; https://api.smaregi.dev for the sandbox)"},
			{Name: "id_url", Type: providers.String, Description: "the ID server issuing app tokens (default " + DefaultIDURL + "; https://id.smaregi.dev for the sandbox)"},
			{Name: "scopes", Type: providers.Strings, Description: "scopes the app token asks for (default " + strings.Join(DefaultScopes, " ") + ")"},
			{Name: "timezone", Type: providers.String, Description: "the contract's time zone, which coupon dates are days in (default " + DefaultTimezone + ")"},
			{Name: "poll_interval", Type: providers.String, Description: "how often musubi serve reads the contract's new sales, e.g. \"30s\" (default 1m, at least 1s)"},
			{Name: "webhook_secret", Type: providers.String, Sensitive: true, Description: "the value of the custom header set on the app's webhooks in Smaregi Developers; without it webhooks are refused and sales come by polling only"},
			{Name: "webhook_header", Type: providers.String, Description: "the name of that custom header (default " + DefaultWebhookHeader + ")"},
		},
		Kinds: map[providers.Kind]providers.KindSupport{providers.KindCoupon: couponSupport},
	}
}

// Configure reads the provider block and prepares the client. No call is made yet.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	var ds providers.Diagnostics
	str := func(name string) string { return req.String(name, "Invalid Smaregi configuration", &ds) }
	cfg := Config{
		ContractID: str("contract_id"), ClientID: str("client_id"), ClientSecret: str("client_secret"),
		APIURL: str("api_url"), IDURL: str("id_url"),
		HTTPClient: p.httpClient, Now: p.now, Sleep: p.sleep,
	}
	for _, name := range []string{"contract_id", "client_id", "client_secret"} {
		if str(name) == "" {
			ds = append(ds, providers.AttributeError(name, "Missing Smaregi credential", "%s is empty", name))
		}
	}
	if raw, ok := req.Config["scopes"]; ok && raw != nil {
		list, _ := raw.([]any)
		for _, v := range list {
			if s, ok := v.(string); ok && s != "" {
				cfg.Scopes = append(cfg.Scopes, s)
			}
		}
		if len(cfg.Scopes) == 0 {
			ds = append(ds, providers.AttributeError("scopes", "Invalid Smaregi configuration", "scopes must be a non-empty list of strings such as %q", DefaultScopes[0]))
		}
	}
	zoneName := str("timezone")
	if zoneName == "" {
		zoneName = DefaultTimezone
	}
	zone, err := providers.Location(zoneName)
	if err != nil {
		ds = append(ds, providers.AttributeError("timezone", "Invalid Smaregi configuration", "timezone must be an IANA time zone, not %s", req.Show("timezone", zoneName)))
	}
	interval := DefaultPollInterval
	if v := str("poll_interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			ds = append(ds, providers.AttributeError("poll_interval", "Invalid Smaregi configuration",
				"poll_interval must be a duration of at least 1s, such as \"30s\" or \"5m\", not %s", req.Show("poll_interval", v)))
		}
		interval = d
	}
	if ds.HasErrors() {
		return providers.ConfigureResponse{Diagnostics: ds}
	}
	client, err := NewClient(cfg)
	if err != nil {
		return providers.ConfigureResponse{Diagnostics: providers.Errorf("Invalid Smaregi configuration", "%v", err)}
	}
	p.name, p.client, p.zone, p.zoneName, p.pollInterval = req.Name, client, zone, zoneName, interval
	p.webhookSecret, p.webhookHeader = str("webhook_secret"), cmp.Or(str("webhook_header"), DefaultWebhookHeader)
	return providers.ConfigureResponse{}
}

// Close releases idle connections.
func (p *Provider) Close() error {
	if p.client != nil {
		p.client.cfg.HTTPClient.CloseIdleConnections()
	}
	return nil
}

// Validate refuses what a Smaregi coupon cannot hold, before anything is applied.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: p.check(req.Kind, req.Attributes)}
}

var serialRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (p *Provider) contractZone() (*time.Location, string) {
	if p.zone == nil {
		z, _ := providers.Location(DefaultTimezone)
		return z, DefaultTimezone
	}
	return p.zone, p.zoneName
}

func (p *Provider) check(k providers.Kind, a providers.Attrs) providers.Diagnostics {
	if k != providers.KindCoupon {
		detail := fmt.Sprintf("Smaregi manages coupons; it has no %s", k)
		if k == providers.KindCodePool {
			detail = "a Smaregi coupon has exactly one serial number and the API has no call that issues many, so a codes block cannot go to a Smaregi channel; use a shared code"
		}
		return providers.Errorf("Unsupported kind", "%s", detail)
	}
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Not possible on Smaregi", format, args...))
	}
	for _, name := range slices.Sorted(maps.Keys(unsupported)) {
		if !providers.IsZero(a[name]) {
			bad(name, "%s", unsupported[name])
		}
	}
	if a.String("title") == "" {
		bad("title", "a Smaregi coupon needs a name (couponName)")
	}
	switch dt := providers.DiscountType(a); dt { // as Plan fills it
	case "percent":
		if pc := a.Float("percent"); pc <= 0 || pc > 100 {
			bad("percent", "percent is %v; it must be above 0 and at most 100", pc)
		}
		if a.Int("amount") != 0 {
			bad("amount", "a percent discount has no amount")
		}
	case "amount":
		if a.Int("amount") <= 0 {
			bad("amount", "amount must be at least ¥1")
		}
		if a.Float("percent") != 0 {
			bad("percent", "an amount discount has no percent")
		}
	case DiscountGift:
		bad("discount_type", "product-grant coupons need coupon products, which Musubi does not manage; use percent or amount")
	default:
		bad("discount_type", "discount_type is %q; it must be percent or amount", dt)
	}
	if c := a.String("currency"); c != "" && c != Currency {
		bad("currency", "Smaregi coupon amounts are in yen; currency is %q, it must be %s", c, Currency)
	}
	if a.Int("min_total") < 0 {
		bad("min_total", "min_total is %d; it cannot be negative", a.Int("min_total"))
	}
	if c := a.String("code"); c != "" && !serialRE.MatchString(c) {
		bad("code", "code %q must be 1 to 64 of A-Z, a-z, 0-9, _ and -", c)
	}
	zone, zoneName := p.contractZone()
	start, end := a.Time("starts_at"), a.Time("ends_at")
	if !start.IsZero() && !isMidnight(start.In(zone)) {
		bad("starts_at", "Smaregi coupons start at the beginning of a day in the contract's zone (%s); %s is %s there",
			zoneName, a.String("starts_at"), start.In(zone).Format("2006-01-02 15:04:05"))
	}
	if !end.IsZero() && !isMidnight(end.In(zone)) && !isLastSecond(end.In(zone)) {
		bad("ends_at", "Smaregi coupons end with a day in the contract's zone (%s): use 23:59:59 or the next day's 00:00:00; %s is %s there",
			zoneName, a.String("ends_at"), end.In(zone).Format("2006-01-02 15:04:05"))
	}
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		bad("ends_at", "the coupon ends (%s) before it starts (%s)", a.String("ends_at"), a.String("starts_at"))
	}
	if tz := a.String("timezone"); tz != "" {
		if _, err := providers.Location(tz); err != nil {
			bad("timezone", "unknown time zone %q", tz)
		}
	}
	return ds
}

// Plan fills what Smaregi fills (yen, the contract's zone, the discount type from the values)
// and writes an end at midnight as the last second of the day before, as it reads back.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	planned := req.Proposed
	if req.Kind != providers.KindCoupon {
		return providers.PlanResponse{Planned: planned}
	}
	cloned := false // the planner's own copy: clone only to change it
	change := func(k string, v any) {
		if !cloned {
			planned, cloned = planned.Clone(), true
		}
		planned[k] = v
	}
	if planned.String("discount_type") == "" {
		change("discount_type", providers.DiscountType(planned))
	}
	if planned.String("currency") == "" {
		change("currency", Currency)
	}
	zone, zoneName := p.contractZone()
	if planned.String("timezone") == "" {
		change("timezone", zoneName)
	}
	if end := planned.Time("ends_at"); !end.IsZero() && isMidnight(end.In(zone)) {
		loc, err := providers.Location(planned.String("timezone"))
		if err != nil {
			loc = zone
		}
		change("ends_at", end.Add(-time.Second).In(loc).Format(time.RFC3339))
	}
	return providers.PlanResponse{Planned: planned}
}

// lookup scans the contract's coupons for the one a create with this key hash made, and for
// another coupon that holds the serial number.
func (p *Provider) lookup(ctx context.Context, hash, serial string) (mine, serialOwner *Coupon, err error) {
	err = p.client.EachCoupon(ctx, func(c Coupon) bool {
		if h, _, ok := parseMarker(c.Summary); ok && h == hash {
			mine = &c
			return false
		}
		if serial != "" && c.SerialNumber == serial && serialOwner == nil {
			serialOwner = &c
		}
		return true
	})
	return mine, serialOwner, err
}

// Create registers a coupon. The API takes no idempotency key, so the create looks first: a
// coupon whose summary carries this key's hash is the one an earlier try made, and is
// returned instead of making a second.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if ds := p.check(req.Kind, req.Attributes); ds.HasErrors() {
		return providers.CreateResponse{Diagnostics: ds}
	}
	key := req.IdempotencyKey
	if key == "" {
		key = providers.NewKey() // no key: nothing can find a retry, and nothing needs to
	}
	hash := keyHash(key)
	want := p.toCoupon(req.Attributes, hash)
	mine, owner, err := p.lookup(ctx, hash, want.SerialNumber)
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.diags("create failed: cannot look for an earlier try", err, req.Attributes)}
	}
	if mine != nil {
		return providers.CreateResponse{ID: mine.CouponID, Attributes: p.fromCoupon(mine)}
	}
	if owner != nil {
		return providers.CreateResponse{Diagnostics: providers.Diagnostics{{
			Severity: providers.Error, Summary: "create failed", Attribute: "code",
			Detail: fmt.Sprintf("serial number %s is already used by %s in contract %s", want.SerialNumber, describe(owner), p.client.cfg.ContractID),
			Err:    &providers.APIError{Code: providers.ErrConflict, Message: "serial number " + want.SerialNumber + " is already in use"},
		}}}
	}
	created, err := p.client.CreateCoupon(ctx, want)
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.diags("create failed", err, req.Attributes)}
	}
	if created.CouponID == "" { // an answer without the coupon: find it by its marker
		found, _, err := p.lookup(ctx, hash, "")
		if err == nil && found == nil {
			err = unavailable("the coupon was created, but no coupon carries the marker of this create")
		}
		if err != nil {
			return providers.CreateResponse{Diagnostics: p.diags("create failed", err, req.Attributes)}
		}
		created = found
	}
	return providers.CreateResponse{ID: created.CouponID, Attributes: p.fromCoupon(created)}
}

// Read returns a coupon by ID, or by the idempotency key of the create that made it.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	if req.Kind != providers.KindCoupon {
		return providers.ReadResponse{Diagnostics: providers.Errorf("Unsupported kind", "Smaregi manages coupons; it has no %s", req.Kind)}
	}
	if req.ID == "" {
		if req.IdempotencyKey == "" {
			return providers.ReadResponse{}
		}
		mine, _, err := p.lookup(ctx, keyHash(req.IdempotencyKey), "")
		if err != nil {
			return providers.ReadResponse{Diagnostics: p.diags("read failed", err, nil)}
		}
		if mine == nil {
			return providers.ReadResponse{}
		}
		return providers.ReadResponse{Found: true, ID: mine.CouponID, Attributes: p.fromCoupon(mine)}
	}
	c, err := p.client.GetCoupon(ctx, req.ID)
	if providers.CodeOf(err) == providers.ErrNotFound {
		return providers.ReadResponse{}
	}
	if err != nil {
		return providers.ReadResponse{Diagnostics: p.diags("read failed", err, nil)}
	}
	return providers.ReadResponse{Found: true, ID: c.CouponID, Attributes: p.fromCoupon(c)}
}

// batchByID is the largest batch read one coupon at a time; larger batches page through the
// coupon list (up to 1,000 a call) once for all of them.
const batchByID = 8

// ReadBatch answers many reads: small batches one coupon at a time, larger ones from one pass
// over the coupon list that stops as soon as every request is answered.
func (p *Provider) ReadBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	out := make([]providers.ReadResponse, len(reqs))
	byID := map[string][]int{}
	byHash := map[string][]int{}
	for i, r := range reqs {
		switch {
		case r.Kind != providers.KindCoupon || (r.ID == "" && r.IdempotencyKey == ""):
			out[i] = p.Read(ctx, r)
		case r.ID != "":
			byID[r.ID] = append(byID[r.ID], i)
		default:
			h := keyHash(r.IdempotencyKey)
			byHash[h] = append(byHash[h], i)
		}
	}
	if len(byHash) == 0 && len(byID) <= batchByID {
		for _, idx := range byID {
			for _, i := range idx {
				out[i] = p.Read(ctx, reqs[i])
			}
		}
		return out
	}
	pending := len(byID) + len(byHash)
	err := p.client.EachCoupon(ctx, func(c Coupon) bool {
		answer := func(idx []int) {
			attrs := p.fromCoupon(&c)
			for _, i := range idx {
				out[i] = providers.ReadResponse{Found: true, ID: c.CouponID, Attributes: attrs.Clone()}
			}
			pending--
		}
		if idx, ok := byID[c.CouponID]; ok {
			answer(idx)
			delete(byID, c.CouponID)
		}
		if h, _, ok := parseMarker(c.Summary); ok {
			if idx, ok := byHash[h]; ok {
				answer(idx)
				delete(byHash, h)
			}
		}
		return pending > 0
	})
	if err != nil {
		ds := p.diags("read failed", err, nil)
		for _, idx := range []map[string][]int{byID, byHash} {
			for _, is := range idx {
				for _, i := range is {
					out[i] = providers.ReadResponse{Diagnostics: ds}
				}
			}
		}
	}
	return out
}

// Update changes a coupon in place. The marker is rewritten only when the campaign's zone
// changes, which needs the coupon's key hash and so one read first.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if ds := p.check(req.Kind, req.Planned); ds.HasErrors() {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	patch := p.patchFor(req.Planned)
	if req.Prior == nil || p.zoneOf(req.Prior) != p.zoneOf(req.Planned) {
		cur, err := p.client.GetCoupon(ctx, req.ID)
		if err != nil {
			return providers.UpdateResponse{Diagnostics: p.diags("update failed", err, req.Planned)}
		}
		hash, _, ok := parseMarker(cur.Summary)
		if !ok {
			hash = keyHash("coupon:" + req.ID)
		}
		patch.Set("summary", marker(hash, p.zoneOf(req.Planned)))
	}
	updated, err := p.client.UpdateCoupon(ctx, req.ID, patch)
	if err != nil {
		return providers.UpdateResponse{Diagnostics: p.diags("update failed", err, req.Planned)}
	}
	return providers.UpdateResponse{Attributes: p.fromCoupon(updated)}
}

// Delete deletes a coupon; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	err := p.client.DeleteCoupon(ctx, req.ID)
	if err != nil && providers.CodeOf(err) != providers.ErrNotFound {
		return providers.DeleteResponse{Diagnostics: p.diags("delete failed", err, nil)}
	}
	return providers.DeleteResponse{}
}

// Import reads a coupon made in the Smaregi admin, by its coupon ID.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	if req.Kind != providers.KindCoupon {
		return providers.ImportResponse{Diagnostics: providers.Errorf("Unsupported kind", "Smaregi manages coupons; it has no %s", req.Kind)}
	}
	c, err := p.client.GetCoupon(ctx, req.ID)
	if err != nil {
		return providers.ImportResponse{Diagnostics: p.diags("import failed", err, nil)}
	}
	return providers.ImportResponse{Attributes: p.fromCoupon(c)}
}

// diags turns an API error into diagnostics: one per field Smaregi refused, pointing at the
// canonical attribute that field holds, else one for the call.
func (p *Provider) diags(summary string, err error, a providers.Attrs) providers.Diagnostics {
	var e *Error
	if !errors.As(err, &e) || len(e.Problem.InvalidParams) == 0 {
		return providers.FromError(summary, err)
	}
	// Each diagnostic names its own field; the rest of the problem is said once per field.
	brief := *e.API
	brief.Message = Problem{Title: e.Problem.Title, Detail: e.Problem.Detail}.String()
	ds := make(providers.Diagnostics, 0, len(e.Problem.InvalidParams))
	for _, ip := range e.Problem.InvalidParams {
		ds = append(ds, providers.Diagnostic{
			Severity: providers.Error, Summary: summary, Attribute: attrOfField(ip.Name, a), Err: e.API,
			Detail: fmt.Sprintf("Smaregi refused %s: %s (%s)", ip.Name, ip.Reason, brief.Error()),
		})
	}
	return ds
}

// Package loyalty is the provider of the example plugin: a retailer's loyalty app, whose
// members find coupons in the app and redeem single-use codes from it. The app keeps its
// data in one JSON file (see Store), so the example runs anywhere; a provider for a real app
// has the same shape with an HTTP client in place of the file.
//
// Campaign features map as follows: campaign.coupon lands as an app coupon (kind coupon,
// without audience restrictions: every member sees it), and campaign.coupon.codes as a
// code pool whose codes the app hands out one per member (kind code_pool).
package loyalty

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// Name and Version are how the plugin reports itself.
const (
	Name    = "loyalty"
	Version = "0.1.0"
)

// DefaultPath is the app's file when the provider block sets no path.
const DefaultPath = "loyalty.json"

var kinds = map[providers.Kind]providers.KindSupport{
	providers.KindCoupon: {
		Attributes: []string{"title", "discount_type", "percent", "amount", "currency", "min_total", "code",
			"per_customer", "usage_limit", "starts_at", "ends_at", "timezone", "combines_with"},
		ForceNew:    []string{"discount_type", "currency", "code"},
		Description: "a coupon every member sees in the loyalty app",
	},
	providers.KindCodePool: {
		Attributes:  []string{"coupon", "pattern", "charset", "count", "seed"},
		ForceNew:    []string{"coupon", "pattern", "charset", "seed"},
		Description: "single-use codes the app hands out, one per member",
	},
}

var idPrefix = map[providers.Kind]string{providers.KindCoupon: "cpn", providers.KindCodePool: "pool"}

// Limits the app enforces.
const (
	maxTitle = 100
	maxCodes = 10_000
)

var (
	codeRE     = regexp.MustCompile(`^[A-Z0-9-]{4,32}$`)
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Provider manages one programme of the loyalty app.
type Provider struct {
	program string
	apiKey  string
	store   *Store
	// Crash, when set, ends or stalls the process after a call's work is done (see
	// ParseCrash); the plugin's main sets it from LOYALTY_FAULT.
	Crash *Crash
}

var _ providers.BatchReader = (*Provider)(nil)

// Schema describes the provider block and what the app manages.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "path", Type: providers.String, Description: "the app's data file, relative to the configuration (default " + DefaultPath + ")"},
			{Name: "api_key", Type: providers.String, Sensitive: true, Description: "the app's API key, when it requires one"},
		},
		Kinds: kinds,
	}
}

// Configure opens the app's file.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	path, _ := req.Config["path"].(string)
	if path == "" {
		path = DefaultPath
	}
	if !filepath.IsAbs(path) && req.WorkDir != "" {
		path = filepath.Join(req.WorkDir, path)
	}
	p.program, p.store = req.Name, OpenStore(path)
	p.apiKey, _ = req.Config["api_key"].(string)
	slog.Debug("loyalty: configured", "program", p.program, "path", path)
	return providers.ConfigureResponse{}
}

// Close has nothing to release: every call opens the file anew.
func (p *Provider) Close() error { return nil }

// Validate refuses what the app would refuse.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: check(req.Kind, req.Attributes)}
}

func check(k providers.Kind, a providers.Attrs) providers.Diagnostics {
	ks, ok := kinds[k]
	if !ok {
		return providers.Errorf("Unsupported kind", "the loyalty app has no %s", k)
	}
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Refused by the loyalty app", format, args...))
	}
	for name, v := range a {
		if !slices.Contains(ks.Attributes, name) && !providers.IsZero(v) {
			bad(name, "a loyalty app %s has no %s", k, name)
		}
	}
	switch k {
	case providers.KindCoupon:
		if t := []rune(a.String("title")); len(t) == 0 || len(t) > maxTitle {
			bad("title", "a coupon needs a title of 1 to %d characters", maxTitle)
		}
		switch a.String("discount_type") {
		case "percent":
			if pc := a.Float("percent"); pc <= 0 || pc > 100 {
				bad("percent", "percent is %v; it must be above 0 and at most 100", pc)
			}
		case "amount":
			if a.Int("amount") <= 0 {
				bad("amount", "amount must be above 0")
			}
		default:
			bad("discount_type", "discount_type is %q; it must be percent or amount", a.String("discount_type"))
		}
		if c := a.String("currency"); c != "" && !currencyRE.MatchString(c) {
			bad("currency", "currency %q is not an ISO 4217 code", c)
		}
		if c := a.String("code"); c != "" && !codeRE.MatchString(c) {
			bad("code", "code %q must be 4 to 32 of A-Z, 0-9 and -", c)
		}
		if s, e := a.Time("starts_at"), a.Time("ends_at"); !s.IsZero() && !e.IsZero() && !e.After(s) {
			bad("ends_at", "the coupon ends before it starts")
		}
	case providers.KindCodePool:
		if n := a.Int("count"); n < 1 || n > maxCodes {
			bad("count", "count is %d; a pool holds 1 to %d codes", n, maxCodes)
		}
		if !strings.Contains(a.String("pattern"), "#") {
			bad("pattern", "the pattern %q has no # to fill", a.String("pattern"))
		}
		if a.String("charset") == "" || a.String("seed") == "" {
			bad("charset", "a code pool needs a charset and a seed")
		}
	}
	return ds
}

// Plan fills the discount type the app would infer.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	planned := req.Proposed
	if req.Kind == providers.KindCoupon && planned.String("discount_type") == "" {
		planned = planned.Clone()
		planned["discount_type"] = "percent"
		if planned.Int("amount") != 0 {
			planned["discount_type"] = "amount"
		}
	}
	return providers.PlanResponse{Planned: planned}
}

// Create makes an object, or returns the one an earlier try with the same idempotency key
// made.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if ds := check(req.Kind, req.Attributes); ds.HasErrors() {
		return providers.CreateResponse{Diagnostics: ds}
	}
	var out providers.CreateResponse
	err := p.call(ctx, "create", func(d *data) error {
		if o := d.byKey(p.program, req.IdempotencyKey); o != nil {
			out.ID, out.Attributes = o.ID, o.Attributes.Clone()
			return nil
		}
		if err := p.conflicts(d, req.Kind, "", req.Attributes, req.Refs); err != nil {
			return err
		}
		now := time.Now().UTC()
		o := &Object{ID: d.newID(req.Kind), Program: p.program, Kind: req.Kind, Attributes: req.Attributes.Clone(),
			Refs: req.Refs, IdempotencyKey: req.IdempotencyKey, CreatedAt: now, UpdatedAt: now}
		o.Codes = codesOf(o)
		d.Objects = append(d.Objects, o)
		out.ID, out.Attributes = o.ID, o.Attributes.Clone()
		return nil
	})
	if err != nil {
		return providers.CreateResponse{Diagnostics: providers.FromError("create failed", err)}
	}
	return out
}

func codesOf(o *Object) []string {
	if o.Kind != providers.KindCodePool {
		return nil
	}
	a := o.Attributes
	return providers.GenerateCodes(a.String("pattern"), a.String("charset"), a.String("seed"), int(a.Int("count")))
}

// conflicts checks what the app refuses across objects: a code another coupon uses, and a
// pool for a coupon that does not exist.
func (p *Provider) conflicts(d *data, k providers.Kind, self string, a providers.Attrs, refs map[string]string) error {
	if code := a.String("code"); k == providers.KindCoupon && code != "" {
		for _, o := range d.Objects {
			if o.Program == p.program && o.Kind == k && o.ID != self && o.Attributes.String("code") == code {
				return &providers.APIError{Code: providers.ErrConflict, Status: 409, Message: fmt.Sprintf("code %s is used by %s", code, o.ID)}
			}
		}
	}
	for attr, id := range refs {
		if o := d.byID(id); o == nil || o.Program != p.program {
			return &providers.APIError{Code: providers.ErrNotFound, Status: 404, Message: fmt.Sprintf("%s names %s, which does not exist", attr, id)}
		}
	}
	return nil
}

// Read returns an object by ID, or by the idempotency key of the create that made it.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	return p.ReadBatch(ctx, []providers.ReadRequest{req})[0]
}

// ReadBatch reads many objects with one read of the file, as a refresh does.
func (p *Provider) ReadBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	out := make([]providers.ReadResponse, len(reqs))
	find := func(d *data) error {
		for i, r := range reqs {
			o := d.byKey(p.program, r.IdempotencyKey)
			if r.ID != "" {
				o = d.byID(r.ID)
			}
			if o != nil && o.Program == p.program && o.Kind == r.Kind {
				out[i] = providers.ReadResponse{Found: true, ID: o.ID, Attributes: o.Attributes.Clone()}
			}
		}
		return nil
	}
	// A refresh reads every object: take the write lock only when a read fault is pending.
	var pending bool
	err := p.store.view(func(d *data) error {
		if err := p.authorize(d); err != nil {
			return err
		}
		if pending = d.hasFault(p.program, "read"); !pending {
			return find(d)
		}
		return nil
	})
	if err == nil && pending {
		err = p.call(ctx, "read", find)
	}
	if err != nil {
		ds := providers.FromError("read failed", err)
		for i := range out {
			out[i] = providers.ReadResponse{Diagnostics: ds}
		}
	}
	return out
}

// Update changes an object in place.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if ds := check(req.Kind, req.Planned); ds.HasErrors() {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	var out providers.UpdateResponse
	err := p.call(ctx, "update", func(d *data) error {
		o := d.byID(req.ID)
		if o == nil || o.Program != p.program || o.Kind != req.Kind {
			return &providers.APIError{Code: providers.ErrNotFound, Status: 404, Message: fmt.Sprintf("%s does not exist", req.ID)}
		}
		for _, attr := range providers.Diff(req.Kind, o.Attributes, req.Planned) {
			if slices.Contains(kinds[req.Kind].ForceNew, attr) {
				return &providers.APIError{Code: providers.ErrInvalid, Status: 422, Message: attr + " cannot change once created"}
			}
		}
		if req.Refs != nil {
			o.Refs = req.Refs
		}
		if err := p.conflicts(d, req.Kind, o.ID, req.Planned, o.Refs); err != nil {
			return err
		}
		o.Attributes, o.UpdatedAt = req.Planned.Clone(), time.Now().UTC()
		o.Codes = codesOf(o)
		out.Attributes = o.Attributes.Clone()
		return nil
	})
	if err != nil {
		return providers.UpdateResponse{Diagnostics: providers.FromError("update failed", err)}
	}
	return out
}

// Delete removes an object; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	err := p.call(ctx, "delete", func(d *data) error {
		d.Objects = slices.DeleteFunc(d.Objects, func(o *Object) bool { return o.ID == req.ID && o.Program == p.program })
		return nil
	})
	return providers.DeleteResponse{Diagnostics: providers.FromError("delete failed", err)}
}

// Import reads an object made in the app's own admin.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	r := p.Read(ctx, providers.ReadRequest{Kind: req.Kind, ID: req.ID})
	if r.Diagnostics.HasErrors() {
		return providers.ImportResponse{Diagnostics: r.Diagnostics}
	}
	if !r.Found {
		return providers.ImportResponse{Diagnostics: providers.FromError("import failed", &providers.APIError{
			Code: providers.ErrNotFound, Status: 404, Message: fmt.Sprintf("the app has no %s %s", req.Kind, req.ID)})}
	}
	return providers.ImportResponse{Attributes: r.Attributes}
}

// call runs one write call of the app: it checks the key, fires a pending fault, does the
// work, and then lets a process crash rehearsal (Crash) strike.
func (p *Provider) call(ctx context.Context, op string, work func(d *data) error) error {
	var fired *Fault
	err := p.store.update(func(d *data) error {
		if err := p.authorize(d); err != nil {
			return err
		}
		if fired = d.takeFault(p.program, op); fired != nil && !fired.Lose {
			return nil // the app refused the call: only the fault is consumed
		}
		return work(d)
	})
	if err != nil {
		return err
	}
	if p.Crash != nil {
		p.Crash.strike(ctx, op)
	}
	if fired == nil {
		return nil
	}
	if fired.Lose {
		return &providers.APIError{Code: providers.ErrUnavailable, Status: 504, Message: "timed out waiting for the app (injected fault)"}
	}
	return statusError(fired.Status, "injected fault")
}

func (p *Provider) authorize(d *data) error {
	if d.APIKey != "" && d.APIKey != p.apiKey {
		return &providers.APIError{Code: providers.ErrAuth, Status: 401, Message: "the API key is missing or wrong"}
	}
	return nil
}

// statusError classifies an HTTP status the way every Musubi provider does.
func statusError(status int, msg string) *providers.APIError {
	e := &providers.APIError{Status: status, Message: msg, RequestID: fmt.Sprintf("req_%d", time.Now().UnixNano())}
	switch {
	case status == 401 || status == 403:
		e.Code = providers.ErrAuth
	case status == 404:
		e.Code = providers.ErrNotFound
	case status == 409:
		e.Code = providers.ErrConflict
	case status == 400 || status == 422:
		e.Code = providers.ErrInvalid
	case status == 429:
		e.Code, e.RetryAfter = providers.ErrRateLimited, time.Second
	default:
		e.Code = providers.ErrUnavailable
	}
	return e
}

// Package sandbox is the built-in provider that simulates the systems a retailer runs (an EC
// store, a POS, a messaging channel) in one local SQLite file, so a programme can be planned, applied
// and served with no credentials and no servers. It behaves as a strict real system would:
// it validates values, refuses duplicate codes, honours idempotency keys, and can be told to
// fail (see Fault) so failure handling is tested the same way a real outage would exercise it.
package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        "sandbox",
		Description: "simulated EC, POS and messaging systems in a local file",
		New:         func() providers.Provider { return &Provider{} },
	})
}

var (
	_ providers.Provider    = (*Provider)(nil)
	_ providers.BatchReader = (*Provider)(nil)
	_ providers.Sender      = (*Provider)(nil)
)

// Systems the sandbox simulates, and the kinds each manages.
var systems = map[string]map[providers.Kind]providers.KindSupport{
	"ec": {
		providers.KindCoupon: {Attributes: couponAttrs, ForceNew: couponForceNew,
			Description: "a code discount in the simulated EC store"},
		providers.KindCodePool:     codePool,
		providers.KindAudience:     audience("a customer group in the simulated EC store"),
		providers.KindSubscription: subscription("account.linked", "cart.updated", "purchase"),
	},
	"pos": {
		// Registers apply one discount at a time and know no customer segments; a register
		// knows its store, so a coupon may be limited to some.
		providers.KindCoupon: {Attributes: append(without(couponAttrs, "combines_with", "audience"), "stores"), ForceNew: couponForceNew,
			Description: "a coupon in the simulated POS"},
		providers.KindCodePool:     codePool,
		providers.KindSubscription: subscription("account.linked", "purchase"),
	},
	"messaging": {
		providers.KindMessage: {Attributes: []string{"name", "template", "subject", "variants", "audience"},
			ForceNew: []string{"name"}, Description: "a message template in the simulated messaging channel"},
		providers.KindAudience:     audience("an audience group in the simulated messaging channel"),
		providers.KindSubscription: subscription("follow", "unfollow"),
	},
}

var (
	couponAttrs = []string{"title", "discount_type", "percent", "amount", "currency", "min_total", "code",
		"per_customer", "usage_limit", "starts_at", "ends_at", "timezone", "combines_with", "audience"}
	couponForceNew = []string{"code", "discount_type", "currency"}
	codePool       = providers.KindSupport{Attributes: []string{"coupon", "pattern", "charset", "count", "seed"},
		ForceNew: []string{"coupon", "pattern", "charset", "seed"}, Description: "a set of single-use codes"}
)

// subscription is a system's webhook subscription, delivering the events its real
// counterpart sends: an EC store's as Shopify's, a POS's as Square's, a messaging channel's
// as LINE's.
func subscription(topics ...string) providers.KindSupport {
	return providers.KindSupport{Attributes: []string{"source", "topics", "endpoint"},
		ForceNew: []string{"source"}, Description: "a webhook subscription", Topics: topics}
}

func audience(desc string) providers.KindSupport {
	return providers.KindSupport{Attributes: []string{"segment", "description"}, ForceNew: []string{"segment"}, Description: desc}
}

// union is what two systems' support of one kind allows together: every attribute and topic
// of either, and the attributes either cannot change in place.
func union(a, b providers.KindSupport) providers.KindSupport {
	if a.Description == "" {
		return b
	}
	merge := func(x, y []string) []string {
		out := slices.Concat(x, y)
		slices.Sort(out)
		return slices.Compact(out)
	}
	a.Attributes, a.ForceNew = merge(a.Attributes, b.Attributes), merge(a.ForceNew, b.ForceNew)
	if a.Topics != nil || b.Topics != nil {
		a.Topics = merge(a.Topics, b.Topics)
	}
	return a
}

func without(list []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return slices.Contains(drop, s) })
}

// idPrefix is the start of the IDs the sandbox hands out per kind.
var idPrefix = map[providers.Kind]string{
	providers.KindCoupon: "cpn", providers.KindCodePool: "pool", providers.KindAudience: "aud",
	providers.KindMessage: "msg", providers.KindSubscription: "sub",
}

// Limits the simulated systems enforce, like their real counterparts do.
const (
	maxTitle    = 255
	maxTemplate = 5000 // LINE's text message limit
	maxCodes    = 100_000
)

var codeRE = regexp.MustCompile(`^[A-Z0-9_-]{3,64}$`)

// Provider is one configured sandbox system.
type Provider struct {
	name   string
	system string
	store  *Store
	// Stderr receives the line a hang fault prints; tests may redirect it.
	Stderr io.Writer
}

// Schema describes the provider block and, once configured, the system's kinds.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	kinds := map[providers.Kind]providers.KindSupport{}
	if p.system != "" {
		kinds = systems[p.system]
	} else {
		// Before it is configured, the sandbox can do what any of its systems can.
		for _, sys := range slices.Sorted(maps.Keys(systems)) {
			for k, s := range systems[sys] {
				kinds[k] = union(kinds[k], s)
			}
		}
	}
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "system", Type: providers.String, Required: true, Description: "the system simulated: ec, pos or messaging"},
			{Name: "path", Type: providers.String, Description: "file holding the simulated systems, relative to the configuration (default " + DefaultPath + ")"},
		},
		Kinds: kinds,
	}
}

// Configure opens the sandbox file.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	sys, _ := req.Config["system"].(string)
	if _, ok := systems[sys]; !ok {
		return providers.ConfigureResponse{Diagnostics: providers.Diagnostics{providers.AttributeError("system",
			"Unknown sandbox system", "system is %q; the sandbox simulates \"ec\", \"pos\" and \"messaging\"", sys)}}
	}
	path, _ := req.Config["path"].(string)
	if path == "" {
		path = filepath.FromSlash(DefaultPath)
	}
	if !filepath.IsAbs(path) && req.WorkDir != "" {
		path = filepath.Join(req.WorkDir, path)
	}
	s, err := OpenStore(path)
	if err != nil {
		return providers.ConfigureResponse{Diagnostics: providers.Errorf("Cannot open the sandbox", "%s: %v", path, err)}
	}
	if p.store != nil {
		p.store.Close()
	}
	p.name, p.system, p.store = req.Name, sys, s
	return providers.ConfigureResponse{}
}

// Close releases the sandbox file.
func (p *Provider) Close() error {
	if p.store == nil {
		return nil
	}
	err := p.store.Close()
	p.store = nil
	return err
}

// Store returns the open sandbox file, for tests and tools that look inside.
func (p *Provider) Store() *Store { return p.store }

func (p *Provider) support(k providers.Kind) (providers.KindSupport, bool) {
	ks, ok := systems[p.system][k]
	return ks, ok
}

// Validate checks values the way the simulated system's API would refuse them.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: p.check(req.Kind, req.Attributes)}
}

func (p *Provider) check(k providers.Kind, a providers.Attrs) providers.Diagnostics {
	ks, ok := p.support(k)
	if !ok {
		return providers.Errorf("Unsupported kind", "a sandbox %s system has no %s", p.system, k)
	}
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Refused by the sandbox "+p.system, format, args...))
	}
	for _, name := range ks.Unheld(a) {
		bad(name, "a sandbox %s %s has no %s", p.system, k, name)
	}
	switch k {
	case providers.KindCoupon:
		if t := a.String("title"); t == "" {
			bad("title", "a coupon needs a title")
		} else if len([]rune(t)) > maxTitle {
			bad("title", "the title is %d characters; the limit is %d", len([]rune(t)), maxTitle)
		}
		providers.CheckOffer(a, "the sandbox", bad)
		if c := a.String("code"); c != "" && !codeRE.MatchString(c) {
			bad("code", "code %q must be 3 to 64 of A-Z, 0-9, _ and -", c)
		}
		for _, n := range []string{"per_customer", "usage_limit"} {
			if a.Int(n) < 0 {
				bad(n, "%s is %d; it cannot be negative", n, a.Int(n))
			}
		}
		for _, c := range a.Strings("combines_with") {
			if c != "order" && c != "product" && c != "shipping" {
				bad("combines_with", "%q is not a discount class; use order, product or shipping", c)
			}
		}
	case providers.KindCodePool:
		pattern, charset, count := a.String("pattern"), a.String("charset"), a.Int("count")
		if !strings.Contains(pattern, "#") {
			bad("pattern", "the pattern %q has no # to fill", pattern)
		}
		if charset == "" {
			bad("charset", "a code pool needs a charset")
		}
		if count < 1 || count > maxCodes {
			bad("count", "count is %d; a pool holds 1 to %d codes", count, maxCodes)
		} else if charset != "" && float64(strings.Count(pattern, "#"))*math.Log(float64(len(charset))) < math.Log(float64(2*count)) {
			bad("count", "the pattern %q cannot make %d distinct codes with %d characters", pattern, count, len(charset))
		}
		if a.String("seed") == "" {
			bad("seed", "a code pool needs a seed")
		}
	case providers.KindMessage:
		if t := a.String("template"); t == "" {
			bad("template", "a message needs a template")
		} else if len([]rune(t)) > maxTemplate {
			bad("template", "the template is %d characters; the limit is %d", len([]rune(t)), maxTemplate)
		}
		for v, t := range a.StringMap("variants") {
			if len([]rune(t)) > maxTemplate {
				bad("variants", "variant %q is %d characters; the limit is %d", v, len([]rune(t)), maxTemplate)
			}
		}
	case providers.KindAudience:
		if a.String("segment") == "" {
			bad("segment", "an audience needs a segment")
		}
	case providers.KindSubscription:
		if a.String("source") == "" {
			bad("source", "a subscription needs a source")
		}
		if topics := a.Strings("topics"); len(topics) == 0 {
			bad("topics", "a subscription needs at least one topic")
		} else {
			ds = append(ds, providers.CheckTopics(topics, ks.Topics, "the sandbox "+p.system, "the subscription delivers", bad)...)
		}
	}
	return ds
}

// Plan fills the defaults the system would: a coupon's discount type from its values, and
// keeps the topics of a subscription that the system sends.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	planned := req.Proposed // the planner's own copy: clone only to change it
	switch req.Kind {
	case providers.KindCoupon:
		planned = providers.WithDiscountType(planned)
	case providers.KindSubscription:
		ks, _ := p.support(providers.KindSubscription)
		if topics, _ := providers.Deliverable(ks.Topics, planned.Strings("topics")); len(topics) > 0 {
			planned = planned.Clone()
			planned["topics"] = topics
		}
	}
	return providers.PlanResponse{Planned: planned}
}

// Create makes an object, or returns the one an earlier try with the same idempotency key
// made.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if ds := p.check(req.Kind, req.Attributes); ds.HasErrors() {
		return providers.CreateResponse{Diagnostics: ds}
	}
	var out providers.CreateResponse
	fired, err := p.call(ctx, "create", func(tx *sql.Tx) error {
		if o, err := p.store.objectByKey(ctx, tx, p.name, req.IdempotencyKey); err != nil || o != nil {
			if o != nil {
				out.ID, out.Attributes = o.ID, o.Attributes
			}
			return err
		}
		if err := p.conflicts(ctx, tx, req.Kind, "", req.Attributes, req.Refs); err != nil {
			return err
		}
		now := time.Now().UTC()
		o := &Object{ID: newID(idPrefix[req.Kind]), Provider: p.name, Kind: req.Kind, Attributes: req.Attributes.Clone(),
			Refs: req.Refs, IdempotencyKey: req.IdempotencyKey, CreatedAt: now, UpdatedAt: now}
		out.ID, out.Attributes = o.ID, o.Attributes.Clone()
		return putObject(ctx, tx, o)
	})
	if err != nil {
		return providers.CreateResponse{Diagnostics: providers.FromError("create failed", err)}
	}
	if ds := p.fail(ctx, fired, "create", out.ID); ds != nil {
		return providers.CreateResponse{Diagnostics: ds}
	}
	return out
}

// call runs one API call in a transaction: it counts the call against the pending faults,
// then does the work unless a fault stops it first. The count is kept even when the work
// fails, as a real system counts a refused request.
func (p *Provider) call(ctx context.Context, op string, work func(tx *sql.Tx) error) (*Fault, error) {
	var fired *Fault
	var workErr error
	err := p.store.tx(ctx, func(tx *sql.Tx) error {
		f, err := countCall(ctx, tx, p.name, op)
		if err != nil {
			return err
		}
		fired = f
		if f.fails() {
			return nil
		}
		if workErr = work(tx); workErr != nil && providers.CodeOf(workErr) == "" {
			return workErr // the store failed: roll back
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fired, workErr
}

// conflicts checks what the system refuses across objects: a shared code another coupon of
// the system already uses, and references to objects that do not exist.
func (p *Provider) conflicts(ctx context.Context, tx *sql.Tx, k providers.Kind, self string, a providers.Attrs, refs map[string]string) error {
	if code := a.String("code"); k == providers.KindCoupon && code != "" {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT id FROM objects WHERE provider = ? AND kind = 'coupon'
			AND json_extract(attributes, '$.code') = ? AND id != ?`, p.name, code, self).Scan(&other)
		if err == nil {
			return &providers.APIError{Code: providers.ErrConflict, Status: 409,
				Message: fmt.Sprintf("code %s is already used by %s", code, other)}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	for attr, id := range refs {
		if o, err := p.store.getObject(ctx, tx, id); err != nil {
			return err
		} else if o == nil || o.Provider != p.name {
			return &providers.APIError{Code: providers.ErrNotFound, Status: 404,
				Message: fmt.Sprintf("%s names %s, which does not exist in %s", attr, id, p.name)}
		}
	}
	return nil
}

// fail turns a fired fault into the error the call reports.
func (p *Provider) fail(ctx context.Context, f *Fault, op, id string) providers.Diagnostics {
	if f == nil {
		return nil
	}
	if f.Hang {
		w := p.Stderr
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprintf(w, "sandbox: %s %s on %s done; hanging (injected fault)\n", op, id, p.name)
		<-ctx.Done()
		return providers.FromError(op+" failed", &providers.APIError{Code: providers.ErrUnavailable, Message: "interrupted while waiting for the response"})
	}
	if f.LoseResponse {
		return providers.FromError(op+" failed", &providers.APIError{Code: providers.ErrUnavailable, Status: 504,
			Message: "timed out waiting for the response (injected fault)"})
	}
	e := &providers.APIError{Code: statusCodes[f.Status], Status: f.Status, Message: "injected fault", RequestID: newID("req")}
	if f.Status == 429 {
		e.RetryAfter = time.Second
	}
	return providers.FromError(op+" failed", e)
}

// Read returns an object by ID, or by the idempotency key of the create that made it.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	var o *Object
	find := func(tx *sql.Tx) error {
		var err error
		if req.ID != "" {
			o, err = p.store.getObject(ctx, tx, req.ID)
		} else {
			o, err = p.store.objectByKey(ctx, tx, p.name, req.IdempotencyKey)
		}
		return err
	}
	// A refresh reads every object: only go through a write transaction when a read fault
	// is pending.
	var pending bool
	err := p.store.readFaults.QueryRowContext(ctx).Scan(&pending)
	if err == nil && !pending {
		err = find(nil)
	} else if err == nil {
		var fired *Fault
		fired, err = p.call(ctx, "read", find)
		if ds := p.fail(ctx, fired, "read", req.ID); ds != nil {
			return providers.ReadResponse{Diagnostics: ds}
		}
	}
	if err != nil {
		return providers.ReadResponse{Diagnostics: providers.FromError("read failed", err)}
	}
	if o == nil || o.Provider != p.name || o.Kind != req.Kind {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: o.ID, Attributes: o.Attributes}
}

// ReadBatch reads many objects in one query, as a refresh of thousands does.
func (p *Provider) ReadBatch(ctx context.Context, reqs []providers.ReadRequest) []providers.ReadResponse {
	out := make([]providers.ReadResponse, len(reqs))
	select {
	case p.store.batchReads <- struct{}{}:
		defer func() { <-p.store.batchReads }()
	case <-ctx.Done():
		for i := range out {
			out[i].Diagnostics = providers.FromError("read failed", ctx.Err())
		}
		return out
	}
	var pending bool
	err := p.store.readFaults.QueryRowContext(ctx).Scan(&pending)
	var objs map[string]*Object
	if err == nil && !pending {
		ids := make([]string, 0, len(reqs))
		for _, r := range reqs {
			if r.ID != "" {
				ids = append(ids, r.ID)
			}
		}
		objs, err = p.store.getObjects(ctx, ids)
	}
	for i, r := range reqs {
		switch {
		case err != nil:
			out[i].Diagnostics = providers.FromError("read failed", err)
		case pending || r.ID == "":
			// Each call counts against a read fault; a pending create is looked up by key.
			out[i] = p.Read(ctx, r)
		default:
			if o := objs[r.ID]; o != nil && o.Provider == p.name && o.Kind == r.Kind {
				out[i] = providers.ReadResponse{Found: true, ID: o.ID, Attributes: o.Attributes}
			}
		}
	}
	return out
}

// Update changes an object in place.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if ds := p.check(req.Kind, req.Planned); ds.HasErrors() {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	ks, _ := p.support(req.Kind)
	var out providers.UpdateResponse
	fired, err := p.call(ctx, "update", func(tx *sql.Tx) error {
		o, err := p.store.getObject(ctx, tx, req.ID)
		if err != nil {
			return err
		}
		if o == nil || o.Provider != p.name || o.Kind != req.Kind {
			return &providers.APIError{Code: providers.ErrNotFound, Status: 404, Message: fmt.Sprintf("%s does not exist in %s", req.ID, p.name)}
		}
		for _, attr := range providers.Diff(req.Kind, o.Attributes, req.Planned) {
			if slices.Contains(ks.ForceNew, attr) {
				return &providers.APIError{Code: providers.ErrInvalid, Status: 422,
					Message: fmt.Sprintf("%s cannot be changed once created; replace the object", attr)}
			}
		}
		if req.Refs != nil {
			o.Refs = req.Refs
		}
		if err := p.conflicts(ctx, tx, req.Kind, o.ID, req.Planned, o.Refs); err != nil {
			return err
		}
		o.Attributes, o.UpdatedAt = req.Planned.Clone(), time.Now().UTC()
		out.Attributes = o.Attributes.Clone()
		return putObject(ctx, tx, o)
	})
	if err != nil {
		return providers.UpdateResponse{Diagnostics: providers.FromError("update failed", err)}
	}
	if ds := p.fail(ctx, fired, "update", req.ID); ds != nil {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	return out
}

// Delete removes an object; one already gone is not an error.
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	fired, err := p.call(ctx, "delete", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM objects WHERE id = ? AND provider = ?`, req.ID, p.name)
		return err
	})
	if err != nil {
		return providers.DeleteResponse{Diagnostics: providers.FromError("delete failed", err)}
	}
	return providers.DeleteResponse{Diagnostics: p.fail(ctx, fired, "delete", req.ID)}
}

// Import reads an object made outside Musubi.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	return providers.ImportByRead(ctx, p, p.name, req)
}

// Messaging says how the simulated messaging system addresses customers: by LINE user ID,
// gated by LINE consent, like the channel it stands in for. A simulated EC or POS sends
// nothing and addresses nobody, so the planner refuses it in via.
func (p *Provider) Messaging() providers.MessagingSupport {
	if p.system != "" && p.system != "messaging" {
		return providers.MessagingSupport{}
	}
	return providers.MessagingSupport{Address: "line_user", Consent: "line"}
}

// Send delivers a message into the sandbox outbox. Faults on op "send" apply, so delivery
// failures and crashes mid-delivery can be rehearsed; a repeated key delivers nothing new.
func (p *Provider) Send(ctx context.Context, req providers.SendRequest) providers.SendResponse {
	// Refusals are invalid, not unclassified: the outbox would retry those as temporary.
	if p.system != "messaging" {
		return providers.SendResponse{Diagnostics: providers.FromError("Cannot send", &providers.APIError{Code: providers.ErrInvalid,
			Message: fmt.Sprintf("%s simulates the %s system; only a messaging system delivers messages", p.name, p.system)})}
	}
	if req.To == "" {
		return providers.SendResponse{Diagnostics: providers.FromError("Cannot send", &providers.APIError{Code: providers.ErrInvalid,
			Message: "the message has no recipient"})}
	}
	if n := utf8.RuneCountInString(req.Text); n == 0 || n > maxTemplate {
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", &providers.APIError{Code: providers.ErrInvalid,
			Status: 400, Message: fmt.Sprintf("text must be 1 to %d characters, not %d", maxTemplate, n)})}
	}
	var out providers.SendResponse
	fired, err := p.call(ctx, "send", func(tx *sql.Tx) error {
		d, dup, err := deliver(ctx, tx, p.name, req.To, req.Text, req.IdempotencyKey)
		out.ID, out.Duplicate = d.ID, dup
		return err
	})
	if err != nil {
		return providers.SendResponse{Diagnostics: providers.FromError("send failed", err)}
	}
	if ds := p.fail(ctx, fired, "send", out.ID); ds != nil {
		return providers.SendResponse{Diagnostics: ds}
	}
	return out
}

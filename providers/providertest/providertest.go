// Package providertest is the conformance suite every provider passes: the behaviour the
// planner relies on, checked against a running system (the sandbox, or a contract server that
// enforces a real API's rules). A provider's tests describe one valid object per kind and how
// to tamper with the system behind the provider's back; Run does the rest.
package providertest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// Harness describes a provider under test.
type Harness struct {
	// New returns a provider configured against a fresh, empty system.
	New func(t *testing.T) providers.Provider
	// Cases lists one valid object per kind the provider manages.
	Cases []Case
	// Tamper changes one attribute of a remote object behind the provider's back, as someone
	// in the system's own admin screen would.
	Tamper func(t *testing.T, p providers.Provider, kind providers.Kind, id, attr string, value any)
	// Remove deletes a remote object behind the provider's back.
	Remove func(t *testing.T, p providers.Provider, kind providers.Kind, id string)
	// Fail makes the next call of op ("create", "read", "update", "delete") fail with the
	// HTTP status; lose makes it do its work and then report a timeout instead. Nil skips
	// the failure cases.
	Fail func(t *testing.T, p providers.Provider, op string, status int, lose bool)
}

// Case is one kind's valid object and the changes to try on it.
type Case struct {
	Kind providers.Kind
	// Attrs are valid desired attributes.
	Attrs providers.Attrs
	// Refs creates the objects this one refers to and returns their IDs by attribute.
	Refs func(t *testing.T, p providers.Provider) map[string]string
	// Update changes attributes the system changes in place.
	Update providers.Attrs
	// Replace changes an attribute the system cannot change in place.
	Replace providers.Attrs
	// Drift is an attribute and a value to set behind the provider's back.
	DriftAttr  string
	DriftValue any
	// Invalid lists attribute changes Validate must refuse, by the attribute it must name.
	Invalid map[string]providers.Attrs
}

// statusCodes are the HTTP statuses every provider must classify, and their class.
var statusCodes = []struct {
	status int
	code   providers.ErrorCode
}{
	{401, providers.ErrAuth}, {409, providers.ErrConflict}, {422, providers.ErrInvalid},
	{429, providers.ErrRateLimited}, {500, providers.ErrUnavailable}, {503, providers.ErrUnavailable},
}

// Run runs the suite: the provider's schema, then each case.
func Run(t *testing.T, h Harness) {
	t.Run("schema", func(t *testing.T) { testProviderSchema(t, h) })
	for _, c := range h.Cases {
		t.Run(string(c.Kind), func(t *testing.T) {
			t.Run("schema", func(t *testing.T) { testSchema(t, h, c) })
			t.Run("validate", func(t *testing.T) { testValidate(t, h, c) })
			t.Run("lifecycle", func(t *testing.T) { testLifecycle(t, h, c) })
			t.Run("replace", func(t *testing.T) { testReplace(t, h, c) })
			t.Run("drift", func(t *testing.T) { testDrift(t, h, c) })
			t.Run("batch-read", func(t *testing.T) { testBatchRead(t, h, c) })
			if h.Fail != nil {
				t.Run("errors", func(t *testing.T) { testErrors(t, h, c) })
				t.Run("retried-create", func(t *testing.T) { testRetriedCreate(t, h, c) })
			}
		})
	}
}

type fixture struct {
	t    *testing.T
	p    providers.Provider
	ctx  context.Context
	refs map[string]string
	n    int
}

func newFixture(t *testing.T, h Harness, c Case) *fixture {
	p := h.New(t)
	t.Cleanup(func() { p.Close() })
	f := &fixture{t: t, p: p, ctx: context.Background()}
	if c.Refs != nil {
		f.refs = c.Refs(t, p)
	}
	return f
}

// plan asks the provider to plan attrs for a create (prior nil) or an update.
func (f *fixture) plan(k providers.Kind, id string, prior, attrs providers.Attrs) providers.PlanResponse {
	f.t.Helper()
	r := f.p.Plan(f.ctx, providers.PlanRequest{Kind: k, ID: id, Prior: prior, Proposed: attrs.Clone()})
	if err := r.Diagnostics.Err(); err != nil {
		f.t.Fatalf("Plan %s: %v", k, err)
	}
	return r
}

// create plans and creates an object with a fresh idempotency key.
func (f *fixture) create(k providers.Kind, attrs providers.Attrs) (string, providers.Attrs, string) {
	f.t.Helper()
	planned := f.plan(k, "", nil, attrs).Planned
	f.n++
	key := fmt.Sprintf("%s-%s-%d", f.t.Name(), k, f.n)
	r := f.p.Create(f.ctx, providers.CreateRequest{Kind: k, Attributes: planned, IdempotencyKey: key, Refs: f.refs})
	if err := r.Diagnostics.Err(); err != nil {
		f.t.Fatalf("Create %s: %v", k, err)
	}
	if r.ID == "" {
		f.t.Fatalf("Create %s returned no ID", k)
	}
	if d := providers.Diff(k, planned, r.Attributes); len(d) > 0 {
		f.t.Fatalf("Create %s returned attributes differing from the planned ones in %v: planned %v, got %v", k, d, planned, r.Attributes)
	}
	return r.ID, planned, key
}

func (f *fixture) read(k providers.Kind, id, key string) providers.ReadResponse {
	f.t.Helper()
	r := f.p.Read(f.ctx, providers.ReadRequest{Kind: k, ID: id, IdempotencyKey: key, Refs: f.refs})
	if err := r.Diagnostics.Err(); err != nil {
		f.t.Fatalf("Read %s %s: %v", k, id, err)
	}
	return r
}

func merge(a, b providers.Attrs) providers.Attrs {
	out := a.Clone()
	for k, v := range b {
		out[k] = v
	}
	return out
}

// testProviderSchema checks what the planner reads of every provider's schema: unique
// configuration attributes, and kinds made of canonical attributes.
func testProviderSchema(t *testing.T, h Harness) {
	p := h.New(t)
	t.Cleanup(func() { p.Close() })
	sr := p.Schema(context.Background())
	if err := sr.Diagnostics.Err(); err != nil {
		t.Fatalf("Schema: %v", err)
	}
	names := map[string]bool{}
	for _, a := range sr.Config {
		if a.Name == "" || names[a.Name] {
			t.Errorf("configuration attribute %q is empty or declared twice", a.Name)
		}
		names[a.Name] = true
	}
	for k, ks := range sr.Kinds {
		schema, err := providers.SchemaOf(k)
		if err != nil {
			t.Errorf("the schema declares %s: %v", k, err)
			continue
		}
		for _, a := range slices.Concat(ks.Attributes, ks.ForceNew) {
			if _, ok := schema.Attribute(a); !ok {
				t.Errorf("the schema names %s.%s, which is not a canonical attribute", k, a)
			}
		}
		for _, a := range ks.ForceNew {
			if !slices.Contains(ks.Attributes, a) {
				t.Errorf("%s: ForceNew names %s, which the kind's Attributes leave out", k, a)
			}
		}
	}
}

func testSchema(t *testing.T, h Harness, c Case) {
	f := newFixture(t, h, c)
	ks, ok := f.p.Schema(f.ctx).Kinds[c.Kind]
	if !ok {
		t.Fatalf("the schema does not declare %s", c.Kind)
	}
	for a := range c.Attrs {
		if !slices.Contains(ks.Attributes, a) {
			t.Errorf("the case sets %s, which the schema does not declare", a)
		}
	}
}

func testValidate(t *testing.T, h Harness, c Case) {
	f := newFixture(t, h, c)
	if ds := f.p.Validate(f.ctx, providers.ValidateRequest{Kind: c.Kind, Attributes: c.Attrs}); ds.Diagnostics.HasErrors() {
		t.Fatalf("Validate refused the valid case: %v", ds.Diagnostics.Err())
	}
	for attr, change := range c.Invalid {
		ds := f.p.Validate(f.ctx, providers.ValidateRequest{Kind: c.Kind, Attributes: merge(c.Attrs, change)}).Diagnostics
		if !ds.HasErrors() {
			t.Errorf("Validate accepted %v", change)
			continue
		}
		named := false
		for _, d := range ds {
			named = named || d.Attribute == attr
		}
		if !named {
			t.Errorf("Validate refused %v without naming %s: %v", change, attr, ds.Err())
		}
	}
}

func testLifecycle(t *testing.T, h Harness, c Case) {
	f := newFixture(t, h, c)
	id, planned, key := f.create(c.Kind, c.Attrs)

	r := f.read(c.Kind, id, "")
	if !r.Found || r.ID != id {
		t.Fatalf("Read by ID after Create: found=%v id=%q, want %q", r.Found, r.ID, id)
	}
	if d := providers.Diff(c.Kind, planned, r.Attributes); len(d) > 0 {
		t.Fatalf("Read after Create differs from the planned attributes in %v", d)
	}
	if r := f.read(c.Kind, "", key); !r.Found || r.ID != id {
		t.Fatalf("Read by idempotency key: found=%v id=%q, want %q", r.Found, r.ID, id)
	}

	if c.Update != nil {
		pr := f.plan(c.Kind, id, planned, merge(c.Attrs, c.Update))
		ks := f.p.Schema(f.ctx).Kinds[c.Kind]
		for _, a := range providers.Diff(c.Kind, planned, pr.Planned) {
			if slices.Contains(ks.ForceNew, a) || slices.Contains(pr.RequiresReplace, a) {
				t.Fatalf("the update case changes %s, which forces a replacement", a)
			}
		}
		u := f.p.Update(f.ctx, providers.UpdateRequest{Kind: c.Kind, ID: id, Prior: planned, Planned: pr.Planned, Refs: f.refs})
		if err := u.Diagnostics.Err(); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if d := providers.Diff(c.Kind, pr.Planned, u.Attributes); len(d) > 0 {
			t.Fatalf("Update returned attributes differing in %v", d)
		}
		if d := providers.Diff(c.Kind, pr.Planned, f.read(c.Kind, id, "").Attributes); len(d) > 0 {
			t.Fatalf("Read after Update differs in %v", d)
		}
		planned = pr.Planned
	}

	imp := f.p.Import(f.ctx, providers.ImportRequest{Kind: c.Kind, ID: id})
	if err := imp.Diagnostics.Err(); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if d := providers.Diff(c.Kind, planned, imp.Attributes); len(d) > 0 {
		t.Fatalf("Import differs from the object in %v", d)
	}

	if err := f.p.Delete(f.ctx, providers.DeleteRequest{Kind: c.Kind, ID: id, Prior: planned}).Diagnostics.Err(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if r := f.read(c.Kind, id, ""); r.Found {
		t.Fatal("Read after Delete still finds the object")
	}
	if err := f.p.Delete(f.ctx, providers.DeleteRequest{Kind: c.Kind, ID: id, Prior: planned}).Diagnostics.Err(); err != nil {
		t.Fatalf("deleting an object already gone must succeed: %v", err)
	}
	imp = f.p.Import(f.ctx, providers.ImportRequest{Kind: c.Kind, ID: id})
	if !imp.Diagnostics.HasErrors() || codeOf(imp.Diagnostics) != providers.ErrNotFound {
		t.Fatalf("Import of a deleted object: want a not_found error, got %v", imp.Diagnostics.Err())
	}
}

func testReplace(t *testing.T, h Harness, c Case) {
	if c.Replace == nil {
		t.Skip("the case has no replacing change")
	}
	f := newFixture(t, h, c)
	id, planned, _ := f.create(c.Kind, c.Attrs)
	pr := f.plan(c.Kind, id, planned, merge(c.Attrs, c.Replace))
	ks := f.p.Schema(f.ctx).Kinds[c.Kind]
	forced := false
	for _, a := range providers.Diff(c.Kind, planned, pr.Planned) {
		forced = forced || slices.Contains(ks.ForceNew, a) || slices.Contains(pr.RequiresReplace, a)
	}
	if !forced {
		t.Fatalf("changing %v does not force a replacement", c.Replace)
	}
	// The replacement is created before the old object is deleted, so both exist at once.
	id2, _, _ := f.create(c.Kind, pr.Planned)
	if id2 == id {
		t.Fatal("the replacement has the old object's ID")
	}
	if err := f.p.Delete(f.ctx, providers.DeleteRequest{Kind: c.Kind, ID: id, Prior: planned}).Diagnostics.Err(); err != nil {
		t.Fatalf("Delete of the replaced object: %v", err)
	}
	if r := f.read(c.Kind, id2, ""); !r.Found {
		t.Fatal("deleting the replaced object removed its replacement")
	}
}

func testDrift(t *testing.T, h Harness, c Case) {
	if h.Tamper == nil || c.DriftAttr == "" {
		t.Skip("no way to change the system behind the provider's back")
	}
	f := newFixture(t, h, c)
	id, planned, _ := f.create(c.Kind, c.Attrs)
	h.Tamper(t, f.p, c.Kind, id, c.DriftAttr, c.DriftValue)
	r := f.read(c.Kind, id, "")
	if d := providers.Diff(c.Kind, planned, r.Attributes); !slices.Equal(d, []string{c.DriftAttr}) {
		t.Fatalf("after changing %s out of band, Read differs in %v, want [%s]", c.DriftAttr, d, c.DriftAttr)
	}
	if h.Remove != nil {
		h.Remove(t, f.p, c.Kind, id)
		if r := f.read(c.Kind, id, ""); r.Found {
			t.Fatal("Read finds an object deleted out of band")
		}
	}
}

func codeOf(ds providers.Diagnostics) providers.ErrorCode {
	for _, d := range ds {
		if d.Err != nil {
			return d.Err.Code
		}
	}
	return ""
}

func testErrors(t *testing.T, h Harness, c Case) {
	f := newFixture(t, h, c)
	for _, sc := range statusCodes {
		h.Fail(t, f.p, "create", sc.status, false)
		planned := f.plan(c.Kind, "", nil, c.Attrs).Planned
		key := fmt.Sprintf("%s-%d", t.Name(), sc.status)
		r := f.p.Create(f.ctx, providers.CreateRequest{Kind: c.Kind, Attributes: planned, IdempotencyKey: key, Refs: f.refs})
		if got := codeOf(r.Diagnostics); got != sc.code {
			t.Errorf("a create failing with HTTP %d: error class %q, want %q (%v)", sc.status, got, sc.code, r.Diagnostics.Err())
		}
		if rr := f.read(c.Kind, "", key); rr.Found {
			t.Errorf("a create failing with HTTP %d left an object behind", sc.status)
		}
	}
	id, planned, _ := f.create(c.Kind, c.Attrs)
	h.Fail(t, f.p, "read", 503, false)
	if r := f.p.Read(f.ctx, providers.ReadRequest{Kind: c.Kind, ID: id}); codeOf(r.Diagnostics) != providers.ErrUnavailable {
		t.Errorf("a read failing with HTTP 503: got %v, want unavailable", r.Diagnostics.Err())
	}
	h.Fail(t, f.p, "delete", 500, false)
	if r := f.p.Delete(f.ctx, providers.DeleteRequest{Kind: c.Kind, ID: id, Prior: planned}); codeOf(r.Diagnostics) != providers.ErrUnavailable {
		t.Errorf("a delete failing with HTTP 500: got %v, want unavailable", r.Diagnostics.Err())
	}
	if r := f.read(c.Kind, id, ""); !r.Found {
		t.Error("a failed delete removed the object")
	}
}

// testRetriedCreate loses a create's response: the object exists but the caller saw a
// timeout. Retrying with the same idempotency key must return that object, not a second one.
func testRetriedCreate(t *testing.T, h Harness, c Case) {
	f := newFixture(t, h, c)
	planned := f.plan(c.Kind, "", nil, c.Attrs).Planned
	key := t.Name()
	h.Fail(t, f.p, "create", 0, true)
	req := providers.CreateRequest{Kind: c.Kind, Attributes: planned, IdempotencyKey: key, Refs: f.refs}
	if r := f.p.Create(f.ctx, req); !r.Diagnostics.HasErrors() {
		t.Fatal("the create whose response was lost reported success")
	}
	found := f.read(c.Kind, "", key)
	if !found.Found {
		t.Fatal("Read by idempotency key does not find the object the lost create made")
	}
	r := f.p.Create(f.ctx, req)
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatalf("retried create: %v", err)
	}
	if r.ID != found.ID {
		t.Fatalf("the retried create made a second object %s; the first is %s", r.ID, found.ID)
	}
}

// testBatchRead checks that a provider reading in batches answers each request as Read
// would, in order: found by ID, found by idempotency key, and gone.
func testBatchRead(t *testing.T, h Harness, c Case) {
	f := newFixture(t, h, c)
	br, ok := f.p.(providers.BatchReader)
	if !ok {
		t.Skip("the provider reads one object per call")
	}
	id, _, key := f.create(c.Kind, c.Attrs)
	gone, planned, _ := f.create(c.Kind, c.Attrs)
	if err := f.p.Delete(f.ctx, providers.DeleteRequest{Kind: c.Kind, ID: gone, Prior: planned}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	reqs := []providers.ReadRequest{{Kind: c.Kind, ID: gone}, {Kind: c.Kind, ID: id}, {Kind: c.Kind, IdempotencyKey: key}}
	got := br.ReadBatch(f.ctx, reqs)
	if len(got) != len(reqs) {
		t.Fatalf("ReadBatch answered %d of %d requests", len(got), len(reqs))
	}
	for i, r := range reqs {
		want := f.read(r.Kind, r.ID, r.IdempotencyKey)
		if err := got[i].Diagnostics.Err(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got[i].Found != want.Found || got[i].ID != want.ID || len(providers.Diff(c.Kind, got[i].Attributes, want.Attributes)) > 0 {
			t.Errorf("request %d: ReadBatch found=%v id=%q, Read found=%v id=%q", i, got[i].Found, got[i].ID, want.Found, want.ID)
		}
	}
}

package planner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// memProvider is a provider over a map, to test the planner's own logic in isolation; the
// sandbox provider's tests cover a real system.
type memProvider struct {
	mu       sync.Mutex
	objects  map[string]providers.Attrs
	keys     map[string]string
	next     int
	creates  int
	failOn   int // fail the nth create (1-based) with an error, when > 0
	failCode providers.ErrorCode
	codeless bool                         // coupons apply to the audience, without codes
	topics   []string                     // the events its webhooks deliver; nil says nothing
	refs     map[string]map[string]string // the refs each object was created with
	// hangOn names an operation ("update", "delete") that does its work, says so on hung and
	// then blocks until release is closed: a process killed in the middle of a call.
	hangOn        string
	hung, release chan struct{}
}

// hang blocks an operation named by hangOn, its work done; it is called without m.mu held.
func (m *memProvider) hang(op string) {
	if m.hangOn == op {
		m.hung <- struct{}{}
		<-m.release
	}
}

func newMem() *memProvider {
	return &memProvider{objects: map[string]providers.Attrs{}, keys: map[string]string{}, refs: map[string]map[string]string{}}
}

func (m *memProvider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{{Name: "system", Type: providers.String}},
		Kinds: map[providers.Kind]providers.KindSupport{
			providers.KindCoupon: {Attributes: []string{"title", "discount_type", "percent", "amount", "currency", "min_total",
				"code", "per_customer", "usage_limit", "starts_at", "ends_at", "timezone", "audience"}, ForceNew: []string{"code"},
				Codeless: m.codeless},
			providers.KindCodePool:     {Attributes: []string{"coupon", "pattern", "charset", "count", "seed"}, ForceNew: []string{"coupon", "pattern", "seed", "charset"}},
			providers.KindAudience:     {Attributes: []string{"segment", "description"}},
			providers.KindSubscription: {Attributes: []string{"source", "topics", "endpoint"}, Topics: m.topics},
		},
	}
}
func (m *memProvider) Configure(context.Context, providers.ConfigureRequest) providers.ConfigureResponse {
	return providers.ConfigureResponse{}
}
func (m *memProvider) Validate(context.Context, providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{}
}
func (m *memProvider) Plan(_ context.Context, r providers.PlanRequest) providers.PlanResponse {
	return providers.PlanResponse{Planned: r.Proposed}
}
func (m *memProvider) Create(_ context.Context, r providers.CreateRequest) providers.CreateResponse {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creates++
	if m.failOn > 0 && m.creates == m.failOn {
		return providers.CreateResponse{Diagnostics: providers.FromError("create failed", &providers.APIError{Code: m.failCode, Status: 500, Message: "injected"})}
	}
	if id, ok := m.keys[r.IdempotencyKey]; ok {
		return providers.CreateResponse{ID: id, Attributes: m.objects[id].Clone()}
	}
	m.next++
	id := fmt.Sprintf("obj_%d", m.next)
	m.objects[id] = r.Attributes.Clone()
	m.keys[r.IdempotencyKey] = id
	m.refs[id] = r.Refs
	return providers.CreateResponse{ID: id, Attributes: r.Attributes.Clone()}
}
func (m *memProvider) Read(_ context.Context, r providers.ReadRequest) providers.ReadResponse {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := r.ID
	if id == "" {
		id = m.keys[r.IdempotencyKey]
	}
	a, ok := m.objects[id]
	if !ok {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: id, Attributes: a.Clone()}
}
func (m *memProvider) Update(_ context.Context, r providers.UpdateRequest) providers.UpdateResponse {
	m.mu.Lock()
	m.objects[r.ID] = r.Planned.Clone()
	m.mu.Unlock()
	m.hang("update")
	return providers.UpdateResponse{Attributes: r.Planned.Clone()}
}
func (m *memProvider) Delete(_ context.Context, r providers.DeleteRequest) providers.DeleteResponse {
	m.mu.Lock()
	delete(m.objects, r.ID)
	m.mu.Unlock()
	m.hang("delete")
	return providers.DeleteResponse{}
}
func (m *memProvider) Import(_ context.Context, r providers.ImportRequest) providers.ImportResponse {
	resp := m.Read(context.Background(), providers.ReadRequest{ID: r.ID})
	if !resp.Found {
		return providers.ImportResponse{Diagnostics: providers.Errorf("Not found", "no object %s", r.ID)}
	}
	return providers.ImportResponse{Attributes: resp.Attributes}
}
func (m *memProvider) Close() error { return nil }

func (m *memProvider) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.objects)
}

const testConfig = `
provider "mem" "ec" {
  system = "ec"
}
provider "mem" "pos" {
  system = "pos"
}
variable "percent" {
  type    = number
  default = 10
}
campaign "spring" {
  coupon {
    percent = var.percent
    codes {
      pattern = "SPR-####-####"
      count   = 20
    }
  }
  channels = [provider.mem.ec, provider.mem.pos]
}
campaign "summer" {
  coupon {
    amount = 500
    code   = "SUMMER500"
  }
  channels = [provider.mem.ec]
}
`

type fixture struct {
	t      *testing.T
	config string
	mems   map[string]*memProvider
	// others are providers other than memProviders, by name.
	others  map[string]providers.Provider
	backend *states.Local
	// now is the plans' clock; time.Now when nil.
	now func() time.Time
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, config: testConfig, mems: map[string]*memProvider{"mem.ec": newMem(), "mem.pos": newMem()},
		backend: states.NewLocal(filepath.Join(t.TempDir(), "state.json"))}
}

// appliedFixture is a fixture whose configuration was planned and applied.
func appliedFixture(t *testing.T) *fixture {
	f := newFixture(t)
	p, host := f.plan()
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) load(vars ...string) *lang.Config {
	f.t.Helper()
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(f.config)}}, ".", lang.LoadOptions{Vars: vars, Environ: func() []string { return nil }})
	if diags.HasErrors() {
		f.t.Fatal(diags.Error())
	}
	return cfg
}

func (f *fixture) plan(vars ...string) (*plans.Plan, *Host) {
	f.t.Helper()
	p, host, diags := f.planWith(vars...)
	if diags.HasErrors() {
		f.t.Fatal(diags.Error())
	}
	return p, host
}

// planWith plans the fixture's configuration and returns the diagnostics instead of failing.
func (f *fixture) planWith(vars ...string) (*plans.Plan, *Host, hcl.Diagnostics) {
	f.t.Helper()
	cfg := f.load(vars...)
	host, hdiags := NewHost(context.Background(), cfg, ".", func(p *lang.Provider) (providers.Provider, error) {
		if o, ok := f.others[p.Ref.String()]; ok {
			return o, nil
		}
		return f.mems[p.Ref.String()], nil
	}, nil)
	if hdiags.HasErrors() {
		f.t.Fatal(hdiags.Error())
	}
	st, err := f.backend.Read(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	p, diags := (&Planner{Config: cfg, Host: host, State: st}).Plan(context.Background(), Options{Now: f.now})
	return p, host, diags
}

// at reads an address the test knows to be valid.
func at(s string) addrs.Instance { return addrs.MustParseInstance(s) }

func (f *fixture) apply(p *plans.Plan, host *Host) (*states.State, error) {
	return Apply(context.Background(), p, host, f.backend, ApplyOptions{Parallelism: 4})
}

func TestPlanApplyConverges(t *testing.T) {
	f := newFixture(t)
	p, host := f.plan()
	if s := p.Summary(); s.Add != 5 || s.Change+s.Replace+s.Destroy != 0 {
		t.Fatalf("first plan: %+v, want 5 to add (2 coupons + 2 pools for spring, 1 coupon for summer)", s)
	}
	st, err := f.apply(p, host)
	if err != nil {
		t.Fatal(err)
	}
	if st.Len() != 5 || st.Serial != 1 {
		t.Fatalf("state has %d resources at serial %d, want 5 at 1", st.Len(), st.Serial)
	}
	pool := st.Find(at("campaign.spring.code_pool[mem.ec]"))
	if pool == nil || pool.Attributes.String("seed") == "" || pool.Dependencies[0] != at("campaign.spring.coupon[mem.ec]") {
		t.Fatalf("code pool in state: %+v", pool)
	}
	if other := st.Find(at("campaign.spring.code_pool[mem.pos]")); other.Attributes.String("seed") != pool.Attributes.String("seed") {
		t.Error("the channels of one campaign have different code seeds; their codes would differ")
	}
	p, _ = f.plan()
	if p.HasChanges() {
		t.Fatalf("second plan has changes: %+v", p.Summary())
	}
}

// A register that takes no codes (a Square pricing rule) gets the campaign limited to its
// audience on that provider instead of codes: no code pool there, the audience made first and
// handed to the coupon. A coupon limited to its audience everywhere gets it on every channel.
func TestCouponsLimitedToTheAudienceGetItOnTheirChannel(t *testing.T) {
	f := newFixture(t)
	f.mems["mem.pos"].codeless = true
	f.config = `
provider "mem" "ec" {}
provider "mem" "pos" {}
segment "regulars" {
  condition = "customer.consent.line"
}
campaign "spring" {
  coupon {
    percent = 10
    codes {
      pattern = "SPR-####-####"
      count   = 20
    }
  }
  audience = segment.regulars
  channels = [provider.mem.ec, provider.mem.pos]
}
campaign "members" {
  coupon {
    amount        = 500
    code          = "MEMBERS"
    audience_only = true
  }
  audience = segment.regulars
  channels = [provider.mem.ec, provider.mem.pos]
}
`
	p, host := f.plan()
	var addrs []string
	for _, c := range p.Changes {
		addrs = append(addrs, c.Address.String())
	}
	want := []string{"campaign.members.coupon[mem.ec]", "campaign.members.coupon[mem.pos]", "campaign.spring.code_pool[mem.ec]",
		"campaign.spring.coupon[mem.ec]", "campaign.spring.coupon[mem.pos]", "segment.regulars.audience[mem.ec]", "segment.regulars.audience[mem.pos]"}
	if fmt.Sprint(addrs) != fmt.Sprint(want) {
		t.Fatalf("plan:\n%v\nwant\n%v", addrs, want)
	}
	st, err := f.apply(p, host)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ addr, code, audience, provider string }{
		{"campaign.spring.coupon[mem.pos]", "", "segment.regulars.audience[mem.pos]", "mem.pos"},
		{"campaign.spring.coupon[mem.ec]", "", "", "mem.ec"},
		{"campaign.members.coupon[mem.pos]", "", "segment.regulars.audience[mem.pos]", "mem.pos"},
		{"campaign.members.coupon[mem.ec]", "MEMBERS", "segment.regulars.audience[mem.ec]", "mem.ec"},
	} {
		r := st.Find(at(c.addr))
		if got := r.Attributes.String("code"); got != c.code {
			t.Errorf("%s: code %q, want %q", c.addr, got, c.code)
		}
		refs := f.mems[c.provider].refs[r.ID]
		if c.audience == "" {
			if len(refs) != 0 || r.Attributes.String("audience") != "" {
				t.Errorf("%s is limited to an audience: %v", c.addr, refs)
			}
			continue
		}
		aud := st.Find(at(c.audience))
		if r.Attributes.String("audience") != "regulars" || refs["audience"] != aud.ID {
			t.Errorf("%s: audience %q, refs %v; want regulars and %s", c.addr, r.Attributes.String("audience"), refs, aud.ID)
		}
	}
	if p, _ := f.plan(); p.HasChanges() {
		t.Fatalf("second plan has changes: %+v", p.Summary())
	}
}

func TestVariableChangeUpdatesInPlace(t *testing.T) {
	f := newFixture(t)
	p, host := f.plan()
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	p, _ = f.plan("percent=15")
	s := p.Summary()
	if s.Change != 2 || s.Add+s.Replace+s.Destroy != 0 {
		t.Fatalf("plan after percent=15: %+v, want 2 in-place updates", s)
	}
	for _, c := range p.Changes {
		if c.Action == plans.Update && (len(c.Changed) != 1 || c.Changed[0] != "percent") {
			t.Errorf("%s changes %v, want [percent]", c.Address, c.Changed)
		}
	}
}

func TestFailureOnNthCreateKeepsWhatWasDone(t *testing.T) {
	f := newFixture(t)
	f.mems["mem.ec"].failOn = 2
	f.mems["mem.ec"].failCode = providers.ErrUnavailable
	p, host := f.plan()
	st, err := f.apply(p, host)
	if err == nil {
		t.Fatal("apply succeeded despite the failing create")
	}
	if msg := err.Error(); !strings.Contains(msg, "]: create failed: unavailable (HTTP 500): injected") || strings.Count(msg, "create failed") != 1 {
		t.Errorf("apply error %q, want the failed create named once", msg)
	}
	created := 0
	for _, r := range st.Resources() {
		if r.ID != "" {
			created++
		}
	}
	made := f.mems["mem.ec"].count() + f.mems["mem.pos"].count()
	if created != made {
		t.Fatalf("state records %d created objects, the systems hold %d", created, made)
	}
	reread, err := f.backend.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if reread.Len() != st.Len() || reread.Recovered {
		t.Fatalf("the written state differs from the returned one: %d vs %d resources", reread.Len(), st.Len())
	}
	f.mems["mem.ec"].failOn = 0
	p, host = f.plan()
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	if n := f.mems["mem.ec"].count() + f.mems["mem.pos"].count(); n != 5 {
		t.Fatalf("after the second apply the systems hold %d objects, want 5 (no duplicates)", n)
	}
	if p, _ := f.plan(); p.HasChanges() {
		t.Fatalf("third plan has changes: %+v", p.Summary())
	}
}

func TestJournalRecoversKilledApply(t *testing.T) {
	f := newFixture(t)
	p, host := f.plan()
	// Simulate a process killed after the intent was journaled and the system created the
	// object, before the result was recorded.
	var create *plans.Change
	for _, c := range p.Changes {
		if c.Address == at("campaign.summer.coupon[mem.ec]") {
			create = c
		}
	}
	j, err := f.backend.Journal(context.Background(), p.Prior)
	if err != nil {
		t.Fatal(err)
	}
	j.Put(&states.Resource{Address: create.Address, Kind: create.Kind, Provider: create.Provider, Attributes: create.After,
		Pending: &states.Pending{IdempotencyKey: create.IdempotencyKey}})
	// No Close: the process died. The record was handed to the OS with one write call.
	f.mems["mem.ec"].Create(context.Background(), providers.CreateRequest{Kind: create.Kind, Attributes: create.After, IdempotencyKey: create.IdempotencyKey})

	p, host = f.plan()
	if len(p.Recovered) != 1 || p.Recovered[0] != create.Address {
		t.Fatalf("recovered %v, want [%s]", p.Recovered, create.Address)
	}
	for _, c := range p.Changes {
		if c.Address == create.Address && c.Action != plans.NoOp {
			t.Fatalf("%s is planned as %s after recovery, want no-op", c.Address, c.Action)
		}
	}
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	if n := f.mems["mem.ec"].count(); n != 3 {
		t.Fatalf("mem.ec holds %d objects, want 3", n)
	}
	if _, err := os.Stat(f.backend.Path + ".journal"); !os.IsNotExist(err) {
		t.Errorf("journal still exists after a successful apply: %v", err)
	}
}

func TestDestroyRemovesDependentsFirst(t *testing.T) {
	f := newFixture(t)
	p, host := f.plan()
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	cfg, _ := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(testConfig)}}, ".", lang.LoadOptions{Environ: func() []string { return nil }})
	st, _ := f.backend.Read(context.Background())
	p, diags := (&Planner{Config: cfg, Host: host, State: st}).Plan(context.Background(), Options{Mode: plans.Destroy})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	order := []string{}
	var mu sync.Mutex
	_, err := Apply(context.Background(), p, host, f.backend, ApplyOptions{Parallelism: 1, Progress: func(e Event) {
		if e.Done {
			mu.Lock()
			order = append(order, e.Change.Address.String())
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, a := range order {
		pos[a] = i
	}
	if pos["campaign.spring.code_pool[mem.ec]"] > pos["campaign.spring.coupon[mem.ec]"] {
		t.Errorf("the coupon was deleted before its code pool: %v", order)
	}
	if n := f.mems["mem.ec"].count() + f.mems["mem.pos"].count(); n != 0 {
		t.Fatalf("%d objects left after destroy", n)
	}
}

// With one change at a time, nothing starts after a failure: a change waiting for the slot
// the failing one held must not run.
func TestSerialApplyStopsAtFirstFailure(t *testing.T) {
	f := newFixture(t)
	f.mems["mem.ec"].failOn = 1
	f.mems["mem.ec"].failCode = providers.ErrUnavailable
	p, host := f.plan()
	_, err := Apply(context.Background(), p, host, f.backend, ApplyOptions{Parallelism: 1})
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("apply: %v, want an ApplyError", err)
	}
	attempted := f.mems["mem.ec"].creates + f.mems["mem.pos"].creates
	if attempted != 1 {
		t.Fatalf("%d creates attempted with parallelism 1, want only the failing one", attempted)
	}
	if ae.Skipped != 4 {
		t.Fatalf("%d changes reported not started, want 4", ae.Skipped)
	}
}

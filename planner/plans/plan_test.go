package plans

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

const coupon = "campaign.spring.coupon[sandbox.ec]"

var (
	couponAt  = addrs.MustParseInstance(coupon)
	poolAt    = addrs.MustParseInstance("campaign.spring.code_pool[sandbox.ec]")
	spring    = addrs.Block{Type: "campaign", Name: "spring"}
	sandboxEC = addrs.Provider{Type: "sandbox", Name: "ec"}
)

// sample is a plan with a create that refers to an update, drift, a policy and a prior state.
func sample() *Plan {
	prior := states.New("v1")
	prior.Serial, prior.Lineage = 3, "lineage-1"
	prior.Put(&states.Resource{Address: couponAt, Kind: providers.KindCoupon, Provider: sandboxEC, ID: "cpn_1",
		Attributes: providers.Attrs{"title": "Spring", "percent": 10.0, "min_total": int64(3000)}})
	return &Plan{
		FormatVersion: FormatVersion, ToolVersion: "v1", Mode: Normal, Lineage: prior.Lineage, Serial: prior.Serial,
		ConfigHash: "hash-1", Variables: []string{"percent=15"}, Targets: []addrs.Target{{Block: spring}},
		Descriptions: map[addrs.Block]string{spring: "Spring sale"},
		Changes: []*Change{
			{Address: poolAt, Block: spring, Kind: providers.KindCodePool, Provider: sandboxEC, Action: Create,
				After:          providers.Attrs{"coupon": coupon, "pattern": "SPR-####", "count": int64(500), "seed": "s"},
				IdempotencyKey: "key-1", Refs: map[string]addrs.Instance{"coupon": couponAt}, Dependencies: []addrs.Instance{couponAt}},
			{Address: couponAt, Block: spring, Kind: providers.KindCoupon, Provider: sandboxEC, Action: Update, ID: "cpn_1",
				Before:  providers.Attrs{"title": "Spring", "percent": 10.0, "min_total": int64(3000)},
				After:   providers.Attrs{"title": "Spring", "percent": 15.0, "min_total": int64(3000)},
				Changed: []string{"percent"}},
		},
		Drift: []*Drift{{Address: couponAt, Block: spring, Kind: providers.KindCoupon, Provider: sandboxEC,
			Changed: []string{"min_total"}, Before: providers.Attrs{"min_total": int64(5000)}, After: providers.Attrs{"min_total": int64(3000)}}},
		Policies:  []*PolicyResult{{Policy: "cap", Block: spring, Severity: "warning", Message: "check"}},
		Recovered: []addrs.Instance{couponAt},
		Prior:     prior,
	}
}

func encode(t *testing.T, p *Plan) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A saved plan loads as it was: the same document, addresses as text in it, attribute values
// of their kinds' types.
func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spring.plan")
	p := sample()
	if err := Save(path, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"targets":["campaign.spring"]`, `"descriptions":{"campaign.spring":"Spring sale"}`,
		`"address":"campaign.spring.code_pool[sandbox.ec]","block":"campaign.spring","kind":"code_pool","provider":"sandbox.ec"`,
		`"refs":{"coupon":"` + coupon + `"},"dependencies":["` + coupon + `"]`, `"recovered":["` + coupon + `"]`,
		`"resources":[{"address":"` + coupon + `","kind":"coupon","provider":"sandbox.ec"`} {
		if doc := encode(t, p); !bytes.Contains(doc, []byte(want)) {
			t.Errorf("the plan document has no %s:\n%s", want, doc)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := encode(t, p), encode(t, got); !bytes.Equal(a, b) {
		t.Fatalf("the loaded plan differs:\n%s\nwant\n%s", b, a)
	}
	if v := got.Changes[0].After["count"]; v != int64(500) {
		t.Errorf("count loaded as %T %v, want int64 500", v, v)
	}
	if !reflect.DeepEqual(got.Prior.Find(couponAt), p.Prior.Find(couponAt)) {
		t.Errorf("prior resource loaded as %+v", got.Prior.Find(couponAt))
	}
}

func TestLoadRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, doc []byte, zip bool) string {
		path := filepath.Join(dir, name)
		if zip {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(doc)
			zw.Close()
			doc = buf.Bytes()
		}
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	future := sample()
	future.FormatVersion = "2.0"
	badAddress := bytes.Replace(encode(t, sample()), []byte(`"address":"`+coupon), []byte(`"address":"campaign.spring`), 1)
	badPrior := bytes.Replace(encode(t, sample()), []byte(`"resources":[{"address":"`+coupon), []byte(`"resources":[{"address":"spring`), 1)
	for _, c := range []struct{ path, want string }{
		{write("plain.json", encode(t, sample()), false), "plain.json is not a plan file"},
		{write("garbage.plan", []byte("{"), true), "garbage.plan is not a plan file"},
		{write("future.plan", encode(t, future), true), "future.plan was made by a musubi with plan format 2.0; this one reads " + FormatVersion},
		{write("address.plan", badAddress, true), `address.plan is not a plan file: "campaign.spring" is not a resource address`},
		{write("prior.plan", badPrior, true), `"spring" is not a resource address`},
		{filepath.Join(dir, "missing.plan"), "no such file"},
	} {
		if _, err := Load(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s): %v, want %q", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestCheckCurrent(t *testing.T) {
	const path = "spring.plan"
	p := sample()
	if err := p.CheckCurrent(path, p.Prior.Clone(), "hash-1"); err != nil {
		t.Fatalf("unchanged state and configuration: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(st *states.State)
		hash  string
		wants string
	}{
		{"another state", func(st *states.State) { st.Lineage = "lineage-2" }, "hash-1",
			"the saved plan spring.plan was made for another state (lineage lineage-1, this state is lineage-2)"},
		{"a newer serial", func(st *states.State) { st.Serial = 4 }, "hash-1",
			"the saved plan spring.plan is stale: the state changed since it was made (serial 3, now 4)"},
		{"a recovered journal", func(st *states.State) { st.Recovered = true }, "hash-1",
			"the saved plan spring.plan is stale: the state changed since it was made (serial 3, now 3)"},
		{"another configuration", func(*states.State) {}, "hash-2",
			"the saved plan spring.plan is stale: the configuration or its variables changed since it was made"},
	} {
		st := p.Prior.Clone()
		c.edit(st)
		if err := p.CheckCurrent(path, st, c.hash); err == nil || !strings.Contains(err.Error(), c.wants) {
			t.Errorf("%s: %v, want %q", c.name, err, c.wants)
		}
	}
}

// The first plan is made before any state exists; the state its apply writes is of the plan's
// lineage.
func TestCheckCurrentAdoptsTheLineageOfAFirstPlan(t *testing.T) {
	p := sample()
	p.Serial = 0
	st := states.New("v1")
	if err := p.CheckCurrent("first.plan", st, "hash-1"); err != nil {
		t.Fatal(err)
	}
	if st.Lineage != p.Lineage {
		t.Errorf("the new state's lineage is %s, want the plan's %s", st.Lineage, p.Lineage)
	}
	written := states.New("v1")
	written.Put(&states.Resource{Address: couponAt, Kind: providers.KindCoupon, Provider: sandboxEC, ID: "cpn_1"})
	if err := p.CheckCurrent("first.plan", written, "hash-1"); err == nil || !strings.Contains(err.Error(), "made for another state") {
		t.Errorf("a state with resources took the plan's lineage: %v", err)
	}
}

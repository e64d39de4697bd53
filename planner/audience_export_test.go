package planner

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

const exportConfig = `
provider "mem" "ads" {}
provider "mem" "ec" {}
segment "low_awareness" {
  description = "Low awareness"
  condition   = "customer.consent.ads"
}
audience_export "promo" {
  segment = segment.low_awareness
  to      = [provider.mem.ads, provider.mem.ec]
}
audience_export "again" {
  segment = segment.low_awareness
  to      = [provider.mem.ads]
}
campaign "members" {
  coupon {
    amount        = 500
    code          = "MEMBERS"
    audience_only = true
  }
  audience = segment.low_awareness
  channels = [provider.mem.ec]
}
`

// An audience_export is an audience of its segment on each provider it names: the one
// instance per segment and provider that a campaign's audience on it is too. It is applied,
// read back unchanged, and destroyed with the block.
func TestAudienceExport(t *testing.T) {
	f := newFixture(t)
	f.mems = map[string]*memProvider{"mem.ads": newMem(), "mem.ec": newMem()}
	f.config = exportConfig
	p, host := f.plan()
	var got []string
	for _, c := range p.Changes {
		got = append(got, fmt.Sprintf("%s %s", c.Action, c.Address))
	}
	want := []string{"create campaign.members.coupon[mem.ec]", "create segment.low_awareness.audience[mem.ads]", "create segment.low_awareness.audience[mem.ec]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("plan:\n%v\nwant\n%v", got, want)
	}
	st, err := f.apply(p, host)
	if err != nil {
		t.Fatal(err)
	}
	aud := st.Find(at("segment.low_awareness.audience[mem.ads]"))
	if aud == nil || aud.Attributes.String("segment") != "low_awareness" || aud.Attributes.String("description") != "Low awareness" {
		t.Fatalf("the exported audience: %+v", aud)
	}
	if p, _ := f.plan(); p.HasChanges() {
		t.Fatalf("second plan has changes: %+v", p.Summary())
	}
	f.config = strings.Replace(exportConfig, "to      = [provider.mem.ads, provider.mem.ec]", "to      = [provider.mem.ec]", 1)
	f.config = strings.Replace(f.config, "to      = [provider.mem.ads]", "to      = [provider.mem.ec]", 1)
	p, host = f.plan()
	if s := p.Summary(); s.Destroy != 1 || s.Add != 0 || s.Change != 0 || s.Replace != 0 {
		t.Fatalf("dropping mem.ads from the exports: %+v", s)
	}
	if _, err := f.apply(p, host); err != nil {
		t.Fatal(err)
	}
	if n := f.mems["mem.ads"].count(); n != 0 {
		t.Fatalf("mem.ads still holds %d objects", n)
	}
}

// noAudiences is a provider that holds no audiences, such as a webhook.
type noAudiences struct{ *memProvider }

func (n noAudiences) Schema(ctx context.Context) providers.SchemaResponse {
	s := n.memProvider.Schema(ctx)
	delete(s.Kinds, providers.KindAudience)
	return s
}

// Exporting to a provider that cannot hold an audience is a plan-time error at the export's
// `to`, naming the kinds the provider manages.
func TestAudienceExportToProviderWithoutAudiences(t *testing.T) {
	t.Parallel()
	const config = `provider "mem" "hook" {}
segment "s" {
  condition = "true"
}
audience_export "e" {
  segment = segment.s
  to      = [provider.mem.hook]
}
`
	cfg, diags := lang.Load(fstest.MapFS{"main.hcl": {Data: []byte(config)}}, ".", lang.LoadOptions{Environ: func() []string { return nil }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	host, hdiags := NewHost(context.Background(), cfg, ".", func(*lang.Provider) (providers.Provider, error) {
		return noAudiences{newMem()}, nil
	}, nil)
	if hdiags.HasErrors() {
		t.Fatal(hdiags.Error())
	}
	_, diags = (&Planner{Config: cfg, Host: host, State: states.New("test")}).Plan(context.Background(), Options{})
	if len(diags) != 1 || diags[0].Summary != "Provider cannot do this" || diags[0].Subject == nil || diags[0].Subject.Start.Line != 7 ||
		!strings.Contains(diags[0].Detail, "needs an audience on provider.mem.hook, which manages only: code_pool, coupon, subscription") {
		t.Fatalf("diagnostics: %v", diags)
	}
}

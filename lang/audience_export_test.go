package lang

import (
	"slices"
	"testing"
)

const adsProvider = "provider \"meta\" \"ads\" {}\nprovider \"line\" \"oa\" {}\n"

// An audience_export names a segment and the providers its audience goes to; a segment may
// ask for consent to ads.
func TestAudienceExport(t *testing.T) {
	t.Parallel()
	cfg := loadClean(t, mapFS("main.hcl", adsProvider+
		"segment \"low_awareness\" {\n  condition = \"customer.consent.ads && size(customer.emails) > 0\"\n}\n"+
		"audience_export \"promo\" {\n  segment = segment.low_awareness\n  to      = [provider.meta.ads, provider.line.oa]\n}\n"), ".", testOptions())
	e := cfg.AudienceExports["promo"]
	if e == nil || e.Segment != "low_awareness" || !slices.Equal(e.To, []ProviderRef{{"meta", "ads"}, {"line", "oa"}}) {
		t.Fatalf("decoded %+v", e)
	}
	if e.ToRange.Start.Line != 8 || e.Range.Start.Line != 6 {
		t.Fatalf("ranges %v %v", e.Range, e.ToRange)
	}
	if deps := cfg.Graph.DependsOn("audience_export.promo"); !slices.Equal(deps, []string{"provider.line.oa", "provider.meta.ads", "segment.low_awareness"}) {
		t.Fatalf("depends on %v", deps)
	}
}

func TestAudienceExportDiagnostics(t *testing.T) {
	t.Parallel()
	const seg = "segment \"s\" {\n  condition = \"true\"\n}\n"
	for _, tt := range []diagCase{
		{
			name:  "no providers",
			files: []string{"main.hcl", adsProvider + seg + "audience_export \"e\" {\n  segment = segment.s\n  to      = []\n}\n"},
			want:  []string{"main.hcl:8:13: Missing providers: to lists the providers the audience goes to"},
		},
		{
			name:  "a provider twice",
			files: []string{"main.hcl", adsProvider + seg + "audience_export \"e\" {\n  segment = segment.s\n  to      = [provider.meta.ads, provider.meta.ads]\n}\n"},
			want:  []string{"main.hcl:8:33: Duplicate channel: provider.meta.ads is listed twice."},
		},
		{
			name:  "to a segment",
			files: []string{"main.hcl", adsProvider + seg + "audience_export \"e\" {\n  segment = segment.s\n  to      = [segment.s]\n}\n"},
			want:  []string{"main.hcl:8:14: Wrong kind of reference: to must name a provider"},
		},
		{
			name:  "an undeclared segment",
			files: []string{"main.hcl", adsProvider + seg + "audience_export \"e\" {\n  segment = segment.t\n  to      = [provider.meta.ads]\n}\n"},
			want:  []string{"main.hcl:7:13: Reference to undeclared segment: No segment named \"t\" is declared"},
		},
		{
			name:  "no segment",
			files: []string{"main.hcl", adsProvider + "audience_export \"e\" {\n  to = [provider.meta.ads]\n}\n"},
			want:  []string{"main.hcl:3:21: Missing required argument: The argument \"segment\" is required"},
		},
		{
			name:  "declared twice",
			files: []string{"main.hcl", adsProvider + seg + "audience_export \"e\" {\n  segment = segment.s\n  to      = [provider.meta.ads]\n}\naudience_export \"e\" {\n  segment = segment.s\n  to      = [provider.line.oa]\n}\n"},
			want:  []string{"main.hcl:10:1: Duplicate audience export: audience_export.e is declared twice; the first is at main.hcl:6:1."},
		},
	} {
		t.Run(tt.name, func(t *testing.T) { checkDiags(t, tt, testOptions()) })
	}
}

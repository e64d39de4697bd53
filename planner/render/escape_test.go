package render

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// hostile retitles the terminal, clears it, and hides text with an 8-bit CSI and a bidi override.
const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b31m\u202e"

// hostilePlan carries hostile text in every string a plan shows that came from a file, a
// provider or a live system.
func hostilePlan() *plans.Plan {
	attrs := providers.Attrs{"title": hostile, "code": hostile, "pattern": hostile, "segment": hostile,
		"summary": hostile, "topics": []string{hostile}, "template": hostile, hostile: hostile,
		"labels": map[string]string{hostile: hostile}, "other": []any{hostile}}
	block := addrs.Block{Type: "segment", Name: "x" + hostile} // as no parser makes one: the renderer must not trust it
	prov := addrs.Provider{Type: "sandbox", Name: hostile}
	var changes []*plans.Change
	for _, k := range []providers.Kind{providers.KindCoupon, providers.KindCodePool, providers.KindAudience,
		providers.KindMessage, providers.KindSubscription, providers.KindRules} {
		for _, a := range []plans.Action{plans.Create, plans.Update, plans.Replace, plans.Delete} {
			changes = append(changes, &plans.Change{Address: addrs.Instance{Block: block, Kind: k, Provider: prov}, Block: block, Kind: k,
				Provider: prov, Action: a, ID: hostile, Reason: hostile, Before: attrs, After: attrs,
				Changed: []string{"title", hostile}, ReplacePaths: []string{hostile}})
		}
	}
	return &plans.Plan{
		Mode:         plans.Normal,
		Descriptions: map[addrs.Block]string{block: hostile},
		Changes:      changes,
		Drift: []*plans.Drift{
			{Address: addrs.Instance{Block: block, Kind: providers.KindCoupon, Provider: prov}, Block: block, Kind: providers.KindCoupon, Changed: []string{hostile}, Before: attrs, After: attrs},
			{Address: addrs.Instance{Block: block, Kind: providers.KindCoupon, Provider: prov}, Block: block, Kind: providers.KindCoupon, Deleted: true},
		},
		Policies:  []*plans.PolicyResult{{Policy: hostile, Block: block, Severity: hostile, Message: hostile}},
		Recovered: []addrs.Instance{{Block: block, Kind: providers.KindCoupon, Provider: prov}},
		Sends:     []*plans.Send{{Block: block, Provider: prov, Subject: hostile, Template: hostile}},
	}
}

// checkNoControls fails on any control character but newline and tab, on invalid UTF-8 and on
// bidi controls; colors allowed, the escape of a color sequence.
func checkNoControls(t *testing.T, out string, colors bool) {
	t.Helper()
	if colors {
		for _, c := range []string{green, yellow, red, magenta, bold, dim, "0", "1;31"} {
			out = strings.ReplaceAll(out, "\x1b["+c+"m", "")
		}
	}
	for i, r := range out {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e || r == utf8.RuneError {
			t.Fatalf("raw %U at byte %d: %q", r, i, out[max(i-40, 0):min(i+40, len(out))])
		}
	}
	if !strings.Contains(out, `\x1b]0;pwned\x07\x1b[2J\u009b31m\u202e`) {
		t.Errorf("the hostile text is not shown escaped:\n%s", out)
	}
}

func TestTextEscapesControlCharacters(t *testing.T) {
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		Text(&b, hostilePlan(), color)
		checkNoControls(t, b.String(), color)
	}
	p := hostilePlan()
	p.Mode = plans.RefreshOnly
	var b bytes.Buffer
	Text(&b, p, false)
	checkNoControls(t, b.String(), false)
}

func TestMarkdownEscapesControlCharacters(t *testing.T) {
	var b bytes.Buffer
	Markdown(&b, hostilePlan())
	checkNoControls(t, b.String(), false)
}

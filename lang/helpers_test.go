package lang

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// quickstartDir is the example every user starts from; the tests hold it to loading cleanly.
const quickstartDir = "../examples/quickstart"

// testOptions isolates a load from the environment of the machine running the tests.
func testOptions(env ...string) LoadOptions {
	return LoadOptions{
		Environ: func() []string { return env },
		LookupEnv: func(name string) (string, bool) {
			for _, kv := range env {
				if k, v, ok := strings.Cut(kv, "="); ok && k == name {
					return v, true
				}
			}
			return "", false
		},
		ReadFile: func(name string) ([]byte, error) {
			return nil, fmt.Errorf("no files in tests: %s", name)
		},
	}
}

// mapFS builds an in-memory directory from name/content pairs.
func mapFS(files ...string) fstest.MapFS {
	if len(files)%2 != 0 {
		panic("mapFS wants name/content pairs")
	}
	fsys := fstest.MapFS{}
	for i := 0; i < len(files); i += 2 {
		fsys[files[i]] = &fstest.MapFile{Data: []byte(files[i+1])}
	}
	return fsys
}

// loadClean loads a directory and fails the test on any diagnostic.
func loadClean(t testing.TB, fsys fs.FS, dir string, opts LoadOptions) *Config {
	t.Helper()
	cfg, diags := Load(fsys, dir, opts)
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", diagLines(diags))
	}
	return cfg
}

// diagLine renders a diagnostic as "file:line:col: summary: detail" for assertions.
func diagLine(d *hcl.Diagnostic) string {
	pos := "-"
	if d.Subject != nil {
		pos = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	return pos + ": " + d.Summary + ": " + strings.ReplaceAll(d.Detail, "\n", " ")
}

func diagLines(diags hcl.Diagnostics) string {
	lines := make([]string, len(diags))
	for i, d := range diags {
		lines[i] = diagLine(d)
	}
	return strings.Join(lines, "\n")
}

// summarize renders what a configuration declares, without source positions, so that loads of
// the same content from different places (working tree, git ref, JSON syntax) can be compared.
func summarize(cfg *Config) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	expr := func(e *Expr) string {
		if e == nil {
			return "-"
		}
		return fmt.Sprintf("%q:%s", e.Source, celTypeString(e.OutputType()))
	}
	tmpl := func(t *Template) string {
		if t == nil {
			return "-"
		}
		var parts []string
		for _, e := range t.Exprs() {
			parts = append(parts, expr(e))
		}
		return fmt.Sprintf("%q%v", t.Source, parts)
	}
	msg := func(m *Message) string {
		if m == nil {
			return "-"
		}
		s := fmt.Sprintf("via=%s template=%s subject=%s", m.Via, tmpl(m.Template), tmpl(m.Subject))
		for _, v := range m.Variants {
			s += fmt.Sprintf(" variant(%s when=%s template=%s)", v.Name, expr(v.When), tmpl(v.Template))
		}
		return s
	}
	s := cfg.Settings
	w("settings currency=%s timezone=%s cost=%d backend=%v delivery=%s", s.Currency, s.Timezone, s.CELCostLimit,
		s.Backend != nil, deliveryString(s.Delivery))
	for _, k := range slices.Sorted(maps.Keys(cfg.Providers)) {
		p := cfg.Providers[k]
		w("provider %s source=%s config=%s sensitive=%v", k, p.Source, ctyMap(p.Config), slices.Sorted(maps.Keys(p.Sensitive)))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Variables)) {
		v := cfg.Variables[k]
		w("variable %s type=%s value=%s sensitive=%v validations=%d", k, v.Type.FriendlyName(), ctyString(v.Value), v.Sensitive, len(v.Validations))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Locals)) {
		w("local %s = %s", k, ctyString(cfg.Locals[k].Value))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Outputs)) {
		o := cfg.Outputs[k]
		w("output %s = %s sensitive=%v", k, ctyString(o.Value), o.Sensitive)
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.IdentitySources)) {
		src := cfg.IdentitySources[k]
		w("identity_source %s provider=%s identifiers=%v events=%v", k, src.Provider, src.Identifiers, src.Events)
	}
	if id := cfg.Identity; id != nil {
		w("identity priority=%v country=%s limits=%d blocked=%d", id.Priority, id.DefaultCountry, len(id.Limits), len(id.Blocked))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Traits)) {
		t := cfg.Traits[k]
		w("trait %s on=%s where=%s window=%s aggregate=%s value=%s", k, t.On, expr(t.Where), t.Window, t.Aggregate, expr(t.Value))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Segments)) {
		sg := cfg.Segments[k]
		w("segment %s %q condition=%s", k, sg.Description, expr(sg.Condition))
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Campaigns)) {
		c := cfg.Campaigns[k]
		w("campaign %s %q audience=%s channels=%v referral=%v", k, c.Description, c.Audience, c.Channels, c.Referral)
		if cu := c.Coupon; cu != nil {
			w("  coupon title=%q percent=%v amount=%d %s min=%d code=%q codes=%v per=%d total=%d valid=%s..%s %s combines=%v",
				cu.Title, cu.Percent, cu.Amount, cu.Currency, cu.MinTotal, cu.Code, cu.Codes, cu.PerCustomer, cu.TotalLimit,
				cu.ValidFrom.UTC().Format("2006-01-02T15:04:05Z"), cu.ValidUntil.UTC().Format("2006-01-02T15:04:05Z"), cu.Timezone, cu.CombinesWith)
		}
		for _, m := range c.Messages {
			w("  message %s", msg(m))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Triggers)) {
		t := cfg.Triggers[k]
		w("trigger %s on=%s condition=%s cooldown=%s", k, t.On, expr(t.Condition), t.Cooldown)
		for _, a := range t.Actions {
			data := map[string]string{}
			for dk, e := range a.Data {
				data[dk] = expr(e)
			}
			w("  action %s to=%s campaign=%s event=%s data=%v message=%s", a.Type, a.To, a.Campaign, a.Event, data, msg(a.Message))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[k]
		w("policy %s applies_to=%s severity=%s condition=%s message=%q", k, p.AppliesTo, p.Severity, expr(p.Condition), p.Message)
	}
	for _, k := range cfg.Graph.Referrers() {
		w("edges %s -> %v", k, cfg.Graph.DependsOn(k))
	}
	return b.String()
}

func deliveryString(d Delivery) string {
	s := "quiet=-"
	if q := d.QuietHours; q != nil {
		s = fmt.Sprintf("quiet=%s-%s@%s", q.From, q.Until, q.Timezone)
	}
	for _, c := range d.FrequencyCaps {
		s += fmt.Sprintf(" cap(%s %d/%s)", c.Channel, c.Max, c.Per)
	}
	for _, r := range d.SendRates {
		s += fmt.Sprintf(" rate(%s %g/s)", r.Provider, r.PerSecond)
	}
	return s
}

func ctyString(v cty.Value) string {
	if v == cty.NilVal {
		return "nil"
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		return "(unknown)"
	}
	if v.IsNull() {
		return "null"
	}
	switch {
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	case v.Type().IsObjectType() || v.Type().IsMapType():
		return ctyMap(v.AsValueMap())
	case v.CanIterateElements():
		var parts []string
		for _, e := range v.AsValueSlice() {
			parts = append(parts, ctyString(e))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return v.GoString()
}

func ctyMap(m map[string]cty.Value) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + ctyString(m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// copyFS copies every file of fsys into a MapFS under prefix.
func copyFS(t testing.TB, fsys fs.FS, prefix string) fstest.MapFS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out[path.Join(prefix, p)] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// graphText renders every declared block and every reference with where it is written, so
// that two graphs can be compared whatever order their blocks were numbered in.
func graphText(g *Graph) string {
	var b strings.Builder
	for _, id := range g.declaredSorted() {
		fmt.Fprintf(&b, "node %s\n", g.addrs[id])
	}
	for _, from := range g.Referrers() {
		for _, to := range g.DependsOn(from) {
			rng, _ := g.Edge(from, to)
			fmt.Fprintf(&b, "edge %s -> %s at %s\n", from, to, rng)
		}
	}
	return b.String()
}

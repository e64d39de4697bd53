package lang

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"github.com/hashicorp/hcl/v2"
)

// buildSchema compiles the trait expressions (their environment does not depend on the
// configuration), derives each trait's type, and builds the configuration's CEL schema.
func (l *loader) buildSchema() {
	// Move the trait jobs to the front, keeping the order of both groups.
	traitJobs := make([]celJob, 0, len(l.jobs))
	rest := l.jobs[:0]
	for _, j := range l.jobs {
		if j.ctx == CtxTrait {
			traitJobs = append(traitJobs, j)
		} else {
			rest = append(rest, j)
		}
	}
	l.runJobs(nil, traitJobs)
	l.jobs = rest

	var fields []TraitField
	for _, name := range slices.Sorted(maps.Keys(l.cfg.Traits)) {
		t := l.cfg.Traits[name]
		typ, err := TraitType(t.Aggregate, t.Value)
		if err != nil {
			l.errorf(t.Value.Range.Ptr(), "Invalid trait value", "%s.", strings.ToUpper(err.Error()[:1])+err.Error()[1:])
			typ = types.IntType
		}
		fields = append(fields, TraitField{Name: name, Type: typ})
	}
	schema, err := NewSchema(fields, slices.Sorted(maps.Keys(l.cfg.Segments)))
	if err != nil {
		l.errorf(nil, "Cannot build the CEL environment", "%v", err)
		return
	}
	l.cfg.Schema = schema
}

// compileAll compiles every queued CEL expression on every core and records the references
// CEL expressions make to segments and traits (customer.segments.x, customer.traits.y).
func (l *loader) compileAll() {
	if l.cfg.Schema == nil {
		return
	}
	l.runJobs(l.cfg.Schema, l.jobs)
	l.jobs = nil
	l.crossCheck()
}

// runJobs compiles jobs on every core. An expression written more than once in the same
// environment (the same text, context and result type) is compiled once; with a cache, one
// unchanged since an earlier run is not compiled at all.
func (l *loader) runJobs(schema *Schema, jobs []celJob) {
	if len(jobs) == 0 {
		return
	}
	type result struct {
		expr  *Expr
		refs  []celRef
		diags hcl.Diagnostics
	}
	results := make([]result, len(jobs))
	cost := l.cfg.Settings.CELCostLimit
	names := sync.OnceValue(func() []string { return schemaNames(schema) })

	type jobKey struct {
		env       *cel.Env
		ctx       Context
		src, want string
	}
	envs := make([]*cel.Env, len(jobs))
	first := make([]int, len(jobs)) // the job compiled for this one; -1 when it has no environment
	seen := make(map[jobKey]int, len(jobs))
	var unique []int
	for i, j := range jobs {
		env, err := j.env(schema) // trait environments ignore the (still nil) schema
		if err != nil || env == nil {
			results[i].diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No CEL environment",
				Detail: fmt.Sprint(err), Subject: j.site.rng.Ptr()}}
			first[i] = -1
			continue
		}
		envs[i] = env
		k := jobKey{env, j.ctx, j.src, typeName(j.want)}
		if f, ok := seen[k]; ok {
			first[i] = f
			continue
		}
		seen[k] = i
		first[i] = i
		unique = append(unique, i)
	}
	compile := func(i int, cache *celCache) {
		j := jobs[i]
		var key cacheKey
		if cache != nil {
			if name, ok := schema.envName(envs[i]); ok {
				key = cache.key(name, j.ctx, typeName(j.want), cost, j.src)
				if refs, out, ok := cache.get(key); ok {
					results[i].expr = &Expr{Source: j.src, Context: j.ctx, Range: j.site.rng, env: envs[i], costLimit: cost,
						plan: &exprPlan{out: out, load: recompile(envs[i], j.ctx, j.src, j.site.rng, j.want, cost, cache.path), refs: refs, refsKnown: true}}
					results[i].refs = refs
					return
				}
			} else {
				cache = nil
			}
		}
		results[i].expr, results[i].diags = compileCEL(envs[i], j.ctx, j.src, j.site, j.want, cost, names)
		if e := results[i].expr; e != nil {
			results[i].refs = celRefs(e)
			e.plan.refs, e.plan.refsKnown = results[i].refs, true
			if cache != nil {
				cache.put(key, results[i].refs, results[i].expr.OutputType())
			}
		}
	}
	parallel(len(unique), func(n int) { compile(unique[n], l.celCache) })
	// The other places of an expression share its compilation. One with problems is compiled
	// again where it is written, so that each place gets its own diagnostics.
	var again []int
	for i := range jobs {
		f := first[i]
		switch {
		case f < 0 || f == i:
		case results[f].expr != nil:
			results[i].expr, results[i].refs = results[f].expr.at(jobs[i].ctx, jobs[i].site.rng), results[f].refs
		default:
			again = append(again, i)
		}
	}
	parallel(len(again), func(n int) { compile(again[n], nil) })

	for i, r := range results {
		l.diags = append(l.diags, r.diags...)
		if r.expr == nil {
			continue
		}
		jobs[i].assign(r.expr)
		for _, ref := range r.refs {
			if _, ok := l.declared[ref.kind][ref.name]; ok {
				l.cfg.Graph.AddEdge(jobs[i].from, ref.kind+"."+ref.name, r.expr.Range)
			}
		}
	}
	l.diags = dropSuperseded(l.diags)
}

// recompile returns the function that compiles again an expression the cache says compiled
// without a problem, when its checked tree is first needed.
func recompile(env *cel.Env, ctx Context, src string, rng hcl.Range, want *cel.Type, cost uint64, cacheFile string) func() *cel.Ast {
	return func() *cel.Ast {
		e, diags := compileCEL(env, ctx, src, celSite{rng: rng}, want, cost, nil)
		if e == nil {
			panic(fmt.Sprintf("%s: %q was valid in an earlier run and is not now (%s); remove %s",
				fmtRange(rng), src, diags.Error(), cacheFile))
		}
		return e.checked()
	}
}

// typeName names a required result type; "" for none.
func typeName(t *cel.Type) string {
	if t == nil {
		return ""
	}
	return t.String()
}

// schemaNames lists every variable and field name CEL expressions can use, for suggestions.
func schemaNames(s *Schema) []string {
	names := []string{"customer", "event", "now", "code", "campaign", "segment", "trigger"}
	objs := []*ObjectType{LocationType, ItemType, CartType, ConsentType, CouponType, CampaignType, SegmentType, TriggerType}
	if s != nil {
		objs = append(objs, s.Customer, s.Traits, s.Segments)
	}
	for _, n := range EventTypeNames() {
		et, _ := LookupEventType(n)
		objs = append(objs, et.Type)
	}
	for _, o := range objs {
		names = append(names, o.FieldNames()...)
	}
	return names
}

type celRef struct{ kind, name string }

// celRefs finds customer.segments.NAME and customer.traits.NAME in a checked expression.
func celRefs(e *Expr) []celRef {
	if p := e.plan; p.refsKnown {
		return p.refs
	}
	var out []celRef
	seen := map[celRef]bool{}
	celast.PreOrderVisit(e.checked().NativeRep().Expr(), celast.NewExprVisitor(func(x celast.Expr) {
		if x.Kind() != celast.SelectKind {
			return
		}
		sel := x.AsSelect()
		op := sel.Operand()
		if op.Kind() != celast.SelectKind {
			return
		}
		inner := op.AsSelect()
		if inner.Operand().Kind() != celast.IdentKind || inner.Operand().AsIdent() != "customer" {
			return
		}
		var r celRef
		switch inner.FieldName() {
		case "segments":
			r = celRef{"segment", sel.FieldName()}
		case "traits":
			r = celRef{"trait", sel.FieldName()}
		default:
			return
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}))
	sort.Slice(out, func(i, j int) bool { return out[i].kind+out[i].name < out[j].kind+out[j].name })
	return out
}

// crossCheck runs the checks that need several blocks decoded.
func (l *loader) crossCheck() {
	for _, name := range slices.Sorted(maps.Keys(l.cfg.Triggers)) {
		t := l.cfg.Triggers[name]
		for _, a := range t.Actions {
			if a.Type != ActionIssueCoupon || a.Campaign == "" {
				continue
			}
			// A register's coupon has one serial number: issuing it hands out the shared code.
			c := l.cfg.Campaigns[a.Campaign]
			if c != nil && (c.Coupon == nil || (c.Coupon.Codes == nil && c.Coupon.Code == "")) {
				l.errorf(a.Range.Ptr(), "Campaign has no code",
					"issue_coupon gives the customer a code of campaign.%s, which needs a coupon with a shared code or a codes block.", a.Campaign)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.cfg.IdentitySources)) {
		s := l.cfg.IdentitySources[name]
		if l.cfg.Identity == nil && len(l.cfg.IdentitySources) > 1 {
			l.errorf(s.Range.Ptr(), "Missing identity block",
				"With more than one identity source, an identity block must say how identifiers tie together: identity { priority = [...] }.")
			break
		}
	}
}

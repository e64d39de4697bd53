package lang

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
)

// Graph records which blocks refer to which: "campaign.spring" → "segment.loyal_store". Node
// names are the addresses written in the language (var.x, local.y, provider.line.oa, …).
//
// A programme of 100,000 resources has as many references, kept for as long as the
// configuration is: each address is stored once and numbered, and each block keeps a short
// slice of the numbers it refers to, each with where the reference is written (its file
// numbered too), instead of a map of address strings to ranges per block.
type Graph struct {
	ids      map[string]int32 // address → number
	addrs    []string         // number → address
	declared []bool           // by number: declared with AddNode
	out      [][]graphEdge    // by number: what the block refers to, in the order first written
	files    map[string]int32
	names    []string // file number → file name
}

// graphEdge is one reference: the block referred to and where the reference is written.
type graphEdge struct {
	to   int32
	file int32
	at   packedRange
}

func newGraph() *Graph {
	return &Graph{ids: map[string]int32{}, files: map[string]int32{}}
}

// id numbers an address, the first time it is seen.
func (g *Graph) id(addr string) int32 {
	if id, ok := g.ids[addr]; ok {
		return id
	}
	id := int32(len(g.addrs))
	g.ids[addr] = id
	g.addrs = append(g.addrs, addr)
	g.declared = append(g.declared, false)
	g.out = append(g.out, nil)
	return id
}

// AddNode declares a block.
func (g *Graph) AddNode(addr string, _ hcl.Range) { g.declared[g.id(addr)] = true }

// AddEdge records that from refers to to at rng; the first place a reference is written stays.
func (g *Graph) AddEdge(from, to string, rng hcl.Range) {
	f, t := g.id(from), g.id(to)
	for _, e := range g.out[f] {
		if e.to == t {
			return
		}
	}
	file, ok := g.files[rng.Filename]
	if !ok {
		file = int32(len(g.names))
		g.files[rng.Filename] = file
		g.names = append(g.names, rng.Filename)
	}
	g.out[f] = append(g.out[f], graphEdge{to: t, file: file, at: packRange(rng)})
}

// addAll adds every reference of o, as AddEdge would one at a time in o's order.
func (g *Graph) addAll(o *Graph) {
	for from, edges := range o.out {
		for _, e := range edges {
			g.AddEdge(o.addrs[from], o.addrs[e.to], o.rangeOf(e))
		}
	}
}

func (g *Graph) rangeOf(e graphEdge) hcl.Range {
	return e.at.in(g.names[e.file])
}

// Edge reports where from first refers to to, if it does.
func (g *Graph) Edge(from, to string) (hcl.Range, bool) {
	f, ok1 := g.ids[from]
	t, ok2 := g.ids[to]
	if !ok1 || !ok2 {
		return hcl.Range{}, false
	}
	for _, e := range g.out[f] {
		if e.to == t {
			return g.rangeOf(e), true
		}
	}
	return hcl.Range{}, false
}

// Referrers lists, sorted, the blocks that refer to anything.
func (g *Graph) Referrers() []string {
	var out []string
	for id, edges := range g.out {
		if len(edges) > 0 {
			out = append(out, g.addrs[id])
		}
	}
	slices.Sort(out)
	return out
}

// DependsOn lists what addr refers to, sorted.
func (g *Graph) DependsOn(addr string) []string {
	id, ok := g.ids[addr]
	if !ok || len(g.out[id]) == 0 {
		return nil
	}
	return g.sortedTargets(id)
}

// sortedTargets lists the addresses a block refers to, sorted.
func (g *Graph) sortedTargets(id int32) []string {
	out := make([]string, len(g.out[id]))
	for i, e := range g.out[id] {
		out[i] = g.addrs[e.to]
	}
	slices.Sort(out)
	return out
}

// sortedIDs numbers the targets of a block in the order of their addresses.
func (g *Graph) sortedIDs(id int32) []int32 {
	out := make([]int32, len(g.out[id]))
	for i, e := range g.out[id] {
		out[i] = e.to
	}
	slices.SortFunc(out, func(a, b int32) int { return strings.Compare(g.addrs[a], g.addrs[b]) })
	return out
}

// declaredSorted numbers the declared blocks in the order of their addresses.
func (g *Graph) declaredSorted() []int32 {
	var out []int32
	for id, d := range g.declared {
		if d {
			out = append(out, int32(id))
		}
	}
	slices.SortFunc(out, func(a, b int32) int { return strings.Compare(g.addrs[a], g.addrs[b]) })
	return out
}

// Cycles returns every set of blocks that refer to each other in a circle (Tarjan's strongly
// connected components), each in the order the references run.
func (g *Graph) Cycles() [][]string {
	n := len(g.addrs)
	index, low := make([]int, n), make([]int, n)
	for i := range index {
		index[i] = -1
	}
	onStack := make([]bool, n)
	var stack []int32
	var cycles [][]string
	next := 0
	var strong func(v int32)
	strong = func(v int32) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g.sortedIDs(v) {
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int32
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			self := false
			for _, e := range g.out[v] {
				self = self || e.to == v
			}
			if len(comp) > 1 || self {
				cycles = append(cycles, g.orderCycle(comp))
			}
		}
	}
	for _, v := range g.declaredSorted() {
		if index[v] < 0 {
			strong(v)
		}
	}
	sort.Slice(cycles, func(i, j int) bool { return cycles[i][0] < cycles[j][0] })
	return cycles
}

// orderCycle walks the component from its smallest member along references, so the message
// reads as a path: a → b → c → a.
func (g *Graph) orderCycle(comp []int32) []string {
	in := map[int32]bool{}
	for _, c := range comp {
		in[c] = true
	}
	slices.SortFunc(comp, func(a, b int32) int { return strings.Compare(g.addrs[a], g.addrs[b]) })
	path := []string{g.addrs[comp[0]]}
	seen := map[int32]bool{comp[0]: true}
	for cur := comp[0]; ; {
		nextNode := int32(-1)
		for _, w := range g.sortedIDs(cur) {
			if in[w] && !seen[w] {
				nextNode = w
				break
			}
		}
		if nextNode < 0 {
			break
		}
		path = append(path, g.addrs[nextNode])
		seen[nextNode] = true
		cur = nextNode
	}
	return path
}

// TopoOrder returns the nodes so that every block comes after what it refers to. It assumes
// the graph is acyclic (Load guarantees it).
func (g *Graph) TopoOrder() []string {
	var order []string
	state := make([]int8, len(g.addrs))
	var visit func(int32)
	visit = func(v int32) {
		if state[v] != 0 {
			return
		}
		state[v] = 1
		for _, w := range g.sortedIDs(v) {
			visit(w)
		}
		state[v] = 2
		order = append(order, g.addrs[v])
	}
	for _, v := range g.declaredSorted() {
		visit(v)
	}
	return order
}

// didYouMean suggests the closest candidate as a sentence to append: ". Did you mean "x"?",
// or just "." when nothing is close.
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return fmt.Sprintf(". Did you mean %q?", s)
	}
	return "."
}

// suggest returns the candidate closest to name, if any is close enough to be a typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		d := levenshtein.Distance(name, c, nil)
		if d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	// A suggestion must keep something of the name: "x" is not a typo of "a".
	if best != "" && bestDist <= max(2, len(name)/3) && bestDist < len(name) {
		return best
	}
	return ""
}

// refKinds are the block types an expression may refer to, with the number of name parts.
var refKinds = map[string]int{
	"var": 1, "local": 1, "provider": 2, "segment": 1, "campaign": 1, "trigger": 1,
	"trait": 1, "identity_source": 1, "policy": 1,
}

// reference is a checked reference to a block.
type reference struct {
	Kind  string // var, local, provider, segment…
	Name  string // "x", or "TYPE.NAME" for providers
	Range hcl.Range
}

// Addr is the reference as written: "segment.x", "provider.line.oa".
func (r reference) Addr() string { return r.Kind + "." + r.Name }

// resolveTraversal checks that a traversal names a declared block and returns it.
func (l *loader) resolveTraversal(t hcl.Traversal) (reference, hcl.Diagnostics) {
	rng := t.SourceRange()
	root := t.RootName()
	parts, ok := refKinds[root]
	if !ok {
		kinds := slices.Sorted(maps.Keys(refKinds))
		detail := fmt.Sprintf("%q is not something a configuration can refer to. References start with one of: %s.", root, strings.Join(kinds, ", "))
		if s := suggest(root, kinds); s != "" {
			detail = fmt.Sprintf("There is no %q; did you mean %q?", root, s)
		}
		return reference{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown reference", Detail: detail, Subject: rng.Ptr()}}
	}
	var names []string
	for _, step := range t[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			break
		}
		names = append(names, nfc(a.Name))
		if len(names) == parts {
			break
		}
	}
	if len(names) < parts {
		want := root + ".NAME"
		if parts == 2 {
			want = "provider.TYPE.NAME"
		}
		return reference{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Incomplete reference",
			Detail: fmt.Sprintf("A reference to a %s is written %s.", root, want), Subject: rng.Ptr()}}
	}
	ref := reference{Kind: root, Name: strings.Join(names, "."), Range: rng}
	declared := l.declared[root]
	if _, ok := declared[ref.Name]; !ok {
		what := map[string]string{"var": "variable", "local": "local value"}[root]
		if what == "" {
			what = strings.ReplaceAll(root, "_", " ")
		}
		detail := fmt.Sprintf("No %s named %q is declared", what, ref.Name)
		if s := suggest(ref.Name, slices.Sorted(maps.Keys(declared))); s != "" {
			detail += fmt.Sprintf("; did you mean %s.%s?", root, s)
		} else {
			detail += "."
		}
		return reference{}, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Reference to undeclared " + what, Detail: detail, Subject: rng.Ptr()}}
	}
	return ref, nil
}

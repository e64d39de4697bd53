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
type Graph struct {
	Nodes map[string]hcl.Range
	// Edges maps a block to the blocks it refers to, with where each reference is written.
	Edges map[string]map[string]hcl.Range
}

func newGraph() *Graph {
	return &Graph{Nodes: map[string]hcl.Range{}, Edges: map[string]map[string]hcl.Range{}}
}

// AddNode declares a block.
func (g *Graph) AddNode(addr string, rng hcl.Range) { g.Nodes[addr] = rng }

// AddEdge records that from refers to to at rng.
func (g *Graph) AddEdge(from, to string, rng hcl.Range) {
	m := g.Edges[from]
	if m == nil {
		m = map[string]hcl.Range{}
		g.Edges[from] = m
	}
	if _, ok := m[to]; !ok {
		m[to] = rng
	}
}

// DependsOn lists what addr refers to, sorted.
func (g *Graph) DependsOn(addr string) []string { return slices.Sorted(maps.Keys(g.Edges[addr])) }

// Cycles returns every set of blocks that refer to each other in a circle (Tarjan's strongly
// connected components), each in the order the references run.
func (g *Graph) Cycles() [][]string {
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var cycles [][]string
	next := 0
	var strong func(v string)
	strong = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range slices.Sorted(maps.Keys(g.Edges[v])) {
			if _, seen := index[w]; !seen {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			_, self := g.Edges[v][v]
			if len(comp) > 1 || self {
				cycles = append(cycles, g.orderCycle(comp))
			}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(g.Nodes)) {
		if _, seen := index[v]; !seen {
			strong(v)
		}
	}
	sort.Slice(cycles, func(i, j int) bool { return cycles[i][0] < cycles[j][0] })
	return cycles
}

// orderCycle walks the component from its smallest member along references, so the message
// reads as a path: a → b → c → a.
func (g *Graph) orderCycle(comp []string) []string {
	in := map[string]bool{}
	for _, c := range comp {
		in[c] = true
	}
	sort.Strings(comp)
	path := []string{comp[0]}
	seen := map[string]bool{comp[0]: true}
	for cur := comp[0]; ; {
		nextNode := ""
		for _, w := range slices.Sorted(maps.Keys(g.Edges[cur])) {
			if in[w] && !seen[w] {
				nextNode = w
				break
			}
		}
		if nextNode == "" {
			break
		}
		path = append(path, nextNode)
		seen[nextNode] = true
		cur = nextNode
	}
	return path
}

// TopoOrder returns the nodes so that every block comes after what it refers to. It assumes
// the graph is acyclic (Load guarantees it).
func (g *Graph) TopoOrder() []string {
	var order []string
	state := map[string]int{}
	var visit func(string)
	visit = func(v string) {
		if state[v] != 0 {
			return
		}
		state[v] = 1
		for _, w := range slices.Sorted(maps.Keys(g.Edges[v])) {
			visit(w)
		}
		state[v] = 2
		order = append(order, v)
	}
	for _, v := range slices.Sorted(maps.Keys(g.Nodes)) {
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

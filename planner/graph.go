package planner

import (
	"fmt"
	"sort"
	"strings"
)

// DOT renders the resource graph in Graphviz's language: one cluster per declaring block, an
// arrow from each resource to what it needs.
func DOT(desired []*Desired) string {
	var b strings.Builder
	b.WriteString("digraph musubi {\n  rankdir = \"LR\";\n  node [shape = box, fontname = \"Helvetica\"];\n")
	byBlock := map[string][]*Desired{}
	for _, d := range desired {
		k := d.Addr.Block.String()
		byBlock[k] = append(byBlock[k], d)
	}
	blocks := make([]string, 0, len(byBlock))
	for k := range byBlock {
		blocks = append(blocks, k)
	}
	sort.Strings(blocks)
	for i, blk := range blocks {
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label = %q;\n", i, blk)
		for _, d := range byBlock[blk] {
			fmt.Fprintf(&b, "    %q [label = %q];\n", d.Addr.String(), fmt.Sprintf("%s\n%s", d.Addr.Kind, d.Addr.Provider))
		}
		b.WriteString("  }\n")
	}
	for _, d := range desired {
		for _, dep := range d.Deps() {
			fmt.Fprintf(&b, "  %q -> %q;\n", d.Addr.String(), dep.String())
		}
	}
	b.WriteString("}\n")
	return b.String()
}

package lang

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// chunkMin is the fewest bytes parseChunked puts in one piece: a few top-level blocks, whose
// tokens HCL's lexer gathers in a slice that stays small.
const chunkMin = 400

// parseChunked parses a native configuration file as parseHCL does, a few top-level blocks at
// a time. HCL's lexer turns a whole file into one slice of tokens, grown as it goes; for a
// large file, most of what parsing allocates is that slice's ever larger copies. Here the
// file is cut after lines that are a lone "}" (how a top-level block ends when formatted),
// and each piece is parsed on its own at its place in the file, so every range is what
// parsing the whole file gives. A cut inside a heredoc, a comment or a nested block leaves a
// piece that does not parse; so if any piece has a problem, or two pieces set one argument,
// the whole file is parsed at once instead and its diagnostics are the ones reported.
func parseChunked(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	whole := func() (*hcl.File, hcl.Diagnostics) { return hclsyntax.ParseConfig(src, filename, hcl.InitialPos) }
	cuts := chunkCuts(src)
	if len(cuts) < 2 {
		return whole()
	}
	var bodies []*hclsyntax.Body
	nBlocks := 0
	pos := hcl.InitialPos
	from := 0
	for _, to := range cuts {
		f, diags := hclsyntax.ParseConfig(src[from:to], filename, pos)
		if len(diags) > 0 {
			return whole()
		}
		body := f.Body.(*hclsyntax.Body)
		bodies = append(bodies, body)
		nBlocks += len(body.Blocks)
		pos = hcl.Pos{Line: pos.Line + bytes.Count(src[from:to], []byte{'\n'}), Column: 1, Byte: to}
		from = to
	}
	merged := &hclsyntax.Body{
		Attributes: hclsyntax.Attributes{},
		Blocks:     make(hclsyntax.Blocks, 0, nBlocks),
		SrcRange:   hcl.RangeBetween(bodies[0].SrcRange, bodies[len(bodies)-1].SrcRange),
		EndRange:   bodies[len(bodies)-1].EndRange,
	}
	for _, b := range bodies {
		merged.Blocks = append(merged.Blocks, b.Blocks...)
		for name, a := range b.Attributes {
			if _, dup := merged.Attributes[name]; dup {
				return whole()
			}
			merged.Attributes[name] = a
		}
	}
	return &hcl.File{Body: merged, Bytes: src}, nil
}

// chunkCuts returns where parseChunked cuts src: after each line that is a lone "}" once the
// piece has at least chunkMin bytes, and at the end.
func chunkCuts(src []byte) []int {
	var cuts []int
	from := 0
	for i := 0; i < len(src); {
		nl := bytes.IndexByte(src[i:], '\n')
		if nl < 0 {
			break
		}
		line := src[i : i+nl]
		i += nl + 1
		if (len(line) == 1 || len(line) == 2 && line[1] == '\r') && line[0] == '}' && i-from >= chunkMin {
			cuts = append(cuts, i)
			from = i
		}
	}
	if from < len(src) || len(cuts) == 0 {
		cuts = append(cuts, len(src))
	}
	return cuts
}

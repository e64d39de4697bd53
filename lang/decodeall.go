package lang

import (
	"maps"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
)

// decodeChunk is how many top-level blocks one core decodes at a time.
var decodeChunk = 200

// decodeAll decodes the top-level blocks on every core. Each run of decodeChunk consecutive
// blocks is decoded by a copy of the loader with its own diagnostics, CEL jobs, block maps and
// reference graph, and the copies are put together in the order of the blocks, so that the
// outcome is that of decoding the blocks one after the other: the same diagnostics and jobs in
// the same order, and of two blocks of one name the later one kept. The identity block, which
// needs every identity source, is decoded last, as decodeBlocks does. Decoding a block writes
// only the maps replaced below, the graph, the diagnostics and the jobs; a decoding function
// that comes to write anything else of the loader or the configuration must be added here
// (TestDecodeAllInOrder decodes blocks a few at a time on every core; run it with -race).
//
// A file parsed only when decoded (stream.go) is decoded as a run of its own, parsed first;
// decodeAll reports false, having decoded nothing that counts, when one such file is not what
// its scan found.
func (l *loader) decodeAll() bool {
	if len(l.streams) == 0 && (len(l.blocks) <= decodeChunk || runtime.GOMAXPROCS(0) == 1) {
		l.decodeBlocks()
		return true
	}
	type chunk struct {
		blocks []*hcl.Block
		file   *streamFile // parsed into blocks when decoded
	}
	var chunks []chunk
	var identity []*hcl.Block
	var run []*hcl.Block
	for i := 0; i < len(l.blocks); i++ {
		b := l.blocks[i]
		if f := l.streams[b]; f != nil {
			if len(run) > 0 {
				chunks, run = append(chunks, chunk{blocks: run}), nil
			}
			chunks = append(chunks, chunk{file: f})
			i += len(f.headers) - 1
			continue
		}
		if b.Type == "identity" {
			identity = append(identity, b)
			continue
		}
		run = append(run, b)
		if len(run) == decodeChunk {
			chunks, run = append(chunks, chunk{blocks: run}), nil
		}
	}
	if len(run) > 0 {
		chunks = append(chunks, chunk{blocks: run})
	}
	// The copies are made before any runs: env() adds to the configuration's UnsetEnv as it
	// goes (Load sorts it at the end).
	parts := make([]*loader, len(chunks))
	for i := range chunks {
		c := *l
		cfg := *l.cfg
		cfg.Providers = map[string]*Provider{}
		cfg.Outputs = map[string]*Output{}
		cfg.IdentitySources = map[string]*IdentitySource{}
		cfg.Traits = map[string]*Trait{}
		cfg.Segments = map[string]*Segment{}
		cfg.AudienceExports = map[string]*AudienceExport{}
		cfg.Campaigns = map[string]*Campaign{}
		cfg.Triggers = map[string]*Trigger{}
		cfg.Policies = map[string]*Policy{}
		cfg.Graph = newGraph()
		c.cfg, c.blocks, c.diags, c.jobs = &cfg, chunks[i].blocks, nil, nil
		parts[i] = &c
	}
	// Each run's syntax trees are let go as soon as it is decoded, so the decoded blocks
	// take the place of the trees instead of adding to them.
	l.blocks, l.streams = nil, nil
	var failed atomic.Bool
	parallel(len(parts), func(i int) {
		if f := chunks[i].file; f != nil && !failed.Load() {
			blocks, ok := f.parse()
			if !ok {
				failed.Store(true)
			}
			parts[i].blocks = blocks
		}
		if !failed.Load() {
			parts[i].decodeBlocks()
		}
		parts[i].blocks, chunks[i] = nil, chunk{}
	})
	if failed.Load() {
		return false
	}
	nDiags, nJobs := len(l.diags), len(l.jobs)
	for _, p := range parts {
		nDiags, nJobs = nDiags+len(p.diags), nJobs+len(p.jobs)
	}
	l.diags, l.jobs = slices.Grow(l.diags, nDiags-len(l.diags)), slices.Grow(l.jobs, nJobs-len(l.jobs))
	for _, p := range parts {
		l.diags = append(l.diags, p.diags...)
		l.jobs = append(l.jobs, p.jobs...)
		maps.Copy(l.cfg.Providers, p.cfg.Providers)
		maps.Copy(l.cfg.Outputs, p.cfg.Outputs)
		maps.Copy(l.cfg.IdentitySources, p.cfg.IdentitySources)
		maps.Copy(l.cfg.Traits, p.cfg.Traits)
		maps.Copy(l.cfg.Segments, p.cfg.Segments)
		maps.Copy(l.cfg.AudienceExports, p.cfg.AudienceExports)
		maps.Copy(l.cfg.Campaigns, p.cfg.Campaigns)
		maps.Copy(l.cfg.Triggers, p.cfg.Triggers)
		maps.Copy(l.cfg.Policies, p.cfg.Policies)
		l.cfg.Graph.addAll(p.cfg.Graph) // the first place a reference is written stays
	}
	if len(identity) > 0 {
		l.decodeIdentity(identity[0])
	}
	return true
}

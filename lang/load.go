package lang

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"golang.org/x/text/unicode/norm"
)

// File name suffixes. Test files are for `musubi test` and are not part of the programme.
const (
	NativeSuffix   = ".hcl"
	JSONSuffix     = ".hcl.json"
	testSuffix     = ".test.hcl"
	testJSONSuffix = ".test.hcl.json"
)

// LoadOptions carries input variable values and the environment.
type LoadOptions struct {
	// Vars are -var arguments, "NAME=VALUE", applied last.
	Vars []string
	// VarFiles are -var-file paths, read with ReadFile, applied in order before Vars.
	VarFiles []string
	// LookupEnv reads environment variables for env() and MUSUBI_VAR_*; os.LookupEnv if nil.
	LookupEnv func(string) (string, bool)
	// ReadFile reads var files; if nil, regular files of at most MaxFileSize, with symbolic
	// links kept inside the directory a path names.
	ReadFile func(string) ([]byte, error)
	// Environ lists the environment as "K=V", for MUSUBI_VAR_*; os.Environ if nil.
	Environ func() []string
	// DeferEnv checks the configuration without the environment variables env() reads that
	// are not set (the secrets a pull request from a fork has none of): each stands for an
	// unknown sensitive string instead of being an error, and Config.UnsetEnv lists them. A
	// provider block takes such a value as it takes the variable's, and an attribute whose
	// check needs it gets a warning that the check is left to plan. A configuration loaded
	// so with UnsetEnv not empty is for checking only: it cannot be planned.
	DeferEnv bool
	// CELCache is a file that keeps the checked CEL expressions from one load to the next, so
	// that expressions unchanged since the last load are not checked again; none if empty.
	// It is read at the start of a load and rewritten at its end when anything changed.
	CELCache string
}

// IsConfigFile reports whether a file name is loaded as part of the programme.
func IsConfigFile(name string) bool {
	if strings.HasSuffix(name, testSuffix) || strings.HasSuffix(name, testJSONSuffix) {
		return false
	}
	if strings.HasPrefix(name, ".") {
		return false
	}
	return strings.HasSuffix(name, NativeSuffix) || strings.HasSuffix(name, JSONSuffix)
}

// rootSchema lists the top-level blocks of the language.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "musubi"},
		{Type: "provider", LabelNames: []string{"type", "name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "identity_source", LabelNames: []string{"name"}},
		{Type: "identity"},
		{Type: "trait", LabelNames: []string{"name"}},
		{Type: "segment", LabelNames: []string{"name"}},
		{Type: "audience_export", LabelNames: []string{"name"}},
		{Type: "campaign", LabelNames: []string{"name"}},
		{Type: "trigger", LabelNames: []string{"name"}},
		{Type: "policy", LabelNames: []string{"name"}},
	},
}

type loader struct {
	fsys fs.FS
	dir  string
	opts LoadOptions

	cfg      *Config
	diags    hcl.Diagnostics
	srcs     map[string][]byte
	blocks   []*hcl.Block
	declared map[string]map[string]hcl.Range
	funcs    map[string]function.Function
	ctx      *hcl.EvalContext
	jobs     []celJob
	celCache *celCache
	// backendAttrs are the backend block's settings, evaluated after the variables.
	backendAttrs hcl.Attributes
	// stream lets files be parsed only when their blocks are decoded; streams holds each such
	// file by its first block's header, which stands in blocks with the others until then.
	stream  bool
	streams map[*hcl.Block]*streamFile
}

// Load reads every configuration file of dir in fsys (a directory on disk, or a git tree),
// decodes and checks it, and returns the configuration with every problem found, not just the
// first. The configuration is usable only when the diagnostics have no errors.
func Load(fsys fs.FS, dir string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	if cfg, diags, ok := load(fsys, dir, opts, streamLoad); ok {
		return cfg, diags
	}
	// A file parsed only when decoded did not hold what its scan found: load it all again,
	// every file parsed first.
	cfg, diags, _ := load(fsys, dir, opts, false)
	return cfg, diags
}

// streamLoad lets Load parse the files that only hold blocks nothing else needs before
// decoding when their blocks are decoded (stream.go); tests turn it off to compare.
var streamLoad = true

// load loads as Load describes, with stream telling whether files may be parsed only when
// decoded. It reports false, and nothing else, when one such file turned out to be other than
// its scan found.
func load(fsys fs.FS, dir string, opts LoadOptions, stream bool) (*Config, hcl.Diagnostics, bool) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = readVarFile
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ
	}
	if dir == "" {
		dir = "."
	}
	l := &loader{
		fsys: fsys, dir: dir, opts: opts, stream: stream,
		streams:  map[*hcl.Block]*streamFile{},
		srcs:     map[string][]byte{},
		declared: map[string]map[string]hcl.Range{},
		cfg: &Config{
			Dir:             dir,
			Files:           map[string]*hcl.File{},
			Providers:       map[string]*Provider{},
			Variables:       map[string]*Variable{},
			Locals:          map[string]*Local{},
			Outputs:         map[string]*Output{},
			IdentitySources: map[string]*IdentitySource{},
			Traits:          map[string]*Trait{},
			Segments:        map[string]*Segment{},
			AudienceExports: map[string]*AudienceExport{},
			Campaigns:       map[string]*Campaign{},
			Triggers:        map[string]*Trigger{},
			Policies:        map[string]*Policy{},
			Graph:           newGraph(),
		},
	}
	var unset func(string)
	if opts.DeferEnv {
		var mu sync.Mutex
		seen := map[string]bool{}
		unset = func(name string) {
			mu.Lock()
			defer mu.Unlock()
			if !seen[name] {
				seen[name] = true
				l.cfg.UnsetEnv = append(l.cfg.UnsetEnv, name)
			}
		}
	}
	l.funcs = functions(fsys, dir, opts.LookupEnv, unset)
	l.ctx = &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: l.funcs}

	if !l.parseFiles() {
		return l.cfg, l.diags, true
	}
	l.declare()
	l.decodeSettings()
	l.decodeVariables()
	l.decodeLocals()
	l.decodeBackend()
	if !l.decodeAll() {
		return nil, nil, false
	}
	l.checkSendRates()
	if opts.CELCache != "" && len(l.jobs) > 0 {
		l.celCache = openCELCache(opts.CELCache)
	}
	l.buildSchema()
	l.compileAll()
	if l.celCache != nil {
		l.celCache.save() // a cache that cannot be written is only slower next time
	}
	l.checkCycles()
	l.cfg.hclCtx = l.ctx
	slices.Sort(l.cfg.UnsetEnv)
	clampDiags(l.diags, l.cfg.Files)
	// Diagnostics need only each file's source: dropping a variable file's syntax tree, as
	// parseFiles and decodeAll drop the configuration files' trees, frees what parsing held.
	for name, f := range l.cfg.Files {
		l.cfg.Files[name] = &hcl.File{Bytes: f.Bytes}
	}
	sortDiags(l.diags)
	l.diags = dedupeDiags(l.diags)
	return l.cfg, l.diags, true
}

// LoadDir loads the configuration in a directory on disk.
func LoadDir(dir string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	return Load(os.DirFS(dir), ".", opts)
}

func (l *loader) errorf(rng *hcl.Range, summary, format string, args ...any) {
	l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng})
}

// parseFiles reads and parses the files in parallel. It reports false when nothing can be
// decoded (no directory, no files).
func (l *loader) parseFiles() bool {
	entries, err := fs.ReadDir(l.fsys, l.dir)
	if err != nil {
		l.errorf(nil, "Cannot read configuration directory", "%s: %v", l.dir, unwrapPathErr(err))
		return false
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && IsConfigFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		l.errorf(nil, "No configuration files", "%s has no *%s or *%s files.", l.dir, NativeSuffix, JSONSuffix)
		return false
	}
	type parsed struct {
		name    string
		src     []byte
		file    *hcl.File
		blocks  hcl.Blocks
		diags   hcl.Diagnostics
		headers []*hcl.Block // of a file parsed only when decoded
	}
	results := make([]parsed, len(names))
	parallel(len(names), func(i int) {
		name := names[i]
		full := path.Join(l.dir, name)
		display := full
		if l.dir == "." {
			display = name
		}
		src, err := readInside(l.fsys, l.dir, full, "the configuration directory")
		if err != nil {
			results[i] = parsed{name: display, diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read file", Detail: readErrorText(display, err) + "."}}}
			return
		}
		var f *hcl.File
		var diags hcl.Diagnostics
		if strings.HasSuffix(name, JSONSuffix) {
			f, diags = parseHCL(src, display, true)
		} else if diags = checkHCL(src, display, hclConfig); diags != nil {
			f = &hcl.File{Body: hcl.EmptyBody(), Bytes: src}
		} else if headers, ok := l.scanHeaders(src, display); ok {
			results[i] = parsed{name: display, src: src, headers: headers}
			return
		} else {
			f, diags = parseChunked(src, display)
		}
		var blocks hcl.Blocks
		if f != nil {
			if body, ok := f.Body.(*hclsyntax.Body); ok && !norm.NFC.IsNormal(src) {
				normalizeNames(body)
			}
			content, cdiags := f.Body.Content(rootSchema)
			diags = append(diags, cdiags...)
			blocks = content.Blocks
			for _, b := range blocks { // JSON has no syntax tree to normalise
				for i := range b.Labels {
					b.Labels[i] = nfc(b.Labels[i])
				}
			}
		}
		results[i] = parsed{name: display, src: src, file: f, blocks: blocks, diags: diags}
	})
	for _, r := range results {
		l.diags = append(l.diags, r.diags...)
		if r.headers != nil {
			l.cfg.Files[r.name] = &hcl.File{Bytes: r.src}
			l.srcs[r.name] = r.src
			l.streams[r.headers[0]] = &streamFile{name: r.name, src: r.src, headers: r.headers}
			l.blocks = append(l.blocks, r.headers...)
			continue
		}
		if r.file == nil {
			continue
		}
		// Diagnostics need only the file's source: the syntax tree lives on in the blocks
		// until they are decoded, and no longer.
		l.cfg.Files[r.name] = &hcl.File{Bytes: r.file.Bytes}
		l.srcs[r.name] = r.src
		l.blocks = append(l.blocks, r.blocks...)
	}
	return true
}

// ParseFile parses an HCL file that is not part of the programme (the lock file) as the
// programme's files are parsed: one nested too deeply is refused before the parser sees it.
func ParseFile(src []byte, filename string) (*hcl.File, hcl.Diagnostics) {
	return parseHCL(src, filename, false)
}

// parseHCL parses a configuration or variable file, refusing one nested too deeply for the
// parsers before they see it. Such a file comes back with no content, for its snippets.
func parseHCL(src []byte, filename string, isJSON bool) (*hcl.File, hcl.Diagnostics) {
	if isJSON {
		if diags := checkJSON(src, filename); diags != nil {
			return &hcl.File{Body: hcl.EmptyBody(), Bytes: src}, diags
		}
		return hcljson.Parse(src, filename)
	}
	if diags := checkHCL(src, filename, hclConfig); diags != nil {
		return &hcl.File{Body: hcl.EmptyBody(), Bytes: src}, diags
	}
	return hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
}

// blockAddr is the address a block is referred to by.
func blockAddr(b *hcl.Block) (kind, name string) {
	switch b.Type {
	case "variable":
		return "var", b.Labels[0]
	case "provider":
		return "provider", b.Labels[0] + "." + b.Labels[1]
	case "musubi", "identity", "locals":
		return b.Type, ""
	}
	return b.Type, b.Labels[0]
}

// declare records every block's name, reporting duplicates, so references can be checked
// before anything is evaluated.
func (l *loader) declare() {
	singles := map[string]*hcl.Range{}
	for _, b := range l.blocks {
		kind, name := blockAddr(b)
		switch kind {
		case "musubi", "identity":
			if first := singles[kind]; first != nil {
				l.errorf(b.DefRange.Ptr(), "Duplicate "+kind+" block", "Only one %s block is allowed; the first is at %s.", kind, fmtRange(*first))
			}
			singles[kind] = b.DefRange.Ptr()
			continue
		case "locals":
			attrs, diags := b.Body.JustAttributes()
			l.diags = append(l.diags, diags...)
			for _, a := range attrsInOrder(attrs) {
				if why := mixedScripts(a.Name); why != "" {
					l.errorf(a.NameRange.Ptr(), "Invalid name", "%s", why)
				}
				l.declareName("local", nfc(a.Name), a.NameRange)
			}
			continue
		}
		for i, label := range b.Labels {
			switch {
			case i == len(b.Labels)-1 && !hclsyntax.ValidIdentifier(label):
				l.errorf(b.LabelRanges[i].Ptr(), "Invalid name",
					"%q is not a valid name: use letters, digits, underscores and dashes, starting with a letter.", label)
			case mixedScripts(label) != "":
				l.errorf(b.LabelRanges[i].Ptr(), "Invalid name", "%s", mixedScripts(label))
			case i == len(b.Labels)-1 && dashedName(kind, label) != "":
				l.errorf(b.LabelRanges[i].Ptr(), "Invalid name", "%s", dashedName(kind, label))
			}
		}
		l.declareName(kind, name, b.DefRange)
	}
}

func (l *loader) declareName(kind, name string, rng hcl.Range) {
	m := l.declared[kind]
	if m == nil {
		m = map[string]hcl.Range{}
		l.declared[kind] = m
	}
	if first, dup := m[name]; dup {
		l.errorf(rng.Ptr(), "Duplicate "+strings.ReplaceAll(kind, "_", " "), "%s.%s is declared twice; the first is at %s.", kind, name, fmtRange(first))
		return
	}
	m[name] = rng
	l.cfg.Graph.AddNode(kind+"."+name, rng)
}

// blocksOf returns the top-level blocks of one type in file order.
func (l *loader) blocksOf(typ string) []*hcl.Block {
	var out []*hcl.Block
	for _, b := range l.blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// parallel runs fn(0..n-1) on every core.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// sortDiags orders diagnostics by file and position so output is stable.
func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}

// clampDiags keeps diagnostic ranges inside their files: the JSON parser can point one byte
// past the end of a file that ends in the middle of a token, and tools reading -json output
// should not have to guard against that.
func clampDiags(diags hcl.Diagnostics, files map[string]*hcl.File) {
	for _, d := range diags {
		r := d.Subject
		if r == nil || files[r.Filename] == nil {
			continue
		}
		src := files[r.Filename].Bytes
		if r.Start.Byte <= len(src) && r.Start.Byte <= r.End.Byte && r.End.Byte <= len(src) {
			continue
		}
		c := *r // the subject may point into a syntax tree
		if c.Start.Byte > len(src) {
			c.Start = endPos(src)
		}
		if c.End.Byte > len(src) || c.End.Byte < c.Start.Byte {
			c.End = c.Start
		}
		d.Subject = &c
	}
}

// endPos is the position just after the last byte of src.
func endPos(src []byte) hcl.Pos {
	p := hcl.Pos{Line: 1, Column: 1, Byte: len(src)}
	for _, r := range string(src) {
		if r == '\n' {
			p.Line, p.Column = p.Line+1, 1
		} else {
			p.Column++
		}
	}
	return p
}

// dedupeDiags drops repeats of a diagnostic, keeping the first. HCL reports some syntax errors
// both when parsing and when the broken expression is evaluated.
func dedupeDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		severity        hcl.DiagnosticSeverity
		summary, detail string
		subject         hcl.Range
		hasSubject      bool
	}
	seen := make(map[key]bool, len(diags))
	out := diags[:0]
	for _, d := range diags {
		k := key{severity: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.subject, k.hasSubject = *d.Subject, true
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// checkCycles reports blocks that refer to each other in a circle.
func (l *loader) checkCycles() {
	for _, c := range l.cfg.Graph.Cycles() {
		first := c[0]
		next := first
		if len(c) > 1 {
			next = c[1]
		}
		rng, _ := l.cfg.Graph.Edge(first, next)
		l.errorf(rng.Ptr(), "Reference cycle", "These blocks refer to each other in a circle: %s → %s.", strings.Join(c, " → "), first)
	}
}

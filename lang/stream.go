package lang

import (
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/text/unicode/norm"
)

// Loading a large programme a file at a time.
//
// Decoding a block needs every name declared (to check its references) and the variables and
// locals evaluated, so the syntax trees of every file would otherwise all be alive at once,
// until the last file is parsed. Instead, a file that holds only blocks nothing else needs
// before decoding (campaigns, segments, triggers, …) is at first only scanned for its blocks'
// headers: their types, labels and where these are written, which is all that declaring their
// names takes. Such a file is parsed when its blocks are decoded, and its syntax tree let go
// right after. Parsing it must then give the very headers the scan found, with no diagnostic;
// if it does not (the scan is simpler than HCL's parser and is meant to decline rather than
// guess, but it is checked all the same), the whole load is done again the usual way, every
// file parsed before anything is decoded, so that the outcome is always that load's.

// streamTypes are the top-level blocks a file may hold to be parsed only when decoded.
var streamTypes = map[string]bool{
	"output": true, "identity_source": true, "trait": true, "segment": true,
	"audience_export": true, "campaign": true, "trigger": true, "policy": true,
}

// streamFile is a configuration file whose blocks are parsed only when decoded.
type streamFile struct {
	name    string // as displayed
	src     []byte
	headers []*hcl.Block // with no body
}

// scanHeaders returns the headers of the top-level blocks of a native configuration file, as
// parsing it would give them, or false when the file has anything else at the top level (an
// attribute, a block of another type) or anything the scan declines to follow: a heredoc, an
// interpolation or escape in a quoted string, a character that is not ASCII on a block's
// header line, a string broken across lines. It does not check the blocks' bodies, only
// follows their brackets, strings and comments to where each block ends.
func scanHeaders(src []byte, filename string) ([]*hcl.Block, bool) {
	var headers []*hcl.Block
	line, lineStart := 1, 0
	pos := func(i int) hcl.Pos { return hcl.Pos{Line: line, Column: i - lineStart + 1, Byte: i} }
	rng := func(from, to int) hcl.Range { return hcl.Range{Filename: filename, Start: pos(from), End: pos(to)} }
	isIdentStart := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '-' }
	depth := 0
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			i++
			line, lineStart = line+1, i
			continue
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		case c == '#' || c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i += 2
			for ; i < len(src); i++ {
				if src[i] == '\n' {
					line, lineStart = line+1, i+1
				} else if src[i] == '*' && i+1 < len(src) && src[i+1] == '/' {
					break
				}
			}
			if i >= len(src) {
				return nil, false
			}
			i += 2
			continue
		}
		if depth > 0 {
			switch c {
			case '{', '[', '(':
				depth++
			case '}', ']', ')':
				depth--
			case '"':
				end, ok := scanQuoted(src, i, false)
				if !ok {
					return nil, false
				}
				i = end
				continue
			case '<':
				if i+1 < len(src) && src[i+1] == '<' {
					return nil, false // a heredoc
				}
			}
			i++
			continue
		}
		// A block's header: a type, labels, and the opening brace, on one line of ASCII.
		if !isIdentStart(c) {
			return nil, false
		}
		start := i
		for i < len(src) && isIdent(src[i]) {
			i++
		}
		typ := string(src[start:i])
		if !streamTypes[typ] {
			return nil, false
		}
		b := &hcl.Block{Type: typ, TypeRange: rng(start, i)}
		for {
			for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
				i++
			}
			if i >= len(src) {
				return nil, false
			}
			switch c := src[i]; {
			case c == '{':
				depth = 1
			case c == '"':
				end, ok := scanQuoted(src, i, true)
				if !ok {
					return nil, false
				}
				b.Labels = append(b.Labels, string(src[i+1:end-1]))
				b.LabelRanges = append(b.LabelRanges, rng(i, end))
				i = end
				continue
			case isIdentStart(c):
				from := i
				for i < len(src) && isIdent(src[i]) {
					i++
				}
				b.Labels = append(b.Labels, string(src[from:i]))
				b.LabelRanges = append(b.LabelRanges, rng(from, i))
				continue
			default:
				return nil, false
			}
			break
		}
		if len(b.Labels) != 1 {
			return nil, false // every type streamed takes one label; parsing says what is wrong
		}
		last := b.LabelRanges[0]
		b.DefRange = hcl.RangeBetween(b.TypeRange, last)
		headers = append(headers, b)
		i++
	}
	if depth != 0 || len(headers) == 0 {
		return nil, false
	}
	return headers, true
}

// scanQuoted returns the end of the quoted string that starts at src[i], if it is on one line
// with no template sequence; a label must also be ASCII with no escape.
func scanQuoted(src []byte, i int, label bool) (int, bool) {
	for j := i + 1; j < len(src); j++ {
		switch c := src[j]; {
		case c == '"':
			return j + 1, true
		case c == '\n' || label && (c == '\\' || c >= 0x80):
			return 0, false
		case c == '\\':
			j++ // the escaped character
			if j < len(src) && src[j] == '\n' {
				return 0, false
			}
		case (c == '$' || c == '%') && j+1 < len(src) && src[j+1] == '{':
			return 0, false
		}
	}
	return 0, false
}

// sameHeaders reports whether parsed blocks are the headers a scan found.
func sameHeaders(blocks hcl.Blocks, headers []*hcl.Block) bool {
	if len(blocks) != len(headers) {
		return false
	}
	for i, b := range blocks {
		h := headers[i]
		if b.Type != h.Type || b.TypeRange != h.TypeRange || b.DefRange != h.DefRange ||
			len(b.Labels) != len(h.Labels) || len(b.LabelRanges) != len(h.LabelRanges) {
			return false
		}
		for j := range b.Labels {
			if b.Labels[j] != h.Labels[j] || b.LabelRanges[j] != h.LabelRanges[j] {
				return false
			}
		}
	}
	return true
}

// scanHeaders scans a native file's headers when the load may parse it only when decoded.
func (l *loader) scanHeaders(src []byte, filename string) ([]*hcl.Block, bool) {
	if !l.stream || !norm.NFC.IsNormal(src) {
		return nil, false
	}
	return scanHeaders(src, filename)
}

// parse parses a file whose headers were scanned, reporting false unless it parses with no
// diagnostic into blocks with those very headers.
func (f *streamFile) parse() (hcl.Blocks, bool) {
	file, diags := parseChunked(f.src, f.name)
	if len(diags) > 0 {
		return nil, false
	}
	content, diags := file.Body.Content(rootSchema)
	if len(diags) > 0 {
		return nil, false
	}
	// The source is in normal form (scanHeaders takes no other), so its labels are too.
	return content.Blocks, sameHeaders(content.Blocks, f.headers)
}

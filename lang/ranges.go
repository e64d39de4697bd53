package lang

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// Ranges tells where each of a block's attributes is written, by name ("channels",
// "coupon.percent"), for plan-time errors. A campaign has a few, and a large programme tens
// of thousands of campaigns: a short list whose positions are kept as 32-bit numbers in the
// block's file takes about half what a map of names to ranges does.
type Ranges struct {
	file  string
	items []rangeItem
	other map[string]hcl.Range // a range in another file than the first's, which is rare
}

type rangeItem struct {
	name                                                     string
	startLine, startCol, startByte, endLine, endCol, endByte int32
}

// Get returns where an attribute is written, if it is.
func (r *Ranges) Get(name string) (hcl.Range, bool) {
	for _, it := range r.items {
		if it.name == name {
			return hcl.Range{Filename: r.file,
				Start: hcl.Pos{Line: int(it.startLine), Column: int(it.startCol), Byte: int(it.startByte)},
				End:   hcl.Pos{Line: int(it.endLine), Column: int(it.endCol), Byte: int(it.endByte)}}, true
		}
	}
	rng, ok := r.other[name]
	return rng, ok
}

// Set records where an attribute is written, in place of what was recorded for it.
func (r *Ranges) Set(name string, rng hcl.Range) {
	r.items = slices.DeleteFunc(r.items, func(it rangeItem) bool { return it.name == name })
	delete(r.other, name)
	if len(r.items) == 0 && len(r.other) == 0 {
		r.file = rng.Filename
	}
	if rng.Filename != r.file {
		if r.other == nil {
			r.other = map[string]hcl.Range{}
		}
		r.other[name] = rng
		return
	}
	r.items = append(r.items, rangeItem{name: name,
		startLine: int32(rng.Start.Line), startCol: int32(rng.Start.Column), startByte: int32(rng.Start.Byte),
		endLine: int32(rng.End.Line), endCol: int32(rng.End.Column), endByte: int32(rng.End.Byte)})
}

// trim lets go of the room the list grew into.
func (r *Ranges) trim() {
	if cap(r.items) > len(r.items) {
		r.items = slices.Clone(r.items)
	}
}

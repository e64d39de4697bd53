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
	name string
	at   packedRange
}

// packedRange is a range's positions as 32-bit numbers, its file kept apart: what the
// configuration keeps of the many ranges it holds for as long as it lives.
type packedRange struct {
	startLine, startCol, startByte, endLine, endCol, endByte int32
}

func packRange(rng hcl.Range) packedRange {
	return packedRange{int32(rng.Start.Line), int32(rng.Start.Column), int32(rng.Start.Byte),
		int32(rng.End.Line), int32(rng.End.Column), int32(rng.End.Byte)}
}

// in is the range in file.
func (p packedRange) in(file string) hcl.Range {
	return hcl.Range{Filename: file,
		Start: hcl.Pos{Line: int(p.startLine), Column: int(p.startCol), Byte: int(p.startByte)},
		End:   hcl.Pos{Line: int(p.endLine), Column: int(p.endCol), Byte: int(p.endByte)}}
}

// Get returns where an attribute is written, if it is.
func (r *Ranges) Get(name string) (hcl.Range, bool) {
	for _, it := range r.items {
		if it.name == name {
			return it.at.in(r.file), true
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
	r.items = append(r.items, rangeItem{name: name, at: packRange(rng)})
}

// trim lets go of the room the list grew into.
func (r *Ranges) trim() {
	if cap(r.items) > len(r.items) {
		r.items = slices.Clone(r.items)
	}
}

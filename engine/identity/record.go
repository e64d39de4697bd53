package identity

import (
	"fmt"
	"slices"
	"time"
)

// Record is one change to the graph, as the engine persists it: a resolution that changed
// something, an unmerge or a forget. Replaying the records of a graph in order, into a graph
// that starts empty, rebuilds it exactly: Uni-IDs, merge IDs, attachment times, what unmerges
// give back. Replay applies what happened and never consults the rules, which may have changed.
type Record struct {
	Op       string    `json:"op"` // OpResolve, OpUnmerge or OpForget
	At       time.Time `json:"at,omitzero"`
	Customer string    `json:"customer,omitempty"` // resolve: the customer; forget: the customer forgotten
	Created  bool      `json:"created,omitempty"`
	Attached []ID      `json:"attached,omitempty"`
	Merges   []Merge   `json:"merges,omitempty"`
	Merge    string    `json:"merge,omitempty"` // unmerge: the merge undone
}

// Record operations.
const (
	OpResolve = "resolve"
	OpUnmerge = "unmerge"
	OpForget  = "forget"
)

// Record returns what to persist of a resolution. Only resolutions that created, attached or
// merged change the graph; the others need no record (replaying one is harmless).
func (r Resolution) Record() Record {
	return Record{Op: OpResolve, At: r.At, Customer: r.Customer, Created: r.Created, Attached: r.Attached, Merges: r.Merges}
}

// Record returns what to persist of an unmerge.
func (u Unmerge) Record() Record {
	return Record{Op: OpUnmerge, At: u.At, Merge: u.Merge}
}

// Redact removes from the record every identifier drop reports, wherever it names them, and
// reports whether it named any. A forget redacts the records before it: replayed, they make
// the same graph, since the forget removes those identifiers anyway, and what made a merge
// (Cause, Moved) is only shown, never replayed into a decision.
func (r *Record) Redact(drop func(ID) bool) bool {
	n := 0
	keep := func(ids []ID) []ID {
		return slices.DeleteFunc(ids, func(id ID) bool {
			if drop(id) {
				n++
				return true
			}
			return false
		})
	}
	r.Attached = keep(r.Attached)
	for i := range r.Merges {
		r.Merges[i].Moved = keep(r.Merges[i].Moved)
		r.Merges[i].Cause = keep(r.Merges[i].Cause)
	}
	return n > 0
}

// Replay applies a record. Records must come in the order they were made; one that does not
// fit the graph (a customer unknown or already there, an identifier held by another customer)
// is an error and changes nothing.
func (g *Graph) Replay(rec Record) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	switch rec.Op {
	case OpResolve:
		err = g.replayResolve(rec)
	case OpUnmerge:
		_, err = g.unmerge(rec.Merge, rec.At)
	case OpForget:
		_, _, err = g.forget(rec.Customer)
	default:
		err = fmt.Errorf("unknown operation %q", rec.Op)
	}
	if err != nil {
		return fmt.Errorf("replaying %s %s: %w", rec.Op, rec.Customer+rec.Merge, err)
	}
	return nil
}

func (g *Graph) replayResolve(rec Record) error {
	if rec.Customer == "" {
		return nil // every identifier was dropped
	}
	if !validID(rec.Customer) {
		return fmt.Errorf("invalid customer ID %q", rec.Customer)
	}
	at := nanos(rec.At)
	// Check everything first, so a record that does not fit changes nothing.
	c := g.findUID(rec.Customer)
	switch {
	case rec.Created && c != none:
		return fmt.Errorf("customer %s already exists", rec.Customer)
	case !rec.Created && c == none:
		return fmt.Errorf("customer %s: %w", rec.Customer, ErrUnknown)
	case !rec.Created && g.customers[c].state != live:
		return fmt.Errorf("customer %s is not live", rec.Customer)
	case rec.Created && len(rec.Merges) > 0:
		return fmt.Errorf("a new customer %s cannot have merges", rec.Customer)
	}
	froms := make([]uint32, len(rec.Merges))
	for i, m := range rec.Merges {
		froms[i] = g.findUID(m.From)
		switch {
		case m.Into != rec.Customer:
			return fmt.Errorf("merge %s is into %s, not %s", m.ID, m.Into, rec.Customer)
		case !validID(m.ID) || g.findMerge(m.ID) != none:
			return fmt.Errorf("merge ID %q is invalid or in use", m.ID)
		case froms[i] == none || g.customers[froms[i]].state != live || froms[i] == c || slices.Contains(froms[:i], froms[i]):
			return fmt.Errorf("merge %s: customer %s is not live", m.ID, m.From)
		}
	}
	need := 300
	for _, id := range rec.Attached {
		need += len(id.Value) + 64
		if id.Type == "" || len(id.Type) > maxTypeLen || id.Value == "" || len(id.Value) > maxValueLen {
			return fmt.Errorf("an attached identifier of type %q is invalid", id.Type)
		}
		if t, ok := g.typeOf(id.Type); ok {
			if k := g.findIdent(t, id.Value, g.hashID(t, id.Value)); k != none {
				return fmt.Errorf("an identifier of type %s attached to %s belongs to %s", id.Type, rec.Customer, g.uid(g.idents[k].owner))
			}
		}
	}
	if !g.arena.room(need) || len(g.idents)+len(rec.Attached) >= int(none) {
		return errFull
	}
	for _, id := range rec.Attached {
		if _, ok := g.intern(id.Type); !ok {
			return fmt.Errorf("more than %d identifier types", maxTypes)
		}
	}

	if rec.Created {
		ref, err := g.arena.add(rec.Customer)
		if err != nil {
			return err
		}
		c = g.addCustomer(ref, uint8(len(rec.Customer)))
	}
	for i, m := range rec.Merges {
		var cause []uint32
		for _, id := range m.Cause {
			if t, ok := g.typeOf(id.Type); ok {
				if k := g.findIdent(t, id.Value, g.hashID(t, id.Value)); k != none {
					cause = append(cause, k)
				}
			}
		}
		if _, err := g.merge(c, froms[i], nanos(m.At), cause, m.ID); err != nil {
			return err
		}
	}
	for _, id := range rec.Attached {
		t, _ := g.typeOf(id.Type)
		h := g.hashID(t, id.Value)
		if g.findIdent(t, id.Value, h) != none {
			continue // named twice in the record
		}
		if err := g.attach(c, t, id.Value, h, at); err != nil {
			return err
		}
	}
	return nil
}

package render

import (
	"fmt"
	"io"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// pureNote says why a message through a pure sender has no create line.
const pureNote = "a pure sender: nothing to create"

// entry is what a plan shows under a block: a change, or a message sent through a pure sender.
type entry struct {
	change *plans.Change
	send   *plans.Send
}

func (e entry) block() addrs.Block {
	if e.change != nil {
		return e.change.Block
	}
	return e.send.Block
}

// entries merges the changes with the sends, both sorted by block as addresses sort, so each
// send is shown under its block, after the block's changes.
func entries(changes []*plans.Change, sends []*plans.Send) []entry {
	blockOrder := func(a, b addrs.Block) int { return addrs.Compare(addrs.Instance{Block: a}, addrs.Instance{Block: b}) }
	out := make([]entry, 0, len(changes)+len(sends))
	i, j := 0, 0
	for i < len(changes) || j < len(sends) {
		if j == len(sends) || i < len(changes) && blockOrder(changes[i].Block, sends[j].Block) <= 0 {
			out = append(out, entry{change: changes[i]})
			i++
			continue
		}
		out = append(out, entry{send: sends[j]})
		j++
	}
	return out
}

// sendAttrs are a send's texts as message attributes, to be shown as messages are.
func sendAttrs(s *plans.Send) providers.Attrs {
	a := providers.Attrs{"template": s.Template}
	if s.Subject != "" {
		a["subject"] = s.Subject
	}
	if len(s.Variants) > 0 {
		a["variants"] = s.Variants
	}
	return a
}

func writeSend(w io.Writer, pt painter, s *plans.Send) {
	fmt.Fprintf(w, "  > sends through provider.%s %s\n", esc(s.Provider), pt.paint(dim, "("+pureNote+")"))
	a := sendAttrs(s)
	names := orderedAttrs(providers.KindMessage, a)
	width := nameWidth(names)
	for _, n := range names {
		fmt.Fprintf(w, "      %-*s %s\n", width, n, value(providers.KindMessage, n, a[n], a))
	}
}

// markdownSend is a send's line in a pull-request comment.
func markdownSend(s *plans.Send) string {
	return fmt.Sprintf("- 📨 message through %s (%s) — %s", esc(s.Provider), pureNote, quote(s.Template))
}

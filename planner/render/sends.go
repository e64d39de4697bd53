package render

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/musubi-hq/musubi/lang"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// pureNote says why a message through a pure sender has no create line.
const pureNote = "a pure sender: nothing to create"

// entry is what a plan shows under a block: a change, a message sent through a pure sender,
// or the time a scheduled campaign message goes out.
type entry struct {
	change   *plans.Change
	send     *plans.Send
	schedule *plans.Schedule
	// segment, campaign and preview are what a pushed rule bundle would make of the engine's
	// customers (estimates.go).
	segment  *plans.SegmentEstimate
	campaign *plans.CampaignEstimate
	preview  *plans.Preview
}

func (e entry) block() addrs.Block {
	switch {
	case e.change != nil:
		return e.change.Block
	case e.send != nil:
		return e.send.Block
	case e.segment != nil:
		return e.segment.Block
	case e.campaign != nil:
		return e.campaign.Block
	case e.preview != nil:
		return e.preview.Block
	}
	return e.schedule.Block
}

// rank orders a block's entries: its changes, then its sends, its schedules, the estimates
// of its members and reach, and its messages' previews.
func (e entry) rank() int {
	switch {
	case e.change != nil:
		return 0
	case e.send != nil:
		return 1
	case e.schedule != nil:
		return 2
	case e.segment != nil, e.campaign != nil:
		return 3
	}
	return 4
}

// entries merges the changes with the sends, schedules and estimates, all sorted by block as
// addresses sort, so each is shown under its block, after the block's changes.
func entries(changes []*plans.Change, p *plans.Plan) []entry {
	sends, schedules := p.Sends, p.Schedules
	out := make([]entry, 0, len(changes)+len(sends)+len(schedules))
	for _, c := range changes {
		out = append(out, entry{change: c})
	}
	for _, s := range sends {
		out = append(out, entry{send: s})
	}
	for _, s := range schedules {
		out = append(out, entry{schedule: s})
	}
	for _, est := range p.Estimates {
		for _, s := range est.Segments {
			out = append(out, entry{segment: s})
		}
		for _, c := range est.Campaigns {
			out = append(out, entry{campaign: c})
		}
		for _, pv := range est.Previews {
			out = append(out, entry{preview: pv})
		}
	}
	slices.SortStableFunc(out, func(a, b entry) int {
		return cmp.Or(addrs.Compare(addrs.Instance{Block: a.block()}, addrs.Instance{Block: b.block()}), cmp.Compare(a.rank(), b.rank()))
	})
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

// pastNote says what a schedule whose time has passed means.
const pastNote = "already past: it goes out as soon as the rules are pushed, to those who have not had it"

// scheduleWhat names a scheduled message under its block: "message through sandbox.line",
// "message 2 through sandbox.line" for the second through the same provider.
func scheduleWhat(s *plans.Schedule, prefix string) string {
	n := ""
	if s.Index > 0 {
		n = " " + strconv.Itoa(s.Index+1)
	}
	return "message" + n + " through " + prefix + esc(s.Provider)
}

// sendTime is a schedule's send_at as people read it, in the zone it was written in:
// "2026-12-24 10:00 JST".
func sendTime(s *plans.Schedule) string {
	t, err := time.Parse(time.RFC3339, s.SendAt)
	if err != nil {
		return quote(s.SendAt)
	}
	if loc, err := lang.LoadLocation(s.Timezone); err == nil {
		return t.In(loc).Format("2006-01-02 15:04 MST")
	}
	return t.Format("2006-01-02 15:04 -07:00")
}

func writeSchedule(w io.Writer, pt painter, s *plans.Schedule) {
	line := fmt.Sprintf("%s sends at %s", scheduleWhat(s, "provider."), sendTime(s))
	if s.Past {
		fmt.Fprintf(w, "  %s %s %s\n", pt.paint(yellow, "!"), line, pt.paint(yellow, "("+pastNote+")"))
		return
	}
	fmt.Fprintf(w, "  > %s\n", line)
}

// markdownSchedule is a schedule's line in a pull-request comment.
func markdownSchedule(s *plans.Schedule) string {
	line := fmt.Sprintf("%s sends at %s", scheduleWhat(s, ""), sendTime(s))
	if s.Past {
		return "- ⚠️ " + line + " — " + pastNote
	}
	return "- 🕙 " + line
}

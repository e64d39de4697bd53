package render

import (
	"fmt"
	"io"
	"slices"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
)

type painter bool

func (p painter) paint(code, s string) string {
	if !p {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

const (
	green   = "32"
	yellow  = "33"
	red     = "31"
	magenta = "35"
	bold    = "1"
	dim     = "2"
)

func symbol(a plans.Action) (string, string) {
	switch a {
	case plans.Create:
		return "+", green
	case plans.Update:
		return "~", yellow
	case plans.Replace:
		return "-/+", magenta
	case plans.Delete:
		return "-", red
	}
	return " ", ""
}

func verb(a plans.Action) string {
	switch a {
	case plans.Create:
		return "will be created"
	case plans.Update:
		return "will be updated in place"
	case plans.Replace:
		return "must be replaced"
	case plans.Delete:
		return "will be destroyed"
	}
	return "has no changes"
}

// Text writes a plan for people: drift first, then the changes grouped by the block that
// declares them, then policy results and a one-line summary.
func Text(w io.Writer, p *plans.Plan, color bool) {
	pt := painter(color)
	if len(p.Recovered) > 0 {
		fmt.Fprintln(w, pt.paint(bold, "Recovered from an interrupted apply (found by idempotency key):"))
		for _, a := range p.Recovered {
			fmt.Fprintf(w, "  %s\n", esc(a))
		}
		fmt.Fprintln(w)
	}
	outside, interrupted := splitDrift(p.Drift)
	writeInterrupted(w, pt, interrupted)
	if len(outside) > 0 {
		fmt.Fprintln(w, pt.paint(bold, "Drift: these objects changed outside Musubi since the last apply."))
		for _, d := range outside {
			if d.Deleted {
				fmt.Fprintf(w, "  %s %s %s\n", pt.paint(red, "-"), esc(d.Address), pt.paint(dim, "was deleted"))
				continue
			}
			fmt.Fprintf(w, "  %s %s\n", pt.paint(yellow, "~"), esc(d.Address))
			writeDriftValues(w, pt, d)
		}
		fmt.Fprintln(w)
	}
	var shown []*plans.Change
	for _, c := range p.Changes {
		if c.Action != plans.NoOp {
			shown = append(shown, c)
		}
	}
	switch {
	case p.Mode == plans.RefreshOnly:
		if len(p.Drift) == 0 && len(p.Recovered) == 0 {
			fmt.Fprintln(w, "No drift: the systems match the state.")
		} else {
			fmt.Fprintln(w, "Applying this refresh-only plan records the live values in the state; nothing in the systems changes.")
		}
		return
	case len(shown) == 0:
		if len(p.Drift) > 0 {
			fmt.Fprintln(w, "The configuration already matches the systems; apply records the drift in the state.")
		} else {
			fmt.Fprintln(w, pt.paint(green, "No changes.")+" The systems match the configuration.")
		}
	default:
		fmt.Fprintln(w, pt.paint(bold, "Musubi will make these changes:"))
		var block addrs.Block
		for _, e := range entries(shown, p) {
			if e.block() != block {
				block = e.block()
				fmt.Fprintln(w)
				head := pt.paint(bold, esc(block.String()))
				if d := p.Descriptions[block]; d != "" {
					head += pt.paint(dim, " — "+esc(d))
				}
				fmt.Fprintln(w, head)
			}
			switch {
			case e.send != nil:
				writeSend(w, pt, e.send)
				continue
			case e.schedule != nil:
				writeSchedule(w, pt, e.schedule)
				continue
			case e.change == nil:
				writeEstimate(w, pt, e)
				continue
			}
			writeChange(w, pt, e.change)
		}
		writeEstimateNotes(w, pt, p.Estimates)
	}
	if len(p.Policies) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, pt.paint(bold, "Policies:"))
		for _, r := range p.Policies {
			mark := pt.paint(red, "✗ error  ")
			if r.Severity != "error" {
				mark = pt.paint(yellow, "! warning")
			}
			fmt.Fprintf(w, "  %s %s on %s: %s\n", mark, esc(r.Policy), esc(r.Block), esc(r.Message))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, SummaryLine(p))
}

func writeChange(w io.Writer, pt painter, c *plans.Change) {
	sym, col := symbol(c.Action)
	line := fmt.Sprintf("  %s %s %s", pt.paint(col, sym), esc(c.Address), pt.paint(dim, verb(c.Action)))
	if c.Reason != "" {
		line += pt.paint(dim, " ("+esc(c.Reason)+")")
	}
	fmt.Fprintln(w, line)
	indent := "      "
	switch c.Action {
	case plans.Create:
		names := orderedAttrs(c.Kind, c.After)
		width := nameWidth(names)
		for _, n := range names {
			fmt.Fprintf(w, "%s%-*s %s\n", indent, width, esc(n), value(c.Kind, n, c.After[n], c.After))
		}
	case plans.Update, plans.Replace:
		names := orderedAttrs(c.Kind, pick(c.Changed, c.Before), pick(c.Changed, c.After))
		width := nameWidth(names)
		for _, n := range names {
			note := ""
			if slices.Contains(c.ReplacePaths, n) {
				note = pt.paint(red, "  # forces replacement")
			}
			fmt.Fprintf(w, "%s%-*s %s %s %s%s\n", indent, width, esc(n), value(c.Kind, n, c.Before[n], c.Before), pt.paint(dim, "→"), value(c.Kind, n, c.After[n], c.After), note)
		}
	case plans.Delete:
		if c.ID != "" {
			fmt.Fprintf(w, "%sid %s\n", indent, esc(c.ID))
		}
	}
}

// pick returns the attributes named in names.
func pick(names []string, a map[string]any) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		out[n] = a[n]
	}
	return out
}

func nameWidth(names []string) int {
	w := 0
	for _, n := range names {
		w = max(w, len(esc(n)))
	}
	return w
}

// SummaryLine is the last line of a plan: "Plan: 2 to add, 1 to change, 0 to replace, 0 to destroy."
func SummaryLine(p *plans.Plan) string {
	s := p.Summary()
	if p.Mode == plans.RefreshOnly {
		line := fmt.Sprintf("Refresh: %d drifted, %d recovered", s.Drift, len(p.Recovered))
		if s.Interrupted > 0 {
			line += fmt.Sprintf(", %d interrupted", s.Interrupted)
		}
		return line + "."
	}
	line := "Plan: " + counts(p) + "."
	if s.Drift > 0 {
		line += fmt.Sprintf(" %d drifted.", s.Drift)
	}
	if s.Interrupted > 0 {
		line += fmt.Sprintf(" %d interrupted.", s.Interrupted)
	}
	return line
}

// counts is "2 to add, 1 to change, 0 to replace, 0 to destroy".
func counts(p *plans.Plan) string {
	s := p.Summary()
	return fmt.Sprintf("%d to add, %d to change, %d to replace, %d to destroy", s.Add, s.Change, s.Replace, s.Destroy)
}

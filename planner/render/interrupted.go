package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/planner/plans"
)

// splitDrift separates edits made outside Musubi from Musubi's own changes that an apply
// started and did not see finish: those are not drift, and are shown as what they are.
func splitDrift(ds []*plans.Drift) (outside, interrupted []*plans.Drift) {
	for _, d := range ds {
		if d.Interrupted != nil {
			interrupted = append(interrupted, d)
		} else {
			outside = append(outside, d)
		}
	}
	return outside, interrupted
}

// cutShort is "an update interrupted (apply at 2027-02-20T10:04:05Z)".
func cutShort(d *plans.Drift) string {
	article := "an"
	if d.Interrupted.Action == plans.Delete {
		article = "a"
	}
	return fmt.Sprintf("%s %s interrupted (apply at %s)", article, d.Interrupted.Action, d.Interrupted.Since.Format(time.RFC3339))
}

// outcome says what the system holds after an interrupted change, when no values show it.
func outcome(d *plans.Drift) string {
	switch {
	case d.Deleted:
		return "the object is gone"
	case d.Interrupted.Action == plans.Delete:
		return "the object is still there"
	case len(d.Changed) == 0:
		return "the system holds what it held before"
	}
	return ""
}

func writeInterrupted(w io.Writer, pt painter, ds []*plans.Drift) {
	if len(ds) == 0 {
		return
	}
	fmt.Fprintln(w, pt.paint(bold, "Interrupted: Musubi's own changes, which an apply started and did not see finish (not edits made outside Musubi)."))
	for _, d := range ds {
		sym, col := "~", yellow
		if d.Interrupted.Action == plans.Delete {
			sym, col = "-", red
		}
		if o := outcome(d); o != "" {
			fmt.Fprintf(w, "  %s %s: %s; %s\n", pt.paint(col, sym), esc(d.Address), cutShort(d), o)
			continue
		}
		fmt.Fprintf(w, "  %s %s: %s; the system holds:\n", pt.paint(col, sym), esc(d.Address), cutShort(d))
		writeDriftValues(w, pt, d)
	}
	fmt.Fprintln(w)
}

func markdownInterrupted(w io.Writer, ds []*plans.Drift) {
	if len(ds) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**Interrupted** — Musubi's own changes, which an apply started and did not see finish:\n\n")
	for _, d := range ds {
		what := outcome(d)
		if what == "" {
			what = "what the system holds: " + driftParts(d)
		}
		fmt.Fprintf(w, "- `%s`: %s; %s\n", esc(d.Address), cutShort(d), what)
	}
}

// driftParts is "percent is 15% (was 10%); title is …".
func driftParts(d *plans.Drift) string {
	var parts []string
	for _, n := range d.Changed {
		parts = append(parts, fmt.Sprintf("%s is %s (was %s)", esc(n), value(d.Kind, n, d.After[n], d.After), value(d.Kind, n, d.Before[n], d.Before)))
	}
	return strings.Join(parts, "; ")
}

// writeDriftValues writes the changed attributes of a drift, recorded → live, as the drift
// section does.
func writeDriftValues(w io.Writer, pt painter, d *plans.Drift) {
	width := nameWidth(d.Changed)
	for _, n := range d.Changed {
		fmt.Fprintf(w, "      %-*s %s %s %s\n", width, esc(n), value(d.Kind, n, d.Before[n], d.Before), pt.paint(dim, "→"), value(d.Kind, n, d.After[n], d.After))
	}
}

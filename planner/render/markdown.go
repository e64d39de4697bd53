package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
)

// Markdown writes a compact summary for a pull-request comment: what changes per campaign,
// segment and trigger, the drift, and policy results.
func Markdown(w io.Writer, p *plans.Plan) {
	title := counts(p)
	if s := p.Summary(); s.Drift > 0 {
		title += fmt.Sprintf(", %d drifted", s.Drift)
	}
	if s := p.Summary(); s.Interrupted > 0 {
		title += fmt.Sprintf(", %d interrupted", s.Interrupted)
	}
	if !p.HasChanges() && len(p.Drift) == 0 {
		title = "no changes"
	}
	fmt.Fprintf(w, "### Musubi plan: %s\n", title)

	var shown []*plans.Change
	for _, c := range p.Changes {
		if c.Action != plans.NoOp {
			shown = append(shown, c)
		}
	}
	var block addrs.Block
	for _, e := range entries(shown, p) {
		if e.block() != block {
			block = e.block()
			head := "**" + esc(block.String()) + "**"
			if d := p.Descriptions[block]; d != "" {
				head += " — " + esc(d)
			}
			fmt.Fprintf(w, "\n%s\n\n", head)
		}
		switch {
		case e.send != nil:
			fmt.Fprintln(w, markdownSend(e.send))
			continue
		case e.schedule != nil:
			fmt.Fprintln(w, markdownSchedule(e.schedule))
			continue
		case e.change == nil:
			markdownEstimate(w, e)
			continue
		}
		c := e.change
		fmt.Fprintf(w, "- %s %s: %s\n", mdSymbol(c.Action), what(c), mdDetail(c))
	}
	markdownEstimateNotes(w, p.Estimates)
	outside, interrupted := splitDrift(p.Drift)
	markdownInterrupted(w, interrupted)
	if len(outside) > 0 {
		fmt.Fprintf(w, "\n**Drift** — changed outside Musubi since the last apply:\n\n")
		for _, d := range outside {
			if d.Deleted {
				fmt.Fprintf(w, "- `%s` was deleted\n", esc(d.Address))
				continue
			}
			fmt.Fprintf(w, "- `%s`: %s\n", esc(d.Address.String()), driftParts(d))
		}
	}
	if len(p.Policies) > 0 {
		fmt.Fprintf(w, "\n**Policies**\n\n")
		for _, r := range p.Policies {
			mark := "❌"
			if r.Severity != "error" {
				mark = "⚠️"
			}
			fmt.Fprintf(w, "- %s `%s` on %s: %s\n", mark, esc(r.Policy), esc(r.Block), esc(r.Message))
		}
	}
	if len(p.Recovered) > 0 {
		fmt.Fprintf(w, "\n**Recovered** from an interrupted apply: %s\n", esc(addrs.Join(p.Recovered, ", ")))
	}
}

func mdSymbol(a plans.Action) string {
	switch a {
	case plans.Create:
		return "➕"
	case plans.Update:
		return "✏️"
	case plans.Replace:
		return "♻️"
	case plans.Delete:
		return "🗑️"
	}
	return ""
}

func mdDetail(c *plans.Change) string {
	switch c.Action {
	case plans.Create:
		return "create — " + oneLine(c.Kind, c.After)
	case plans.Delete:
		msg := "delete"
		if c.Reason != "" {
			msg += " (" + esc(c.Reason) + ")"
		}
		return msg
	}
	var parts []string
	for _, n := range orderedAttrs(c.Kind, pick(c.Changed, c.Before), pick(c.Changed, c.After)) {
		parts = append(parts, fmt.Sprintf("%s %s → %s", esc(n), value(c.Kind, n, c.Before[n], c.Before), value(c.Kind, n, c.After[n], c.After)))
	}
	verb := "update"
	if c.Action == plans.Replace {
		verb = "replace"
		if c.Reason != "" {
			parts = append(parts, esc(c.Reason))
		}
	}
	return verb + " — " + strings.Join(parts, "; ")
}

// MarkdownFailure writes the comment for a plan that could not be made: the title says so and
// the problems follow as they were printed, so a pull request never gets an empty comment.
func MarkdownFailure(w io.Writer, problems string) {
	fence := "```"
	for strings.Contains(problems, fence) {
		fence += "`"
	}
	fmt.Fprintf(w, "### Musubi plan: failed\n\nThe plan could not be made:\n\n%s\n%s\n%s\n", fence, strings.TrimRight(esc(problems), "\n"), fence)
}

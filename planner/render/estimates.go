package render

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/musubi-hq/musubi/planner/plans"
)

// Estimates: what the rule bundle a plan pushes would make of the engine's customers, shown
// under the blocks they belong to: a segment's members now and after, a campaign's reach and
// a code pool too small for its audience, and new and changed messages as sample customers
// would read them.

// count writes a number of people with its noun: "1 member", "1,200 members".
func count(n int, noun string) string {
	s := groupDigits(int64(n)) + " " + noun
	if n != 1 {
		s += "s"
	}
	return s
}

// delta is the change in members: "+35", "−12", "±0".
func delta(from, to int) string {
	switch {
	case to > from:
		return "+" + groupDigits(int64(to-from))
	case to < from:
		return "−" + groupDigits(int64(from-to))
	}
	return "±0"
}

// segmentLine is a segment's members now and once the rules are pushed.
func segmentLine(s *plans.SegmentEstimate) string {
	line := fmt.Sprintf("members: %s → %s (%s)", groupDigits(int64(s.Now)), groupDigits(int64(s.New)), delta(s.Now, s.New))
	if s.Status == "new" {
		line += ", a new segment"
	}
	return line
}

// reachLine is a campaign's reach: "reach: 80 of 85 audience members (line.oa 80)".
func reachLine(c *plans.CampaignEstimate) string {
	line := fmt.Sprintf("reach: %s of %s of %s", groupDigits(int64(c.Reach)), count(c.Members, "member"), esc(c.Audience))
	if len(c.ByChannel) > 0 {
		var parts []string
		for _, ch := range slices.Sorted(maps.Keys(c.ByChannel)) {
			parts = append(parts, esc(ch)+" "+groupDigits(int64(c.ByChannel[ch])))
		}
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line
}

// poolLine warns of a code pool smaller than the audience.
func poolLine(c *plans.CampaignEstimate) string {
	return fmt.Sprintf("the code pool holds %s for %s: %s would get no code", count(c.CodeCount, "code"),
		count(c.Members, "audience member"), groupDigits(int64(c.CodesShort())))
}

// previewWhat names a preview: "message through provider.line.oa (new)", "message 2 through …".
func previewWhat(pv *plans.Preview, prefix string) string {
	n := ""
	if pv.Index > 0 {
		n = " " + strconv.Itoa(pv.Index+1)
	}
	return fmt.Sprintf("message%s through %s%s (%s)", n, prefix, esc(pv.Provider), esc(pv.Status))
}

// sampleName names a sample customer.
func sampleName(s plans.PreviewSample) string {
	if s.Customer == "" {
		return "a customer with no data"
	}
	return "customer " + esc(s.Customer)
}

// variantName names a rendered variant, marking the one the customer gets.
func variantName(s plans.PreviewSample, v plans.RenderedVariant) string {
	name := "message"
	if v.Name != "" {
		name = "variant " + esc(v.Name)
	}
	if v.Name == s.Gets && len(s.Variants) > 1 {
		name += " (gets this)"
	}
	return name
}

func writeEstimate(w io.Writer, pt painter, e entry) {
	switch {
	case e.segment != nil:
		fmt.Fprintf(w, "  ≈ %s\n", segmentLine(e.segment))
	case e.campaign != nil:
		fmt.Fprintf(w, "  ≈ %s\n", reachLine(e.campaign))
		if e.campaign.CodesShort() > 0 {
			fmt.Fprintf(w, "  %s %s\n", pt.paint(yellow, "!"), pt.paint(yellow, poolLine(e.campaign)))
		}
	case e.preview != nil:
		pv := e.preview
		head := "  ≈ preview of " + previewWhat(pv, "provider.")
		if pv.Code != "" {
			head += pt.paint(dim, ", code shown as "+esc(pv.Code))
		}
		fmt.Fprintln(w, head)
		for _, s := range pv.Samples {
			fmt.Fprintf(w, "      for %s:\n", sampleName(s))
			for _, v := range s.Variants {
				if v.Error != "" {
					fmt.Fprintf(w, "        %s: %s\n", variantName(s, v), pt.paint(yellow, "cannot be rendered: "+esc(v.Error)))
					continue
				}
				fmt.Fprintf(w, "        %s:\n", variantName(s, v))
				if v.Subject != "" {
					fmt.Fprintf(w, "          subject: %s\n", esc(v.Subject))
				}
				for _, l := range strings.Split(strings.TrimRight(v.Text, "\n"), "\n") {
					fmt.Fprintf(w, "          │ %s\n", esc(l))
				}
			}
		}
	}
}

// estimateNote says what an engine's estimate rests on, or why there is none.
func estimateNote(e *plans.Estimate) (string, bool) {
	switch {
	case e.Error != "":
		return fmt.Sprintf("audience sizes from provider.%s are unavailable: %s", esc(e.Provider), esc(e.Error)), true
	case e.NoData:
		return fmt.Sprintf("no engine data: provider.%s has no customers yet, so there are no audience sizes; previews show a customer with no data", esc(e.Provider)), false
	}
	return fmt.Sprintf("audience sizes are estimated over the %s of provider.%s, as of now", count(e.Customers, "customer"), esc(e.Provider)), false
}

func writeEstimateNotes(w io.Writer, pt painter, es []*plans.Estimate) {
	if len(es) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, e := range es {
		note, warn := estimateNote(e)
		if warn {
			fmt.Fprintf(w, "%s %s\n", pt.paint(yellow, "!"), pt.paint(yellow, note))
			continue
		}
		fmt.Fprintln(w, pt.paint(dim, "≈ "+note))
	}
}

func markdownEstimate(w io.Writer, e entry) {
	switch {
	case e.segment != nil:
		fmt.Fprintf(w, "- 👥 %s\n", segmentLine(e.segment))
	case e.campaign != nil:
		fmt.Fprintf(w, "- 📣 %s\n", reachLine(e.campaign))
		if e.campaign.CodesShort() > 0 {
			fmt.Fprintf(w, "- ⚠️ %s\n", poolLine(e.campaign))
		}
	case e.preview != nil:
		pv := e.preview
		head := "- 👀 preview of " + previewWhat(pv, "")
		if pv.Code != "" {
			head += ", code shown as `" + esc(pv.Code) + "`"
		}
		fmt.Fprintln(w, head)
		for _, s := range pv.Samples {
			fmt.Fprintf(w, "  - for %s:\n", sampleName(s))
			for _, v := range s.Variants {
				if v.Error != "" {
					fmt.Fprintf(w, "    - %s: cannot be rendered: %s\n", variantName(s, v), esc(v.Error))
					continue
				}
				fmt.Fprintf(w, "    - %s:\n", variantName(s, v))
				text := v.Text
				if v.Subject != "" {
					text = "Subject: " + v.Subject + "\n\n" + text
				}
				fmt.Fprint(w, fenced(text, "      "))
			}
		}
	}
}

// fenced writes text as a fenced code block, indented, with a fence longer than any run of
// backticks in it, so no message text can end the block or be read as Markdown.
func fenced(text, indent string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	var b strings.Builder
	b.WriteString(indent + fence + "\n")
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(indent + esc(l) + "\n")
	}
	b.WriteString(indent + fence + "\n")
	return b.String()
}

func markdownEstimateNotes(w io.Writer, es []*plans.Estimate) {
	if len(es) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, e := range es {
		note, warn := estimateNote(e)
		if warn {
			fmt.Fprintf(w, "⚠️ %s\n", note)
			continue
		}
		fmt.Fprintf(w, "_%s_\n", note)
	}
}

package render

import (
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/providers"
)

// The JSON plan format, documented in docs/plan-json.md. Fields are only ever added within a
// format version.
type jsonPlan struct {
	FormatVersion   string                `json:"format_version"`
	ToolVersion     string                `json:"musubi_version"`
	Mode            plans.Mode            `json:"mode"`
	State           jsonState             `json:"state"`
	Summary         jsonSummary           `json:"summary"`
	HasChanges      bool                  `json:"has_changes"`
	ResourceChanges []jsonChange          `json:"resource_changes"`
	Drift           []jsonDrift           `json:"drift"`
	Recovered       []addrs.Instance      `json:"recovered"`
	Policies        []*plans.PolicyResult `json:"policies"`
	Diagnostics     []lang.JSONDiagnostic `json:"diagnostics"`
	// Sends appears only when there are some, so plans without pure senders read as before.
	Sends []*plans.Send `json:"sends,omitempty"`
	// Schedules appears only when there are some: campaign messages sent at a set time.
	Schedules []*plans.Schedule `json:"schedules,omitempty"`
	// Estimates appears only when the plan pushes a rule bundle to an engine that can tell
	// what it would make of its customers; message previews are for people and left out.
	Estimates []*plans.Estimate `json:"estimates,omitempty"`
}

type jsonState struct {
	Lineage string `json:"lineage"`
	Serial  uint64 `json:"serial"`
}

type jsonSummary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Replace int `json:"replace"`
	Destroy int `json:"destroy"`
	Drift   int `json:"drift"`
	// Interrupted counts Musubi's own changes cut short; drift counts only edits outside it.
	Interrupted int `json:"interrupted,omitempty"`
}

// jsonChangeHead is what every change, drift and applied change of the JSON documents
// starts with: the object and what is done to it.
type jsonChangeHead struct {
	Address  addrs.Instance `json:"address"`
	Block    addrs.Block    `json:"block"`
	Kind     providers.Kind `json:"kind"`
	Provider addrs.Provider `json:"provider"`
	Actions  []string       `json:"actions"`
}

func changeHead(address addrs.Instance, block addrs.Block, kind providers.Kind, provider addrs.Provider, acts []string) jsonChangeHead {
	return jsonChangeHead{Address: address, Block: block, Kind: kind, Provider: provider, Actions: acts}
}

type jsonChange struct {
	jsonChangeHead
	ID           string          `json:"id,omitempty"`
	Before       providers.Attrs `json:"before"`
	After        providers.Attrs `json:"after"`
	Changed      []string        `json:"changed,omitempty"`
	ReplacePaths []string        `json:"replace_paths,omitempty"`
	Reason       string          `json:"reason,omitempty"`
}

type jsonDrift struct {
	jsonChangeHead
	Changed []string        `json:"changed,omitempty"`
	Before  providers.Attrs `json:"before"`
	After   providers.Attrs `json:"after"`
	// Interrupted marks Musubi's own update or delete that an apply did not see finish.
	Interrupted *plans.Interruption `json:"interrupted,omitempty"`
}

func actions(a plans.Action) []string {
	if a == plans.Replace {
		return []string{"delete", "create"}
	}
	return []string{string(a)}
}

// JSON writes the plan in the documented machine-readable format.
func JSON(w io.Writer, p *plans.Plan, diags hcl.Diagnostics) error {
	s := p.Summary()
	out := jsonPlan{
		FormatVersion: plans.FormatVersion, ToolVersion: p.ToolVersion, Mode: p.Mode,
		State:           jsonState{Lineage: p.Lineage, Serial: p.Serial},
		Summary:         jsonSummary{s.Add, s.Change, s.Replace, s.Destroy, s.Drift, s.Interrupted},
		HasChanges:      p.HasChanges(),
		ResourceChanges: []jsonChange{}, Drift: []jsonDrift{}, Recovered: p.Recovered, Policies: p.Policies,
		Diagnostics: lang.ToJSONDiagnostics(diags), Sends: p.Sends, Schedules: p.Schedules,
	}
	for _, e := range p.Estimates {
		c := *e
		c.Previews = nil
		out.Estimates = append(out.Estimates, &c)
	}
	if out.Recovered == nil {
		out.Recovered = []addrs.Instance{}
	}
	if out.Policies == nil {
		out.Policies = []*plans.PolicyResult{}
	}
	for _, c := range p.Changes {
		out.ResourceChanges = append(out.ResourceChanges, jsonChange{
			jsonChangeHead: changeHead(c.Address, c.Block, c.Kind, c.Provider, actions(c.Action)), ID: c.ID,
			Before: visibleAttrs(c.Kind, c.Before), After: visibleAttrs(c.Kind, c.After),
			Changed: c.Changed, ReplacePaths: c.ReplacePaths, Reason: c.Reason,
		})
	}
	for _, d := range p.Drift {
		act := "update"
		switch {
		case d.Deleted:
			act = "delete"
		case len(d.Changed) == 0:
			act = string(plans.NoOp) // an interrupted change that left the object as it was
		}
		out.Drift = append(out.Drift, jsonDrift{jsonChangeHead: changeHead(d.Address, d.Block, d.Kind, d.Provider, []string{act}),
			Changed: d.Changed, Before: d.Before, After: d.After, Interrupted: d.Interrupted})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// visibleAttrs drops private and write-only attributes.
func visibleAttrs(k providers.Kind, a providers.Attrs) providers.Attrs {
	if a == nil {
		return nil
	}
	ks, err := providers.SchemaOf(k)
	if err != nil {
		return a
	}
	out := providers.Attrs{}
	for n, v := range a {
		if at, ok := ks.Attribute(n); ok && (at.Private || at.WriteOnly) {
			continue
		}
		out[n] = v
	}
	return out
}

package render

import (
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
)

// ApplyResult is what an apply did, for ApplyJSON. Its fields are filled as far as the apply
// got: a configuration that does not load leaves Plan and State nil.
type ApplyResult struct {
	ToolVersion string
	Mode        plans.Mode
	// Plan is the plan that was applied, or would have been.
	Plan *plans.Plan
	// Applied is true once the changes were started.
	Applied bool
	// Done holds the changes that finished, with the object's ID; Failed those that failed.
	Done   map[addrs.Instance]string
	Failed map[addrs.Instance]error
	// State is the state written at the end, nil when none was.
	State       *states.State
	Diagnostics hcl.Diagnostics
}

// The JSON apply result, documented in docs/plan-json.md beside the plan it carries out.
type jsonApply struct {
	FormatVersion   string                 `json:"format_version"`
	ToolVersion     string                 `json:"musubi_version"`
	Mode            plans.Mode             `json:"mode"`
	Success         bool                   `json:"success"`
	Applied         bool                   `json:"applied"`
	State           *jsonState             `json:"state"`
	Summary         jsonApplySummary       `json:"summary"`
	ResourceChanges []jsonAppliedChange    `json:"resource_changes"`
	Outputs         map[string]*jsonOutput `json:"outputs"`
	Diagnostics     []lang.JSONDiagnostic  `json:"diagnostics"`
}

type jsonApplySummary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Replace int `json:"replace"`
	Destroy int `json:"destroy"`
	Failed  int `json:"failed"`
	// NotStarted counts the planned changes a failure kept from starting.
	NotStarted int `json:"not_started"`
}

type jsonAppliedChange struct {
	jsonChangeHead
	// Status is "done", "failed" or "not-started".
	Status string `json:"status"`
	ID     string `json:"id,omitempty"`
	Error  string `json:"error,omitempty"`
}

// jsonOutput is an output as `musubi output -json` prints it too.
type jsonOutput struct {
	Sensitive bool            `json:"sensitive"`
	Type      json.RawMessage `json:"type,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
}

// OutputsJSON returns the state's outputs in the form of the JSON documents: by name,
// with "sensitive", "type" and, unless sensitive, "value".
func OutputsJSON(outs map[string]*states.Output) map[string]*jsonOutput {
	m := make(map[string]*jsonOutput, len(outs))
	for n, o := range outs {
		m[n] = &jsonOutput{Sensitive: o.Sensitive, Type: o.Type, Value: o.Value}
	}
	return m
}

// ApplyJSON writes the result of an apply as one JSON document.
func ApplyJSON(w io.Writer, r *ApplyResult) error {
	out := jsonApply{
		FormatVersion: plans.FormatVersion, ToolVersion: r.ToolVersion, Mode: r.Mode, Applied: r.Applied,
		ResourceChanges: []jsonAppliedChange{}, Outputs: map[string]*jsonOutput{},
		Diagnostics: lang.ToJSONDiagnostics(r.Diagnostics),
	}
	if r.Plan != nil {
		for _, c := range r.Plan.Changes {
			if c.Action == plans.NoOp || c.Action == plans.Read {
				continue
			}
			jc := jsonAppliedChange{jsonChangeHead: changeHead(c.Address, c.Block, c.Kind, c.Provider, actions(c.Action)),
				Status: "not-started", ID: c.ID}
			if id, ok := r.Done[c.Address]; ok {
				jc.Status = "done"
				if id != "" {
					jc.ID = id
				}
				switch c.Action {
				case plans.Create:
					out.Summary.Add++
				case plans.Update:
					out.Summary.Change++
				case plans.Replace:
					out.Summary.Replace++
				case plans.Delete:
					out.Summary.Destroy++
				}
			} else if err, ok := r.Failed[c.Address]; ok {
				jc.Status, jc.Error = "failed", err.Error()
				out.Summary.Failed++
			} else {
				out.Summary.NotStarted++
			}
			out.ResourceChanges = append(out.ResourceChanges, jc)
		}
	}
	if r.State != nil {
		out.State = &jsonState{Lineage: r.State.Lineage, Serial: r.State.Serial}
		out.Outputs = OutputsJSON(r.State.Outputs)
	}
	out.Success = !r.Diagnostics.HasErrors() && out.Summary.Failed == 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

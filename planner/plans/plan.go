// Package plans holds a plan as plain data — what apply will do to each resource instance,
// what drifted, which policies failed — and its file format. The planner produces plans,
// renderers show them, apply executes them exactly.
package plans

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// FormatVersion is the version of the plan file and of `plan -json` output.
const FormatVersion = "1.0"

// Action is what apply does to one resource instance.
type Action string

// Actions.
const (
	NoOp    Action = "no-op"
	Create  Action = "create"
	Update  Action = "update"
	Replace Action = "replace" // delete, then create
	Delete  Action = "delete"
	// Read marks a resource whose state is refreshed without changing it (refresh-only).
	Read Action = "read"
)

// Mode says what the plan is for.
type Mode string

// Modes.
const (
	Normal      Mode = "normal"
	Destroy     Mode = "destroy"
	RefreshOnly Mode = "refresh-only"
)

// Plan is the result of planning.
type Plan struct {
	FormatVersion string `json:"format_version"`
	ToolVersion   string `json:"musubi_version"`
	Mode          Mode   `json:"mode"`
	// Lineage and Serial identify the state the plan was made against; apply refuses a plan
	// whose state has moved since.
	Lineage string `json:"lineage"`
	Serial  uint64 `json:"serial"`
	// ConfigHash covers every configuration file and variable value; apply refuses a plan
	// whose configuration has changed since.
	ConfigHash string `json:"config_hash"`
	// Variables holds the non-sensitive variable values the plan was made with, as -var
	// arguments, so apply loads the same configuration.
	Variables []string       `json:"variables,omitempty"`
	VarFiles  []string       `json:"var_files,omitempty"`
	Targets   []addrs.Target `json:"targets,omitempty"`
	// Descriptions holds the description of each block with changes, for readers.
	Descriptions map[addrs.Block]string `json:"descriptions,omitempty"`

	Changes  []*Change       `json:"changes"`
	Drift    []*Drift        `json:"drift,omitempty"`
	Policies []*PolicyResult `json:"policies,omitempty"`
	// Recovered lists resources an interrupted apply had created, found again by their
	// idempotency keys.
	Recovered []addrs.Instance `json:"recovered,omitempty"`
	// Sends lists the messages that go out through pure senders, when the plan pushes the
	// rule bundle that carries them.
	Sends []*Send `json:"sends,omitempty"`
	// Schedules lists the campaign messages that go out at a set time, when the plan pushes
	// the rule bundle that carries the time.
	Schedules []*Schedule `json:"schedules,omitempty"`
	// Estimates are what the rule bundle the plan pushes would make of each engine's
	// customers, where the engine could be read.
	Estimates []*Estimate `json:"estimates,omitempty"`

	// Prior is the refreshed state the changes apply to.
	Prior *states.State `json:"prior"`
}

// Change is what apply does to one resource instance.
type Change struct {
	Address  addrs.Instance `json:"address"`
	Block    addrs.Block    `json:"block"`
	Kind     providers.Kind `json:"kind"`
	Provider addrs.Provider `json:"provider"`
	Action   Action         `json:"action"`
	// ID is the resource's ID in the system, for updates, replacements and deletions.
	ID     string          `json:"id,omitempty"`
	Before providers.Attrs `json:"before,omitempty"`
	After  providers.Attrs `json:"after,omitempty"`
	// Changed lists the attributes that differ; ReplacePaths those of them that force a
	// replacement (or the dependency that is replaced).
	Changed      []string `json:"changed,omitempty"`
	ReplacePaths []string `json:"replace_paths,omitempty"`
	// IdempotencyKey is sent with the create, so a retry never makes a second object.
	IdempotencyKey string                    `json:"idempotency_key,omitempty"`
	Refs           map[string]addrs.Instance `json:"refs,omitempty"`
	Dependencies   []addrs.Instance          `json:"dependencies,omitempty"`
	// Reason explains a replacement or deletion in words.
	Reason string `json:"reason,omitempty"`
}

// Drift is a difference between the state and the live system: an out-of-band edit or a
// deletion.
type Drift struct {
	Address  addrs.Instance  `json:"address"`
	Block    addrs.Block     `json:"block"`
	Kind     providers.Kind  `json:"kind"`
	Provider addrs.Provider  `json:"provider"`
	Deleted  bool            `json:"deleted,omitempty"`
	Changed  []string        `json:"changed,omitempty"`
	Before   providers.Attrs `json:"before,omitempty"`
	After    providers.Attrs `json:"after,omitempty"`
	// Interrupted marks Musubi's own update or delete, which an apply started and did not
	// see finish (it was killed, or the call's outcome is unknown): not an edit made outside
	// Musubi. Changed may then be empty: the system still holds what it held before.
	Interrupted *Interruption `json:"interrupted,omitempty"`
}

// Interruption says which change was cut short, and when its apply started it.
type Interruption struct {
	Action Action    `json:"action"`
	Since  time.Time `json:"since"`
}

// Send is a message of a campaign or trigger that goes out through a pure sender: a provider
// that sends messages and keeps none (a webhook). Nothing is created for it in any system;
// the engine renders it from the rule bundle and sends it, so it is shown with the bundle.
type Send struct {
	Block    addrs.Block    `json:"block"`
	Provider addrs.Provider `json:"provider"`
	// Index tells apart several messages of one block through one provider, as in addresses.
	Index    int               `json:"index,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	Template string            `json:"template"`
	Variants map[string]string `json:"variants,omitempty"`
}

// Schedule is a campaign message that goes out at a set time (its send_at) rather than at
// once. No system holds the time: the engine sends the message to the campaign's audience
// then, from the rule bundle, so it is shown with the bundle.
type Schedule struct {
	Block    addrs.Block    `json:"block"`
	Provider addrs.Provider `json:"provider"`
	// Index tells apart several messages of one campaign through one provider, as in addresses.
	Index int `json:"index,omitempty"`
	// SendAt is RFC 3339, in the zone Timezone names: the one send_at was written in.
	SendAt   string `json:"send_at"`
	Timezone string `json:"timezone"`
	// Past says send_at had passed when the plan was made: the message goes out as soon as
	// the bundle is pushed, to the members of the audience who have not had it.
	Past bool `json:"past,omitempty"`
}

// Estimate is what a rule bundle the plan pushes would make of one engine's customers: the
// members of its new and changed segments, its campaigns' reach, its new and changed messages
// rendered for sample customers. Nothing of it is applied; it is shown for the people who
// review the plan.
type Estimate struct {
	Provider addrs.Provider `json:"provider"`
	// Customers is how many customer profiles the counts are over; NoData says the engine has
	// none yet. Error says why the engine could not be read: the plan goes on without counts.
	Customers int                 `json:"customers"`
	NoData    bool                `json:"no_data,omitempty"`
	Error     string              `json:"error,omitempty"`
	Segments  []*SegmentEstimate  `json:"segments,omitempty"`
	Campaigns []*CampaignEstimate `json:"campaigns,omitempty"`
	Previews  []*Preview          `json:"previews,omitempty"`
}

// SegmentEstimate is a new or changed segment's members now and once the bundle is pushed.
type SegmentEstimate struct {
	Block  addrs.Block `json:"block"`
	Status string      `json:"status"` // new or changed
	Now    int         `json:"now"`
	New    int         `json:"new"`
}

// CampaignEstimate is a campaign's audience once the bundle is pushed and how many of it the
// campaign's messages reach; CodeCount is its code pool's size (0: none), and a pool smaller
// than the audience is warned of.
type CampaignEstimate struct {
	Block     addrs.Block    `json:"block"`
	Audience  addrs.Block    `json:"audience"`
	Members   int            `json:"members"`
	Reach     int            `json:"reach"`
	ByChannel map[string]int `json:"by_channel,omitempty"`
	CodeCount int            `json:"code_count,omitempty"`
}

// CodesShort is how many members of the audience the code pool has no code for.
func (c *CampaignEstimate) CodesShort() int {
	if c.CodeCount == 0 || c.Members <= c.CodeCount {
		return 0
	}
	return c.Members - c.CodeCount
}

// Preview is a new or changed message rendered for sample customers.
type Preview struct {
	Block    addrs.Block     `json:"block"`
	Provider addrs.Provider  `json:"provider"`
	Index    int             `json:"index,omitempty"`
	Status   string          `json:"status"`
	Code     string          `json:"code,omitempty"`
	Samples  []PreviewSample `json:"samples"`
}

// PreviewSample is a message as one sample customer reads it, in every variant. Customer is
// empty for the synthetic customer of an engine with no data.
type PreviewSample struct {
	Customer string            `json:"customer,omitempty"`
	Gets     string            `json:"gets,omitempty"`
	Variants []RenderedVariant `json:"variants"`
}

// RenderedVariant is one variant of a message ("" for the message's own text), rendered.
type RenderedVariant struct {
	Name    string `json:"name,omitempty"`
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	Error   string `json:"error,omitempty"`
}

// PolicyResult is a policy that failed on a block.
type PolicyResult struct {
	Policy   string      `json:"policy"`
	Block    addrs.Block `json:"block"`
	Severity string      `json:"severity"`
	Message  string      `json:"message"`
}

// Summary counts the changes by action. Drift counts edits made outside Musubi; Interrupted
// Musubi's own changes cut short.
type Summary struct {
	Add, Change, Replace, Destroy, Drift, Interrupted int
}

// Summary counts the plan's changes.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Add++
		case Update:
			s.Change++
		case Replace:
			s.Replace++
		case Delete:
			s.Destroy++
		}
	}
	for _, d := range p.Drift {
		if d.Interrupted != nil {
			s.Interrupted++
		} else {
			s.Drift++
		}
	}
	return s
}

// HasChanges reports whether applying the plan would change anything (refresh-only plans
// change the state when there is drift).
func (p *Plan) HasChanges() bool {
	s := p.Summary()
	if p.Mode == RefreshOnly {
		return s.Drift+s.Interrupted > 0 || len(p.Recovered) > 0
	}
	return s.Add+s.Change+s.Replace+s.Destroy > 0
}

// BlockingPolicies returns the failed policies of severity error.
func (p *Plan) BlockingPolicies() []*PolicyResult {
	var out []*PolicyResult
	for _, r := range p.Policies {
		if r.Severity == "error" {
			out = append(out, r)
		}
	}
	return out
}

// CheckCurrent refuses a plan saved at path once the state it was made against or the
// configuration (by its hash) has moved. A state never written takes the plan's lineage.
func (p *Plan) CheckCurrent(path string, st *states.State, configHash string) error {
	if p.Serial == 0 && st.Serial == 0 && st.Len() == 0 {
		st.Lineage = p.Lineage
	}
	switch {
	case st.Lineage != p.Lineage:
		return fmt.Errorf("the saved plan %s was made for another state (lineage %s, this state is %s); run plan again", path, p.Lineage, st.Lineage)
	case st.Serial != p.Serial || st.Recovered:
		return fmt.Errorf("the saved plan %s is stale: the state changed since it was made (serial %d, now %d); run plan again", path, p.Serial, st.Serial)
	case configHash != p.ConfigHash:
		return fmt.Errorf("the saved plan %s is stale: the configuration or its variables changed since it was made; run plan again", path)
	}
	return nil
}

// Save writes the plan to a file (gzip-compressed JSON).
func Save(path string, p *Plan) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(p); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// Load reads a plan file, normalising attribute values.
func Load(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not a plan file", path)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s is not a plan file: %w", path, err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s is not a plan file: %w", path, err)
	}
	if p.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s was made by a musubi with plan format %s; this one reads %s", path, p.FormatVersion, FormatVersion)
	}
	for _, c := range p.Changes {
		if c.Before, err = providers.Normalize(c.Kind, c.Before); err != nil {
			return nil, err
		}
		if c.After, err = providers.Normalize(c.Kind, c.After); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// Package states holds Musubi's state, the record of what it manages in each system, and the
// backends that store it. State is plain data: the planner produces it, the backends persist
// it atomically, and nothing here knows any provider's API.
package states

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/providers"
)

// FormatVersion is the version of the state document. Readers refuse newer versions.
const FormatVersion = 1

// State is the versioned record of every managed resource.
type State struct {
	FormatVersion int `json:"format_version"`
	// Serial grows by one on every write; a saved plan records the serial it was made against.
	Serial uint64 `json:"serial"`
	// Lineage identifies this state's history; it never changes once created.
	Lineage     string    `json:"lineage"`
	ToolVersion string    `json:"musubi_version"`
	Git         *GitInfo  `json:"git,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	// Accounts records, per provider, the account its resources were applied against, so a
	// state planned against another account (another project's state, a moved provider) is
	// refused instead of creating everything again there.
	Accounts map[addrs.Provider]Account `json:"accounts,omitempty"`
	// Outputs are the values of the configuration's output blocks as of the last apply, for
	// `musubi output` and for scripts that read the state.
	Outputs map[string]*Output `json:"outputs,omitempty"`

	// Recovered is set when a backend replayed the journal of an interrupted apply.
	Recovered bool `json:"-"`

	resources map[addrs.Instance]*Resource
}

// GitInfo records where the last apply ran from.
type GitInfo struct {
	Commit string `json:"commit"`
	Branch string `json:"branch,omitempty"`
	Author string `json:"author,omitempty"`
	// Dirty is true when the working tree had uncommitted changes.
	Dirty bool `json:"dirty"`
}

// Output is the value of an output block as of the last apply. A sensitive output's value is
// never written: secrets stay out of the state, so only the fact that it is sensitive is.
type Output struct {
	Sensitive bool `json:"sensitive"`
	// Type is the value's type in cty's JSON type notation ("string", ["list","number"]).
	Type json.RawMessage `json:"type,omitempty"`
	// Value is the value as JSON; absent for a sensitive output.
	Value json.RawMessage `json:"value,omitempty"`
}

// Account names the account of a system a provider block points at: its non-secret settings
// by name (a shop domain, a contract ID, a sandbox file), values read from the environment
// only as digests. Credentials are never part of it.
type Account map[string]string

// Resource is one managed resource instance.
type Resource struct {
	Address      addrs.Instance   `json:"address"`
	Kind         providers.Kind   `json:"kind"`
	Provider     addrs.Provider   `json:"provider"`
	ID           string           `json:"id,omitempty"`
	Attributes   providers.Attrs  `json:"attributes,omitempty"`
	Dependencies []addrs.Instance `json:"dependencies,omitempty"`
	// Pending records a change that was started and not known to have finished. For a
	// create (no ID yet) the idempotency key finds the object if the system made it; for an
	// update or a delete it tells the next plan that what the system holds is Musubi's own
	// half-finished change, not an edit made outside it.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is an intent to change a resource, written before the provider is called.
type Pending struct {
	// Action is "update" or "delete"; empty for a create.
	Action         string    `json:"action,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Since          time.Time `json:"since"`
}

// The actions of a pending update and delete.
const (
	PendingUpdate = "update"
	PendingDelete = "delete"
)

// New returns an empty state with a fresh lineage.
func New(toolVersion string) *State {
	return &State{FormatVersion: FormatVersion, Lineage: uuid.NewString(), ToolVersion: toolVersion, resources: map[addrs.Instance]*Resource{}}
}

// Find returns the resource at an address, or nil.
func (s *State) Find(addr addrs.Instance) *Resource { return s.resources[addr] }

// Put adds or replaces a resource.
func (s *State) Put(r *Resource) {
	if s.resources == nil {
		s.resources = map[addrs.Instance]*Resource{}
	}
	s.resources[r.Address] = r
}

// Remove deletes the resource at an address, reporting whether it was there.
func (s *State) Remove(addr addrs.Instance) bool {
	_, ok := s.resources[addr]
	delete(s.resources, addr)
	return ok
}

// Len is the number of resources.
func (s *State) Len() int { return len(s.resources) }

// Resources returns the resources sorted by address.
func (s *State) Resources() []*Resource {
	out := make([]*Resource, 0, len(s.resources))
	for _, r := range s.resources {
		out = append(out, r)
	}
	addrs.Sort(out, func(r *Resource) addrs.Instance { return r.Address })
	return out
}

// document is the state document; Decode reads its resources as raw JSON first.
type document[R any] struct {
	FormatVersion int                        `json:"format_version"`
	Serial        uint64                     `json:"serial"`
	Lineage       string                     `json:"lineage"`
	ToolVersion   string                     `json:"musubi_version"`
	Git           *GitInfo                   `json:"git,omitempty"`
	UpdatedAt     time.Time                  `json:"updated_at,omitzero"`
	Accounts      map[addrs.Provider]Account `json:"accounts,omitempty"`
	Outputs       map[string]*Output         `json:"outputs,omitempty"`
	Resources     []R                        `json:"resources"`
}

// MarshalJSON writes the resources sorted by address, so state diffs read well in git.
func (s *State) MarshalJSON() ([]byte, error) {
	return json.Marshal(document[*Resource]{s.FormatVersion, s.Serial, s.Lineage, s.ToolVersion, s.Git, s.UpdatedAt, s.Accounts, s.Outputs, s.Resources()})
}

// UnmarshalJSON reads a state document as Decode does, so a state inside another document (a
// saved plan's prior) is read once, with its attribute values normalised.
func (s *State) UnmarshalJSON(b []byte) error {
	d, err := Decode(b)
	if err != nil {
		return err
	}
	*s = *d
	return nil
}

// CloneShallow returns a copy that shares the resources: for code that replaces resources
// with Put and Remove and never changes one in place, as refresh does. It saves copying
// every attribute of a large state.
func (s *State) CloneShallow() *State {
	c := *s
	c.resources = make(map[addrs.Instance]*Resource, len(s.resources))
	for k, r := range s.resources {
		c.resources[k] = r
	}
	return &c
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := *s
	if s.Git != nil {
		g := *s.Git
		c.Git = &g
	}
	if s.Accounts != nil {
		c.Accounts = make(map[addrs.Provider]Account, len(s.Accounts))
		for p, a := range s.Accounts {
			c.Accounts[p] = maps.Clone(a)
		}
	}
	if s.Outputs != nil {
		c.Outputs = make(map[string]*Output, len(s.Outputs))
		for n, o := range s.Outputs {
			oc := *o
			c.Outputs[n] = &oc
		}
	}
	c.resources = make(map[addrs.Instance]*Resource, len(s.resources))
	for k, r := range s.resources {
		c.resources[k] = r.Clone()
	}
	return &c
}

// Clone returns a deep copy.
func (r *Resource) Clone() *Resource {
	c := *r
	c.Attributes = r.Attributes.Clone()
	c.Dependencies = append([]addrs.Instance(nil), r.Dependencies...)
	if r.Pending != nil {
		p := *r.Pending
		c.Pending = &p
	}
	return &c
}

// Decode reads a state document, normalising attribute values to their kinds' Go types.
// Resources decode in parallel: the state of a large programme is megabytes of JSON. It is
// read with go-json, which decodes these types as encoding/json does (TestDecodeMatchesStdlib)
// in about half the time.
func Decode(b []byte) (*State, error) {
	var head document[json.RawMessage]
	if err := gojson.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("not a state document: %w", err)
	}
	if head.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("state format version %d is newer than this musubi understands (%d); upgrade musubi", head.FormatVersion, FormatVersion)
	}
	rs := make([]*Resource, len(head.Resources))
	errs := make([]error, len(head.Resources))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := interner{}
			for i := w; i < len(rs); i += workers {
				var r Resource
				if err := gojson.Unmarshal(head.Resources[i], &r); err != nil {
					errs[i] = fmt.Errorf("decoding state resource %d: %w", i+1, err)
					continue
				}
				head.Resources[i] = nil
				errs[i] = r.normalize()
				r.detach(in)
				rs[i] = &r
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &State{FormatVersion: head.FormatVersion, Serial: head.Serial, Lineage: strings.Clone(head.Lineage), ToolVersion: strings.Clone(head.ToolVersion),
		Git: head.Git, UpdatedAt: head.UpdatedAt, Accounts: head.Accounts, Outputs: head.Outputs, resources: make(map[addrs.Instance]*Resource, len(rs))}
	s.detachHead()
	for _, r := range rs {
		if _, dup := s.resources[r.Address]; dup {
			return nil, fmt.Errorf("resource %s appears twice in the state", r.Address)
		}
		s.resources[r.Address] = r
	}
	return s, nil
}

func (r *Resource) normalize() error {
	attrs, err := providers.Normalize(r.Kind, r.Attributes)
	if err != nil {
		return fmt.Errorf("state resource %s: %w", r.Address, err)
	}
	r.Attributes = attrs
	return nil
}

// interner shares one copy of each short string among the resources one decoding goroutine
// reads: the kinds, currencies, time zones and dates that recur across a large state.
type interner map[string]string

func (in interner) get(s string) string {
	if len(s) > 32 {
		return strings.Clone(s)
	}
	if c, ok := in[s]; ok {
		return c
	}
	c := strings.Clone(s)
	in[c] = c
	return c
}

// detach copies the strings go-json decoded, which point into the buffer it decoded from and
// would keep a whole copy of each resource's JSON alive for as long as the state is.
func (r *Resource) detach(in interner) {
	r.Kind = providers.Kind(in.get(string(r.Kind)))
	r.ID = strings.Clone(r.ID)
	if r.Pending != nil {
		r.Pending.Action = in.get(r.Pending.Action)
		r.Pending.IdempotencyKey = strings.Clone(r.Pending.IdempotencyKey)
	}
	// The map is normalize's, keyed by the schema's names: only its values need copying,
	// in place.
	attrs := r.Attributes
	for k, v := range attrs {
		switch x := v.(type) {
		case string:
			attrs[k] = in.get(x)
		case []string:
			c := make([]string, len(x))
			for i, e := range x {
				c[i] = in.get(e)
			}
			attrs[k] = c
		case map[string]string:
			c := make(map[string]string, len(x))
			for mk, mv := range x {
				c[in.get(mk)] = in.get(mv)
			}
			attrs[k] = c
		}
	}
}

// detachHead copies the strings of the document's head out of go-json's buffer, a copy of
// the whole state document.
func (s *State) detachHead() {
	if s.Git != nil {
		g := *s.Git
		g.Commit, g.Branch, g.Author = strings.Clone(g.Commit), strings.Clone(g.Branch), strings.Clone(g.Author)
		s.Git = &g
	}
	if s.Accounts != nil {
		accounts := make(map[addrs.Provider]Account, len(s.Accounts))
		for p, a := range s.Accounts {
			c := make(Account, len(a))
			for k, v := range a {
				c[strings.Clone(k)] = strings.Clone(v)
			}
			accounts[p] = c
		}
		s.Accounts = accounts
	}
	if s.Outputs != nil {
		outputs := make(map[string]*Output, len(s.Outputs))
		for n, o := range s.Outputs {
			oc := *o
			outputs[strings.Clone(n)] = &oc
		}
		s.Outputs = outputs
	}
}

// Encode writes the state document.
func Encode(s *State) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Sync wraps a state for the concurrent writers of an apply walk.
type Sync struct {
	mu sync.Mutex
	s  *State
}

// NewSync wraps s.
func NewSync(s *State) *Sync { return &Sync{s: s} }

// Put adds or replaces a resource.
func (ss *Sync) Put(r *Resource) {
	ss.mu.Lock()
	ss.s.Put(r)
	ss.mu.Unlock()
}

// Remove deletes a resource.
func (ss *Sync) Remove(addr addrs.Instance) {
	ss.mu.Lock()
	ss.s.Remove(addr)
	ss.mu.Unlock()
}

// Find returns a copy of the resource at addr, or nil.
func (ss *Sync) Find(addr addrs.Instance) *Resource {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if r := ss.s.Find(addr); r != nil {
		return r.Clone()
	}
	return nil
}

// Snapshot returns a deep copy of the state.
func (ss *Sync) Snapshot() *State {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.s.Clone()
}

// Providers lists the providers that hold at least one resource.
func (s *State) Providers() map[addrs.Provider]bool {
	out := map[addrs.Provider]bool{}
	for _, r := range s.resources {
		out[r.Provider] = true
	}
	return out
}

package states

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/providers"
)

// Advance stamps the state as the next serial, written now by toolVersion. Every write of a
// changed state goes through here, so a saved plan can tell that the state moved.
func (s *State) Advance(toolVersion string) {
	s.Serial++
	s.FormatVersion = FormatVersion
	s.ToolVersion = toolVersion
	s.UpdatedAt = time.Now().UTC().Truncate(time.Second)
}

// Save writes a state changed outside an apply (state rm, state mv, import) as the next serial.
func Save(ctx context.Context, b Backend, s *State, toolVersion string) error {
	s.Advance(toolVersion)
	return b.Write(ctx, s)
}

// Select returns the resources whose addresses match one of the patterns, sorted; all of them
// without patterns. A pattern is an address, a prefix of one ending before a dot
// (campaign.spring), or a glob (campaign.*.coupon*).
func (s *State) Select(patterns []string) []*Resource {
	var out []*Resource
	for _, r := range s.Resources() {
		if matchesAny(r.Address.String(), patterns) {
			out = append(out, r)
		}
	}
	return out
}

func matchesAny(addr string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == addr || strings.HasPrefix(addr, p+".") {
			return true
		}
		if ok, _ := path.Match(p, addr); ok {
			return true
		}
	}
	return false
}

// Get returns the resource at an address as a person wrote it.
func (s *State) Get(addr string) (*Resource, error) {
	a, err := addrs.ParseInstance(addr)
	if err != nil {
		return nil, s.NotInState(addr) // nothing is at an address that cannot be
	}
	if r := s.Find(a); r != nil {
		return r, nil
	}
	return nil, s.NotInState(addr)
}

// NotInState is the error for an address the state does not hold; it says where to look.
func (s *State) NotInState(addr string) error {
	msg := fmt.Sprintf("%s is not in the state", addr)
	if s.Len() == 0 {
		return fmt.Errorf("%s (the state is empty)", msg)
	}
	return fmt.Errorf("%s; musubi state list shows what is", msg)
}

// Forget removes the resources matching the patterns from the state, without deleting them
// from their systems, and saves the state. It returns what it removed.
func Forget(ctx context.Context, b Backend, s *State, patterns []string, toolVersion string) ([]*Resource, error) {
	removed := s.Select(patterns)
	if len(removed) == 0 {
		return nil, s.NotInState(patterns[0])
	}
	for _, r := range removed {
		s.Remove(r.Address)
	}
	return removed, Save(ctx, b, s, toolVersion)
}

// Move gives a resource a new address (after its block was renamed) and saves the state.
// The destination keeps the kind and provider. The other resources' references to it follow:
// their dependencies and their reference attributes, never other values that happen to read
// the same.
func Move(ctx context.Context, b Backend, s *State, src, dst, toolVersion string) error {
	if err := s.move(src, dst); err != nil {
		return err
	}
	return Save(ctx, b, s, toolVersion)
}

func (s *State) move(src, dst string) error {
	r, err := s.Get(src)
	if err != nil {
		return err
	}
	da, err := addrs.ParseInstance(dst)
	if err != nil {
		return err
	}
	if da.Kind != r.Kind || da.Provider != r.Provider {
		return fmt.Errorf("%s is a %s on %s; the destination must keep the kind and provider (%s)", src, r.Kind, r.Provider, dst)
	}
	if s.Find(da) != nil {
		return fmt.Errorf("%s already exists in the state", dst)
	}
	sa := r.Address
	from, to := sa.String(), da.String()
	s.Remove(sa)
	moved := r.Clone()
	moved.Address = da
	s.Put(moved)
	for _, other := range s.resources {
		for i, d := range other.Dependencies {
			if d == sa {
				other.Dependencies[i] = da
			}
		}
		ks, err := providers.SchemaOf(other.Kind)
		if err != nil {
			continue
		}
		// Reference attributes hold addresses as text, as providers see them.
		for _, a := range ks.Attributes {
			if a.Type == providers.Ref && other.Attributes.String(a.Name) == from {
				other.Attributes[a.Name] = to
			}
		}
	}
	return nil
}

// Push replaces the state with s, read from a file (state push), as the next serial. It
// refuses, with a *ConflictError, a state of another lineage or one older than the stored
// one, and a stored state with steps of an interrupted apply to recover; force replaces it
// whatever it holds.
func Push(ctx context.Context, b Backend, stored, s *State, toolVersion string, force bool) error {
	if !force {
		if stored.Recovered {
			return fmt.Errorf("the %s holds steps of an apply that did not finish, which the next plan recovers: pushing now would lose them. Run musubi plan (and apply) first, or push with -force", b.Describe())
		}
		s.Advance(toolVersion)
		return b.Write(ctx, s)
	}
	s.Serial = max(s.Serial, stored.Serial)
	s.Advance(toolVersion)
	return b.Overwrite(ctx, s)
}

// Migrated says what Migrate did.
type Migrated struct {
	Resources int
	Serial    uint64
	// Already is set when the target held this very state already.
	Already bool
}

// Migrate copies the state of from into to (a local state file into a new pg backend, say)
// under both locks. It refuses when from holds no state, and when to holds another state, or
// a newer one; to holding this state already is done. The state keeps its lineage and serial
// (a recovered journal makes it the next serial), so saved plans stay valid.
func Migrate(ctx context.Context, from, to Backend, info LockInfo, timeout time.Duration, toolVersion string) (*Migrated, error) {
	for _, b := range []Backend{from, to} {
		u, err := b.Lock(ctx, info, timeout)
		if err != nil {
			return nil, err
		}
		defer u.Unlock()
	}
	s, err := from.Read(ctx)
	if err != nil {
		return nil, err
	}
	if s.Serial == 0 && s.Len() == 0 && !s.Recovered {
		return nil, fmt.Errorf("the %s holds no state to migrate", from.Describe())
	}
	cur, err := to.Read(ctx)
	if err != nil {
		return nil, err
	}
	if cur.Lineage == s.Lineage && cur.Serial == s.Serial && !cur.Recovered && !s.Recovered {
		return &Migrated{Resources: s.Len(), Serial: s.Serial, Already: true}, nil
	}
	if cur.Serial > 0 || cur.Len() > 0 || cur.Recovered {
		return nil, fmt.Errorf("the %s already holds a state (lineage %s, serial %d, %d resources), not the one of the %s (lineage %s, serial %d): refusing to replace it. Choose another name for this state, or, if the one there is surely unwanted, replace it with: musubi state push -force FILE",
			to.Describe(), cur.Lineage, cur.Serial, cur.Len(), from.Describe(), s.Lineage, s.Serial)
	}
	if s.Recovered {
		s.Advance(toolVersion)
	}
	if err := to.Write(ctx, s); err != nil {
		return nil, err
	}
	return &Migrated{Resources: s.Len(), Serial: s.Serial}, nil
}

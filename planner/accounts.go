package planner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// digestPrefix marks an account value read from the environment: compared, never shown.
const digestPrefix = "sha256:"

// accountOf is the account a provider block points at: its settings that are not
// credentials. Every provider, plugins included, marks its credentials in its schema; what is
// left names the system (a shop domain, a contract ID, a sandbox file, an API URL). A value
// from the environment is sensitive by default, so it is kept only as a digest.
func accountOf(pb *lang.Provider, conf map[string]any, schema []providers.ConfigAttribute) states.Account {
	out := states.Account{}
	for _, a := range schema {
		v, set := conf[a.Name]
		if a.Sensitive || !set || v == nil || v == "" {
			continue
		}
		text, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			text = string(b)
		}
		if pb.Sensitive[a.Name] {
			sum := sha256.Sum256([]byte(a.Name + "\x00" + text))
			text = digestPrefix + hex.EncodeToString(sum[:8])
		}
		out[a.Name] = text
	}
	return out
}

// checkAccounts refuses a state whose resources were applied against another account than
// the one the configuration's provider blocks point at now: planning would look for them
// there, find none and create them all again.
func checkAccounts(s *states.State, h *Host, cfg *lang.Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	used := s.Providers()
	for _, p := range slices.SortedFunc(maps.Keys(s.Accounts), func(a, b addrs.Provider) int { return strings.Compare(a.String(), b.String()) }) {
		hp, ok := h.get(p.String())
		if !ok || !used[p] {
			continue
		}
		recorded := s.Accounts[p]
		if maps.Equal(recorded, hp.account) {
			continue
		}
		d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "The state belongs to another account of provider." + p.String(),
			Detail: fmt.Sprintf("The state's resources on provider.%s were applied with\n%s\nbut the configuration now has\n%s\n"+
				"Planning would look for them there, find none and create them all again. If this state file is another project's, put this project's back (a local state keeps the previous one as its .backup). "+
				"If you moved provider.%s to this account on purpose, record the move with: musubi state rebind provider.%s",
				p, describeAccount(recorded, hp.account), describeAccount(hp.account, recorded), p, p)}
		if cfg != nil && cfg.Providers[p.String()] != nil {
			d.Subject = cfg.Providers[p.String()].Range.Ptr()
		}
		diags = append(diags, d)
	}
	return diags
}

// describeAccount lists the settings of a where it differs from b, one per line.
func describeAccount(a, b states.Account) string {
	names := map[string]string{}
	maps.Copy(names, a)
	maps.Copy(names, b)
	var lines []string
	for _, n := range slices.Sorted(maps.Keys(names)) {
		v, set := a[n]
		if w, was := b[n]; set == was && v == w {
			continue
		}
		switch {
		case !set:
			lines = append(lines, fmt.Sprintf("  %s not set", n))
		case strings.HasPrefix(v, digestPrefix):
			lines = append(lines, fmt.Sprintf("  %s from the environment (%s)", n, v))
		default:
			lines = append(lines, fmt.Sprintf("  %s = %s", n, strconv.Quote(v)))
		}
	}
	return strings.Join(lines, "\n")
}

// recordAccounts notes in s the account of every provider that holds resources in it, and
// forgets those that hold none. A provider not started keeps what was recorded.
func recordAccounts(s *states.State, h *Host) {
	used := s.Providers()
	for p := range s.Accounts {
		if !used[p] {
			delete(s.Accounts, p)
		}
	}
	for p := range used {
		if hp, ok := h.get(p.String()); ok {
			if s.Accounts == nil {
				s.Accounts = map[addrs.Provider]states.Account{}
			}
			s.Accounts[p] = maps.Clone(hp.account)
		}
	}
}

// Rebind records in the state the account each named provider points at now, after a
// deliberate move to another account (the objects were moved too, or are meant to be made
// again there), and saves the state. Names are "provider.TYPE.NAME" or "TYPE.NAME".
func Rebind(ctx context.Context, backend states.Backend, s *states.State, h *Host, names []string, toolVersion string) ([]addrs.Provider, error) {
	var out []addrs.Provider
	for _, n := range names {
		p, err := addrs.ParseProvider(strings.TrimPrefix(n, "provider."))
		if err != nil {
			return nil, err
		}
		hp, ok := h.get(p.String())
		if !ok {
			return nil, fmt.Errorf("provider.%s is not configured", p)
		}
		if s.Accounts == nil {
			s.Accounts = map[addrs.Provider]states.Account{}
		}
		s.Accounts[p] = maps.Clone(hp.account)
		out = append(out, p)
	}
	return out, states.Save(ctx, backend, s, toolVersion)
}

package planner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/planner/states/pgstate"
)

// DefaultStatePath is where the local backend keeps state when the configuration says nothing.
const DefaultStatePath = "musubi.state.json"

// Backend returns the state backend the configuration's musubi block chooses, relative to
// workDir: `backend "local" { path = "…" }`, the default, or `backend "pg" { conn_str = … }`.
// A pg backend holds connections: close it (io.Closer) when done.
func Backend(cfg *lang.Config, workDir string) (states.Backend, hcl.Diagnostics) {
	if diags := requireEnv(cfg); diags != nil {
		return nil, diags
	}
	path, pg, diags := backendPath(cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	if pg != nil {
		b, err := pgstate.New(*pg)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend", Detail: err.Error() + ".", Subject: cfg.Settings.Backend.Range.Ptr()}}
		}
		return b, nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(workDir, path)
	}
	return states.NewLocal(path), nil
}

// requireEnv refuses a configuration loaded without some of the environment variables it
// reads (lang.LoadOptions.DeferEnv): it is for checking only, and nothing standing for a
// missing value may reach a provider or name a state file.
func requireEnv(cfg *lang.Config) hcl.Diagnostics {
	if len(cfg.UnsetEnv) == 0 {
		return nil
	}
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Environment variable not set",
		Detail: fmt.Sprintf("the configuration reads %s with env(), which %s not set.", strings.Join(cfg.UnsetEnv, ", "), plural(len(cfg.UnsetEnv), "is", "are"))}}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// backendPath checks the backend block, without opening anything, and returns the local
// state file it names, or the pg backend's settings. A value not known yet (from an
// environment variable that is not set when validating) is "".
func backendPath(cfg *lang.Config) (string, *pgstate.Config, hcl.Diagnostics) {
	b := cfg.Settings.Backend
	if b == nil {
		return DefaultStatePath, nil, nil
	}
	if b.Type == "pg" {
		pg, diags := pgBackend(b)
		return "", pg, diags
	}
	path, diags := localPath(b)
	return path, nil, diags
}

// pgBackend checks a pg backend block: `backend "pg" { conn_str = env("MUSUBI_PG")
// schema = "musubi"  name = "production" }`.
func pgBackend(b *lang.Backend) (*pgstate.Config, hcl.Diagnostics) {
	pg := &pgstate.Config{}
	fields := map[string]*string{"conn_str": &pg.ConnString, "schema": &pg.Schema, "name": &pg.Name}
	for name, v := range b.Config {
		dst, ok := fields[name]
		if !ok {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend",
				Detail: fmt.Sprintf("the pg backend has no attribute %q; it takes conn_str, schema and name.", name), Subject: b.Range.Ptr()}}
		}
		v, _ = v.UnmarkDeep()
		if !v.IsKnown() {
			continue
		}
		if v.Type().FriendlyName() != "string" || v.IsNull() || v.AsString() == "" {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend", Detail: name + " must be a non-empty string.", Subject: b.Range.Ptr()}}
		}
		*dst = v.AsString()
	}
	if _, ok := b.Config["conn_str"]; !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend",
			Detail: `the pg backend needs conn_str, a PostgreSQL connection string; read it from the environment: conn_str = env("MUSUBI_PG").`, Subject: b.Range.Ptr()}}
	}
	return pg, nil
}

func localPath(b *lang.Backend) (string, hcl.Diagnostics) {
	switch b.Type {
	case "local":
		path := DefaultStatePath
		for name, v := range b.Config {
			v, _ = v.UnmarkDeep()
			switch name {
			case "path":
				if !v.IsKnown() {
					path = ""
					continue
				}
				if v.Type().FriendlyName() != "string" || v.IsNull() {
					return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend", Detail: "path must be a string.", Subject: b.Range.Ptr()}}
				}
				path = v.AsString()
			default:
				return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend",
					Detail: fmt.Sprintf("the local backend has no attribute %q; it takes path.", name), Subject: b.Range.Ptr()}}
			}
		}
		return path, nil
	}
	return "", hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown backend",
		Detail: fmt.Sprintf("backend %q is not available; use \"local\" or \"pg\".", b.Type), Subject: b.Range.Ptr()}}
}

// Unmigrated refuses an empty state in a backend other than a local file when the local
// state file beside the configuration holds resources: the musubi block's backend changed
// from local, and planning with the empty state would create everything again.
func Unmigrated(b states.Backend, s *states.State, workDir string) error {
	if _, local := b.(*states.Local); local || s.Serial > 0 || s.Len() > 0 || s.Recovered {
		return nil
	}
	path := filepath.Join(workDir, DefaultStatePath)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	old, err := states.Decode(raw)
	if err == nil && old.Len() == 0 {
		return nil
	}
	what := "a state that cannot be read"
	if err == nil {
		what = fmt.Sprintf("%d resources (serial %d)", old.Len(), old.Serial)
	}
	return fmt.Errorf("the %s is empty, but %s beside the configuration holds %s: the backend changed from local? Copy that state over with: musubi init -migrate-state\nIf %s is stale, move it away first", b.Describe(), DefaultStatePath, what, DefaultStatePath)
}

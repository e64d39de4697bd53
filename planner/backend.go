package planner

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states"
)

// DefaultStatePath is where the local backend keeps state when the configuration says nothing.
const DefaultStatePath = "musubi.state.json"

// Backend returns the state backend the configuration's musubi block chooses, relative to
// workDir: `backend "local" { path = "…" }`, the default.
func Backend(cfg *lang.Config, workDir string) (states.Backend, hcl.Diagnostics) {
	if diags := requireEnv(cfg); diags != nil {
		return nil, diags
	}
	path, diags := backendPath(cfg)
	if diags.HasErrors() {
		return nil, diags
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
// state file it names. A path not known yet (from an environment variable that is not set
// when validating) is "".
func backendPath(cfg *lang.Config) (string, hcl.Diagnostics) {
	b := cfg.Settings.Backend
	if b == nil {
		return DefaultStatePath, nil
	}
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
		Detail: fmt.Sprintf("backend %q is not available; use \"local\".", b.Type), Subject: b.Range.Ptr()}}
}

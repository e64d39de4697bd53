package planner

import (
	"fmt"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner/states"
)

// DefaultStatePath is where the local backend keeps state when the configuration says nothing.
const DefaultStatePath = "musubi.state.json"

// Backend returns the state backend the configuration's musubi block chooses, relative to
// workDir: `backend "local" { path = "…" }`, the default.
func Backend(cfg *lang.Config, workDir string) (states.Backend, hcl.Diagnostics) {
	b := cfg.Settings.Backend
	if b == nil {
		return states.NewLocal(filepath.Join(workDir, DefaultStatePath)), nil
	}
	switch b.Type {
	case "local":
		path := DefaultStatePath
		for name, v := range b.Config {
			switch name {
			case "path":
				if v.Type().FriendlyName() != "string" || v.IsNull() {
					return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend", Detail: "path must be a string.", Subject: b.Range.Ptr()}}
				}
				path = v.AsString()
			default:
				return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid backend",
					Detail: fmt.Sprintf("the local backend has no attribute %q; it takes path.", name), Subject: b.Range.Ptr()}}
			}
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(workDir, path)
		}
		return states.NewLocal(path), nil
	}
	return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown backend",
		Detail: fmt.Sprintf("backend %q is not available; use \"local\".", b.Type), Subject: b.Range.Ptr()}}
}

package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// version -json reports the module version a go install recorded, and (devel) otherwise.
func TestVersionInfo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		bi         *debug.BuildInfo
		module     string
		revision   string
		modified   bool
		hasVCSInfo bool
	}{
		{"no build info", nil, "(devel)", "", false, false},
		{"go install @v1.2.3", &debug.BuildInfo{GoVersion: "go1.26.0",
			Main: debug.Module{Path: "github.com/musubi-hq/musubi", Version: "v1.2.3", Sum: "h1:abc="}}, "v1.2.3", "", false, false},
		{"a checkout", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/musubi-hq/musubi", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "5ad2959"}, {Key: "vcs.modified", Value: "true"}}},
			"(devel)", "5ad2959", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVersionInfo(c.bi)
			if v.Module.Version != c.module {
				t.Errorf("module version %q, want %q", v.Module.Version, c.module)
			}
			if v.Module.Path != "github.com/musubi-hq/musubi" {
				t.Errorf("module path %q", v.Module.Path)
			}
			if v.Platform != runtime.GOOS+"/"+runtime.GOARCH || v.GoVersion == "" {
				t.Errorf("platform %q, go %q", v.Platform, v.GoVersion)
			}
			if (v.VCS != nil) != c.hasVCSInfo {
				t.Fatalf("vcs %+v, want present=%v", v.VCS, c.hasVCSInfo)
			}
			if v.VCS != nil && (v.VCS.Revision != c.revision || v.VCS.Modified != c.modified) {
				t.Errorf("vcs %+v", v.VCS)
			}
		})
	}
}

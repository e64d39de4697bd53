package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at release time with -ldflags "-X main.version=v1.2.3".
var version = ""

// Version returns the tool version: the release version, else the module version of the
// build, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func versionString() string {
	return fmt.Sprintf("musubi %s (%s, %s/%s)", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// versionInfo is what version -json prints.
type versionInfo struct {
	// Version is what the text form and every state and plan show: Version().
	Version string `json:"musubi_version"`
	// Module is the main module's path and version as the build recorded them: the vX of a
	// `go install …/cmd/musubi@vX`, "(devel)" for a build from a checkout.
	Module    moduleInfo `json:"module"`
	GoVersion string     `json:"go_version"`
	Platform  string     `json:"platform"`
	// VCS is the commit a build from a checkout was made from, when the build recorded it.
	VCS *vcsInfo `json:"vcs,omitempty"`
}

type moduleInfo struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
}

type vcsInfo struct {
	System   string `json:"system"`
	Revision string `json:"revision"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified"`
}

// newVersionInfo describes this build from its build information, if any.
func newVersionInfo(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: Version(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Module: moduleInfo{Path: "github.com/musubi-hq/musubi", Version: "(devel)"}}
	if bi == nil {
		return v
	}
	if bi.Main.Path != "" {
		v.Module.Path = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Module.Version = bi.Main.Version
	}
	v.Module.Sum = bi.Main.Sum
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	var vcs vcsInfo
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs":
			vcs.System = s.Value
		case "vcs.revision":
			vcs.Revision = s.Value
		case "vcs.time":
			vcs.Time = s.Value
		case "vcs.modified":
			vcs.Modified = s.Value == "true"
		}
	}
	if vcs.Revision != "" {
		v.VCS = &vcs
	}
	return v
}

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Version prints musubi's version, the Go version it was built with and the platform.
-json prints them as a JSON object, with the module version the build recorded (v1.2.3 for
"go install github.com/musubi-hq/musubi/cmd/musubi@v1.2.3", "(devel)" for a build from a
checkout) and, when recorded, the commit it was built from.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !asJSON {
				fmt.Fprintln(a.out, versionString())
				return nil
			}
			bi, _ := debug.ReadBuildInfo()
			enc := json.NewEncoder(a.out)
			enc.SetIndent("", "  ")
			return enc.Encode(newVersionInfo(bi))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

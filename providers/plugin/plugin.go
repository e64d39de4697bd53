// Package plugin runs providers outside Musubi's process: each provider block whose source
// names a binary gets its own plugin process, started with hashicorp/go-plugin and spoken to
// over gRPC (the protocol of providers/plugin/proto, the wire of providers/plugin/protocol).
// To the planner a plugin is a providers.Provider like any built-in one. Which binary a
// source names, and the lock file pinning it, are the planner's (planner/plugins). Plugins
// are written with providers/plugin/sdk.
package plugin

import (
	"path/filepath"
	"runtime"
	"strings"
)

// BinaryPrefix starts the file name of every provider plugin.
const BinaryPrefix = "musubi-provider-"

// BinaryName is the file name of the plugin called name on this system.
func BinaryName(name string) string { return BinaryPrefix + name + exeSuffix() }

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// nameOf is how messages name a plugin before it has said its name: its file name without
// the musubi-provider- prefix.
func nameOf(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), exeSuffix())
	if n, ok := strings.CutPrefix(base, BinaryPrefix); ok && n != "" {
		return n
	}
	return base
}

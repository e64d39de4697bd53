package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin"
)

// PluginDir is where a bare plugin name is looked up, relative to the configuration.
const PluginDir = ".musubi/plugins"

// Resolved is what a provider block's source names: a built-in provider or a plugin binary.
type Resolved struct {
	// Source is the source as written in the configuration.
	Source string
	// Builtin is TYPE for "builtin/TYPE".
	Builtin string
	// Path is the plugin binary, for every other source.
	Path string
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Resolve finds what a source names:
//
//   - "builtin/TYPE" is the built-in provider TYPE, run in-process;
//   - a path ("./bin/musubi-provider-loyalty", "plugins/x", "/opt/x") is that binary,
//     relative to the configuration directory workDir;
//   - a bare NAME is .musubi/plugins/musubi-provider-NAME in workDir.
func Resolve(workDir, source string) (Resolved, error) {
	r := Resolved{Source: source}
	typ, err := CheckSource(source)
	if err != nil {
		return r, err
	}
	if typ != "" {
		r.Builtin = typ
		return r, nil
	}
	path, bare := filepath.FromSlash(source), false
	if !isPath(source) {
		path, bare = filepath.Join(PluginDir, plugin.BinaryName(source)), true
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(workDir, path)
	}
	st, err := os.Stat(path)
	switch {
	case err != nil && os.IsNotExist(err) && bare:
		return r, fmt.Errorf("source %q: there is no plugin %s; put the binary there, or set source to its path", source, filepath.ToSlash(filepath.Join(PluginDir, plugin.BinaryPrefix+source)))
	case err != nil:
		return r, fmt.Errorf("source %q: %w", source, err)
	case st.IsDir():
		return r, fmt.Errorf("source %q: %s is a directory, not a plugin binary", source, path)
	case runtime.GOOS != "windows" && st.Mode()&0o111 == 0:
		return r, fmt.Errorf("source %q: %s is not executable (chmod +x it)", source, path)
	}
	r.Path = path
	return r, nil
}

// CheckSource refuses what Resolve would from the source alone, without looking for a plugin
// binary: a built-in type there is none of, or a source that is neither builtin/TYPE, a path
// nor a plugin name. It returns the type a builtin/TYPE source names, "" for a plugin's.
func CheckSource(source string) (builtin string, err error) {
	if typ, ok := strings.CutPrefix(source, "builtin/"); ok {
		if _, found := providers.Lookup(typ); !found {
			return "", unknownBuiltin(typ)
		}
		return typ, nil
	}
	switch {
	case source == "":
		return "", fmt.Errorf("the source is empty; write builtin/TYPE, a path to a plugin binary, or a plugin name")
	case isPath(source) || pluginName.MatchString(source):
		return "", nil
	}
	return "", fmt.Errorf("source %q is neither builtin/TYPE, a path, nor a plugin name (lower-case letters, digits, - and _)", source)
}

// isPath reports whether a plugin source is a path rather than a bare plugin name.
func isPath(source string) bool {
	return filepath.IsAbs(source) || strings.HasPrefix(source, ".") || strings.ContainsAny(source, `/\`)
}

func unknownBuiltin(typ string) error {
	var names []string
	for _, reg := range providers.Registered() {
		names = append(names, reg.Type)
	}
	mean := ""
	if s := lang.Suggest(typ, names); s != "" {
		mean = fmt.Sprintf("did you mean %q? ", s)
	}
	return fmt.Errorf("there is no built-in provider %q (%sbuilt-in providers: %s); for a plugin, set source to its binary's path or put it at %s",
		typ, mean, strings.Join(names, ", "), filepath.ToSlash(filepath.Join(PluginDir, plugin.BinaryPrefix+typ)))
}

// Checksum returns the hex SHA-256 of a file.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

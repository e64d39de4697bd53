package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/spf13/pflag"
)

// configFlags are the flags of every command that loads the configuration.
type configFlags struct {
	vars     []string
	varFiles []string
	ref      string
	// deferEnv loads without the environment variables env() reads that are not set
	// (lang.LoadOptions.DeferEnv): validate's, never a command that calls a provider.
	deferEnv bool
}

func (f *configFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.vars, "var", nil, "set a variable: -var NAME=VALUE (repeatable)")
	fs.StringArrayVar(&f.varFiles, "var-file", nil, "read variables from a "+lang.VarFileSuffix+" file (repeatable)")
	fs.StringVar(&f.ref, "ref", "", "load the configuration from this git ref (branch, tag, commit) instead of the working tree")
}

// loadConfig loads the configuration of the current directory, or of the same directory at a
// git ref, and prints its diagnostics. It fails after printing when there are errors.
func (a *app) loadConfig(f *configFlags) (*lang.Config, hcl.Diagnostics, error) {
	opts := lang.LoadOptions{Vars: f.vars, VarFiles: f.varFiles, DeferEnv: f.deferEnv, CELCache: celCacheFile(f.ref)}
	var cfg *lang.Config
	var diags hcl.Diagnostics
	if f.ref != "" {
		root, rel, err := lang.RepoRelative(".")
		if err != nil {
			return nil, nil, fmt.Errorf("--ref %s: %w", f.ref, err)
		}
		fsys, _, err := lang.GitFS(root, f.ref)
		if err != nil {
			return nil, nil, fmt.Errorf("--ref %s: %w", f.ref, err)
		}
		cfg, diags = lang.Load(fsys, rel, opts)
	} else {
		cfg, diags = lang.LoadDir(".", opts)
	}
	if len(diags) > 0 {
		lang.WriteDiagnostics(a.err, cfg.Files, diags, a.color(a.err))
	}
	if diags.HasErrors() {
		return cfg, diags, exitError{1}
	}
	return cfg, diags, nil
}

// celCacheFile is the file that keeps the checked CEL expressions of the configuration in the
// current directory (at ref, if not empty) between runs: in MUSUBI_CACHE_DIR, or musubi in the
// user's cache directory ($XDG_CACHE_HOME, ~/.cache). MUSUBI_CACHE_DIR=off keeps none.
func celCacheFile(ref string) string {
	dir := os.Getenv("MUSUBI_CACHE_DIR")
	switch dir {
	case "off":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "musubi")
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(wd + "\x00" + ref))
	return filepath.Join(dir, "cel-"+hex.EncodeToString(sum[:8])+".cache")
}

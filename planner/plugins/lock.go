package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/musubi-hq/musubi/lang"
	"github.com/zclconf/go-cty/cty"
)

// LockFile is the lock file's name in the configuration directory.
const LockFile = ".musubi.lock.hcl"

// Lock pins every provider source of a configuration: for a plugin, the binary's checksum
// and what it reported; for a built-in, the Musubi version it came with.
type Lock struct {
	// Providers are the entries by source.
	Providers map[string]Locked
	// Found is false when there was no lock file to read.
	Found bool
}

// Locked is one lock file entry.
type Locked struct {
	Source string `hcl:"source,label"`
	// Builtin marks a built-in provider; Version is then Musubi's version.
	Builtin  bool   `hcl:"builtin,optional"`
	Name     string `hcl:"name,optional"`
	Version  string `hcl:"version"`
	Protocol int    `hcl:"protocol,optional"`
	SHA256   string `hcl:"sha256,optional"`
}

type lockBody struct {
	Providers []Locked `hcl:"provider,block"`
}

// ReadLock reads the lock file of a configuration directory. A missing file is an empty
// lock with Found false.
func ReadLock(workDir string) (*Lock, error) {
	path := filepath.Join(workDir, LockFile)
	l := &Lock{Providers: map[string]Locked{}}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	// Read as the configuration is: a regular file inside the directory, of bounded size.
	src, err := lang.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, diags := lang.ParseFile(src, LockFile)
	var body lockBody
	if !diags.HasErrors() {
		diags = append(diags, gohcl.DecodeBody(f.Body, nil, &body)...)
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("%w; run musubi init -upgrade to write it again", diags)
	}
	for _, p := range body.Providers {
		if _, dup := l.Providers[p.Source]; dup {
			return nil, fmt.Errorf("%s locks %q twice; run musubi init -upgrade to write it again", LockFile, p.Source)
		}
		l.Providers[p.Source] = p
	}
	l.Found = true
	return l, nil
}

// Bytes renders the lock file: entries sorted by source, so the file only changes when
// what it pins does.
func (l *Lock) Bytes() []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(
		"# Written by musubi init: the provider plugins this configuration was initialised with.\n" +
			"# Commit it. Commands refuse a plugin binary whose checksum differs from the one here;\n" +
			"# after replacing a plugin on purpose, run musubi init -upgrade.\n")}})
	for _, s := range l.Sources() {
		p := l.Providers[s]
		body.AppendNewline()
		b := body.AppendNewBlock("provider", []string{s}).Body()
		if p.Builtin {
			b.SetAttributeValue("builtin", cty.True)
			b.SetAttributeValue("version", cty.StringVal(p.Version))
			continue
		}
		b.SetAttributeValue("name", cty.StringVal(p.Name))
		b.SetAttributeValue("version", cty.StringVal(p.Version))
		b.SetAttributeValue("protocol", cty.NumberIntVal(int64(p.Protocol)))
		b.SetAttributeValue("sha256", cty.StringVal(p.SHA256))
	}
	return hclwrite.Format(f.Bytes())
}

// Write replaces the lock file atomically.
func (l *Lock) Write(workDir string) error {
	path := filepath.Join(workDir, LockFile)
	tmp, err := os.CreateTemp(workDir, LockFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(l.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Verify checks a resolved plugin binary against its entry: a plugin must have been
// initialised, and its binary must still be the one initialised.
func (l *Lock) Verify(r Resolved) error {
	if r.Builtin != "" {
		return nil
	}
	p, ok := l.Providers[r.Source]
	if !ok {
		if !l.Found {
			return fmt.Errorf("the provider plugin %s has not been initialised (there is no %s): run musubi init", r.Source, LockFile)
		}
		return fmt.Errorf("the provider plugin %s is not in %s: run musubi init", r.Source, LockFile)
	}
	sum, err := Checksum(r.Path)
	if err != nil {
		return fmt.Errorf("the provider plugin %s: %w", r.Source, err)
	}
	if sum != p.SHA256 {
		return fmt.Errorf("the provider plugin %s changed since musubi init: its SHA-256 is %s, %s pins %s. "+
			"Musubi will not run it. If you replaced it on purpose, run musubi init -upgrade", r.Source, short(sum), LockFile, short(p.SHA256))
	}
	return nil
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

package plugins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers/sandbox"
)

func TestMain(m *testing.M) { os.Exit(loyaltytest.M{Tests: m}.Run()) }

// examplePlugin returns the example plugin (examples/plugin) as the SDK builds it.
func examplePlugin(t testing.TB) string {
	t.Helper()
	path, err := loyaltytest.Binary("")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "musubi-provider-loyalty")
	named := filepath.Join(dir, PluginDir, "musubi-provider-points")
	for _, f := range []string{bin, named} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "plain"), []byte("x"), 0o644)
	cases := []struct {
		source, builtin, path, err string
	}{
		{source: "builtin/sandbox", builtin: "sandbox"},
		{source: "builtin/shopifyy", err: `there is no built-in provider "shopifyy" (built-in providers: `},
		{source: "builtin/sandbx", err: `there is no built-in provider "sandbx" (did you mean "sandbox"? built-in providers: `},
		{source: "./bin/musubi-provider-loyalty", path: bin},
		{source: "bin/musubi-provider-loyalty", path: bin},
		{source: bin, path: bin},
		{source: "points", path: named},
		{source: "loyalty", err: "there is no plugin .musubi/plugins/musubi-provider-loyalty"},
		{source: "./missing", err: "no such file"},
		{source: "./bin", err: "is a directory"},
		{source: "./plain", err: "is not executable"},
		{source: "Bad Name", err: "neither builtin/TYPE, a path, nor a plugin name"},
		{source: "", err: "the source is empty"},
	}
	for _, c := range cases {
		r, err := Resolve(dir, c.source)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Resolve(%q): %v, want an error with %q", c.source, err, c.err)
			}
		case err != nil:
			t.Errorf("Resolve(%q): %v", c.source, err)
		case r.Builtin != c.builtin || r.Path != c.path:
			t.Errorf("Resolve(%q) = %+v, want builtin %q path %q", c.source, r, c.builtin, c.path)
		}
	}
}

func config(providers map[string]string) *lang.Config {
	cfg := &lang.Config{Providers: map[string]*lang.Provider{}}
	for name, src := range providers {
		typ, n, _ := strings.Cut(name, ".")
		cfg.Providers[name] = &lang.Provider{Ref: lang.ProviderRef{Type: typ, Name: n}, Source: src, Range: hcl.Range{Filename: "main.hcl"}}
	}
	return cfg
}

// copyPlugin puts the example plugin into dir as a file the test may tamper with.
func copyPlugin(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(examplePlugin(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PluginDir, "musubi-provider-loyalty")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInitLockAndVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := copyPlugin(t, dir)
	cfg := config(map[string]string{"loyalty.app": "loyalty", "loyalty.outlet": "loyalty", "sandbox.ec": "builtin/sandbox"})
	ctx := context.Background()
	lock, inits, err := Init(ctx, cfg, dir, "v1.4.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(inits) != 2 || inits[0].Source != "builtin/sandbox" || strings.Join(inits[1].Blocks, ",") != "loyalty.app,loyalty.outlet" {
		t.Fatalf("init: %+v", inits)
	}
	if err := lock.Write(dir); err != nil {
		t.Fatal(err)
	}
	sum, _ := Checksum(bin)
	want := `# Written by musubi init: the provider plugins this configuration was initialised with.
# Commit it. Commands refuse a plugin binary whose checksum differs from the one here;
# after replacing a plugin on purpose, run musubi init -upgrade.

provider "builtin/sandbox" {
  builtin = true
  version = "v1.4.0"
}

provider "loyalty" {
  name     = "loyalty"
  version  = "0.1.0"
  protocol = 1
  sha256   = "` + sum + `"
}
`
	got, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if string(got) != want {
		t.Fatalf("the lock file:\n%s\nwant:\n%s", got, want)
	}
	read, err := ReadLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(read.Bytes()) != want {
		t.Fatalf("the lock file does not read back as written:\n%s", read.Bytes())
	}
	if again, _, err := Init(ctx, cfg, dir, "v1.4.0", false); err != nil || string(again.Bytes()) != want {
		t.Fatalf("a second init: %v\n%s", err, again.Bytes())
	}

	src := Source(dir, nil)
	p, err := src(cfg.Providers["loyalty.app"])
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	builtin, err := src(cfg.Providers["sandbox.ec"])
	if _, ok := builtin.(*sandbox.Provider); !ok || err != nil {
		t.Fatalf("builtin/sandbox resolved to %T, %v", builtin, err)
	}

	// Someone replaces the binary after init.
	f, _ := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	_, err = Source(dir, nil)(cfg.Providers["loyalty.app"])
	if err == nil || !strings.Contains(err.Error(), "the provider plugin loyalty changed since musubi init") || !strings.Contains(err.Error(), "run musubi init -upgrade") {
		t.Fatalf("a tampered binary: %v", err)
	}
	if _, _, err := Init(ctx, cfg, dir, "v1.4.0", false); err == nil || !strings.Contains(err.Error(), "provider.loyalty.app: the plugin binary loyalty differs") {
		t.Fatalf("init over a tampered binary: %v", err)
	}
	upgraded, _, err := Init(ctx, cfg, dir, "v1.4.0", true)
	if err != nil {
		t.Fatalf("init -upgrade: %v", err)
	}
	newSum, _ := Checksum(bin)
	if upgraded.Providers["loyalty"].SHA256 != newSum {
		t.Fatal("init -upgrade did not pin the new binary")
	}
}

func TestSourceNeedsInit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyPlugin(t, dir)
	cfg := config(map[string]string{"loyalty.app": "loyalty"})
	_, err := Source(dir, nil)(cfg.Providers["loyalty.app"])
	if err == nil || err.Error() != "the provider plugin loyalty has not been initialised (there is no .musubi.lock.hcl): run musubi init" {
		t.Fatalf("no lock file: %v", err)
	}
	_, err = Source(dir, &Lock{Providers: map[string]Locked{}, Found: true})(cfg.Providers["loyalty.app"])
	if err == nil || !strings.Contains(err.Error(), "is not in .musubi.lock.hcl: run musubi init") {
		t.Fatalf("not in the lock file: %v", err)
	}
}

func TestReadLockRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"syntax":    `provider "x" {`,
		"unknown":   `provider "x" { version = "1" colour = "red" }`,
		"duplicate": "provider \"x\" {\n version = \"1\"\n}\nprovider \"x\" {\n version = \"2\"\n}\n",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, LockFile), []byte(src), 0o644)
		if _, err := ReadLock(dir); err == nil || !strings.Contains(err.Error(), "musubi init -upgrade") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzReadLock: the lock file is edited by people and merged by git; no content may crash.
func FuzzReadLock(f *testing.F) {
	f.Add([]byte("provider \"loyalty\" {\n  name = \"loyalty\"\n  version = \"0.1.0\"\n  protocol = 1\n  sha256 = \"ab\"\n}\n"))
	f.Add([]byte("provider \"builtin/sandbox\" {\n  builtin = true\n  version = \"dev\"\n}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, LockFile), b, 0o644)
		l, err := ReadLock(dir)
		if err != nil {
			return
		}
		os.WriteFile(filepath.Join(dir, LockFile), l.Bytes(), 0o644)
		again, err := ReadLock(dir)
		if err != nil {
			t.Fatalf("a lock file written back does not read: %v\n%s", err, l.Bytes())
		}
		if string(again.Bytes()) != string(l.Bytes()) {
			t.Fatalf("the lock file changes on a round trip:\n%s\n%s", l.Bytes(), again.Bytes())
		}
	})
}

// The lock file is read as the configuration is: nesting too deep for the parser is an error,
// not a crash, and a link out of the directory is not followed.
func TestReadLockRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, LockFile), []byte("x = "+strings.Repeat("[", 100000)), 0o644)
	if _, err := ReadLock(dir); err == nil || !strings.Contains(err.Error(), "nest") {
		t.Errorf("deep nesting: %v", err)
	}
	outside := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(outside, []byte("TOKEN=shh"), 0o644)
	os.Remove(filepath.Join(dir, LockFile))
	if err := os.Symlink(outside, filepath.Join(dir, LockFile)); err != nil {
		t.Skip(err)
	}
	if _, err := ReadLock(dir); err == nil || strings.Contains(err.Error(), "shh") {
		t.Errorf("a link out of the directory: %v", err)
	}
}

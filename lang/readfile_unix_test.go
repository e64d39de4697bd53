//go:build unix

package lang

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/hashicorp/hcl/v2"
)

// loadWithin loads, failing the test when loading does not finish in time (a FIFO blocks).
func loadWithin(t *testing.T, load func() (*Config, hcl.Diagnostics)) hcl.Diagnostics {
	t.Helper()
	done := make(chan hcl.Diagnostics, 1)
	go func() {
		_, diags := load()
		done <- diags
	}()
	select {
	case diags := <-done:
		return diags
	case <-time.After(10 * time.Second):
		t.Fatal("loading did not finish: a special file was read")
		return nil
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func TestFilesStayInsideTheConfiguration(t *testing.T) {
	root := t.TempDir()
	cfgDir := filepath.Join(root, "config")
	secret := filepath.Join(root, "outside", "secret.txt")
	writeFile(t, secret, "CI_TOKEN=s3cr3t")
	writeFile(t, filepath.Join(cfgDir, "messages", "spring.txt"), "Spring sale")
	symlink(t, "spring.txt", filepath.Join(cfgDir, "messages", "current.txt"))
	symlink(t, "../../outside/secret.txt", filepath.Join(cfgDir, "messages", "relative.txt"))
	symlink(t, secret, filepath.Join(cfgDir, "absolute.txt"))
	symlink(t, "../outside", filepath.Join(cfgDir, "shared"))
	symlink(t, "/proc/self/environ", filepath.Join(cfgDir, "environ.txt"))
	symlink(t, "/dev/zero", filepath.Join(cfgDir, "zero.txt"))
	if err := syscall.Mkfifo(filepath.Join(cfgDir, "fifo.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := func(call string) string { return "output \"x\" {\n  value = " + call + "\n}\n" }

	// A link inside the directory is followed.
	writeFile(t, filepath.Join(cfgDir, "main.hcl"), out(`file("messages/current.txt")`))
	cfg, diags := LoadDir(cfgDir, testOptions())
	if len(diags) > 0 || ctyString(cfg.Outputs["x"].Value) != `"Spring sale"` {
		t.Fatalf("a link inside the configuration: %s", diagLines(diags))
	}

	for call, want := range map[string]string{
		`file("messages/relative.txt")`:         `"messages/relative.txt" is a symbolic link leading outside the configuration directory`,
		`file("absolute.txt")`:                  `"absolute.txt" is a symbolic link leading outside the configuration directory`,
		`file("shared/secret.txt")`:             `"shared/secret.txt" leads outside the configuration directory through the symbolic link shared`,
		`file("environ.txt")`:                   `"environ.txt" is a symbolic link leading outside the configuration directory`,
		`file("zero.txt")`:                      `"zero.txt" is a symbolic link leading outside the configuration directory`,
		`file("fifo.txt")`:                      `"fifo.txt" is a named pipe, not a regular file`,
		`file("messages")`:                      `"messages" is a directory, not a regular file`,
		`templatefile("shared/secret.txt", {})`: `"shared/secret.txt" leads outside the configuration directory`,
		`templatefile("fifo.txt", {})`:          `"fifo.txt" is a named pipe, not a regular file`,
	} {
		writeFile(t, filepath.Join(cfgDir, "main.hcl"), out(call))
		diags := loadWithin(t, func() (*Config, hcl.Diagnostics) { return LoadDir(cfgDir, testOptions()) })
		got := diagLines(diags)
		if len(diags) != 1 || !strings.HasPrefix(got, "main.hcl:2:11: Error in function call: ") || !strings.Contains(got, want) {
			t.Errorf("%s:\n got: %s\nwant: main.hcl:2:11 … %s", call, got, want)
		}
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("%s: the secret reached a diagnostic: %s", call, got)
		}
	}
	if err := os.Remove(filepath.Join(cfgDir, "main.hcl")); err != nil {
		t.Fatal(err)
	}

	// Configuration files are read the same way.
	writeFile(t, filepath.Join(cfgDir, "main.hcl"), out(`"ok"`))
	for name, target := range map[string]string{
		"leak.hcl":        "../outside/secret.txt",
		"environ.hcl":     "/proc/self/environ",
		"zero.hcl.json":   "/dev/zero",
		"directory.hcl":   "messages",
		"fifo-link.hcl":   "fifo.txt",
		"fifo-target.hcl": "",
	} {
		link := filepath.Join(cfgDir, name)
		if target == "" {
			if err := syscall.Mkfifo(link, 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			symlink(t, target, link)
		}
		diags := loadWithin(t, func() (*Config, hcl.Diagnostics) { return LoadDir(cfgDir, testOptions()) })
		if got := diagLines(diags); !diags.HasErrors() || !strings.Contains(got, name) || strings.Contains(got, "s3cr3t") {
			t.Errorf("configuration file %s → %s: %s", name, target, got)
		}
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVarFilesAreRegularAndBounded(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "outside", "secret.musubivars"), "CI_TOKEN=s3cr3t")
	writeFile(t, filepath.Join(root, "vars", "ok.musubivars"), "percent = 15\n")
	symlink(t, "ok.musubivars", filepath.Join(root, "vars", "link.musubivars"))
	symlink(t, "../outside/secret.musubivars", filepath.Join(root, "vars", "leak.musubivars"))
	symlink(t, "/proc/self/environ", filepath.Join(root, "vars", "environ.musubivars"))
	if err := syscall.Mkfifo(filepath.Join(root, "vars", "fifo.musubivars"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "vars", "big.musubivars"), "x = \""+strings.Repeat("a", MaxFileSize)+"\"\n")
	fsys := mapFS("main.hcl", "variable \"percent\" {\n  type    = number\n  default = 10\n}\n")

	vars := filepath.Join(root, "vars")
	t.Chdir(vars)
	for name, want := range map[string]string{
		"ok.musubivars":                        "",
		"link.musubivars":                      "",
		filepath.Join(vars, "link.musubivars"): "",
		"leak.musubivars":                      "is a symbolic link leading outside the working directory",
		filepath.Join(vars, "leak.musubivars"): "is a symbolic link leading outside its directory",
		"../vars/leak.musubivars":              "is a symbolic link leading outside its directory",
		"environ.musubivars":                   "is a symbolic link leading outside the working directory",
		"fifo.musubivars":                      "is a named pipe, not a regular file",
		"big.musubivars":                       "is larger than 4 MiB",
		"/dev/zero":                            "is a device, not a regular file",
	} {
		opts := testOptions()
		opts.ReadFile = nil // the real files
		opts.VarFiles = []string{name}
		diags := loadWithin(t, func() (*Config, hcl.Diagnostics) { return Load(fsys, ".", opts) })
		got := diagLines(diags)
		if want == "" {
			if len(diags) > 0 {
				t.Errorf("%s: %s", name, got)
			}
			continue
		}
		if len(diags) != 1 || !strings.HasPrefix(got, "-: Cannot read variable file: "+name+" "+want) || strings.Contains(got, "s3cr3t") {
			t.Errorf("%s:\n got: %s\nwant: %s", name, got, want)
		}
	}
}

// A git ref holds the configuration to its own directory too, not just to the repository.
func TestGitRefFilesStayInsideTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "README.md"), "CI_TOKEN=s3cr3t")
	writeFile(t, filepath.Join(dir, "config", "messages", "spring.txt"), "Spring sale")
	symlink(t, "spring.txt", filepath.Join(dir, "config", "messages", "current.txt"))
	symlink(t, "../README.md", filepath.Join(dir, "config", "readme.txt"))
	calls := []string{`file("messages/current.txt")`, `file("readme.txt")`, `file("../README.md")`}
	for i, call := range calls {
		writeFile(t, filepath.Join(dir, "config", "main"+string(rune('a'+i))+".hcl"), "output \"x"+string(rune('a'+i))+"\" {\n  value = "+call+"\n}\n")
	}
	commitAll(t, repo, "config", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	fsys, _, err := GitFS(dir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := Load(fsys, "config", testOptions())
	got := diagLines(diags)
	if ctyString(cfg.Outputs["xa"].Value) != `"Spring sale"` || len(diags) != 2 ||
		!strings.Contains(diags[0].Detail, `"readme.txt" is a symbolic link leading outside the configuration directory`) ||
		!strings.Contains(diags[1].Detail, `"../README.md" is outside the configuration directory`) ||
		strings.Contains(got, "s3cr3t") {
		t.Errorf("diagnostics:\n%s", got)
	}
}

package lang

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testRepo is a git repository holding the quickstart example in config/, committed twice.
type testRepo struct {
	dir    string
	repo   *git.Repository
	branch string
	first  plumbing.Hash // spring_percent = 10
	second plumbing.Hash // spring_percent = 15, an extra segment, no policies.hcl
	// What loading the working tree gave when it held each commit's content.
	firstSummary, secondSummary string
	files                       []string // the files of the second commit
}

func commitAll(t *testing.T, repo *git.Repository, msg string, when time.Time) plumbing.Hash {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: when}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceInFile(t *testing.T, name, old, new string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	writeFile(t, name, strings.Replace(string(b), old, new, 1))
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config")
	for name, f := range copyFS(t, os.DirFS(quickstartDir), "") {
		writeFile(t, filepath.Join(config, name), string(f.Data))
	}
	// A symbolic link inside the tree, as repositories sometimes have.
	if err := os.Symlink("spring.txt", filepath.Join(config, "messages", "current.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "README.md"), "# marketing\n")
	r := &testRepo{dir: dir, repo: repo}
	opts := testOptions()
	r.firstSummary = summarize(loadClean(t, os.DirFS(config), ".", opts))
	r.first = commitAll(t, repo, "quickstart", time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC))

	main := filepath.Join(config, "main.hcl")
	replaceInFile(t, main, "default     = 10", "default     = 15")
	writeFile(t, filepath.Join(config, "extra.hcl"), "segment \"everyone\" {\n  condition = \"true\"\n}\n")
	if err := os.Remove(filepath.Join(config, "policies.hcl")); err != nil {
		t.Fatal(err)
	}
	r.secondSummary = summarize(loadClean(t, os.DirFS(config), ".", opts))
	r.second = commitAll(t, repo, "spring at 15%", time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC))

	if _, err := repo.CreateTag("v1", r.first, nil); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)}
	if _, err := repo.CreateTag("v1-annotated", r.first, &git.CreateTagOptions{Tagger: sig, Message: "first"}); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	r.branch = head.Name().Short()
	// A remote-tracking branch, as a clone has.
	if err := repo.Storer.SetReference(plumbing.NewHashReference("refs/remotes/origin/main", r.first)); err != nil {
		t.Fatal(err)
	}

	// Leave the working tree dirty: loading a ref must not see it, nor touch it.
	replaceInFile(t, main, "default     = 15", "default     = 20")

	err = fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if !d.IsDir() {
			r.files = append(r.files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGitFSLoadsRefsLikeTheWorkingTree(t *testing.T) {
	r := newTestRepo(t)
	if r.firstSummary == r.secondSummary {
		t.Fatal("the two commits should load differently")
	}
	tests := []struct {
		ref     string
		commit  plumbing.Hash
		summary string
		percent int64
	}{
		{"v1", r.first, r.firstSummary, 10},
		{"v1-annotated", r.first, r.firstSummary, 10},
		{r.first.String(), r.first, r.firstSummary, 10},
		{r.first.String()[:7], r.first, r.firstSummary, 10},
		{"HEAD~1", r.first, r.firstSummary, 10},
		{"HEAD^", r.first, r.firstSummary, 10},
		{r.branch + "~1", r.first, r.firstSummary, 10},
		{"origin/main", r.first, r.firstSummary, 10},
		{"HEAD", r.second, r.secondSummary, 15},
		{r.branch, r.second, r.secondSummary, 15},
		{"refs/heads/" + r.branch, r.second, r.secondSummary, 15},
		{r.second.String(), r.second, r.secondSummary, 15},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			fsys, commit, err := GitFS(r.dir, tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if commit != tt.commit.String() {
				t.Errorf("commit = %s, want %s", commit, tt.commit)
			}
			cfg := loadClean(t, fsys, "config", testOptions())
			if got := summarize(cfg); got != tt.summary {
				t.Errorf("loading %s differs from the working tree with the same content:\n got: %s\nwant: %s", tt.ref, got, tt.summary)
			}
			v := cfg.Variables["spring_percent"].Value
			if n, _ := v.AsBigFloat().Int64(); n != tt.percent {
				t.Errorf("spring_percent = %d, want %d", n, tt.percent)
			}
			if got := cfg.Campaigns["spring"].Coupon.Percent; got != float64(tt.percent) {
				t.Errorf("coupon percent = %v, want %d", got, tt.percent)
			}
			if _, ok := cfg.Files["config/main.hcl"]; !ok {
				t.Errorf("files are named relative to the repository root, got %v", slices.Sorted(maps.Keys(cfg.Files)))
			}
		})
	}

	// The working tree itself is untouched and still holds its own, uncommitted value.
	cfg := loadClean(t, os.DirFS(filepath.Join(r.dir, "config")), ".", testOptions())
	if n, _ := cfg.Variables["spring_percent"].Value.AsBigFloat().Int64(); n != 20 {
		t.Errorf("working tree spring_percent = %d, want 20", n)
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for name, s := range st {
		if s.Worktree != git.Unmodified || s.Staging != git.Unmodified {
			changed = append(changed, name)
		}
	}
	if !slices.Equal(changed, []string{"config/main.hcl"}) {
		t.Errorf("working tree changes = %v, want only config/main.hcl", changed)
	}
}

func TestGitFSErrors(t *testing.T) {
	r := newTestRepo(t)
	notRepo := t.TempDir()
	tests := []struct {
		dir, ref, want string
	}{
		{r.dir, "nope", `no branch, tag or commit named "nope" in ` + r.dir},
		{r.dir, "v2", `no branch, tag or commit named "v2" in ` + r.dir},
		{r.dir, "0123456789abcdef0123456789abcdef01234567", `no branch, tag or commit named "0123456789abcdef0123456789abcdef01234567" in ` + r.dir},
		{r.dir, "HEAD~5", `"HEAD~5" goes back further than the history in ` + r.dir},
		{r.dir, "", "no git ref given: name a branch, tag or commit"},
		{r.dir, "HEAD:config/main.hcl", `"HEAD:config/main.hcl" does not name a commit: give a branch, tag or commit, optionally followed by ~N or ^N`},
		{r.dir, "main@{yesterday}", `"main@{yesterday}" does not name a commit: give a branch, tag or commit, optionally followed by ~N or ^N`},
		{r.dir, "v1^{tree}", `"v1^{tree}" does not name a commit: give a branch, tag or commit, optionally followed by ~N or ^N`},
		{notRepo, "HEAD", notRepo + " is not a git repository"},
		{filepath.Join(r.dir, "config"), "HEAD", filepath.Join(r.dir, "config") + " is not a git repository"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			fsys, commit, err := GitFS(tt.dir, tt.ref)
			if err == nil {
				t.Fatalf("GitFS(%s, %q) = %v, %s; want an error", tt.dir, tt.ref, fsys, commit)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n want %q", err, tt.want)
			}
		})
	}
	// A repository without commits has nothing to load.
	empty := t.TempDir()
	if _, err := git.PlainInit(empty, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := GitFS(empty, "HEAD"); err == nil || err.Error() != `no branch, tag or commit named "HEAD" in `+empty {
		t.Errorf("GitFS of an empty repository: %v", err)
	}

	// Malformed revisions are errors, never crashes.
	for _, ref := range []string{"~", "^", "~1", "^2", "HEAD^{", "@{", "HEAD:x", "..", "HEAD^{/nothing matches}", "a b", "HEAD^3", "HEAD~-1"} {
		if fsys, commit, err := GitFS(r.dir, ref); err == nil {
			t.Errorf("GitFS(%q) = %v, %s; want an error", ref, fsys, commit)
		}
	}
	// The forms git users write for a commit are accepted.
	for ref, want := range map[string]plumbing.Hash{
		"HEAD~": r.first, "HEAD^{commit}": r.second, "v1-annotated^{}": r.first,
		"HEAD^{/quickstart}": r.first, "HEAD^{/spring at}": r.second,
	} {
		if _, commit, err := GitFS(r.dir, ref); err != nil || commit != want.String() {
			t.Errorf("GitFS(%q) = %s, %v; want %s", ref, commit, err, want)
		}
	}
}

func TestGitFSIsAFileSystem(t *testing.T) {
	r := newTestRepo(t)
	fsys, _, err := GitFS(r.dir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, r.files...); err != nil {
		t.Fatal(err)
	}
	var walked []string
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			walked = append(walked, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(walked, r.files) {
		t.Errorf("WalkDir = %v\nwant %v", walked, r.files)
	}

	// The first commit has policies.hcl and no extra.hcl.
	old, _, err := GitFS(r.dir, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(old, "config/policies.hcl"); err != nil {
		t.Error(err)
	}
	if _, err := fs.Stat(old, "config/extra.hcl"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a file added later: %v, want ErrNotExist", err)
	}

	// Files read as they were committed, and links resolve inside the tree.
	want, err := os.ReadFile(filepath.Join(quickstartDir, "messages", "spring.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config/messages/spring.txt", "config/messages/current.txt"} {
		got, err := fs.ReadFile(fsys, name)
		if err != nil || string(got) != string(want) {
			t.Errorf("ReadFile(%s) = %q, %v", name, got, err)
		}
	}
	if target, err := fs.ReadLink(fsys, "config/messages/current.txt"); err != nil || target != "spring.txt" {
		t.Errorf("ReadLink = %q, %v", target, err)
	}
	info, err := fs.Lstat(fsys, "config/messages/current.txt")
	if err != nil || info.Mode().Type() != fs.ModeSymlink {
		t.Errorf("Lstat = %v, %v; want a symbolic link", info, err)
	}
	info, err = fs.Stat(fsys, "config/main.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Mode().IsRegular() || info.Size() == 0 || !info.ModTime().Equal(time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("Stat(config/main.hcl) = mode %v size %d time %v", info.Mode(), info.Size(), info.ModTime())
	}

	for _, tt := range []struct {
		name string
		op   func() error
		want error
	}{
		{"open missing", func() error { _, err := fsys.Open("config/missing.hcl"); return err }, fs.ErrNotExist},
		{"open through a file", func() error { _, err := fsys.Open("README.md/x"); return err }, errNotDir},
		{"open invalid path", func() error { _, err := fsys.Open("../etc/passwd"); return err }, fs.ErrInvalid},
		{"read a directory", func() error { _, err := fs.ReadFile(fsys, "config"); return err }, errIsDir},
		{"readdir a file", func() error { _, err := fs.ReadDir(fsys, "README.md"); return err }, errNotDir},
		{"readlink a file", func() error { _, err := fs.ReadLink(fsys, "README.md"); return err }, errNotLink},
	} {
		err := tt.op()
		var pe *fs.PathError
		if !errors.Is(err, tt.want) || !errors.As(err, &pe) {
			t.Errorf("%s: error %v, want a *fs.PathError for %v", tt.name, err, tt.want)
		}
	}

	// Closed files refuse further use.
	f, err := fsys.Open("config/main.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
}

func TestGitFSSymlinks(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "shared", "main.hcl"), "segment \"all\" {\n  condition = \"true\"\n}\n")
	for link, target := range map[string]string{
		"config":  "shared",     // a directory
		"loop":    "loop",       // itself
		"escape":  "../outside", // out of the tree
		"absname": "/etc/hosts",
		"dangles": "missing",
		"up":      "shared/..", // the root
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, repo, "links", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	fsys, _, err := GitFS(dir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadClean(t, fsys, "config", testOptions())
	if cfg.Segments["all"] == nil {
		t.Error("loading through a linked directory lost the segment")
	}
	if _, err := fs.ReadFile(fsys, "up/shared/main.hcl"); err != nil {
		t.Error(err)
	}
	for name, want := range map[string]error{
		"loop": errLinkLoop, "escape": errLinkOutside, "absname": errLinkOutside, "dangles": fs.ErrNotExist,
	} {
		if _, err := fsys.Open(name); !errors.Is(err, want) {
			t.Errorf("Open(%s) = %v, want %v", name, err, want)
		}
		// The links themselves are listed and described without being followed.
		if info, err := fs.Lstat(fsys, name); err != nil || info.Mode().Type() != fs.ModeSymlink {
			t.Errorf("Lstat(%s) = %v, %v", name, info, err)
		}
	}
	if err := fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { return nil }); err != nil {
		t.Error(err)
	}
}

func TestGitFSConcurrentLoads(t *testing.T) {
	r := newTestRepo(t)
	fsys, _, err := GitFS(r.dir, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Go(func() {
			cfg, diags := Load(fsys, "config", testOptions())
			if len(diags) > 0 {
				results[i] = diagLines(diags)
				return
			}
			results[i] = summarize(cfg)
		})
	}
	wg.Wait()
	for i, got := range results {
		if got != r.firstSummary {
			t.Errorf("load %d: %s", i, got)
		}
	}
	// Files opened at the same time read independently.
	a, _ := fsys.Open("config/main.hcl")
	b, _ := fsys.Open("config/main.hcl")
	da, _ := io.ReadAll(a)
	db, _ := io.ReadAll(b)
	if len(da) == 0 || string(da) != string(db) {
		t.Error("two open files of the same blob read differently")
	}
}

func TestRepoRelative(t *testing.T) {
	r := newTestRepo(t)
	realDir, err := filepath.EvalSymlinks(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dir, rel string }{
		{r.dir, "."},
		{filepath.Join(r.dir, "config"), "config"},
		{filepath.Join(r.dir, "config", "messages"), "config/messages"},
		{filepath.Join(r.dir, "config", "..", "config"), "config"},
	} {
		root, rel, err := RepoRelative(tt.dir)
		if err != nil {
			t.Errorf("RepoRelative(%s): %v", tt.dir, err)
			continue
		}
		if realRoot, _ := filepath.EvalSymlinks(root); realRoot != realDir || rel != tt.rel {
			t.Errorf("RepoRelative(%s) = %s, %s; want %s, %s", tt.dir, root, rel, r.dir, tt.rel)
		}
	}

	// A relative directory is taken from the working directory.
	t.Chdir(filepath.Join(r.dir, "config"))
	root, rel, err := RepoRelative(".")
	if err != nil || rel != "config" {
		t.Fatalf("RepoRelative(.) = %s, %s, %v", root, rel, err)
	}
	// The pair loads the directory at a ref, as `musubi validate --ref` does.
	fsys, _, err := GitFS(root, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if got := summarize(loadClean(t, fsys, rel, testOptions())); got != r.firstSummary {
		t.Errorf("loading the ref through RepoRelative:\n got: %s\nwant: %s", got, r.firstSummary)
	}

	outside := t.TempDir()
	if _, _, err := RepoRelative(outside); err == nil || !strings.Contains(err.Error(), "is not inside a git repository") {
		t.Errorf("RepoRelative outside a repository: %v", err)
	}
	if _, _, err := RepoRelative(filepath.Join(r.dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("RepoRelative of a missing directory: %v", err)
	}
	if _, _, err := RepoRelative(filepath.Join(r.dir, "README.md")); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("RepoRelative of a file: %v", err)
	}
}

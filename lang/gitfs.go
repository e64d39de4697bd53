package lang

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// GitFS opens the git repository at repoDir (a working tree's root or a bare repository) and
// returns the tree of the commit ref names as a read-only file system, with the commit's full
// hash. ref is anything `git rev-parse` understands for a commit: a branch, a tag, a full or
// abbreviated hash, HEAD, HEAD~1, main^2. Nothing is checked out or written: files are read
// from the object database, so the configuration of any ref loads exactly like the working
// tree, whatever state the working tree is in.
//
// The file system implements fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and fs.ReadLinkFS, and is
// safe for concurrent use. Every file has the commit time as its modification time. Symbolic
// links are followed inside the tree; a link that leaves the tree cannot be opened. A submodule
// reads as an empty directory, as it does before `git submodule update`.
func GitFS(repoDir, ref string) (fs.FS, string, error) {
	repo, err := git.PlainOpenWithOptions(repoDir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, "", fmt.Errorf("%s is not a git repository", repoDir)
		}
		return nil, "", fmt.Errorf("opening the git repository %s: %w", repoDir, err)
	}
	if strings.TrimSpace(ref) == "" {
		return nil, "", fmt.Errorf("no git ref given: name a branch, tag or commit")
	}
	if !commitRevision(ref) {
		return nil, "", fmt.Errorf("%q does not name a commit: give a branch, tag or commit, optionally followed by ~N or ^N", ref)
	}
	hash, err := resolveRevision(repo, ref)
	if err != nil {
		switch {
		case errors.Is(err, plumbing.ErrReferenceNotFound), errors.Is(err, plumbing.ErrObjectNotFound):
			return nil, "", fmt.Errorf("no branch, tag or commit named %q in %s", ref, repoDir)
		case errors.Is(err, io.EOF):
			return nil, "", fmt.Errorf("%q goes back further than the history in %s", ref, repoDir)
		}
		return nil, "", fmt.Errorf("cannot resolve %q in %s: %w", ref, repoDir, err)
	}
	commit, err := repo.CommitObject(hash)
	if err != nil {
		return nil, "", fmt.Errorf("reading commit %s of %q in %s: %w", hash, ref, repoDir, err)
	}
	root, err := commit.Tree()
	if err != nil {
		return nil, "", fmt.Errorf("reading the tree of commit %s in %s: %w", hash, repoDir, err)
	}
	g := &gitFS{
		repo:    repo,
		modTime: commit.Committer.When,
		dirs:    map[string]*gitDir{".": newGitDir(root)},
	}
	return g, hash.String(), nil
}

// commitRevision reports whether ref has only the revision syntax go-git resolves to a commit:
// names, hashes, ~N, ^N, ^{commit}, ^{} and ^{/message text}. go-git parses more (HEAD:path,
// @{...}, ^{tree}) but silently ignores those parts, which would load the wrong commit. None of
// the characters involved can appear in a branch or tag name.
func commitRevision(ref string) bool {
	head, _, _ := strings.Cut(ref, "^{/") // the message text may hold anything
	if strings.ContainsAny(head, ": \t\n") || strings.Contains(head, "@{") {
		return false
	}
	for rest := head; ; {
		i := strings.Index(rest, "^{")
		if i < 0 {
			return true
		}
		rest = rest[i+2:]
		if !strings.HasPrefix(rest, "}") && !strings.HasPrefix(rest, "commit}") {
			return false
		}
	}
}

// resolveRevision resolves ref to a commit. The revision resolver of go-git assumes a
// well-formed revision in places, so a malformed one is turned into an error, not a crash.
func resolveRevision(repo *git.Repository, ref string) (hash plumbing.Hash, err error) {
	defer func() {
		if r := recover(); r != nil {
			hash, err = plumbing.ZeroHash, fmt.Errorf("invalid revision %q", ref)
		}
	}()
	h, err := repo.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if h == nil || h.IsZero() {
		return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
	}
	return *h, nil
}

// RepoRelative finds the git working tree that contains dir and returns its root and dir
// relative to it, with forward slashes ("." when dir is the root). Load(GitFS(root, ref), rel)
// then reads the configuration of dir as it is at ref.
func RepoRelative(dir string) (root, rel string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", dir, unwrapPathErr(err))
	}
	if !fi.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory", dir)
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return "", "", fmt.Errorf("%s is not inside a git repository (no .git found in it or any parent directory)", abs)
		}
		return "", "", fmt.Errorf("opening the git repository around %s: %w", abs, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		if errors.Is(err, git.ErrIsBareRepository) {
			return "", "", fmt.Errorf("%s is inside a bare git repository, which has no working tree", abs)
		}
		return "", "", fmt.Errorf("finding the working tree around %s: %w", abs, err)
	}
	root = wt.Filesystem.Root()
	r, err := filepath.Rel(root, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		// One path went through a symbolic link the other did not; compare the real paths.
		realRoot, err1 := filepath.EvalSymlinks(root)
		realDir, err2 := filepath.EvalSymlinks(abs)
		if err1 != nil || err2 != nil {
			return "", "", fmt.Errorf("%s is not inside the git working tree %s", abs, root)
		}
		if r, err = filepath.Rel(realRoot, realDir); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "", "", fmt.Errorf("%s is not inside the git working tree %s", abs, root)
		}
		root = realRoot
	}
	return root, filepath.ToSlash(r), nil
}

// maxSymlinks bounds how many symbolic links one lookup follows, as the kernel does.
const maxSymlinks = 40

var (
	errIsDir       = errors.New("is a directory")
	errNotDir      = errors.New("not a directory")
	errNotLink     = errors.New("not a symbolic link")
	errLinkLoop    = errors.New("too many levels of symbolic links")
	errLinkOutside = errors.New("symbolic link points outside the repository tree")
)

// gitFS is a commit's tree as an fs.FS. Trees are decoded on first use and kept; the object
// database is read under a lock, as go-git's storage is not safe for concurrent use.
type gitFS struct {
	repo    *git.Repository
	modTime time.Time

	mu   sync.Mutex
	dirs map[string]*gitDir // by slash path, "." for the root
}

type gitDir struct {
	entries []object.TreeEntry // sorted by name, as fs.ReadDir returns them
	byName  map[string]int
}

func newGitDir(t *object.Tree) *gitDir {
	d := &gitDir{byName: map[string]int{}}
	if t == nil {
		return d
	}
	d.entries = slices.Clone(t.Entries)
	slices.SortFunc(d.entries, func(a, b object.TreeEntry) int { return strings.Compare(a.Name, b.Name) })
	for i, e := range d.entries {
		d.byName[e.Name] = i
	}
	return d
}

var (
	_ fs.ReadDirFS  = (*gitFS)(nil)
	_ fs.ReadFileFS = (*gitFS)(nil)
	_ fs.StatFS     = (*gitFS)(nil)
	_ fs.ReadLinkFS = (*gitFS)(nil)
)

func isGitDir(m filemode.FileMode) bool { return m == filemode.Dir || m == filemode.Submodule }

// rootEntry stands for the tree itself.
var rootEntry = object.TreeEntry{Name: ".", Mode: filemode.Dir}

// dir returns the directory at p, a path whose every element is a real directory.
// The caller holds g.mu.
func (g *gitFS) dir(p string) (*gitDir, error) {
	if d, ok := g.dirs[p]; ok {
		return d, nil
	}
	parent, err := g.dir(path.Dir(p))
	if err != nil {
		return nil, err
	}
	i, ok := parent.byName[path.Base(p)]
	if !ok {
		return nil, fs.ErrNotExist
	}
	e := parent.entries[i]
	var d *gitDir
	switch e.Mode {
	case filemode.Dir:
		t, err := g.repo.TreeObject(e.Hash)
		if err != nil {
			return nil, err
		}
		d = newGitDir(t)
	case filemode.Submodule:
		d = newGitDir(nil)
	default:
		return nil, errNotDir
	}
	g.dirs[p] = d
	return d, nil
}

// lookup finds name, following symbolic links on the way and, when follow is set, at the end.
// It returns the entry and its path with every link resolved. The caller holds g.mu.
func (g *gitFS) lookup(name string, follow bool) (string, object.TreeEntry, error) {
	if name == "." {
		return ".", rootEntry, nil
	}
	parts := strings.Split(name, "/")
	cur, links := ".", 0
	for i := 0; i < len(parts); i++ {
		d, err := g.dir(cur)
		if err != nil {
			return "", object.TreeEntry{}, err
		}
		j, ok := d.byName[parts[i]]
		if !ok {
			return "", object.TreeEntry{}, fs.ErrNotExist
		}
		e := d.entries[j]
		last := i == len(parts)-1
		if e.Mode == filemode.Symlink && (follow || !last) {
			if links++; links > maxSymlinks {
				return "", object.TreeEntry{}, errLinkLoop
			}
			target, err := g.blob(e.Hash)
			if err != nil {
				return "", object.TreeEntry{}, err
			}
			joined := path.Join(cur, string(target))
			if path.IsAbs(string(target)) || !fs.ValidPath(joined) {
				return "", object.TreeEntry{}, errLinkOutside
			}
			rest := parts[i+1:]
			parts, cur, i = nil, ".", -1
			if joined != "." {
				parts = strings.Split(joined, "/")
			}
			parts = append(parts, rest...)
			if len(parts) == 0 {
				return ".", rootEntry, nil
			}
			continue
		}
		p := path.Join(cur, parts[i])
		if last {
			return p, e, nil
		}
		if !isGitDir(e.Mode) {
			return "", object.TreeEntry{}, errNotDir
		}
		cur = p
	}
	panic("unreachable")
}

// blob reads a blob's content. The caller holds g.mu.
func (g *gitFS) blob(h plumbing.Hash) ([]byte, error) {
	b, err := g.repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data := make([]byte, 0, b.Size)
	buf := bytes.NewBuffer(data)
	if _, err := io.Copy(buf, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// info describes an entry. The caller holds g.mu.
func (g *gitFS) info(name string, e object.TreeEntry) (*gitInfo, error) {
	fi := &gitInfo{name: path.Base(name), modTime: g.modTime}
	switch e.Mode {
	case filemode.Dir, filemode.Submodule:
		fi.mode = fs.ModeDir | 0o555
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	case filemode.Executable:
		fi.mode = 0o555
	default:
		fi.mode = 0o444
	}
	if !fi.mode.IsDir() {
		size, err := g.repo.Storer.EncodedObjectSize(e.Hash)
		if err != nil {
			return nil, err
		}
		fi.size = size
	}
	return fi, nil
}

func (g *gitFS) check(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

// Open implements fs.FS.
func (g *gitFS) Open(name string) (fs.File, error) {
	if err := g.check("open", name); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, e, err := g.lookup(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	fi, err := g.info(name, e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if fi.IsDir() {
		d, err := g.dir(p)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &gitDirFile{fs: g, path: name, info: fi, dir: d}, nil
	}
	return &gitFile{fs: g, path: name, info: fi, hash: e.Hash}, nil
}

// ReadFile implements fs.ReadFileFS.
func (g *gitFS) ReadFile(name string) ([]byte, error) {
	if err := g.check("read", name); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, e, err := g.lookup(name, true)
	if err == nil && isGitDir(e.Mode) {
		err = errIsDir
	}
	var data []byte
	if err == nil {
		data, err = g.blob(e.Hash)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// ReadDir implements fs.ReadDirFS.
func (g *gitFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := g.check("readdir", name); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, e, err := g.lookup(name, true)
	if err == nil && !isGitDir(e.Mode) {
		err = errNotDir
	}
	var d *gitDir
	if err == nil {
		d, err = g.dir(p)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return g.dirEntries(name, d.entries), nil
}

func (g *gitFS) dirEntries(dir string, entries []object.TreeEntry) []fs.DirEntry {
	out := make([]fs.DirEntry, len(entries))
	for i, e := range entries {
		out[i] = &gitDirEntry{fs: g, path: path.Join(dir, e.Name), entry: e}
	}
	return out
}

// Stat implements fs.StatFS.
func (g *gitFS) Stat(name string) (fs.FileInfo, error) { return g.stat("stat", name, true) }

// Lstat implements fs.ReadLinkFS.
func (g *gitFS) Lstat(name string) (fs.FileInfo, error) { return g.stat("lstat", name, false) }

func (g *gitFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	if err := g.check(op, name); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, e, err := g.lookup(name, follow)
	var fi *gitInfo
	if err == nil {
		fi, err = g.info(name, e)
	}
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return fi, nil
}

// ReadLink implements fs.ReadLinkFS.
func (g *gitFS) ReadLink(name string) (string, error) {
	if err := g.check("readlink", name); err != nil {
		return "", err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	_, e, err := g.lookup(name, false)
	if err == nil && e.Mode != filemode.Symlink {
		err = errNotLink
	}
	var target []byte
	if err == nil {
		target, err = g.blob(e.Hash)
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(target), nil
}

// gitInfo is the fs.FileInfo of a tree entry.
type gitInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (fi *gitInfo) Name() string       { return fi.name }
func (fi *gitInfo) Size() int64        { return fi.size }
func (fi *gitInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *gitInfo) ModTime() time.Time { return fi.modTime }
func (fi *gitInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *gitInfo) Sys() any           { return nil }

// gitDirEntry is an entry of a directory listing; its size is read only when asked for.
type gitDirEntry struct {
	fs    *gitFS
	path  string
	entry object.TreeEntry
}

func (d *gitDirEntry) Name() string { return d.entry.Name }
func (d *gitDirEntry) IsDir() bool  { return isGitDir(d.entry.Mode) }

func (d *gitDirEntry) Type() fs.FileMode {
	switch {
	case isGitDir(d.entry.Mode):
		return fs.ModeDir
	case d.entry.Mode == filemode.Symlink:
		return fs.ModeSymlink
	}
	return 0
}

func (d *gitDirEntry) Info() (fs.FileInfo, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	fi, err := d.fs.info(d.path, d.entry)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: d.path, Err: err}
	}
	return fi, nil
}

func (d *gitDirEntry) String() string { return fs.FormatDirEntry(d) }

// gitFile is an open regular file. Its content is read from the repository on first use.
type gitFile struct {
	fs     *gitFS
	path   string
	info   *gitInfo
	hash   plumbing.Hash
	r      *bytes.Reader
	closed bool
}

func (f *gitFile) Stat() (fs.FileInfo, error) {
	if f.closed {
		return nil, &fs.PathError{Op: "stat", Path: f.path, Err: fs.ErrClosed}
	}
	return f.info, nil
}

func (f *gitFile) load(op string) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.path, Err: fs.ErrClosed}
	}
	if f.r != nil {
		return nil
	}
	f.fs.mu.Lock()
	data, err := f.fs.blob(f.hash)
	f.fs.mu.Unlock()
	if err != nil {
		return &fs.PathError{Op: op, Path: f.path, Err: err}
	}
	f.r = bytes.NewReader(data)
	return nil
}

func (f *gitFile) Read(p []byte) (int, error) {
	if err := f.load("read"); err != nil {
		return 0, err
	}
	return f.r.Read(p)
}

func (f *gitFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.load("read"); err != nil {
		return 0, err
	}
	return f.r.ReadAt(p, off)
}

func (f *gitFile) Seek(offset int64, whence int) (int64, error) {
	if err := f.load("seek"); err != nil {
		return 0, err
	}
	n, err := f.r.Seek(offset, whence)
	if err != nil {
		return n, &fs.PathError{Op: "seek", Path: f.path, Err: err}
	}
	return n, nil
}

func (f *gitFile) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.path, Err: fs.ErrClosed}
	}
	f.closed, f.r = true, nil
	return nil
}

// gitDirFile is an open directory.
type gitDirFile struct {
	fs     *gitFS
	path   string
	info   *gitInfo
	dir    *gitDir
	offset int
	closed bool
}

func (d *gitDirFile) Stat() (fs.FileInfo, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "stat", Path: d.path, Err: fs.ErrClosed}
	}
	return d.info, nil
}

func (d *gitDirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: errIsDir}
}

func (d *gitDirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.path, Err: fs.ErrClosed}
	}
	rest := d.dir.entries[d.offset:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	d.offset += len(rest)
	return d.fs.dirEntries(d.path, rest), nil
}

func (d *gitDirFile) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.path, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}

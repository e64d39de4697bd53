package lang

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// MaxFileSize bounds every file the language reads: configuration files, variable files, and
// the files of file() and templatefile(). A configuration is text written by people.
const MaxFileSize = 4 << 20

// refusal says why a file is not read; its message follows the file's name.
type refusal string

func (r refusal) Error() string { return string(r) }

// readError words an error of readInside for file(), which quotes the path as written.
func readError(shown string, err error) error {
	if r, ok := err.(refusal); ok {
		return fmt.Errorf("%q %s", shown, r)
	}
	return fmt.Errorf("reading %q: %w", shown, unwrapPathErr(err))
}

// readErrorText words an error of readInside for a file named in a diagnostic's detail.
func readErrorText(name string, err error) string {
	if r, ok := err.(refusal); ok {
		return name + " " + string(r)
	}
	return fmt.Sprintf("%s: %v", name, unwrapPathErr(err))
}

// readInside reads name, a slash path in fsys, as one of the files of the directory root
// (where, in messages). Symbolic links are followed only while they stay inside root, so a
// link cannot read /proc/self/environ or another project's files into a plan; only regular
// files of at most MaxFileSize are read, so /dev/zero or a FIFO cannot stall a load. Errors
// are refusals or the file system's own.
func readInside(fsys fs.FS, root, name, where string) ([]byte, error) {
	real, err := resolveInside(fsys, root, name, where)
	if err != nil {
		return nil, err
	}
	info, err := fs.Stat(fsys, real)
	if err != nil {
		return nil, err
	}
	if what := specialFile(info.Mode()); what != "" {
		return nil, refusal("is " + what + ", not a regular file")
	}
	tooBig := refusal(fmt.Sprintf("is larger than %d MiB, the most Musubi reads from one file", MaxFileSize>>20))
	if info.Size() > MaxFileSize {
		return nil, tooBig
	}
	f, err := fsys.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The size a file reports is not always what it holds (/proc files report 0).
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, tooBig
	}
	return b, nil
}

// resolveInside follows the symbolic links of name, which must lie inside root, and returns
// the path they lead to.
func resolveInside(fsys fs.FS, root, name, where string) (string, error) {
	rest, ok := relativeTo(root, name)
	if !ok {
		return "", refusal("is outside " + where)
	}
	cur, links := root, 0
	for len(rest) > 0 {
		next := path.Join(cur, rest[0])
		info, err := fs.Lstat(fsys, next)
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			cur, rest = next, rest[1:]
			continue
		}
		if links++; links > maxSymlinks {
			return "", errLinkLoop
		}
		target, err := fs.ReadLink(fsys, next)
		if err != nil {
			return "", err
		}
		outside := refusal("is a symbolic link leading outside " + where)
		if next != name {
			outside = refusal(fmt.Sprintf("leads outside %s through the symbolic link %s", where, strings.TrimPrefix(next, root+"/")))
		}
		if path.IsAbs(target) || filepath.IsAbs(target) {
			return "", outside
		}
		parts, ok := relativeTo(root, path.Join(cur, filepath.ToSlash(target)))
		if !ok {
			return "", outside
		}
		cur, rest = root, append(parts, rest[1:]...)
	}
	return cur, nil
}

// relativeTo splits p, a clean slash path, into its elements below root; false when p is not
// inside root.
func relativeTo(root, p string) ([]string, bool) {
	rel := p
	if root != "." {
		var ok bool
		if rel, ok = strings.CutPrefix(p, root+"/"); !ok {
			return nil, p == root
		}
	}
	if rel == "." {
		return nil, true
	}
	if !fs.ValidPath(rel) {
		return nil, false
	}
	return strings.Split(rel, "/"), true
}

// specialFile names what a file that is not a regular file is, or returns "".
func specialFile(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return ""
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// ReadFile reads a file named on the command line (a file to format) as a -var-file is read;
// its errors name the file.
func ReadFile(name string) ([]byte, error) {
	b, err := readVarFile(name)
	if err != nil {
		return nil, errors.New(readErrorText(name, err))
	}
	return b, nil
}

// readVarFile reads a -var-file from disk as configuration files are read: a path inside the
// working directory stays inside it, any other path inside the directory it names.
func readVarFile(name string) ([]byte, error) {
	if filepath.IsLocal(name) {
		return readInside(os.DirFS("."), ".", filepath.ToSlash(filepath.Clean(name)), "the working directory")
	}
	return readInside(os.DirFS(filepath.Dir(name)), ".", filepath.Base(name), "its directory")
}

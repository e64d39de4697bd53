package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// The engine keeps its working set in memory and writes it through to the store, so two
// engines on one store file would each overwrite what the other wrote. A store is therefore
// claimed by one engine at a time: `musubi serve`, or a command that opens the store itself
// while no server runs (`musubi customer forget`). The claim is an flock on STORE.lock, which
// the operating system releases when its holder dies, even by SIGKILL; the file says who holds
// it and where a server listens, so commands can find the server. A local `musubi apply`
// writes bundles into the store without claiming it: bundles are the one thing the engine
// reads back from the file (watchBundles).

// LockInfo says which process holds a store.
type LockInfo struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`       // "musubi serve", "musubi customer forget"
	URL     string    `json:"url,omitempty"` // where a server answers, once it listens
	Since   time.Time `json:"since"`
	Version string    `json:"version,omitempty"`
}

// LockedError is returned when another process holds the store.
type LockedError struct {
	Path   string
	Holder LockInfo
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("the engine store %s is in use by another process (%s is locked)", e.Path, LockPath(e.Path))
	}
	where := ""
	if h.URL != "" {
		where = ", listening on " + h.URL
	}
	return fmt.Sprintf("the engine store %s is in use by %s (pid %d%s) since %s", e.Path, h.Command, h.PID, where,
		h.Since.Local().Format("2006-01-02 15:04:05"))
}

// LockPath is the lock file of a store file.
func LockPath(store string) string { return store + ".lock" }

// StoreLock is a held claim on a store.
type StoreLock struct {
	mu   sync.Mutex
	f    *flock.Flock
	path string
	info LockInfo
}

// LockStore claims a store for this process, or returns a *LockedError naming the holder.
func LockStore(store string, info LockInfo) (*StoreLock, error) {
	if info.PID == 0 {
		info.PID = os.Getpid()
	}
	if info.Since.IsZero() {
		info.Since = time.Now()
	}
	if err := os.MkdirAll(filepath.Dir(store), 0o755); err != nil {
		return nil, fmt.Errorf("locking the engine store: %w", err)
	}
	path := LockPath(store)
	// The lock may be held for an instant by a command only looking (Holder), or by a holder
	// that has not written its name yet: try for a moment before giving up.
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		l, err := tryLock(path, info)
		if l != nil || err != nil {
			return l, err
		}
		if time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		holder, _ := readLock(path)
		return nil, &LockedError{Path: store, Holder: holder}
	}
}

func tryLock(path string, info LockInfo) (*StoreLock, error) {
	f := flock.New(path, flock.SetPermissions(0o644))
	if ok, err := f.TryLock(); err != nil {
		return nil, fmt.Errorf("locking the engine store: %w", err)
	} else if !ok {
		return nil, nil
	}
	// The previous holder may have removed the file between our open and our lock: then this
	// lock is on a file no one else opens.
	if !samePath(f, path) {
		f.Unlock()
		return tryLock(path, info)
	}
	l := &StoreLock{f: f, path: path}
	if err := l.write(info); err != nil {
		f.Unlock()
		return nil, err
	}
	return l, nil
}

func (l *StoreLock) write(info LockInfo) error {
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(l.path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	l.info = info
	return nil
}

// SetURL records where the holder's server answers, for commands looking for it.
func (l *StoreLock) SetURL(url string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	info := l.info
	info.URL = url
	return l.write(info)
}

// Unlock releases the claim and removes the lock file.
func (l *StoreLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	var err error
	if samePath(l.f, l.path) {
		err = os.Remove(l.path)
	}
	if uerr := l.f.Unlock(); err == nil {
		err = uerr
	}
	l.f = nil
	return err
}

// Holder reports the process holding a store, if one does.
func Holder(store string) (LockInfo, bool, error) {
	path := LockPath(store)
	probe := flock.New(path, flock.SetFlag(os.O_RDONLY)) // no O_CREATE: a look leaves no file
	ok, err := probe.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		return LockInfo{}, false, nil
	}
	if err != nil {
		return LockInfo{}, false, err
	}
	if ok {
		probe.Unlock()
		return LockInfo{}, false, nil // a file left by a holder that died
	}
	info, err := readLock(path)
	return info, true, err
}

func readLock(path string) (LockInfo, error) {
	var info LockInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return info, fs.ErrNotExist
	}
	return info, json.Unmarshal(b, &info)
}

func samePath(f *flock.Flock, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

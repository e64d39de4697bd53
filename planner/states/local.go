package states

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/musubi-hq/musubi/planner/addrs"
)

// Local stores state in a JSON file. Writes go to a temporary file that is synced and renamed
// over the old one, which is kept as PATH.backup. The lock is an flock on PATH.lock.
// An apply appends each step to PATH.journal as it happens; reading replays a journal left by
// a killed apply, and the next write clears it.
type Local struct {
	Path string
}

var _ Backend = (*Local)(nil)

// NewLocal returns the local backend for a state file path.
func NewLocal(path string) *Local { return &Local{Path: path} }

// Describe implements Backend.
func (l *Local) Describe() string { return "local state file " + l.Path }

func (l *Local) journalPath() string { return l.Path + ".journal" }
func (l *Local) lockPath() string    { return l.Path + ".lock" }

// journalRecord is one line of the journal: a header, a put or a remove.
type journalRecord = Step

// Read implements Backend. A state file is checked against its backup, which the last
// write left: a state of another lineage was copied in from elsewhere, and a missing one
// beside a backup with resources was lost. Planning with either would create again
// everything the project made, so both are refused with how to restore the backup.
func (l *Local) Read(ctx context.Context) (*State, error) {
	var s *State
	b, err := os.ReadFile(l.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if bk, err := readHead(l.backupPath()); err == nil {
			if !bk.Empty {
				return nil, fmt.Errorf("%s is missing, but its backup %s holds the resources of serial %d: planning without them would create them all again.\n%s\nTo start a new state on purpose, move the backup away first.",
					l.Path, l.backupPath(), bk.Serial, l.restoreCommand())
			}
			// A state emptied and then removed goes on with its lineage.
			s = New("")
			s.Lineage = bk.Lineage
		}
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", l.Path, err)
	default:
		if s, err = Decode(b); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", l.Path, err, l.restoreHint())
		}
		if bk, err := readHead(l.backupPath()); err == nil && bk.Lineage != "" && bk.Lineage != s.Lineage {
			return nil, fmt.Errorf("%s has lineage %s, but its backup %s, which the last write here left, has lineage %s: the state file was replaced by another state (copied from another project?), and planning with it would create again what this project made.\n%s\nIf %s is the state you mean to use, move the backup away: mv %s %s.old",
				l.Path, s.Lineage, l.backupPath(), bk.Lineage, l.restoreCommand(), l.Path, l.backupPath(), l.backupPath())
		}
	}
	if err := l.replay(&s); err != nil {
		return nil, err
	}
	if s == nil {
		s = New("")
	}
	return s, nil
}

func (l *Local) backupPath() string { return l.Path + ".backup" }

func (l *Local) restoreCommand() string {
	return fmt.Sprintf("Restore this project's state with: cp %s %s", l.backupPath(), l.Path)
}

// restoreHint says how to go back to the backup, for a state that cannot be read.
func (l *Local) restoreHint() string {
	bk, err := readHead(l.backupPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("There is no backup (%s) to restore from.", l.backupPath())
	case err != nil:
		return fmt.Sprintf("Its backup %s cannot be read either: %v", l.backupPath(), err)
	}
	return fmt.Sprintf("The previous state (serial %d) is kept in %s. %s\nIt is one write older: run musubi plan and check what it would create before applying.",
		bk.Serial, l.backupPath(), l.restoreCommand())
}

// stateHead is what a state document says before its resources.
type stateHead struct {
	Serial  uint64
	Lineage string
	Empty   bool // it has no resources
}

// readHead reads the head of a state document without decoding its resources, which come
// last: checking a large state's backup costs a few hundred bytes.
func readHead(path string) (*stateHead, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%s is not a state document", path)
	}
	h := &stateHead{Empty: true}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch t {
		case "serial":
			err = dec.Decode(&h.Serial)
		case "lineage":
			err = dec.Decode(&h.Lineage)
		case "resources":
			if t, err := dec.Token(); err == nil && t == json.Delim('[') {
				h.Empty = !dec.More()
			}
			return h, nil
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return h, nil
}

// replay applies a journal left by an interrupted apply. A torn last line (the process died
// mid-write) is ignored: its step had not been handed over yet.
func (l *Local) replay(sp **State) error {
	f, err := os.Open(l.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", l.journalPath(), err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 || line[len(line)-1] != '\n' {
			break // end, or a torn last line
		}
		var rec journalRecord
		if jerr := json.Unmarshal(line, &rec); jerr != nil {
			return fmt.Errorf("%s line %d: %w", l.journalPath(), n, jerr)
		}
		if err := Replay(sp, rec, l.journalPath()); err != nil {
			return err
		}
		if err != nil {
			break
		}
	}
	return nil
}

// Write implements Backend. Only one musubi writes at a time (the lock), so the check of the
// stored state's head and the rename that follows need no more.
func (l *Local) Write(ctx context.Context, s *State) error {
	if h, err := readHead(l.Path); err == nil {
		if err := CheckWrite(l.Describe(), &Head{Serial: h.Serial, Lineage: h.Lineage}, s); err != nil {
			return err
		}
	}
	return l.write(s, true)
}

// Overwrite implements Backend. A state of another lineage replaces the stored one, which is
// kept as PATH.replaced instead of the backup: Read refuses a state beside the backup of
// another lineage.
func (l *Local) Overwrite(ctx context.Context, s *State) error {
	h, err := readHead(l.Path)
	if err != nil || h.Lineage == s.Lineage {
		return l.write(s, true)
	}
	if err := os.Rename(l.Path, l.Path+".replaced"); err != nil {
		return err
	}
	if err := os.Remove(l.backupPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return l.write(s, false)
}

func (l *Local) write(s *State, backup bool) error {
	b, err := Encode(s)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(l.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if old, err := os.ReadFile(l.Path); err == nil && backup {
		if err := writeAtomic(l.backupPath(), old); err != nil {
			return fmt.Errorf("keeping the backup: %w", err)
		}
	}
	if err := writeAtomic(l.Path, b); err != nil {
		return fmt.Errorf("writing %s: %w", l.Path, err)
	}
	if err := os.Remove(l.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeAtomic writes a temporary file beside path, syncs it, renames it over path and syncs
// the directory, so a reader sees the old file or the new one, never a mix.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeSynced(f, b); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Lock implements Backend. The lock is an flock on PATH.lock, so the operating system
// releases it when its holder dies, even by SIGKILL; the file's content says who holds it.
func (l *Local) Lock(ctx context.Context, info LockInfo, timeout time.Duration) (Unlocker, error) {
	if dir := filepath.Dir(l.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	start := time.Now()
	delay := 20 * time.Millisecond
	for {
		k, err := l.tryLock(b, info.ID)
		if k != nil || err != nil {
			return k, err
		}
		held, rerr := l.readLock()
		waited := time.Since(start)
		if waited >= timeout {
			if rerr != nil || held.ID == "" {
				return nil, fmt.Errorf("%s is locked (%s) by a process that has not said who it is yet", l.Path, l.lockPath())
			}
			return nil, &LockError{Info: held, Waited: waited, Backend: l.Describe()}
		}
		wait := min(delay, timeout-waited)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// tryLock takes the lock if it is free, and returns nil, nil if another process holds it.
func (l *Local) tryLock(info []byte, id string) (*localLock, error) {
	f := flock.New(l.lockPath(), flock.SetPermissions(0o644))
	if ok, err := f.TryLock(); err != nil {
		return nil, fmt.Errorf("locking %s: %w", l.Path, err)
	} else if !ok {
		return nil, nil
	}
	// The holder before may have removed the file between our open and our lock (or
	// force-unlock did): then this lock is on a file no one else will open.
	if !samePath(f, l.lockPath()) {
		f.Unlock()
		return l.tryLock(info, id)
	}
	w, err := os.OpenFile(l.lockPath(), os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		err = writeSynced(w, info)
	}
	if err != nil {
		f.Unlock()
		return nil, err
	}
	return &localLock{f: f, path: l.lockPath(), id: id}, nil
}

// writeSynced writes b to f, flushes it to disk and closes f.
func writeSynced(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func samePath(f *flock.Flock, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (l *Local) readLock() (LockInfo, error) {
	var info LockInfo
	b, err := os.ReadFile(l.lockPath())
	if err != nil {
		return info, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return info, fs.ErrNotExist
	}
	return info, json.Unmarshal(b, &info)
}

// ForceUnlock implements Backend. It removes the lock file, so the next operation takes a
// fresh lock; a holder still running keeps its lock on the removed file and no longer blocks
// anyone.
func (l *Local) ForceUnlock(ctx context.Context, id string, opts UnlockOptions) (*LiveHolder, error) {
	probe := flock.New(l.lockPath(), flock.SetFlag(os.O_RDONLY)) // no O_CREATE: a look leaves no file
	ok, err := probe.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not locked", l.Path)
	}
	if err != nil {
		return nil, err
	}
	if ok {
		// Nobody holds it: a lock file left by a holder that died.
		probe.Unlock()
		return nil, fmt.Errorf("%s is not locked (the lock's holder has exited)", l.Path)
	}
	info, err := l.readLock()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", l.lockPath(), err)
	}
	if info.ID != id {
		return nil, fmt.Errorf("the lock's ID is %s, not %s", info.ID, id)
	}
	running := info.Running()
	if running != nil && !opts.Force {
		return nil, &HolderRunningError{Holder: running, Backend: l.Describe()}
	}
	if opts.Confirm != nil && !opts.Confirm(info) {
		return nil, ErrNotConfirmed
	}
	return running, os.Remove(l.lockPath())
}

type localLock struct {
	f        *flock.Flock
	path, id string
	once     sync.Once
}

// Unlock removes the lock file, unless force-unlock already removed it and another process
// now holds a new one at the same path, then releases the flock.
func (k *localLock) Unlock() error {
	var err error
	k.once.Do(func() {
		if samePath(k.f, k.path) {
			err = os.Remove(k.path)
		}
		if uerr := k.f.Unlock(); err == nil {
			err = uerr
		}
	})
	return err
}

// Journal implements Backend.
func (l *Local) Journal(ctx context.Context, base *State) (Journal, error) {
	f, err := os.OpenFile(l.journalPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", l.journalPath(), err)
	}
	j := &localJournal{f: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if info, err := f.Stat(); err == nil && info.Size() == 0 {
		if err := j.write(journalRecord{Lineage: base.Lineage}); err != nil {
			f.Close()
			return nil, err
		}
	}
	go j.syncLoop()
	return j, nil
}

// localJournal appends one JSON line per step with a single write call, so a kill never
// leaves half a record before a whole one. A goroutine syncs to disk whenever records are
// waiting, so one fsync covers every record written meanwhile.
type localJournal struct {
	mu     sync.Mutex
	f      *os.File
	buf    bytes.Buffer
	err    error
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

func (j *localJournal) write(rec journalRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("journal is closed")
	}
	if j.err != nil {
		return j.err
	}
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	if err := enc.Encode(rec); err != nil {
		return err
	}
	if _, err := j.f.Write(j.buf.Bytes()); err != nil {
		j.err = fmt.Errorf("writing the journal: %w", err)
		return j.err
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return nil
}

func (j *localJournal) syncLoop() {
	defer close(j.done)
	for range j.wake {
		if err := j.f.Sync(); err != nil {
			j.mu.Lock()
			if j.err == nil {
				j.err = fmt.Errorf("syncing the journal: %w", err)
			}
			j.mu.Unlock()
		}
	}
}

func (j *localJournal) Put(r *Resource) error { return j.write(journalRecord{Put: r}) }
func (j *localJournal) Remove(addr addrs.Instance) error {
	return j.write(journalRecord{Remove: addr})
}

func (j *localJournal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return j.err
	}
	j.closed = true
	close(j.wake)
	j.mu.Unlock()
	<-j.done
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	if j.err != nil {
		return j.err
	}
	return err
}

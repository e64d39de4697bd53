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
)

// Local stores state in a JSON file. Writes go to a temporary file that is synced and renamed
// over the old one, which is kept as PATH.backup. The lock is PATH.lock, created exclusively.
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
type journalRecord struct {
	Lineage string    `json:"lineage,omitempty"`
	Put     *Resource `json:"put,omitempty"`
	Remove  string    `json:"remove,omitempty"`
}

// Read implements Backend.
func (l *Local) Read(ctx context.Context) (*State, error) {
	var s *State
	b, err := os.ReadFile(l.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", l.Path, err)
	default:
		if s, err = Decode(b); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Path, err)
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
		s := *sp
		switch {
		case rec.Lineage != "":
			if s == nil {
				*sp = New("")
				(*sp).Lineage = rec.Lineage
			} else if s.Lineage != rec.Lineage {
				return fmt.Errorf("%s belongs to another state (lineage %s, not %s); move it away if it is stale", l.journalPath(), rec.Lineage, s.Lineage)
			}
		case s == nil:
			return fmt.Errorf("%s has no header", l.journalPath())
		case rec.Put != nil:
			if err := rec.Put.normalize(); err != nil {
				return err
			}
			s.Put(rec.Put)
		case rec.Remove != "":
			s.Remove(rec.Remove)
		}
		if *sp != nil {
			(*sp).Recovered = true
		}
		if err != nil {
			break
		}
	}
	return nil
}

// Write implements Backend.
func (l *Local) Write(ctx context.Context, s *State) error {
	b, err := Encode(s)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(l.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if old, err := os.ReadFile(l.Path); err == nil {
		if err := writeAtomic(l.Path+".backup", old); err != nil {
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
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
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

// Lock implements Backend.
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
		f, err := os.OpenFile(l.lockPath(), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_, werr := f.Write(b)
			if serr := f.Sync(); werr == nil {
				werr = serr
			}
			f.Close()
			if werr != nil {
				os.Remove(l.lockPath())
				return nil, werr
			}
			return &localLock{path: l.lockPath(), id: info.ID}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking %s: %w", l.Path, err)
		}
		held, rerr := l.readLock()
		waited := time.Since(start)
		if waited >= timeout {
			if rerr != nil {
				return nil, fmt.Errorf("%s is locked (%s), and its holder cannot be read: %v", l.Path, l.lockPath(), rerr)
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

func (l *Local) readLock() (LockInfo, error) {
	var info LockInfo
	b, err := os.ReadFile(l.lockPath())
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// ForceUnlock implements Backend.
func (l *Local) ForceUnlock(ctx context.Context, id string) error {
	info, err := l.readLock()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not locked", l.Path)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", l.lockPath(), err)
	}
	if info.ID != id {
		return fmt.Errorf("the lock's ID is %s, not %s", info.ID, id)
	}
	return os.Remove(l.lockPath())
}

type localLock struct {
	path, id string
	once     sync.Once
}

func (k *localLock) Unlock() error {
	var err error
	k.once.Do(func() {
		var info LockInfo
		b, rerr := os.ReadFile(k.path)
		if rerr == nil && json.Unmarshal(b, &info) == nil && info.ID != k.id {
			err = fmt.Errorf("the lock %s was taken over by %s; not removing it", k.path, info.ID)
			return
		}
		err = os.Remove(k.path)
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

func (j *localJournal) Put(r *Resource) error    { return j.write(journalRecord{Put: r}) }
func (j *localJournal) Remove(addr string) error { return j.write(journalRecord{Remove: addr}) }

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

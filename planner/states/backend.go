package states

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/google/uuid"
	"github.com/musubi-hq/musubi/planner/addrs"
)

// Backend stores state. Writers take the lock first; an apply records every step in a journal
// so that a killed process loses nothing, then writes the whole state once at the end.
type Backend interface {
	// Read returns the current state, replaying the journal of an interrupted apply; a missing
	// state is a new, empty one.
	Read(ctx context.Context) (*State, error)
	// Lock takes the state lock, waiting up to timeout for another holder to finish.
	Lock(ctx context.Context, info LockInfo, timeout time.Duration) (Unlocker, error)
	// ForceUnlock removes the lock with the given ID, for a holder that hangs. A holder still
	// running on this machine is refused with a *HolderRunningError unless opts.Force is set;
	// then it is returned, for a warning.
	ForceUnlock(ctx context.Context, id string, opts UnlockOptions) (*LiveHolder, error)
	// Write replaces the state atomically and clears the journal. It refuses, with a
	// *ConflictError, a state of another lineage than the stored one, or one whose serial is
	// not above the stored serial: a write made from a copy older than the stored state.
	Write(ctx context.Context, s *State) error
	// Overwrite writes s as Write does, without its checks: for state push -force.
	Overwrite(ctx context.Context, s *State) error
	// Journal opens the step journal of an apply on top of the state as read.
	Journal(ctx context.Context, base *State) (Journal, error)
	// Describe names the backend for messages: "local state file musubi.state.json".
	Describe() string
}

// Unlocker releases a lock.
type Unlocker interface {
	Unlock() error
}

// Journal records the steps of an apply as they happen. Each call returns once the record is
// handed to the operating system, so it survives the process being killed; records are synced
// to disk in groups.
type Journal interface {
	// Put records a resource as it is now (created, updated, or a create about to start).
	Put(r *Resource) error
	// Remove records a resource's deletion.
	Remove(addr addrs.Instance) error
	// Close syncs and closes the journal; the next Write clears it.
	Close() error
}

// LockInfo says who holds the state lock, for the message the next user sees.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	Created   time.Time `json:"created"`
}

// NewLockInfo describes this process taking the lock for an operation.
func NewLockInfo(operation, version string) LockInfo {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	host, _ := os.Hostname()
	return LockInfo{
		ID: uuid.NewString(), Operation: operation, Who: who, Host: host, PID: os.Getpid(),
		Version: version, Created: time.Now().UTC().Truncate(time.Second),
	}
}

// LockError reports that someone else holds the lock.
type LockError struct {
	Info    LockInfo
	Waited  time.Duration
	Backend string
}

func (e *LockError) Error() string {
	i := e.Info
	msg := fmt.Sprintf("the %s is locked by %s@%s (%s, pid %d, musubi %s) since %s",
		e.Backend, i.Who, i.Host, i.Operation, i.PID, i.Version, i.Created.Format(time.RFC3339))
	if e.Waited > 0 {
		msg += fmt.Sprintf("; waited %s", e.Waited.Round(time.Millisecond))
	}
	return msg + fmt.Sprintf(".\nLock ID: %s\nIf that operation is no longer running, remove the lock with: musubi force-unlock %s", i.ID, i.ID)
}

// UnlockOptions steer ForceUnlock.
type UnlockOptions struct {
	// Force removes the lock even when its holder is still running on this machine.
	Force bool
	// Confirm, when set, is asked once the lock is known to be removable; false cancels
	// with ErrNotConfirmed.
	Confirm func(LockInfo) bool
}

// ErrNotConfirmed is returned when UnlockOptions.Confirm said no.
var ErrNotConfirmed = errors.New("force-unlock not confirmed")

// LiveHolder is a lock holder found running on this machine.
type LiveHolder struct {
	Info LockInfo
	// Command is its command line, when the system tells it.
	Command string
}

// Running returns the holder when it is a process on this machine that is still alive.
// A holder on another machine cannot be checked and is never reported running.
func (i LockInfo) Running() *LiveHolder {
	if host, _ := os.Hostname(); i.Host == "" || i.Host != host || !processRunning(i.PID) {
		return nil
	}
	return &LiveHolder{Info: i, Command: processCommand(i.PID)}
}

func (h *LiveHolder) String() string {
	i := h.Info
	msg := fmt.Sprintf("pid %d", i.PID)
	if h.Command != "" {
		msg += fmt.Sprintf(" (%s)", h.Command)
	}
	return msg + fmt.Sprintf(", %s by %s since %s", i.Operation, i.Who, i.Created.Format(time.RFC3339))
}

// HolderRunningError refuses to free a lock whose holder is still running.
type HolderRunningError struct {
	Holder  *LiveHolder
	Backend string
}

func (e *HolderRunningError) Error() string {
	return fmt.Sprintf("the %s is locked by %s, which is still running on this machine.\nStop it and its lock goes with it. If it hangs and will surely not write the state again, remove the lock anyway with: musubi force-unlock -force %s",
		e.Backend, e.Holder, e.Holder.Info.ID)
}

// Head is what identifies a stored state: its lineage and serial.
type Head struct {
	Serial  uint64
	Lineage string
}

// ConflictError refuses a write that would replace a newer state, or another one.
type ConflictError struct {
	Backend string
	Stored  Head // what the backend holds
	Writing Head // what was to be written
}

func (e *ConflictError) Error() string {
	if e.Stored.Lineage != e.Writing.Lineage {
		return fmt.Sprintf("the %s holds another state (lineage %s, serial %d) than the one being written (lineage %s): refusing to replace it. If it really is to be replaced, use musubi state push -force",
			e.Backend, e.Stored.Lineage, e.Stored.Serial, e.Writing.Lineage)
	}
	return fmt.Sprintf("the %s is at serial %d, and the state being written (serial %d) was made from an older copy: someone else wrote the state since it was read. Refusing to overwrite their changes; run musubi plan again",
		e.Backend, e.Stored.Serial, e.Writing.Serial)
}

// CheckWrite refuses, with a *ConflictError, to write s over the stored state (nil when there
// is none): another lineage, or a serial not above the stored one.
func CheckWrite(backend string, stored *Head, s *State) error {
	if stored == nil || (stored.Lineage == s.Lineage && s.Serial > stored.Serial) {
		return nil
	}
	return &ConflictError{Backend: backend, Stored: *stored, Writing: Head{Serial: s.Serial, Lineage: s.Lineage}}
}

// Step is one record of an apply's journal: a header naming the lineage of the state the
// apply started from, a resource as it is now, or a resource's removal.
type Step struct {
	Lineage string         `json:"lineage,omitempty"`
	Put     *Resource      `json:"put,omitempty"`
	Remove  addrs.Instance `json:"remove,omitzero"`
}

// Replay applies one journal step to *sp, the state as stored (nil when none was written yet),
// and marks it recovered. journal names the journal for messages.
func Replay(sp **State, step Step, journal string) error {
	s := *sp
	switch {
	case step.Lineage != "":
		if s == nil {
			*sp = New("")
			(*sp).Lineage = step.Lineage
		} else if s.Lineage != step.Lineage {
			return fmt.Errorf("%s belongs to another state (lineage %s, not %s); move it away if it is stale", journal, step.Lineage, s.Lineage)
		}
	case s == nil:
		return fmt.Errorf("%s has no header", journal)
	case step.Put != nil:
		if err := step.Put.normalize(); err != nil {
			return err
		}
		s.Put(step.Put)
	case step.Remove != addrs.Instance{}:
		s.Remove(step.Remove)
	}
	(*sp).Recovered = true
	return nil
}

package states

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLockNamesItsHolder(t *testing.T) {
	l := NewLocal(filepath.Join(t.TempDir(), "musubi.state.json"))
	ctx := context.Background()
	first, err := l.Lock(ctx, NewLockInfo("apply", "1.2.3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = l.Lock(ctx, NewLockInfo("plan", "1.2.3"), 200*time.Millisecond)
	var le *LockError
	if !errors.As(err, &le) {
		t.Fatalf("second lock: %v, want a LockError", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("gave up after %s, before the 200ms timeout", waited)
	}
	if le.Info.Operation != "apply" || le.Info.PID != os.Getpid() || !strings.Contains(err.Error(), "musubi force-unlock "+le.Info.ID) {
		t.Fatalf("lock error does not describe the holder: %v", err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	second, err := l.Lock(ctx, NewLockInfo("plan", "1.2.3"), 0)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	second.Unlock()
}

// A holder that dies (here: closes its file without unlocking, as the OS does for a killed
// process) leaves its lock file behind, but not the lock.
func TestDeadHolderReleasesTheLock(t *testing.T) {
	l := NewLocal(filepath.Join(t.TempDir(), "musubi.state.json"))
	ctx := context.Background()
	k, err := l.Lock(ctx, NewLockInfo("apply", "dev"), 0)
	if err != nil {
		t.Fatal(err)
	}
	k.(*localLock).f.Close()
	if _, err := os.Stat(l.lockPath()); err != nil {
		t.Fatalf("the dead holder's lock file should remain: %v", err)
	}
	next, err := l.Lock(ctx, NewLockInfo("apply", "dev"), 0)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	defer next.Unlock()
	if _, err := l.ForceUnlock(ctx, "whatever", UnlockOptions{Force: true}); err == nil {
		t.Fatal("force-unlock of a live lock with the wrong ID succeeded")
	}
}

func TestForceUnlockFreesAHungHolder(t *testing.T) {
	l := NewLocal(filepath.Join(t.TempDir(), "musubi.state.json"))
	ctx := context.Background()
	info := NewLockInfo("apply", "dev")
	hung, err := l.Lock(ctx, info, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ForceUnlock(ctx, "not-the-id", UnlockOptions{Force: true}); err == nil || !strings.Contains(err.Error(), info.ID) {
		t.Fatalf("force-unlock with a wrong ID: %v", err)
	}
	// The hung holder is this process, so it is running: only -force frees it.
	if _, err := l.ForceUnlock(ctx, info.ID, UnlockOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	next, err := l.Lock(ctx, NewLockInfo("apply", "dev"), 0)
	if err != nil {
		t.Fatalf("lock after force-unlock: %v", err)
	}
	// The hung holder finishing must not release the new holder's lock.
	if err := hung.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lock(ctx, NewLockInfo("plan", "dev"), 0); err == nil {
		t.Fatal("the old holder's unlock released the new holder's lock")
	}
	next.Unlock()
	if _, err := l.ForceUnlock(ctx, info.ID, UnlockOptions{Force: true}); err == nil {
		t.Fatal("force-unlock of an unlocked state succeeded")
	}
}

// A holder that is still running on this machine (here: this test process) is not freed
// by force-unlock: that is how two applies end up writing at once.
func TestForceUnlockRefusesARunningHolder(t *testing.T) {
	l := NewLocal(filepath.Join(t.TempDir(), "musubi.state.json"))
	ctx := context.Background()
	info := NewLockInfo("apply", "dev")
	k, err := l.Lock(ctx, info, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Unlock()
	asked := false
	_, err = l.ForceUnlock(ctx, info.ID, UnlockOptions{Confirm: func(LockInfo) bool { asked = true; return true }})
	var hr *HolderRunningError
	if !errors.As(err, &hr) {
		t.Fatalf("force-unlock of a holder still running on this machine: %v, want a HolderRunningError", err)
	}
	if asked {
		t.Error("asked for confirmation before refusing")
	}
	for _, want := range []string{"still running", fmt.Sprintf("pid %d", os.Getpid()), "musubi force-unlock -force " + info.ID, "since " + info.Created.Format(time.RFC3339)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if hr.Holder.Command == "" && runtime.GOOS == "linux" {
		t.Error("the refusal does not name the holder's command")
	}
	if _, err := l.Lock(ctx, NewLockInfo("plan", "dev"), 0); err == nil {
		t.Fatal("the refused force-unlock released the lock")
	}
	running, err := l.ForceUnlock(ctx, info.ID, UnlockOptions{Force: true})
	if err != nil || running == nil || running.Info.PID != os.Getpid() {
		t.Fatalf("forced unlock: %v, %+v; want it done, naming the running holder for a warning", err, running)
	}
}

// A holder recorded as a process that no longer exists, or on another machine, cannot be
// shown to be running: force-unlock asks, then frees it.
func TestForceUnlockOfAHolderNotRunningHere(t *testing.T) {
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Skip(err)
	}
	host, _ := os.Hostname()
	for _, c := range []struct {
		name string
		pid  int
		host string
	}{{"exited", exited.ProcessState.Pid(), host}, {"elsewhere", os.Getpid(), "another-" + host}} {
		t.Run(c.name, func(t *testing.T) {
			l := NewLocal(filepath.Join(t.TempDir(), "musubi.state.json"))
			ctx := context.Background()
			info := NewLockInfo("apply", "dev")
			info.PID, info.Host = c.pid, c.host
			k, err := l.Lock(ctx, info, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer k.Unlock()
			var asked LockInfo
			if _, err := l.ForceUnlock(ctx, info.ID, UnlockOptions{Confirm: func(i LockInfo) bool { asked = i; return false }}); !errors.Is(err, ErrNotConfirmed) || asked.ID != info.ID {
				t.Fatalf("force-unlock answered no: %v, asked about %+v", err, asked)
			}
			running, err := l.ForceUnlock(ctx, info.ID, UnlockOptions{Confirm: func(LockInfo) bool { return true }})
			if err != nil || running != nil {
				t.Fatalf("force-unlock: %v, %+v", err, running)
			}
		})
	}
}

// writtenTwice is a local state written twice, so it has a backup of the same lineage.
func writtenTwice(t *testing.T) (*Local, *State) {
	t.Helper()
	ctx := context.Background()
	l := NewLocal(filepath.Join(t.TempDir(), "musubi.state.json"))
	s := sample()
	for range 2 {
		if err := Save(ctx, l, s, "dev"); err != nil {
			t.Fatal(err)
		}
	}
	return l, s
}

// A state file copied in from another project has another lineage than the backup its
// own writes left: reading it would plan to create again everything this project made.
func TestReadRefusesAStateOfAnotherLineageThanItsBackup(t *testing.T) {
	l, mine := writtenTwice(t)
	other := sample()
	b, err := Encode(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = l.Read(context.Background())
	if err == nil {
		t.Fatal("read a state of another lineage than its backup")
	}
	for _, want := range []string{other.Lineage, mine.Lineage, l.Path + ".backup", "cp " + l.Path + ".backup " + l.Path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	// Restoring the backup, or moving it away, is what the message offers; both read.
	if err := os.Rename(l.Path+".backup", l.Path+".old"); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Read(context.Background()); err != nil || got.Lineage != other.Lineage {
		t.Fatalf("read without the backup: %v", err)
	}
}

// A state file that went missing while its backup holds resources is not a new project.
func TestReadRefusesAMissingStateWithABackup(t *testing.T) {
	l, _ := writtenTwice(t)
	if err := os.Remove(l.Path); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cp "+l.Path+".backup "+l.Path) {
		t.Fatalf("read of a missing state beside its backup: %v", err)
	}
}

// A corrupt state says where the previous one is and how to restore it.
func TestCorruptStateNamesTheBackup(t *testing.T) {
	l, _ := writtenTwice(t)
	if err := os.WriteFile(l.Path, []byte(`{"format_version": 1, "serial": 3, "resou`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cp "+l.Path+".backup "+l.Path) || !strings.Contains(err.Error(), "serial 1") {
		t.Fatalf("read of a corrupt state: %v, want how to restore the backup (serial 1)", err)
	}
	if err := os.Remove(l.Path + ".backup"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "no backup") {
		t.Fatalf("read of a corrupt state without a backup: %v", err)
	}
}

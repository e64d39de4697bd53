package states

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
	if err := l.ForceUnlock(ctx, "whatever"); err == nil {
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
	if err := l.ForceUnlock(ctx, "not-the-id"); err == nil || !strings.Contains(err.Error(), info.ID) {
		t.Fatalf("force-unlock with a wrong ID: %v", err)
	}
	if err := l.ForceUnlock(ctx, info.ID); err != nil {
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
	if err := l.ForceUnlock(ctx, info.ID); err == nil {
		t.Fatal("force-unlock of an unlocked state succeeded")
	}
}

package email

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestLedgerClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := openLedger(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()

	if c, err := l.claimSend(ctx, "email.a", "k"); err != nil || c.sent != "" || c.busy != 0 {
		t.Fatalf("first claim: %+v %v", c, err)
	}
	now = now.Add(30 * time.Second)
	if c, _ := l.claimSend(ctx, "email.a", "k"); c.busy != sendLease-30*time.Second {
		t.Fatalf("a claim in flight: busy %s, want %s", c.busy, sendLease-30*time.Second)
	}
	if c, _ := l.claimSend(ctx, "email.b", "k"); c.busy != 0 {
		t.Fatal("another provider's key blocked this one")
	}
	// The sender died: after the lease another takes over.
	now = now.Add(sendLease)
	if c, _ := l.claimSend(ctx, "email.a", "k"); c.busy != 0 || c.sent != "" {
		t.Fatalf("an expired claim was not taken over: %+v", c)
	}
	if err := l.sent(ctx, "email.a", "k", "msg-1"); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.claimSend(ctx, "email.a", "k"); c.sent != "msg-1" {
		t.Fatalf("a sent key: %+v", c)
	}
	// A refused send is released.
	l.claimSend(ctx, "email.a", "refused")
	l.release(ctx, "email.a", "refused")
	if c, _ := l.claimSend(ctx, "email.a", "refused"); c.busy != 0 || c.sent != "" {
		t.Fatalf("a released key: %+v", c)
	}

	// Keys older than the retention are forgotten when the ledger opens.
	now = now.Add(sendRetention + time.Hour)
	l2, err := openLedger(path, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.close()
	if c, _ := l2.claimSend(ctx, "email.a", "k"); c.sent != "" {
		t.Fatal("a key past the retention is still remembered")
	}
}

package loyalty

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Crash rehearses the plugin process failing in the middle of a call: once the work of the
// Nth call of Op is saved in the app, the process exits with status 3 or, with Hang, stops
// answering for good. Musubi must then report the failure clearly and find the object
// by its idempotency key on the next run.
type Crash struct {
	Op   string
	Nth  int64
	Hang bool
	n    atomic.Int64
}

// ParseCrash reads the LOYALTY_FAULT setting: "OP:N:exit" or "OP:N:hang", for example
// "create:3:exit". An empty setting is no crash.
func ParseCrash(s string) (*Crash, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("LOYALTY_FAULT=%s: want OP:N:exit or OP:N:hang", s)
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || n < 1 || (parts[2] != "exit" && parts[2] != "hang") {
		return nil, fmt.Errorf("LOYALTY_FAULT=%s: want OP:N:exit or OP:N:hang with N from 1", s)
	}
	return &Crash{Op: parts[0], Nth: n, Hang: parts[2] == "hang"}, nil
}

func (c *Crash) strike(ctx context.Context, op string) {
	if op != c.Op || c.n.Add(1) != c.Nth {
		return
	}
	if c.Hang {
		slog.Warn(fmt.Sprintf("loyalty: %s %d done; hanging (LOYALTY_FAULT)", op, c.Nth))
		// It never answers, not even once the caller's deadline has passed: answering then
		// raced the caller's own deadline, and now and then won.
		<-ctx.Done()
		select {}
	}
	slog.Error(fmt.Sprintf("loyalty: %s %d done; exiting (LOYALTY_FAULT)", op, c.Nth))
	os.Exit(3)
}

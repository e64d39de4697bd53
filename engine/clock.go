package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/lang"
)

// ManualClock is a clock that moves only when told to: `musubi serve` runs on one when
// MUSUBI_TEST_CLOCK is set, so a script can live through the days of a journey (a delay, a
// wait, a time of day) in seconds. Never for production: nothing outside the engine follows it.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock starts a clock at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now is the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d and returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// handleClock moves a manual clock forward ({"advance": "24h"}) and then runs what came due
// (held actions, then deliveries), so that what a script asks next already sees it.
func (e *Engine) handleClock(c *ManualClock) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		var req struct {
			Advance string `json:"advance"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("want {\"advance\": \"24h\"}: %v", err))
			return
		}
		d, err := lang.ParseDuration(req.Advance)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("advance: want a duration such as \"24h\", got %q", req.Advance))
			return
		}
		now := c.Advance(d)
		if _, err := e.RunDueSteps(r.Context()); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		if !e.opts.DisableDelivery {
			if err := e.DeliverDue(r.Context()); err != nil {
				writeError(w, statusOf(err), err)
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"now": now})
	}
}

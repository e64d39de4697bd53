package engine

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/musubi-hq/musubi/providers"
)

// pacers pace the sends through each provider below its system's rate limit, and hold all of
// them back while the system has asked to wait (a 429 with Retry-After): every message, a
// trigger's or a campaign's, goes through the one pacer of its provider.
type pacers struct {
	mu sync.Mutex
	m  map[string]*pacer
}

// pacer paces one provider.
type pacer struct {
	mu    sync.Mutex
	lim   *rate.Limiter // nil: the provider has no known limit
	until time.Time     // no send before this, after the system asked to wait
}

// get returns the provider's pacer, set to perSecond (0: unpaced).
func (ps *pacers) get(via string, perSecond float64) *pacer {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]*pacer{}
	}
	p := ps.m[via]
	if p == nil {
		p = &pacer{}
		ps.m[via] = p
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case perSecond <= 0:
		p.lim = nil
	case p.lim == nil:
		// A burst of a tenth of a second's worth: a queue of messages starts at once but
		// never runs above the rate for long.
		p.lim = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond/10)))
	case p.lim.Limit() != rate.Limit(perSecond):
		p.lim.SetLimit(rate.Limit(perSecond))
		p.lim.SetBurst(max(1, int(perSecond/10)))
	}
	return p
}

// wait blocks until the provider may take another send.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	until, lim := p.until, p.lim
	p.mu.Unlock()
	if d := time.Until(until); d > 0 {
		if err := providers.Sleep(ctx, d); err != nil {
			return err
		}
	}
	if lim == nil {
		return nil
	}
	return lim.Wait(ctx)
}

// hold stops every send through the provider for d, as its system asked.
func (p *pacer) hold(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := time.Now().Add(d); t.After(p.until) {
		p.until = t
	}
}

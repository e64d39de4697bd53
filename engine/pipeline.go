package engine

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The engine writes in a two-stage pipeline. The processor runs jobs one at a time against
// memory (identity graph, profiles, rules), recording the writes they make; the committer
// writes a group of recorded jobs to the store in one transaction. While one group commits,
// the processor runs the next, so the rules and the disk each keep a core busy. A job is
// acknowledged only once its group has committed, and a group's profiles are encoded when the
// processor hands it over, so what reaches the disk is always the state at a group boundary:
// a crash loses only unacknowledged work, which the sources send again.

// job is work for the processor.
type job struct {
	run func(st *txState) error
	// barrier jobs read the store (the event log, the dead letters): everything before them
	// is committed before they run.
	barrier bool
	// events counts toward a group's size.
	events int
	// release is called once the job's group is committed or has failed.
	release func()
	err     error
	done    chan struct{}
}

// txState is what a job's processing writes through: the recorded writes of its group, and
// the profiles it changed.
type txState struct {
	tx        *pendingTx
	dirty     map[string]*Profile
	deleted   map[string]bool
	delivered bool // new outbox items to deliver
}

func (st *txState) touch(p *Profile) {
	st.dirty[p.ID] = p
	delete(st.deleted, p.ID)
}

// group is the jobs one transaction commits.
type group struct {
	st     *txState
	jobs   []*job
	events int
	// done is closed once the group is committed or has failed.
	done chan struct{}
}

func (e *Engine) newGroup() *group {
	return &group{st: &txState{tx: &pendingTx{codes: e.codes}, dirty: map[string]*Profile{}, deleted: map[string]bool{}},
		done: make(chan struct{})}
}

// submit hands work to the processor and waits until it is committed.
func (e *Engine) submit(ctx context.Context, j *job) error {
	if err := e.enqueue(ctx, j); err != nil {
		return err
	}
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		// The work is queued and will be committed; the caller stops waiting.
		return ctx.Err()
	}
}

// enqueue hands work to the processor; j.done is closed once it is committed or failed.
func (e *Engine) enqueue(ctx context.Context, j *job) error {
	if e.opts.ReadOnly {
		if j.release != nil {
			j.release()
		}
		return ErrReadOnly
	}
	if errp := e.broken.Load(); errp != nil {
		if j.release != nil {
			j.release()
		}
		return ErrBroken
	}
	j.done = make(chan struct{})
	e.closeMu.RLock()
	if e.closed {
		e.closeMu.RUnlock()
		if j.release != nil {
			j.release()
		}
		return ErrClosed
	}
	select {
	case e.jobs <- j:
	case <-ctx.Done():
		e.closeMu.RUnlock()
		if j.release != nil {
			j.release()
		}
		return ctx.Err()
	}
	e.closeMu.RUnlock()
	return nil
}

// submitTx runs an administrative change (unmerge, forget, retry) after everything before it
// is committed, and waits until it is committed too.
func (e *Engine) submitTx(ctx context.Context, run func(st *txState) error) error {
	return e.submit(ctx, &job{run: run, barrier: true})
}

// processor runs jobs into groups and hands each group to the committer as soon as the
// committer is free, or when the group is full.
func (e *Engine) processor(commits chan<- *group) {
	defer close(commits)
	cur := e.newGroup()
	var last *group // the group handed over last: the committer has at most this one
	handOver := func() {
		commits <- cur
		last, cur = cur, e.newGroup()
	}
	run := func(j *job) {
		if j.barrier {
			if len(cur.jobs) > 0 {
				handOver()
			}
			if last != nil {
				<-last.done
			}
		}
		if e.broken.Load() != nil {
			j.err = ErrBroken
			if j.release != nil {
				j.release()
			}
			close(j.done)
			return
		}
		mark := len(cur.st.tx.ops)
		j.err = j.run(cur.st)
		if j.err == nil {
			j.err = e.seal(cur.st)
		}
		if j.err != nil {
			// A refused job writes nothing; its memory changes, if any, were checks only.
			cur.st.tx.ops = cur.st.tx.ops[:mark]
			clear(cur.st.dirty)
			clear(cur.st.deleted)
			if !isInputError(j.err) {
				e.fail(fmt.Errorf("processing: %w", j.err))
			}
		}
		cur.jobs = append(cur.jobs, j)
		cur.events += max(j.events, 1)
		if cur.events >= e.opts.MaxBatch {
			handOver()
		}
	}
	for {
		if len(cur.jobs) == 0 {
			j, ok := <-e.jobs
			if !ok {
				return
			}
			run(j)
			continue
		}
		select {
		case commits <- cur:
			last, cur = cur, e.newGroup()
		case j, ok := <-e.jobs:
			if !ok {
				handOver()
				return
			}
			run(j)
		}
	}
}

// seal records the profiles a job changed as they are at the job's end: the next job may
// change them again, and the committer must write each group's state, not a later one. It
// encodes them then and there: the store's encoding is about half the work of copying a
// profile and makes one allocation, not dozens. Only the processor changes profiles, so it
// reads them unlocked.
func (e *Engine) seal(st *txState) error {
	for id := range st.deleted {
		st.tx.DeleteProfile(id)
	}
	for id, p := range st.dirty {
		body, err := appendProfile(nil, p)
		if err != nil {
			return fmt.Errorf("encoding profile %s: %w", id, err)
		}
		st.tx.PutProfile(id, body)
	}
	clear(st.dirty)
	clear(st.deleted)
	return nil
}

// committer writes each group in one transaction and then acknowledges its jobs.
func (e *Engine) committer(ctx context.Context, commits <-chan *group) {
	defer e.wg.Done()
	for g := range commits {
		start := time.Now()
		var err error
		if e.broken.Load() != nil {
			err = ErrBroken
		} else if len(g.st.tx.ops) > 0 {
			err = e.store.Update(ctx, func(tx Tx) error {
				for _, op := range g.st.tx.ops {
					if err := op(tx); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				e.fail(err)
			}
		}
		for _, j := range g.jobs {
			if err != nil && (j.err == nil || isInputError(j.err)) {
				j.err = fmt.Errorf("%w: %v", ErrBroken, err)
			}
			if j.release != nil {
				j.release()
			}
			close(j.done)
		}
		close(g.done)
		e.metrics.commitSeconds.Observe(time.Since(start).Seconds())
		e.metrics.customers.Set(float64(e.graph.Len()))
		if g.st.delivered && err == nil {
			e.kickDelivery()
		}
	}
}

// Broken says why the engine stopped taking work, or nil while it runs: a store write failed
// and memory may be ahead of the store.
func (e *Engine) Broken() error {
	if errp := e.broken.Load(); errp != nil {
		return fmt.Errorf("%w (%v)", ErrBroken, *errp)
	}
	return nil
}

// fail marks the engine broken: memory may be ahead of the store, so it refuses further work
// until it is restarted and rebuilds from the store.
func (e *Engine) fail(err error) {
	if e.broken.CompareAndSwap(nil, &err) {
		e.log.Error("the engine failed; refusing further work until restarted, which rebuilds it from the store", "err", err)
	}
}

// pendingTx records a group's writes for the committer to replay in one transaction. What
// processing needs to know of the store it learns without reading it: duplicates were
// settled before the job ran (see Engine.claim), code numbers come from the engine's counters.
type pendingTx struct {
	ops   []func(Tx) error
	codes *codeCounters
}

func (t *pendingTx) record(op func(Tx) error) { t.ops = append(t.ops, op) }

// InsertEvent records the event; duplicates never reach it.
func (t *pendingTx) InsertEvent(key, customer, typ string, at time.Time, body []byte) {
	t.record(func(tx Tx) error { return tx.InsertEvent(key, customer, typ, at, body) })
}

func (t *pendingTx) AppendIdentity(rec []byte) {
	t.record(func(tx Tx) error { return tx.AppendIdentity(rec) })
}

// PutProfile records the customer's profile as sealed (encoded) at the end of a job.
func (t *pendingTx) PutProfile(customer string, body []byte) {
	t.record(func(tx Tx) error { return tx.PutProfile(customer, body) })
}

func (t *pendingTx) DeleteProfile(customer string) {
	t.record(func(tx Tx) error { return tx.DeleteProfile(customer) })
}

func (t *pendingTx) EnqueueOutbox(it *OutboxItem) {
	item := *it
	t.record(func(tx Tx) error { return tx.EnqueueOutbox(&item) })
}

func (t *pendingTx) UpdateOutbox(it *OutboxItem) {
	item := *it
	t.record(func(tx Tx) error { return tx.UpdateOutbox(&item) })
}

func (t *pendingTx) Forget(customers []string) {
	t.record(func(tx Tx) error { return tx.Forget(customers) })
}

func (t *pendingTx) MoveEvents(keys []string, customer string) {
	t.record(func(tx Tx) error { return tx.MoveEvents(keys, customer) })
}

// AllocateCode gives customer the campaign's next code under key, at at.
func (t *pendingTx) AllocateCode(campaign string, size int, customer, key string, at time.Time) (int, bool) {
	idx, fresh, full := t.codes.take(campaign, size, customer, key, at)
	if fresh {
		t.record(func(tx Tx) error { return tx.AssignCode(campaign, idx, customer, key, at) })
	}
	return idx, full
}

// codeCounters hands out code numbers: each campaign's next unused index, loaded from the
// store at start, the index each idempotency key got, and whom each code went to.
type codeCounters struct {
	mu     sync.Mutex
	issued map[string]int // codes given out, by campaign: the next free index
	byKey  map[string]int
	owners map[string][]string // by campaign, by index: whom a redeemed code was issued to
	// given is when each code was given, by campaign, by index (Unix milliseconds): a code
	// good for some time from then (valid_for) is known to have expired when redeemed later.
	given map[string][]int64
}

// take returns key's code index for campaign: the one it got before, or the next free one
// (fresh), which is customer's. full reports that all size codes are taken.
func (c *codeCounters) take(campaign string, size int, customer, key string, at time.Time) (idx int, fresh, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.byKey[key]; ok {
		return i, false, false
	}
	i := c.issued[campaign]
	if i >= size {
		return 0, false, true
	}
	c.issued[campaign] = i + 1
	c.byKey[key] = i
	c.own(campaign, i, customer, at)
	return i, true, false
}

package planner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// ApplyOptions steer an apply.
type ApplyOptions struct {
	Parallelism int
	ToolVersion string
	Git         *states.GitInfo
	// Outputs are recorded in the state as the configuration's outputs (see Outputs); nil
	// records none, as after a destroy.
	Outputs map[string]*states.Output
	// Progress, when set, hears about every change as it starts and ends. It may be called
	// from several goroutines at once.
	Progress func(Event)
}

// Event reports the progress of one change.
type Event struct {
	Change  *plans.Change
	Done    bool
	ID      string
	Err     error
	Elapsed time.Duration
}

// ApplyError lists the changes that failed; everything else that ran is in the state.
type ApplyError struct {
	Failed []FailedChange
	// Skipped counts changes not started because of the failure.
	Skipped int
}

// FailedChange is one change that failed.
type FailedChange struct {
	Address addrs.Instance
	Action  plans.Action
	Err     error
}

func (e *ApplyError) Error() string {
	msg := ""
	for i, f := range e.Failed {
		if i > 0 {
			msg += "\n"
		}
		// Providers name the failed call in their own summary ("update failed: ..."): say it once.
		failed := fmt.Sprintf("%s failed: ", f.Action)
		msg += f.Address.String() + ": " + failed + strings.TrimPrefix(f.Err.Error(), failed)
	}
	if e.Skipped > 0 {
		msg += fmt.Sprintf("\n%d other change(s) were not started; everything done so far is saved in the state. Run plan again to see what is left.", e.Skipped)
	}
	return msg
}

// Apply carries out a plan's changes in dependency order, at most Parallelism at a time, and
// records each step in the backend's journal as it happens: an intent with its idempotency key
// before every create, the result after. It stops starting new changes at the first failure,
// waits for the running ones, and always writes the state it reached.
func Apply(ctx context.Context, p *plans.Plan, host *Host, backend states.Backend, opts ApplyOptions) (*states.State, error) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	// A saved plan is checked too: the environment may point a provider elsewhere since.
	if diags := checkAccounts(p.Prior, host, nil); diags.HasErrors() {
		return nil, diags
	}
	st := states.NewSync(p.Prior.Clone())
	journal, err := backend.Journal(ctx, p.Prior)
	if err != nil {
		return nil, err
	}
	a := &applier{host: host, st: st, journal: journal, opts: opts}
	walkErr := a.walk(ctx, p.Changes)
	if err := journal.Close(); err != nil && walkErr == nil {
		walkErr = err
	}
	final := st.Snapshot() // at the prior's serial
	final.Advance(opts.ToolVersion)
	final.Git = opts.Git
	final.Outputs = opts.Outputs
	recordAccounts(final, host)
	if err := backend.Write(context.WithoutCancel(ctx), final); err != nil {
		return final, errors.Join(walkErr, fmt.Errorf("writing the state: %w (every step is kept in the journal and will be recovered by the next command)", err))
	}
	return final, walkErr
}

type applier struct {
	host    *Host
	st      *states.Sync
	journal states.Journal
	opts    ApplyOptions
}

// node is a change in the apply graph.
type node struct {
	c       *plans.Change
	after   []*node // nodes waiting for this one
	pending int     // unfinished nodes this one waits for
}

// buildGraph orders the changes: a resource is created or updated after what it refers to,
// and deleted before what it referred to.
func buildGraph(changes []*plans.Change) []*node {
	nodes := map[addrs.Instance]*node{}
	var order []*node
	for _, c := range changes {
		if c.Action == plans.NoOp || c.Action == plans.Read {
			continue
		}
		n := &node{c: c}
		nodes[c.Address] = n
		order = append(order, n)
	}
	edge := func(from, to *node) {
		from.after = append(from.after, to)
		to.pending++
	}
	for _, n := range order {
		for _, dep := range n.c.Dependencies {
			d := nodes[dep]
			if d == nil {
				continue
			}
			switch {
			case n.c.Action == plans.Delete && d.c.Action == plans.Delete:
				edge(n, d) // delete the dependent first
			case n.c.Action != plans.Delete && d.c.Action != plans.Delete:
				edge(d, n) // create or change the dependency first
			}
		}
	}
	return order
}

func (a *applier) walk(ctx context.Context, changes []*plans.Change) error {
	nodes := buildGraph(changes)
	if len(nodes) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		failed  []FailedChange
		started int
		wg      sync.WaitGroup
		sem     = make(chan struct{}, a.opts.Parallelism)
		ready   = make(chan *node, len(nodes))
	)
	for _, n := range nodes {
		if n.pending == 0 {
			ready <- n
		}
	}
	remaining := len(nodes)
	done := make(chan *node)
	// finish releases the nodes waiting for n; after a failure they are released without
	// running, so the walk drains.
	finish := func(n *node) {
		remaining--
		for _, next := range n.after {
			next.pending--
			if next.pending == 0 {
				ready <- next
			}
		}
	}
	for remaining > 0 {
		select {
		case n := <-ready:
			// Take a slot first: a change that fails while this one waits for a slot must
			// still stop it.
			sem <- struct{}{}
			mu.Lock()
			stop := len(failed) > 0
			mu.Unlock()
			if stop || ctx.Err() != nil {
				<-sem
				finish(n)
				continue
			}
			started++
			wg.Add(1)
			go func(n *node) {
				defer wg.Done()
				if err := a.run(ctx, n.c); err != nil {
					mu.Lock()
					failed = append(failed, FailedChange{Address: n.c.Address, Action: n.c.Action, Err: err})
					mu.Unlock()
				}
				<-sem // before reporting, so the loop never waits on a slot held by a finished change
				done <- n
			}(n)
		case n := <-done:
			finish(n)
		}
	}
	wg.Wait()
	if len(failed) > 0 {
		slices.SortFunc(failed, func(a, b FailedChange) int { return addrs.Compare(a.Address, b.Address) })
		return &ApplyError{Failed: failed, Skipped: len(nodes) - started}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// run carries out one change.
func (a *applier) run(ctx context.Context, c *plans.Change) error {
	hp, ok := a.host.get(c.Provider.String())
	if !ok {
		return fmt.Errorf("provider.%s is not configured", c.Provider)
	}
	start := time.Now()
	a.progress(Event{Change: c})
	var id string
	var err error
	switch c.Action {
	case plans.Create:
		id, err = a.create(ctx, hp, c, c.IdempotencyKey)
	case plans.Update:
		id, err = a.update(ctx, hp, c)
	case plans.Delete:
		err = a.delete(ctx, hp, c)
	case plans.Replace:
		if err = a.delete(ctx, hp, c); err == nil {
			id, err = a.create(ctx, hp, c, c.IdempotencyKey)
		}
	default:
		err = fmt.Errorf("unknown action %q", c.Action)
	}
	a.progress(Event{Change: c, Done: true, ID: id, Err: err, Elapsed: time.Since(start)})
	return err
}

func (a *applier) progress(e Event) {
	if a.opts.Progress != nil {
		a.opts.Progress(e)
	}
}

func (a *applier) refs(c *plans.Change) (map[string]string, error) {
	if len(c.Refs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(c.Refs))
	for attr, addr := range c.Refs {
		r := a.st.Find(addr)
		if r == nil || r.ID == "" {
			return nil, fmt.Errorf("%s needs %s, which does not exist", attr, addr)
		}
		out[attr] = r.ID
	}
	return out, nil
}

// stored is what the state keeps of a resource: the planned attributes, overlaid with what
// the system reports for the attributes it manages, without write-only ones.
func stored(hp *hosted, c *plans.Change, live providers.Attrs) providers.Attrs {
	if live == nil {
		return visibleStored(c.Kind, c.After)
	}
	return mergeLive(c.Kind, hp, c.After, live)
}

func visibleStored(k providers.Kind, a providers.Attrs) providers.Attrs {
	ks, err := providers.SchemaOf(k)
	if err != nil {
		return a
	}
	out := a.Clone()
	for _, at := range ks.Attributes {
		if at.WriteOnly {
			delete(out, at.Name)
		}
	}
	return out
}

func (a *applier) record(r *states.Resource) error {
	a.st.Put(r)
	return a.journal.Put(r)
}

func (a *applier) create(ctx context.Context, hp *hosted, c *plans.Change, key string) (string, error) {
	refs, err := a.refs(c)
	if err != nil {
		return "", err
	}
	// The intent goes to the journal before the call: if the process dies while the system
	// creates the object, the next command finds it by this key instead of making another.
	intent := &states.Resource{Address: c.Address, Kind: c.Kind, Provider: c.Provider,
		Attributes: visibleStored(c.Kind, c.After), Dependencies: c.Dependencies,
		Pending: &states.Pending{IdempotencyKey: key, Since: time.Now().UTC().Truncate(time.Second)}}
	if err := a.record(intent); err != nil {
		return "", err
	}
	resp := hp.p.Create(ctx, providers.CreateRequest{Kind: c.Kind, Attributes: c.After, IdempotencyKey: key, Refs: refs})
	if err := resp.Diagnostics.Err(); err != nil {
		if surelyNotDone(err) {
			a.st.Remove(c.Address)
			if jerr := a.journal.Remove(c.Address); jerr != nil {
				return "", errors.Join(err, jerr)
			}
		}
		return "", err
	}
	if resp.ID == "" {
		return "", fmt.Errorf("provider.%s returned no ID for the new %s", c.Provider, c.Kind)
	}
	r := &states.Resource{Address: c.Address, Kind: c.Kind, Provider: c.Provider, ID: resp.ID,
		Attributes: stored(hp, c, resp.Attributes), Dependencies: c.Dependencies}
	return resp.ID, a.record(r)
}

// surelyNotDone tells a refusal (invalid values, a conflict, no permission, a limit) from
// a failure whose outcome is unknown (a 5xx or a timeout): only the latter keeps the intent, so
// the next refresh looks the object up by its idempotency key, or tells a half-done update or
// delete from an edit made outside Musubi.
func surelyNotDone(err error) bool {
	switch providers.CodeOf(err) {
	case providers.ErrInvalid, providers.ErrConflict, providers.ErrAuth, providers.ErrQuota, providers.ErrRateLimited:
		return true
	}
	return false
}

func (a *applier) update(ctx context.Context, hp *hosted, c *plans.Change) (string, error) {
	refs, err := a.refs(c)
	if err != nil {
		return "", err
	}
	undo, err := a.intend(c, states.PendingUpdate)
	if err != nil {
		return "", err
	}
	resp := hp.p.Update(ctx, providers.UpdateRequest{Kind: c.Kind, ID: c.ID, Prior: c.Before, Planned: c.After, Refs: refs})
	if err := resp.Diagnostics.Err(); err != nil {
		return "", undo(err)
	}
	r := &states.Resource{Address: c.Address, Kind: c.Kind, Provider: c.Provider, ID: c.ID,
		Attributes: stored(hp, c, resp.Attributes), Dependencies: c.Dependencies}
	return c.ID, a.record(r)
}

func (a *applier) delete(ctx context.Context, hp *hosted, c *plans.Change) error {
	if c.ID != "" {
		undo, err := a.intend(c, states.PendingDelete)
		if err != nil {
			return err
		}
		resp := hp.p.Delete(ctx, providers.DeleteRequest{Kind: c.Kind, ID: c.ID, Prior: c.Before})
		if err := resp.Diagnostics.Err(); err != nil {
			return undo(err)
		}
	}
	a.st.Remove(c.Address)
	return a.journal.Remove(c.Address)
}

// intend journals an update or delete before the call, as create does its intent: if the
// process dies meanwhile, the next plan shows what the system holds as Musubi's own change
// cut short, not as an edit made outside it. The returned func takes the call's error and
// withdraws the intent when the system surely did nothing.
func (a *applier) intend(c *plans.Change, action string) (func(error) error, error) {
	prior := a.st.Find(c.Address)
	if prior == nil {
		return func(err error) error { return err }, nil
	}
	intent := prior.Clone()
	intent.Pending = &states.Pending{Action: action, Since: time.Now().UTC().Truncate(time.Second)}
	if err := a.record(intent); err != nil {
		return nil, err
	}
	return func(err error) error {
		if surelyNotDone(err) {
			if jerr := a.record(prior); jerr != nil {
				return errors.Join(err, jerr)
			}
		}
		return err
	}, nil
}

// Package partition simulates Musubi's rules engine split across several writers, each
// owning the customers whose Uni-IDs hash to it, to put numbers on the design in
// docs/scaling.md. It is a model, not a server: partitions are goroutines in one process,
// each with its own identity graph (the engine's real identity.Graph) and a map of simplified
// profiles (counters, a spend total, pending steps) standing in for the engine's profiles,
// traits, segments and triggers; Config.Work burns a fixed amount of CPU per event to stand
// for the rules.
//
// A router sends each event to the partition that holds its identifiers, using a global
// index: every identifier it has seen belongs to a group (the identifiers seen together, so
// one customer), and each group to a partition. An event whose identifiers belong to groups in
// two partitions merges two customers across them: the router sends it to the partition of its
// highest-priority identifier (the survivor's, as the identity graph picks survivors), asks
// each other partition to release the customers holding the rest, and from then on sends
// everything for the joined group to the target, marked as waiting for the handoff. A release
// is the first phase of a handoff: the releasing partition runs what it was sent before, then
// exports the customers (identifiers, profile, pending steps), removes them from its graph
// and sends them to the target. The target holds back the merging event, and everything marked
// as waiting for it, until every release has arrived; then it adopts the customers (the second
// phase), runs the event, which merges them in its own graph, and then what it held back.
// A message only ever waits for handoffs the router decided before it, so waits never form a
// cycle, and the router's view of where a customer is is exact: nothing is forwarded.
package partition

import (
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
)

// Config shapes a cluster.
type Config struct {
	Partitions int
	// Work is the CPU time an event's rules take, burnt in a calibrated loop (0: none).
	Work time.Duration
	// Batch is how many events the router hands a partition at once (default 64).
	Batch int
	// Queue bounds the router's messages waiting at a partition (default 8): a release waits
	// behind up to Queue×Batch events of the releasing partition.
	Queue int
}

// Stats is what a run did.
type Stats struct {
	Events   int
	Elapsed  time.Duration
	Cross    int // events touching customers in more than one partition: handoffs
	Moved    int // customers moved between partitions
	MovedIDs int // identifiers moved with them
	Held     int // messages held back behind a handoff not yet complete
	Unknown  int // identifiers a release did not find where the router sent it (must be 0)
	Handoffs int // handoffs completed
	// HandoffCPU is the CPU the handoffs cost the partitions: exporting and removing
	// customers, adopting them.
	HandoffCPU time.Duration
	// HandoffWait is the time from the router's decision to the merging event running at its
	// target, summed over handoffs: the releasing partitions' queues plus the hops.
	HandoffWait    time.Duration
	HandoffWaitMax time.Duration
	RouterCPU      time.Duration   // the router's CPU time
	PartitionCPU   []time.Duration // each partition's CPU time
}

// EventsPerSecond is the run's rate.
func (s Stats) EventsPerSecond() float64 { return float64(s.Events) / s.Elapsed.Seconds() }

// CrossFraction is the fraction of events that needed a handoff.
func (s Stats) CrossFraction() float64 { return float64(s.Cross) / float64(s.Events) }

// HandoffMicros is the CPU a handoff costs its partitions (release and adoption), in µs.
func (s Stats) HandoffMicros() float64 {
	if s.Handoffs == 0 {
		return 0
	}
	return float64(s.HandoffCPU.Nanoseconds()) / 1000 / float64(s.Handoffs)
}

// Cluster is N partitions and a router.
type Cluster struct {
	cfg   Config
	parts []*part
	seed  maphash.Seed
	rank  map[string]int

	// The router's index: every identifier seen belongs to a group, the identifiers seen
	// together (a customer, as there are no limits), kept as a union-find; the group's root
	// knows its partition and the handoffs it may still be waiting for.
	index  map[uint64]uint32 // hash of an identifier → node
	parent []uint32
	place  []uint16   // at a root: its partition
	waits  [][]uint64 // at a root: handoffs not known to be complete
	open   map[uint64]bool
	batch  [][]*msg
	mids   uint64
	feedMu sync.Mutex
	feed   []uint64 // handoffs completed, reported by partitions
	feedN  atomic.Int32

	inflight sync.WaitGroup
	exited   sync.WaitGroup
	stats    Stats
	statsMu  sync.Mutex
	iters    int // work loop iterations per event
}

// New makes a cluster and imports the customer base, each record into the partition its
// highest-priority identifier hashes to.
func New(cfg Config, base [][]identity.ID) (*Cluster, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 8
	}
	c := &Cluster{cfg: cfg, seed: maphash.MakeSeed(), rank: map[string]int{}, index: make(map[uint64]uint32, 3*len(base)),
		open: map[uint64]bool{}, batch: make([][]*msg, cfg.Partitions), iters: calibrate(cfg.Work)}
	for i, t := range Rules.Priority {
		c.rank[t] = i
	}
	recs := make([][][]identity.ID, cfg.Partitions)
	for _, r := range base {
		p := c.home(r)
		recs[p] = append(recs[p], r)
		n := c.node(p)
		for _, id := range r {
			c.index[c.hash(id)] = n
		}
	}
	for i := range cfg.Partitions {
		g, err := identity.New(Rules)
		if err != nil {
			return nil, err
		}
		if _, err := g.ResolveBatch(recs[i], time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			return nil, err
		}
		p := &part{c: c, n: i, g: g, profiles: map[string]*profile{}, pending: map[uint64]*pending{},
			early: map[uint64][]*pkg{}, waiting: map[uint64][]*msg{}}
		p.cond = sync.NewCond(&p.mu)
		c.parts = append(c.parts, p)
	}
	c.stats.PartitionCPU = make([]time.Duration, cfg.Partitions)
	return c, nil
}

func (c *Cluster) hash(id identity.ID) uint64 {
	return maphash.String(c.seed, id.Type) ^ maphash.String(c.seed, id.Value)*0x9e3779b97f4a7c15
}

func (c *Cluster) node(p int) uint32 {
	n := uint32(len(c.parent))
	c.parent = append(c.parent, n)
	c.place = append(c.place, uint16(p))
	c.waits = append(c.waits, nil)
	return n
}

func (c *Cluster) find(n uint32) uint32 {
	for c.parent[n] != n {
		c.parent[n] = c.parent[c.parent[n]]
		n = c.parent[n]
	}
	return n
}

// pendingWaits drops completed handoffs from a root's list and returns what is left.
func (c *Cluster) pendingWaits(r uint32) []uint64 {
	w := c.waits[r][:0]
	for _, m := range c.waits[r] {
		if c.open[m] {
			w = append(w, m)
		}
	}
	c.waits[r] = w
	return w
}

// first is the index of the highest-priority identifier: the one a new customer's Uni-ID is
// made from, and whose customer survives a merge.
func (c *Cluster) first(ids []identity.ID) int {
	best := 0
	for i, id := range ids {
		if c.rank[id.Type] < c.rank[ids[best].Type] {
			best = i
		}
	}
	return best
}

// home is the partition of a new customer: the hash of the identifier its Uni-ID is made
// from, so of the Uni-ID itself.
func (c *Cluster) home(ids []identity.ID) int {
	id := ids[c.first(ids)]
	return int(maphash.String(c.seed, id.Type+"\x00"+id.Value) % uint64(c.cfg.Partitions))
}

// Run sends the events through the router and returns when every partition has finished
// with them. A cluster runs once.
func (c *Cluster) Run(evs []Event) Stats {
	for _, p := range c.parts {
		c.exited.Add(1)
		go p.loop()
	}
	runtime.LockOSThread()
	start, cpu0 := time.Now(), threadCPU()
	for i := range evs {
		c.route(evs[i])
	}
	for p := range c.batch {
		c.flush(p)
	}
	c.stats.RouterCPU = threadCPU() - cpu0
	runtime.UnlockOSThread()
	c.inflight.Wait()
	c.stats.Elapsed = time.Since(start)
	for _, p := range c.parts {
		p.stop()
	}
	c.exited.Wait()
	c.stats.Events += len(evs)
	return c.stats
}

// route sends one event on its way. It returns the time spent waiting for room in a queue.
func (c *Cluster) route(ev Event) time.Duration {
	if c.feedN.Load() > 0 {
		c.applyFeed()
	}
	var rbuf [4]uint32
	roots := rbuf[:0]
	target, best := -1, 1<<30
	var survivor uint32
	for _, id := range ev.IDs {
		n, ok := c.index[c.hash(id)]
		if !ok {
			continue
		}
		r := c.find(n)
		if !slices.Contains(roots, r) {
			roots = append(roots, r)
		}
		if p, rk := int(c.place[r]), c.rank[id.Type]; rk < best || rk == best && p < target {
			target, best, survivor = p, rk, r
		}
	}
	if len(roots) == 0 {
		p := c.home(ev.IDs)
		n := c.node(p)
		for _, id := range ev.IDs {
			c.index[c.hash(id)] = n
		}
		return c.add(p, &msg{kind: mCross, ev: ev})
	}
	cross := false
	var waits []uint64
	for _, r := range roots {
		if int(c.place[r]) != target {
			cross = true
		} else {
			waits = append(waits, c.pendingWaits(r)...)
		}
	}
	for _, id := range ev.IDs {
		if _, ok := c.index[c.hash(id)]; !ok {
			c.index[c.hash(id)] = survivor
		}
	}
	if !cross {
		for _, r := range roots {
			if r != survivor {
				c.parent[r] = survivor
				c.waits[survivor] = append(c.waits[survivor], c.pendingWaits(r)...)
			}
		}
		return c.add(target, &msg{kind: mCross, ev: ev, waits: waits})
	}
	// A merge across partitions. The event goes to the target first, then the releases, so
	// that at every partition what the router sent before comes first.
	c.stats.Cross++
	c.mids++
	mid := c.mids
	c.open[mid] = true
	var wait time.Duration
	wait += c.flush(target)
	var others []int
	for _, r := range roots {
		if q := int(c.place[r]); q != target && !slices.Contains(others, q) {
			others = append(others, q)
		}
	}
	wait += c.send(target, &msg{kind: mCross, ev: ev, mid: mid, want: len(others), waits: waits, sent: time.Now()}, true)
	for _, q := range others {
		m := &msg{kind: mRelease, mid: mid, to: target}
		for _, id := range ev.IDs {
			if n, ok := c.index[c.hash(id)]; ok {
				if r := c.find(n); int(c.place[r]) == q {
					m.ids = append(m.ids, id)
					m.waits = append(m.waits, c.pendingWaits(r)...)
				}
			}
		}
		wait += c.flush(q)
		wait += c.send(q, m, true)
	}
	for _, r := range roots {
		if r != survivor {
			c.parent[r] = survivor
		}
	}
	c.place[survivor] = uint16(target)
	c.waits[survivor] = append(c.waits[survivor][:0], mid)
	return wait
}

// add puts an event into the partition's next batch.
func (c *Cluster) add(p int, m *msg) time.Duration {
	c.batch[p] = append(c.batch[p], m)
	if len(c.batch[p]) >= c.cfg.Batch {
		return c.flush(p)
	}
	return 0
}

func (c *Cluster) flush(p int) time.Duration {
	if len(c.batch[p]) == 0 {
		return 0
	}
	b := c.batch[p]
	c.batch[p] = make([]*msg, 0, c.cfg.Batch)
	return c.send(p, &msg{kind: mEvents, batch: b}, true)
}

// send queues m at partition p; from the router, it first waits for room.
func (c *Cluster) send(p int, m *msg, fromRouter bool) time.Duration {
	c.inflight.Add(1)
	return c.parts[p].put(m, fromRouter)
}

func (c *Cluster) done(mid uint64) {
	c.feedMu.Lock()
	c.feed = append(c.feed, mid)
	c.feedN.Store(int32(len(c.feed)))
	c.feedMu.Unlock()
}

// applyFeed forgets the handoffs partitions have completed: events need not wait for them.
func (c *Cluster) applyFeed() {
	c.feedMu.Lock()
	feed := c.feed
	c.feed = nil
	c.feedN.Store(0)
	c.feedMu.Unlock()
	for _, m := range feed {
		delete(c.open, m)
	}
}

func (c *Cluster) addStats(f func(s *Stats)) {
	c.statsMu.Lock()
	f(&c.stats)
	c.statsMu.Unlock()
}

// Place is where an identifier lives after a run.
type Place struct {
	Partition int
	Customer  string
}

// Locate returns every partition holding an identifier, with its customer there.
func (c *Cluster) Locate(id identity.ID) []Place {
	var out []Place
	for _, p := range c.parts {
		if cu, ok := p.g.Lookup(id); ok {
			out = append(out, Place{p.n, cu})
		}
	}
	return out
}

// Profile returns the events and spend a customer's profile holds, and its pending steps.
func (c *Cluster) Profile(pl Place) (events, spend int64, steps int, ok bool) {
	pr, ok := c.parts[pl.Partition].profiles[pl.Customer]
	if !ok {
		return 0, 0, 0, false
	}
	return pr.events, pr.spend, len(pr.steps), true
}

// Profiles calls f for every profile: its partition, customer and identifiers.
func (c *Cluster) Profiles(f func(pl Place, ids []identity.ID)) {
	for _, p := range c.parts {
		for cu := range p.profiles {
			f(Place{p.n, cu}, p.g.Identifiers(cu))
		}
	}
}

// Customers returns the live customers of every partition.
func (c *Cluster) Customers() int {
	n := 0
	for _, p := range c.parts {
		n += p.g.Len()
	}
	return n
}

func (c *Cluster) String() string { return fmt.Sprintf("cluster of %d partitions", len(c.parts)) }

package partition

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/musubi-hq/musubi/engine/identity"
)

type msgKind uint8

const (
	mEvents  msgKind = iota // a batch of events (each an mCross without mid)
	mCross                  // one event; with a mid, the target of a handoff, to run once its releases have arrived (want)
	mRelease                // release the customers holding ids to partition to
	mPackage                // released customers arriving
)

type msg struct {
	kind   msgKind
	router bool // sent by the router, so counted against the queue bound
	batch  []*msg
	ev     Event
	mid    uint64   // the handoff
	want   int      // mCross: packages to wait for
	waits  []uint64 // handoffs this message must come after
	ids    []identity.ID
	to     int
	pkg    *pkg
	sent   time.Time // mCross: when the router decided
}

// pkg is the first phase of a handoff: customers released for handoff mid.
type pkg struct {
	mid   uint64
	custs []exported
	cpu   time.Duration // what releasing took
}

type exported struct {
	ids  []identity.ID
	prof *profile
}

// profile stands in for the engine's Profile: what a handoff must carry and a merge fold.
type profile struct {
	events, spend int64
	steps         []step // pending actions (held steps, the outbox), moved with the customer
}

type step struct {
	due     int64
	trigger uint16
}

func (p *profile) add(o *profile) {
	p.events += o.events
	p.spend += o.spend
	p.steps = append(p.steps, o.steps...)
}

// pending is a handoff waiting at its target for the customers other partitions release.
type pending struct {
	ev        Event
	mid       uint64
	want, got int
	pkgs      []*pkg
	sent      time.Time
}

type part struct {
	c        *Cluster
	n        int
	g        *identity.Graph
	profiles map[string]*profile

	pending map[uint64]*pending
	early   map[uint64][]*pkg // packages of handoffs whose event is itself still held back
	// waiting are the handoffs this partition is the target of and has not completed, each
	// with the messages held back until it is, in the order they came.
	waiting map[uint64][]*msg

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []*msg
	fromRouter int
	done       bool
}

// put queues a message; the router waits while the partition has Queue of its messages.
func (p *part) put(m *msg, fromRouter bool) time.Duration {
	var wait time.Duration
	p.mu.Lock()
	if fromRouter {
		if p.fromRouter >= p.c.cfg.Queue {
			start := time.Now()
			for p.fromRouter >= p.c.cfg.Queue {
				p.cond.Wait()
			}
			wait = time.Since(start)
		}
		m.router = true
		p.fromRouter++
	}
	p.queue = append(p.queue, m)
	p.cond.Broadcast()
	p.mu.Unlock()
	return wait
}

func (p *part) stop() {
	p.mu.Lock()
	p.done = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *part) loop() {
	// The partition keeps its thread, so that the thread's CPU time is the partition's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.done {
			p.cond.Wait()
		}
		if len(p.queue) == 0 {
			p.mu.Unlock()
			cpu := threadCPU() - cpu0
			p.c.addStats(func(s *Stats) { s.PartitionCPU[p.n] += cpu })
			p.c.exited.Done()
			return
		}
		q := p.queue
		p.queue = nil
		for _, m := range q {
			if m.router {
				p.fromRouter--
			}
		}
		p.cond.Broadcast()
		p.mu.Unlock()
		for _, m := range q {
			p.handle(m)
		}
	}
}

func (p *part) handle(m *msg) {
	switch m.kind {
	case mEvents:
		for _, e := range m.batch {
			if b := p.blocker(e); b != 0 {
				p.c.inflight.Add(1)
				p.hold(b, e)
				continue
			}
			p.process(e.ev)
		}
		p.c.inflight.Done()
	case mPackage:
		p.arrive(m.pkg)
		p.c.inflight.Done()
	default:
		if m.kind == mCross && m.mid != 0 {
			if _, ok := p.waiting[m.mid]; !ok {
				p.waiting[m.mid] = nil
			}
		}
		p.admit(m)
	}
}

// blocker is a handoff the message must wait for, 0 when none.
func (p *part) blocker(m *msg) uint64 {
	for _, w := range m.waits {
		if _, ok := p.waiting[w]; ok {
			return w
		}
	}
	return 0
}

func (p *part) hold(b uint64, m *msg) {
	p.waiting[b] = append(p.waiting[b], m)
	p.c.addStats(func(s *Stats) { s.Held++ })
}

// admit runs a message, or holds it back behind a handoff it must wait for.
func (p *part) admit(m *msg) {
	if b := p.blocker(m); b != 0 {
		p.hold(b, m)
		return
	}
	switch {
	case m.kind == mRelease:
		p.release(m)
		p.c.inflight.Done()
	case m.mid == 0:
		p.process(m.ev)
		p.c.inflight.Done()
	default:
		pd := &pending{ev: m.ev, mid: m.mid, want: m.want, sent: m.sent}
		p.pending[m.mid] = pd
		for _, e := range p.early[m.mid] {
			p.add(pd, e)
		}
		delete(p.early, m.mid)
		if pd.got == pd.want {
			p.complete(pd)
		}
	}
}

func (p *part) add(pd *pending, pk *pkg) {
	pd.pkgs = append(pd.pkgs, pk)
	pd.got++
}

// arrive takes a package into its handoff, or keeps it until the handoff's event runs.
func (p *part) arrive(pk *pkg) {
	pd, ok := p.pending[pk.mid]
	if !ok {
		p.early[pk.mid] = append(p.early[pk.mid], pk)
		return
	}
	p.add(pd, pk)
	if pd.got == pd.want {
		p.complete(pd)
	}
}

// complete is the second phase: the released customers are adopted, the event that merges
// them runs, then what waited for it.
func (p *part) complete(pd *pending) {
	start := threadCPU()
	var release time.Duration
	for _, pk := range pd.pkgs {
		release += pk.cpu
		for _, ex := range pk.custs {
			p.adopt(ex, pd.ev.At)
		}
	}
	adopt := threadCPU() - start
	delete(p.pending, pd.mid)
	p.process(pd.ev)
	wait := time.Since(pd.sent)
	p.c.addStats(func(s *Stats) {
		s.Handoffs++
		s.HandoffCPU += release + adopt
		s.HandoffWait += wait
		s.HandoffWaitMax = max(s.HandoffWaitMax, wait)
	})
	p.c.done(pd.mid)
	p.c.inflight.Done()
	held := p.waiting[pd.mid]
	delete(p.waiting, pd.mid)
	for _, m := range held {
		p.admit(m)
	}
}

// release is the first phase of a handoff: the customers holding ids leave for partition
// m.to.
func (p *part) release(m *msg) {
	var locals []string
	for _, id := range m.ids {
		if cu, ok := p.g.Lookup(id); ok {
			if !slices.Contains(locals, cu) {
				locals = append(locals, cu)
			}
		} else {
			p.c.addStats(func(s *Stats) { s.Unknown++ })
		}
	}
	pk := p.export(locals)
	pk.mid = m.mid
	p.c.send(m.to, &msg{kind: mPackage, pkg: pk}, false)
}

// export takes customers out of this partition: identifiers, profile and steps.
func (p *part) export(customers []string) *pkg {
	start := threadCPU()
	pk := &pkg{}
	n := 0
	for _, cu := range customers {
		ids := p.g.Identifiers(cu)
		ex := exported{ids: ids, prof: p.profiles[cu]}
		delete(p.profiles, cu)
		if _, _, err := p.g.Forget(cu); err != nil {
			panic(err)
		}
		pk.custs = append(pk.custs, ex)
		n += len(ids)
	}
	pk.cpu = threadCPU() - start
	if len(customers) > 0 {
		p.c.addStats(func(s *Stats) {
			s.Moved += len(customers)
			s.MovedIDs += n
		})
	}
	return pk
}

// adopt takes in a released customer: its identifiers resolved here (a customer with more
// than an event carries in several steps), its profile folded in.
func (p *part) adopt(ex exported, at time.Time) {
	var cu string
	for i := 0; i < len(ex.ids); {
		chunk := ex.ids[i:min(len(ex.ids), i+identity.MaxPerEvent-1)]
		if i > 0 {
			chunk = append([]identity.ID{ex.ids[0]}, chunk...)
		}
		i += identity.MaxPerEvent - 1
		res, err := p.g.Resolve(chunk, at)
		if err != nil {
			panic(err)
		}
		p.fold(res)
		cu = res.Customer
	}
	if ex.prof != nil && cu != "" {
		p.profile(cu).add(ex.prof)
	}
}

func (p *part) profile(cu string) *profile {
	pr := p.profiles[cu]
	if pr == nil {
		pr = &profile{}
		p.profiles[cu] = pr
	}
	return pr
}

// fold merges the profiles of customers an identity resolution merged.
func (p *part) fold(res identity.Resolution) {
	for _, m := range res.Merges {
		if from := p.profiles[m.From]; from != nil {
			p.profile(m.Into).add(from)
			delete(p.profiles, m.From)
		}
	}
}

// process is the simplified processor: identity, the profile, a pending step every fourth
// event, and Work for the rules.
func (p *part) process(ev Event) {
	res, err := p.g.Resolve(ev.IDs, ev.At)
	if err != nil {
		panic(err)
	}
	p.fold(res)
	if res.Customer == "" {
		return
	}
	pr := p.profile(res.Customer)
	pr.events++
	pr.spend += ev.Total
	if pr.events%4 == 0 {
		pr.steps = append(pr.steps, step{due: ev.At.Add(24 * time.Hour).Unix(), trigger: uint16(pr.events % 100)})
	}
	work(p.c.iters)
}

var sink atomic.Uint64

// work burns n iterations of arithmetic: the CPU an event's rules would take.
func work(n int) {
	if n == 0 {
		return
	}
	x := uint64(n) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink.Add(x)
}

var calib struct {
	sync.Once
	perIter float64 // ns
}

// calibrate returns the iterations of work that take d of CPU. It measures the thread's CPU
// time, not the clock, so that other processes on the machine do not make work shorter.
func calibrate(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	calib.Do(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		const n = 50_000_000
		best := time.Duration(1 << 62)
		for range 3 {
			start := threadCPU()
			work(n)
			best = min(best, threadCPU()-start)
		}
		calib.perIter = float64(best.Nanoseconds()) / n
	})
	return int(float64(d.Nanoseconds()) / calib.perIter)
}

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID: exact, where
// getrusage moves in clock ticks).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID (Linux)

// dump describes what each partition waits for; for a run that does not finish.
func (c *Cluster) dump() string {
	var b strings.Builder
	for _, p := range c.parts {
		p.mu.Lock()
		fmt.Fprintf(&b, "partition %d: queue %d (router %d)", p.n, len(p.queue), p.fromRouter)
		p.mu.Unlock()
		for mid, pd := range p.pending {
			fmt.Fprintf(&b, " pending %x want %d got %d ids %v;", mid, pd.want, pd.got, pd.ev.IDs)
		}
		for mid, ms := range p.waiting {
			fmt.Fprintf(&b, " waiting %x: %d held;", mid, len(ms))
		}
		for mid := range p.early {
			fmt.Fprintf(&b, " early %x;", mid)
		}
		b.WriteString("\n")
	}
	return b.String()
}

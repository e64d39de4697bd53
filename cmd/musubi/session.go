package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/planner"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/spf13/pflag"

	_ "github.com/musubi-hq/musubi/cmd/builtin" // the built-in providers register themselves
)

// lockFlags are the flags of commands that take the state lock.
type lockFlags struct {
	lock    bool
	timeout time.Duration
}

func (f *lockFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.lock, "lock", true, "lock the state while working (turn off only when nothing else can run)")
	fs.DurationVar(&f.timeout, "lock-timeout", 0, "how long to wait for another musubi holding the state lock, e.g. 30s")
}

// session is an open configuration, its state (locked) and its providers.
type session struct {
	cfg     *lang.Config
	diags   hcl.Diagnostics
	backend states.Backend
	state   *states.State
	host    *planner.Host
	unlock  states.Unlocker
}

// openState loads the configuration, takes the state lock and reads the state.
// printDiags=false leaves diagnostics to the caller (JSON output).
func (a *app) openState(ctx context.Context, cf *configFlags, lf *lockFlags, operation string, printDiags bool) (*session, error) {
	s := &session{}
	saved := a.err
	if !printDiags {
		a.err = discard{}
	}
	start := time.Now()
	collectLessOften(false)
	cfg, diags, err := a.loadConfig(cf)
	a.err = saved
	slog.Debug("loaded the configuration", "files", len(cfg.Files), "took", time.Since(start))
	s.cfg, s.diags = cfg, diags
	if err != nil {
		return s, err
	}
	backend, bdiags := planner.Backend(cfg, ".")
	if bdiags.HasErrors() {
		return s, a.fail(s, bdiags, printDiags)
	}
	s.backend = backend
	if lf.lock {
		u, err := backend.Lock(ctx, states.NewLockInfo(operation, Version()), lf.timeout)
		if err != nil {
			return s, err
		}
		s.unlock = u
	}
	collectMoreOften()
	start = time.Now()
	if s.state, err = backend.Read(ctx); err != nil {
		s.close()
		return s, err
	}
	if err := planner.Unmigrated(backend, s.state, "."); err != nil && operation != "state push" {
		s.close()
		return s, err
	}
	slog.Debug("read the state", "backend", backend.Describe(), "resources", s.state.Len(), "took", time.Since(start))
	return s, nil
}

// stateGCPercent is the garbage collector's target (GOGC) once a command reads the state,
// unless the environment sets GOGC. From then on the configuration, the state and what the
// plan builds from them are live at once, and Go's default of letting the heap grow by as much
// again as is live sets the process's peak. Measured on a no-op plan of 100,000 resources on
// 2 cores, 60 brings that peak from 640–660 to 530–545 MiB (70: 565–600) with no difference
// in CPU time beyond the machine's noise: most of what a plan allocates, parsing, comes before
// the state is read, so few collections are added. A soft memory
// limit would do it only at one size: a larger programme's live heap would be over any fixed
// limit, and collection would hardly stop; a percentage keeps to the programme's size.
const stateGCPercent = 60

func collectMoreOften() { setGCPercent(stateGCPercent) }

// checkGCPercent and loadGCPercent are the collector's targets while a command loads the
// programme, unless the environment sets GOGC. Loading allocates mostly garbage, parsing and
// CEL checking, over a fraction of a second, and Go's default of 100 marks the growing
// programme again and again while the live heap is small. validate only loads and checks, so
// it can let the heap grow further: on 2 cores, 10,000 CEL conditions cold went from 0.61 to
// 0.50 s (peak 162 → 196 MiB). A command that goes on to read the state (stateGCPercent) keeps
// to 150: at 250, a no-op plan of 100,000 resources was 10% faster but its peak rose from
// 540–560 to 555–590 MiB, set by the load's garbage before the state was read; at 150 it is as at
// 100 and the CPU 3% less.
const (
	checkGCPercent = 250
	loadGCPercent  = 150
)

// collectLessOften sets the target for loading: check says the command only loads and checks.
func collectLessOften(check bool) {
	if check {
		setGCPercent(checkGCPercent)
	} else {
		setGCPercent(loadGCPercent)
	}
}

// setGCPercent sets the collector's target unless the environment does (GOGC).
func setGCPercent(percent int) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(percent)
	}
}

// openSession opens the state as openState does, then starts the providers.
func (a *app) openSession(ctx context.Context, cf *configFlags, lf *lockFlags, operation string, printDiags bool) (*session, error) {
	s, err := a.openState(ctx, cf, lf, operation, printDiags)
	if err != nil {
		return s, err
	}
	cfg := s.cfg
	start := time.Now()
	host, hdiags := planner.NewHost(ctx, cfg, ".", nil, nil)
	slog.Debug("configured the providers", "took", time.Since(start))
	s.host = host
	if hdiags.HasErrors() {
		s.close()
		return s, a.fail(s, hdiags, printDiags)
	}
	return s, nil
}

// fail records diagnostics on the session, prints them if asked, and returns exit status 1.
func (a *app) fail(s *session, diags hcl.Diagnostics, print bool) error {
	s.diags = append(s.diags, diags...)
	if print {
		lang.WriteDiagnostics(a.err, s.cfg.Files, diags, a.color(a.err))
	}
	return exitError{1}
}

func (s *session) close() {
	if s.host != nil {
		s.host.Close()
		s.host = nil
	}
	if s.unlock != nil {
		s.unlock.Unlock()
		s.unlock = nil
	}
	if c, ok := s.backend.(io.Closer); ok {
		c.Close()
	}
}

// confirm asks the person at the terminal; only "yes" goes ahead.
func (a *app) confirm(question string) bool {
	fmt.Fprintf(a.out, "\n%s\n  Only 'yes' will be accepted.\n\n  Enter a value: ", question)
	var answer string
	fmt.Fscanln(a.in, &answer)
	fmt.Fprintln(a.out)
	return answer == "yes"
}

var errCancelled = errors.New("cancelled: nothing was changed")

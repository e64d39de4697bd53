package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/lang/rules"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// SetupEvent is the type of the event that makes each customer of a run known to the engine,
// with their identifiers, consent and attributes, before the run's first step.
const SetupEvent = "custom.musubi_test_customer"

// Options configure Run.
type Options struct {
	// Config is the programme under test.
	Config *lang.Config
	// Match, when set, selects the runs whose names it matches.
	Match *regexp.Regexp
	// Verbose keeps a line per step in each run's Log.
	Verbose bool
}

// Report is the outcome of the runs of some test files.
type Report struct {
	Files                   []*FileReport
	Passed, Failed, Errored int
}

// OK reports whether every run passed.
func (r *Report) OK() bool { return r.Failed == 0 && r.Errored == 0 }

// FileReport is the outcome of one file's runs.
type FileReport struct {
	File string
	Runs []*RunReport
}

// Run statuses.
const (
	StatusPass  = "pass"
	StatusFail  = "fail"
	StatusError = "error" // the run could not go on: the engine refused an event, the clock went back
)

// RunReport is the outcome of one run.
type RunReport struct {
	Name     string
	Range    hcl.Range
	Status   string
	Failures []Failure
	// Diagnostics say why a run ended in error.
	Diagnostics hcl.Diagnostics
	Duration    time.Duration
	// Log has a line per step, with Options.Verbose.
	Log []string
}

// Failure is an expectation that was not met.
type Failure struct {
	Range    hcl.Range
	What     string
	Expected string
	Got      string
}

// String is the failure as `file:line:col: expected …, got …`.
func (f Failure) String() string {
	return fmt.Sprintf("%s:%d:%d: expected %s, got %s", f.Range.Filename, f.Range.Start.Line, f.Range.Start.Column, f.Expected, f.Got)
}

// Test runs the runs of the files, each on an engine of its own, in order.
func Test(ctx context.Context, files []*File, opts Options) (*Report, error) {
	b := rules.FromConfig(opts.Config, testSeeds(opts.Config))
	bundle := b.Encode()
	senders := Senders(opts.Config)
	loc, err := lang.LoadLocation(opts.Config.Settings.Timezone)
	if err != nil {
		loc = time.UTC
	}
	rep := &Report{}
	for _, f := range files {
		fr := &FileReport{File: f.Name}
		for _, r := range f.Runs {
			if opts.Match != nil && !opts.Match.MatchString(r.Name) {
				continue
			}
			rr := runOne(ctx, r, bundle, senders, loc, opts.Verbose)
			switch rr.Status {
			case StatusPass:
				rep.Passed++
			case StatusFail:
				rep.Failed++
			default:
				rep.Errored++
			}
			fr.Runs = append(fr.Runs, rr)
		}
		if len(fr.Runs) > 0 {
			rep.Files = append(rep.Files, fr)
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// testSeeds are the code seeds of a test: fixed, so a run draws the same codes every time.
func testSeeds(cfg *lang.Config) map[string]string {
	seeds := map[string]string{}
	for name := range cfg.Campaigns {
		seeds[name] = "musubi-test/" + name
	}
	return seeds
}

// state is a run in progress, as its checks see it.
type state struct {
	ctx       context.Context
	eng       *engine.Engine
	store     *engine.SQLiteStore
	clock     *engine.ManualClock
	loc       *time.Location
	customers map[string]*Customer
	// fired are the triggers fired in the run, in order, with repeats.
	fired []string
	// result and decision are the event or decision being checked.
	result   *engine.Result
	decision *engine.DecideResponse
	// baseSeq and baseCodes are what setting the customers up made: not the run's doing.
	baseSeq   int64
	baseCodes map[string]bool
	report    *RunReport
	verbose   bool
}

func runOne(ctx context.Context, r *Run, bundle []byte, senders map[string]engineSender, loc *time.Location, verbose bool) *RunReport {
	start := time.Now()
	rr := &RunReport{Name: r.Name, Range: r.Range, Status: StatusPass}
	defer func() { rr.Duration = time.Since(start) }()
	fail := func(rng hcl.Range, summary, detail string) {
		rr.Status = StatusError
		rr.Diagnostics = append(rr.Diagnostics, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng})
	}
	dir, err := os.MkdirTemp("", "musubi-test-*")
	if err != nil {
		fail(r.Range, "Cannot run", err.Error())
		return rr
	}
	defer os.RemoveAll(dir)
	store, err := engine.OpenSQLite(filepath.Join(dir, "engine.db"))
	if err != nil {
		fail(r.Range, "Cannot open the engine store", err.Error())
		return rr
	}
	defer store.Close()
	if err := store.PutBundle(ctx, rules.Hash(bundle), bundle, "musubi test"); err != nil {
		fail(r.Range, "Cannot store the rule bundle", err.Error())
		return rr
	}
	now := r.Now
	if now == nil {
		now = r.File.Now
	}
	t0, _ := time.ParseInLocation("2006-01-02T15:04:05", DefaultNow, loc)
	if now != nil {
		t0 = resolve(now, t0, loc)
	}
	clock := engine.NewManualClock(t0)
	eng, err := engine.Open(ctx, engine.Options{Store: store, Senders: senderMap(senders), Now: clock.Now, BundlePoll: -1,
		DisableDelivery: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fail(r.Range, "Cannot start the engine", err.Error())
		return rr
	}
	defer eng.Close()
	st := &state{ctx: ctx, eng: eng, store: store, clock: clock, loc: loc, customers: map[string]*Customer{}, report: rr, verbose: verbose}
	for _, c := range r.Customers {
		st.customers[c.Name] = c
	}
	if err := st.setup(r.Customers); err != nil {
		fail(r.Range, "Cannot set the customers up", err.Error())
		return rr
	}
	for _, step := range r.Steps {
		if err := st.step(step); err != nil {
			var d *hcl.Diagnostic
			if errors.As(err, &d) {
				rr.Status = StatusError
				rr.Diagnostics = append(rr.Diagnostics, d)
			} else {
				fail(step.rangeOf(), "Run stopped", err.Error())
			}
			return rr
		}
	}
	if len(rr.Failures) > 0 {
		rr.Status = StatusFail
	}
	return rr
}

// setup posts one event per customer, then takes what it made as the run's starting point.
func (st *state) setup(customers []*Customer) error {
	if len(customers) > 0 {
		var evs []map[string]any
		for _, c := range customers {
			ev := map[string]any{"id": "customer/" + c.Name, "type": SetupEvent, "time": st.clock.Now().Format(time.RFC3339Nano),
				"identifiers": c.Identifiers}
			if len(c.Consent) > 0 {
				ev["consent"] = c.Consent
			}
			if len(c.Attributes) > 0 {
				ev["attributes"] = c.Attributes
			}
			evs = append(evs, ev)
		}
		body, err := json.Marshal(evs)
		if err != nil {
			return err
		}
		parsed, err := engine.DecodeEvents(body)
		if err != nil {
			return err
		}
		if _, err := st.eng.Ingest(st.ctx, parsed); err != nil {
			return err
		}
	}
	if err := st.eng.SweepCampaigns(st.ctx); err != nil {
		return err
	}
	items, err := st.store.Outbox(st.ctx, "", math.MaxInt32)
	if err != nil {
		return err
	}
	for _, it := range items {
		st.baseSeq = max(st.baseSeq, it.Seq)
	}
	st.baseCodes = map[string]bool{}
	return st.store.CodeOwners(st.ctx, func(campaign string, idx int, _ string, _ time.Time) error {
		st.baseCodes[fmt.Sprintf("%s/%d", campaign, idx)] = true
		return nil
	})
}

func (st *state) logf(rng hcl.Range, format string, args ...any) {
	if st.verbose {
		st.report.Log = append(st.report.Log, fmt.Sprintf("%s:%d: ", rng.Filename, rng.Start.Line)+fmt.Sprintf(format, args...))
	}
}

func diagError(rng hcl.Range, summary, format string, args ...any) error {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: &rng}
}

func (st *state) step(s Step) error {
	switch s := s.(type) {
	case *EventStep:
		ev, err := st.prepare(s, true)
		if err != nil {
			return err
		}
		res, err := st.eng.Ingest(st.ctx, ev)
		if err != nil {
			return diagError(s.Range, "The engine refused the event", "%s.", err)
		}
		st.result = &res[0]
		st.fired = append(st.fired, st.result.Fired...)
		st.logf(s.Range, "event %s at %s: %s", s.Type, st.show(ev[0].Time), st.describeResult(st.result))
		if err := st.eng.SweepCampaigns(st.ctx); err != nil {
			return err
		}
		st.check(s.Expect)
		st.result = nil
	case *DecideStep:
		ev, err := st.prepare(s.Event, false)
		if err != nil {
			return err
		}
		d, err := st.eng.Decide(st.ctx, engine.DecideRequest{Event: ev[0]})
		if err != nil {
			return diagError(s.Range, "The engine refused the decision", "%s.", err)
		}
		st.decision = d
		var fired []string
		for _, x := range d.Decisions {
			if x.Fired {
				fired = append(fired, x.Trigger)
			}
		}
		st.logf(s.Range, "decide %s: would fire %s; segments %s", s.Event.Type, list(fired), list(d.Segments))
		st.check(s.Expect)
		st.decision = nil
	case *AdvanceStep:
		target := resolve(s.To, st.clock.Now(), st.loc)
		if target.Before(st.clock.Now()) {
			return diagError(s.To.Range, "The clock cannot go back", "The clock is at %s; %s is before it.", st.show(st.clock.Now()), st.show(target))
		}
		ran, err := st.advance(target)
		if err != nil {
			return diagError(s.Range, "Running held steps failed", "%s.", err)
		}
		st.logf(s.Range, "advance to %s: %s ran", st.show(target), plural(ran, "held step"))
	case *ExpectStep:
		st.check(s.Checks)
	}
	return nil
}

func (st *state) check(checks []Check) {
	for _, c := range checks {
		ok, exp, got := c.check(st)
		if ok {
			st.logf(c.Range, "ok: %s", exp)
			continue
		}
		st.report.Failures = append(st.report.Failures, Failure{Range: c.Range, What: c.What, Expected: exp, Got: got})
	}
}

// prepare turns an event step into the engine's event, moving the clock to its time first.
func (st *state) prepare(s *EventStep, posted bool) ([]*engine.Event, error) {
	now := st.clock.Now()
	at := now
	if s.At != nil {
		at = resolve(s.At, now, st.loc)
		if at.After(now) {
			if !posted {
				return nil, diagError(s.At.Range, "A decision is now", "A decision is asked at the clock's time; move the clock with an advance block first.")
			}
			if _, err := st.advance(at); err != nil {
				return nil, diagError(s.Range, "Running held steps failed", "%s.", err)
			}
		}
	}
	ev := map[string]any{"type": s.Type, "time": at.Format(time.RFC3339Nano)}
	if s.ID != "" {
		ev["id"] = s.ID
	}
	for k, v := range s.Fields {
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, diagError(s.Range, "Invalid event", "%s: %s.", k, err)
		}
		ev[k] = json.RawMessage(b)
	}
	if s.Customer != "" {
		ids := map[string]string{}
		maps.Copy(ids, st.customers[s.Customer].Identifiers)
		if raw, ok := ev["identifiers"].(json.RawMessage); ok {
			var own map[string]string
			if err := json.Unmarshal(raw, &own); err != nil {
				return nil, diagError(s.Range, "Invalid event", "identifiers: %s.", err)
			}
			maps.Copy(ids, own)
		}
		ev["identifiers"] = ids
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, diagError(s.Range, "Invalid event", "%s.", err)
	}
	evs, err := engine.DecodeEvents(body)
	if err != nil {
		return nil, diagError(s.Range, "Invalid event", "%s.", err)
	}
	return evs, nil
}

// advance moves the clock to target, stopping at each held step's due time on the way so
// that it runs when it would have: quiet hours and conditions see that time, not target.
func (st *state) advance(target time.Time) (int, error) {
	ran := 0
	for {
		steps, err := st.store.DueSteps(st.ctx, target, engine.StepCursor{}, 1)
		if err != nil {
			return ran, err
		}
		if len(steps) == 0 {
			break
		}
		if now := st.clock.Now(); steps[0].Due.After(now) {
			st.clock.Advance(steps[0].Due.Sub(now))
		}
		n, err := st.eng.RunDueSteps(st.ctx)
		if err != nil {
			return ran, err
		}
		if err := st.eng.SweepCampaigns(st.ctx); err != nil {
			return ran, err
		}
		ran += n
		if n == 0 {
			break
		}
	}
	if now := st.clock.Now(); target.After(now) {
		st.clock.Advance(target.Sub(now))
	}
	n, err := st.eng.RunDueSteps(st.ctx)
	if err != nil {
		return ran, err
	}
	return ran + n, st.eng.SweepCampaigns(st.ctx)
}

// resolve is the time a When names, with now the clock and loc the programme's zone.
func resolve(w *When, now time.Time, loc *time.Location) time.Time {
	switch {
	case w == nil:
		return now
	case w.At.IsZero():
		return now.Add(w.Offset)
	case w.Local:
		t := w.At
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	}
	return w.At
}

func (st *state) show(t time.Time) string { return t.In(st.loc).Format("2006-01-02 15:04 MST") }

// customer is a test customer as the engine knows them now, found by any of their identifiers.
func (st *state) customer(name string) (*engine.CustomerView, error) {
	c := st.customers[name]
	if c == nil {
		return nil, fmt.Errorf("no customer %s in the run", name)
	}
	var last error
	for _, typ := range slices.Sorted(maps.Keys(c.Identifiers)) {
		v, err := st.eng.Customer(st.ctx, typ+":"+c.Identifiers[typ])
		if err == nil {
			return v, nil
		}
		last = err
	}
	if last == nil || errors.Is(last, engine.ErrNoCustomer) {
		return nil, fmt.Errorf("%w: %s is unknown to the engine", engine.ErrNoCustomer, name)
	}
	return nil, last
}

func isNoCustomer(err error) bool { return errors.Is(err, engine.ErrNoCustomer) }

func (st *state) customerID(name string) (string, error) {
	v, err := st.customer(name)
	if err != nil {
		return "", err
	}
	return v.ID, nil
}

// nameOf is the test name of a Uni-ID, or the ID itself.
func (st *state) nameOf(id string) string {
	if id == "" {
		return "no one"
	}
	for _, name := range slices.Sorted(maps.Keys(st.customers)) {
		if got, err := st.customerID(name); err == nil && got == id {
			return name
		}
	}
	return "customer " + id
}

func (st *state) describeResult(r *engine.Result) string {
	var parts []string
	parts = append(parts, "for "+st.nameOf(r.Customer))
	if r.Duplicate {
		parts = append(parts, "a duplicate")
	}
	if len(r.Entered) > 0 {
		parts = append(parts, "entered "+list(r.Entered))
	}
	if len(r.Exited) > 0 {
		parts = append(parts, "left "+list(r.Exited))
	}
	parts = append(parts, "fired "+list(r.Fired))
	return strings.Join(parts, "; ")
}

// messages are the outbox items of the run.
func (st *state) messages() ([]item, error) {
	items, err := st.store.Outbox(st.ctx, "", math.MaxInt32)
	if err != nil {
		return nil, err
	}
	now := st.clock.Now()
	var out []item
	for _, it := range items {
		if it.Seq <= st.baseSeq {
			continue
		}
		status := it.Status
		if status == engine.StatusPending {
			status = engine.ViewQueued
			if it.Held(now) {
				status = engine.ViewHeld
			}
		}
		text := it.Text
		if it.Subject != "" {
			text = it.Subject + "\n" + text
		}
		out = append(out, item{customer: it.Customer, name: it.Name, via: it.Via, status: status, text: text, typ: "send"})
	}
	return out, nil
}

// codes are the codes given out in the run.
func (st *state) codes() ([]item, error) {
	var out []item
	err := st.store.CodeOwners(st.ctx, func(campaign string, idx int, customer string, _ time.Time) error {
		if !st.baseCodes[fmt.Sprintf("%s/%d", campaign, idx)] {
			out = append(out, item{customer: customer, campaign: campaign, typ: "issue_coupon"})
		}
		return nil
	})
	return out, err
}

// pending are the held steps waiting to run.
func (st *state) pending() ([]item, error) {
	steps, err := st.store.DueSteps(st.ctx, time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC), engine.StepCursor{}, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	var out []item
	for _, s := range steps {
		out = append(out, item{customer: s.Customer, name: "trigger." + s.Trigger, typ: s.Type, text: st.show(s.Due)})
	}
	return out, nil
}

func (st *state) showItem(it item) string {
	var b strings.Builder
	switch {
	case it.name != "":
		b.WriteString(it.name)
	case it.campaign != "":
		b.WriteString("campaign " + it.campaign)
	default:
		b.WriteString(it.typ)
	}
	if it.customer != "" || st.result == nil && st.decision == nil {
		b.WriteString(" for " + st.nameOf(it.customer))
	}
	if it.status != "" {
		b.WriteString(" " + it.status)
	}
	if it.text != "" {
		fmt.Fprintf(&b, " %q", clip(it.text, 40))
	}
	return b.String()
}

// canonical is a value as JSON with numbers in one form, so 3200, int64(3200) and 3200.0
// compare equal.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var g any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if dec.Decode(&g) != nil {
		return string(b)
	}
	g = normalNumbers(g)
	b, _ = json.Marshal(g)
	return string(b)
}

func normalNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
	case map[string]any:
		for k, e := range x {
			x[k] = normalNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalNumbers(e)
		}
	}
	return v
}

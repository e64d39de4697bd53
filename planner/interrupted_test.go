package planner

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/planner/plans"
	"github.com/musubi-hq/musubi/planner/states"
	"github.com/musubi-hq/musubi/providers"
)

// interruptApply applies p until mem.ec is in the middle of op, its work done: the moment
// the process is killed. The next plan reads the state and journal as that apply left them;
// the apply itself is let go only when the test ends.
func (f *fixture) interruptApply(p *plans.Plan, host *Host, op string) {
	f.t.Helper()
	m := f.mems["mem.ec"]
	m.hangOn, m.hung, m.release = op, make(chan struct{}, 16), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// One step at a time: no other step is half done when the test looks, as after a kill
		// of an apply that ran only this one.
		Apply(context.Background(), p, host, f.backend, ApplyOptions{Parallelism: 1})
	}()
	<-m.hung
	f.t.Cleanup(func() { close(m.release); <-done })
}

// interruption returns the plan's drift entry for addr, failing unless it is marked as
// Musubi's own interrupted action.
func interruption(t *testing.T, p *plans.Plan, addr string, action plans.Action) *plans.Drift {
	t.Helper()
	for _, d := range p.Drift {
		if d.Address != at(addr) {
			continue
		}
		if d.Interrupted == nil || d.Interrupted.Action != action || d.Interrupted.Since.IsZero() {
			t.Fatalf("%s is shown as changed outside Musubi, not as an interrupted %s: %+v", addr, action, d)
		}
		return d
	}
	t.Fatalf("the plan does not show the interrupted %s of %s: drift %+v", action, addr, p.Drift)
	return nil
}

// An update killed while the system made it is Musubi's own interrupted change, not an edit
// made outside Musubi: the journal knows it started.
func TestInterruptedUpdateIsNotDrift(t *testing.T) {
	f := appliedFixture(t)
	p, host := f.plan("percent=15")
	f.interruptApply(p, host, "update")

	p, host = f.plan("percent=15")
	d := interruption(t, p, "campaign.spring.coupon[mem.ec]", plans.Update)
	if strings.Join(d.Changed, ",") != "percent" || d.Before["percent"] != 10.0 || d.After["percent"] != 15.0 {
		t.Errorf("interrupted update: changed %v, %v → %v; want percent 10 → 15", d.Changed, d.Before["percent"], d.After["percent"])
	}
	if s := p.Summary(); s.Drift != 0 || s.Interrupted != 1 {
		t.Errorf("summary %+v, want no drift and one interrupted change", s)
	}
	for _, c := range p.Changes {
		if c.Address == at("campaign.spring.coupon[mem.ec]") && c.Action != plans.NoOp {
			t.Errorf("the update that went through is planned again: %s", c.Action)
		}
	}
	st, err := f.apply(p, host)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Find(at("campaign.spring.coupon[mem.ec]")); r.Pending != nil || r.Attributes["percent"] != 15.0 {
		t.Fatalf("state after the next apply: %+v", r)
	}
	if p, _ := f.plan("percent=15"); len(p.Drift) != 0 || p.HasChanges() {
		t.Fatalf("plan after recovery: drift %v, %+v", p.Drift, p.Summary())
	}
}

// A delete killed in the middle is shown as Musubi's own, and not planned again.
func TestInterruptedDeleteIsNotDrift(t *testing.T) {
	f := appliedFixture(t)
	f.config = testConfig[:strings.Index(testConfig, `campaign "summer"`)]
	p, host := f.plan()
	f.interruptApply(p, host, "delete")

	p, _ = f.plan()
	d := interruption(t, p, "campaign.summer.coupon[mem.ec]", plans.Delete)
	if !d.Deleted {
		t.Errorf("the interrupted delete went through, but the plan says the object is there: %+v", d)
	}
	if s := p.Summary(); s.Drift != 0 || s.Destroy != 0 {
		t.Errorf("summary %+v, want no drift and nothing left to destroy", s)
	}
}

// An update the system refused leaves no intent behind; one whose outcome is unknown does.
func TestFailedUpdateKeepsItsIntentOnlyWhenUnknown(t *testing.T) {
	f := appliedFixture(t)
	p, host := f.plan("percent=15")
	j, err := f.backend.Journal(context.Background(), p.Prior)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	a := &applier{host: host, st: states.NewSync(p.Prior.Clone()), journal: j}
	c := p.Changes[slices.IndexFunc(p.Changes, func(c *plans.Change) bool { return c.Address == at("campaign.spring.coupon[mem.ec]") })]
	for _, code := range []providers.ErrorCode{providers.ErrInvalid, providers.ErrUnavailable} {
		undo, err := a.intend(c, states.PendingUpdate)
		if err != nil {
			t.Fatal(err)
		}
		undo(&providers.APIError{Code: code, Status: 500})
		if kept, want := a.st.Find(c.Address).Pending != nil, code == providers.ErrUnavailable; kept != want {
			t.Errorf("after a %s error the intent is kept: %v, want %v", code, kept, want)
		}
	}
}

package engine

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

// fakeAudiences is a system that keeps segments' members by LINE user ID, as a real one
// would: adds and removes are idempotent, an unknown member is unmatched.
type fakeAudiences struct {
	mu       sync.Mutex
	members  map[string]map[string]bool // segment → user IDs
	calls    int
	fail     *providers.APIError // the next call fails so
	addOnly  bool                // as LINE: removals are refused, audiences are rebuilt
	rebuilds int
}

func newFakeAudiences() *fakeAudiences { return &fakeAudiences{members: map[string]map[string]bool{}} }

func (f *fakeAudiences) MemberRules() providers.MemberRules {
	return providers.MemberRules{Fields: []string{"userId"}, Batch: 2, AddOnly: f.addOnly}
}

func (f *fakeAudiences) RebuildMembers(_ context.Context, req providers.RebuildMembersRequest) providers.SyncMembersResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rebuilds++
	set := map[string]bool{}
	for _, m := range req.Members {
		for _, v := range m.Values["userId"] {
			set[v] = true
		}
	}
	f.members[req.Segment] = set
	return providers.SyncMembersResponse{}
}

func (f *fakeAudiences) SyncMembers(_ context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		err := f.fail
		f.fail = nil
		return providers.SyncMembersResponse{Diagnostics: providers.FromError("sync", err)}
	}
	set := f.members[req.Segment]
	if set == nil {
		set = map[string]bool{}
		f.members[req.Segment] = set
	}
	var resp providers.SyncMembersResponse
	for _, m := range req.Add {
		if len(m.Values["userId"]) == 0 {
			resp.Unmatched = append(resp.Unmatched, m.Customer)
		}
		for _, v := range m.Values["userId"] {
			set[v] = true
		}
	}
	for _, m := range req.Remove {
		if f.addOnly {
			panic("a removal sent to a system that cannot remove")
		}
		for _, v := range m.Values["userId"] {
			delete(set, v)
		}
	}
	return resp
}

func (f *fakeAudiences) holds(segment string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for v := range f.members[segment] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// audienceFixture is the quickstart's engine with sys keeping sandbox.line's audiences.
func audienceFixture(t *testing.T, sys providers.MemberSyncer) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clock: &clock{t: noon}, syncers: map[string]providers.MemberSyncer{"sandbox.line": sys}}
	f.line = newLineSandbox(t, f.dir)
	f.open()
	if _, err := f.eng.PushBundle(context.Background(), quickstartBundle(t, nil), "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

// The quickstart's spring campaign messages loyal_store through sandbox.line: that system's
// audience follows the segment — in when the customer enters, out when they leave — and a
// restart pushes nothing again.
func TestAudienceFollowsItsSegment(t *testing.T) {
	sys := newFakeAudiences()
	f := audienceFixture(t, sys)
	ctx := context.Background()
	sync := func() {
		t.Helper()
		if err := f.eng.SyncAudiences(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.ingest(purchase)
	f.ingest(follow)
	sync()
	if got := sys.holds("loyal_store"); !slices.Equal(got, []string{"U4af4980629"}) {
		t.Fatalf("after the follow the system holds %v", got)
	}
	// A customer in the segment whom the system cannot know: counted, not an error.
	f.ingest(`{"id": "s-1", "type": "survey.submitted", "identifiers": {"email": "ken@example.jp"}, "data": {"consent": {"line": true}}}`)
	f.ingest(`{"id": "pos-9", "type": "purchase", "source": "pos", "channel": "pos", "identifiers": {"email": "ken@example.jp"}, "data": {"total": 100}}`)
	sync()
	segs, err := f.eng.Segments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := segs[slices.IndexFunc(segs, func(s SegmentStatus) bool { return s.Name == "loyal_store" })]; s.Members != 2 ||
		len(s.Audiences) != 1 || s.Audiences[0].Pushed != 1 || s.Audiences[0].Unmatched != 1 || s.Audiences[0].Pending != 0 {
		t.Errorf("segments: %+v", s)
	}

	calls := sys.calls
	f.restart()
	sync()
	if sys.calls != calls {
		t.Errorf("a restart pushed %d batches again", sys.calls-calls)
	}

	// Leaving: unfollowing withdraws LINE consent, so the customer leaves loyal_store.
	sys.fail = &providers.APIError{Code: providers.ErrRateLimited, RetryAfter: time.Minute}
	f.ingest(`{"id": "line-2", "type": "unfollow", "source": "line", "channel": "line", "record": {"userId": "U4af4980629"}}`)
	if err := f.eng.SyncAudiences(ctx); err == nil {
		t.Fatal("a rate-limited sync reported no error")
	}
	if got := sys.holds("loyal_store"); len(got) != 1 {
		t.Fatalf("the failed sync changed the system: %v", got)
	}
	sync() // still held: the system asked to wait a minute
	f.clock.Add(2 * time.Minute)
	sync()
	if got := sys.holds("loyal_store"); len(got) != 0 {
		t.Fatalf("after the unfollow the system holds %v", got)
	}
}

// A system that cannot remove members (as LINE's audiences) gets none to remove: once enough
// have left, its audience is rebuilt with exactly the members.
func TestAudienceThatCannotRemoveIsRebuilt(t *testing.T) {
	sys := newFakeAudiences()
	sys.addOnly = true
	f := audienceFixture(t, sys)
	ctx := context.Background()
	for _, u := range []string{"Uaaaa", "Ubbbb"} {
		f.ingest(`{"id": "f-` + u + `", "type": "follow", "source": "line", "channel": "line", "record": {"userId": "` + u + `"}}`)
		f.ingest(`{"id": "p-` + u + `", "type": "purchase", "source": "pos", "channel": "pos", "customer": "", "identifiers": {"line_user": "` + u + `"}, "data": {"total": 100}}`)
	}
	if err := f.eng.SyncAudiences(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sys.holds("loyal_store"); len(got) != 2 {
		t.Fatalf("the system holds %v", got)
	}
	f.ingest(`{"id": "u-1", "type": "unfollow", "source": "line", "channel": "line", "record": {"userId": "Uaaaa"}}`)
	if err := f.eng.SyncAudiences(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sys.holds("loyal_store"); !slices.Equal(got, []string{"Ubbbb"}) || sys.rebuilds != 1 {
		t.Fatalf("after one of two left: the system holds %v after %d rebuilds", got, sys.rebuilds)
	}
}

// A forget takes the person out of the systems' audiences first, while the engine still knows
// what names them there; a system that cannot remove one is rebuilt without them.
func TestForgetLeavesTheAudiences(t *testing.T) {
	for _, addOnly := range []bool{false, true} {
		sys := newFakeAudiences()
		sys.addOnly = addOnly
		f := audienceFixture(t, sys)
		ctx := context.Background()
		f.ingest(purchase)
		f.ingest(follow)
		if err := f.eng.SyncAudiences(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := f.eng.Forget(ctx, "line_user:U4af4980629")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Audiences) != 1 || len(res.AudienceErrors) != 0 {
			t.Errorf("addOnly %v: forget left %v, failed %v", addOnly, res.Audiences, res.AudienceErrors)
		}
		if err := f.eng.SyncAudiences(ctx); err != nil {
			t.Fatal(err)
		}
		if got := sys.holds("loyal_store"); len(got) != 0 {
			t.Errorf("addOnly %v: after the forget the system holds %v", addOnly, got)
		}
	}
}

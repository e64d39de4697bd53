package line

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/line/linetest"
)

// member is customer c<n>, known to LINE as user(n).
func member(n int) providers.Member {
	return providers.Member{Customer: fmt.Sprint("c", n), Values: map[string][]string{"userId": {user(n)}}}
}

// members are customers from to to-1.
func members(from, to int) []providers.Member {
	var out []providers.Member
	for n := from; n < to; n++ {
		out = append(out, member(n))
	}
	return out
}

// held are the user IDs the members stand for, sorted.
func held(ms []providers.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Values["userId"]...)
	}
	slices.Sort(out)
	return out
}

var loyal = providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}

// newAudience applies the audience of segment loyal_store and returns its ID.
func newAudience(t *testing.T, p *Provider) string {
	t.Helper()
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "apply-1", Attributes: loyal})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// applied starts a channel whose audience of segment loyal_store is applied.
func applied(t *testing.T) (*linetest.Server, *Provider, string) {
	srv, p, _ := contract(t)
	return srv, p, newAudience(t, p)
}

// add syncs members into segment loyal_store; an error fails the test.
func add(t *testing.T, p *Provider, ms []providers.Member) {
	t.Helper()
	if err := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: ms}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
}

// rebuild rebuilds segment loyal_store of members under key.
func rebuild(p *Provider, ms []providers.Member, key string) providers.SyncMembersResponse {
	return p.RebuildMembers(context.Background(), providers.RebuildMembersRequest{Segment: "loyal_store", Members: ms, IdempotencyKey: key})
}

// groups are the contract server's groups of a segment, oldest first.
func groups(srv *linetest.Server, segment string) []linetest.Audience {
	return slices.DeleteFunc(srv.Audiences(), func(a linetest.Audience) bool {
		_, seg, _ := parseAudienceName(a.Name)
		return seg != segment
	})
}

// holds fails the test unless the segment has one group and it holds exactly want.
func holds(t *testing.T, srv *linetest.Server, segment string, want []string) linetest.Audience {
	t.Helper()
	gs := groups(srv, segment)
	if len(gs) != 1 {
		t.Fatalf("%d groups of %s, want 1: %+v", len(gs), segment, gs)
	}
	got := slices.Sorted(slices.Values(gs[0].UserIDs))
	if !slices.Equal(got, want) {
		extra := slices.DeleteFunc(slices.Clone(got), func(id string) bool { _, ok := slices.BinarySearch(want, id); return ok })
		missing := slices.DeleteFunc(slices.Clone(want), func(id string) bool { _, ok := slices.BinarySearch(got, id); return ok })
		t.Fatalf("the group holds %d users, want %d: %d extra (%.3q…), %d missing (%.3q…)", len(got), len(want), len(extra), extra, len(missing), missing)
	}
	return gs[0]
}

func TestMemberRules(t *testing.T) {
	t.Parallel()
	r := New().MemberRules()
	if !slices.Equal(r.Fields, []string{"userId"}) || r.Batch != 10_000 || r.PerSecond != 1 || !r.AddOnly || r.Consent != "" {
		t.Fatalf("%+v", r)
	}
}

// Members entering the segment are uploaded to its group; a customer without a LINE user ID is
// unmatched, and a batch repeated after a crash changes nothing.
func TestSyncMembersAdds(t *testing.T) {
	t.Parallel()
	srv, p, _ := contract(t)
	ctx := context.Background()
	newAudience(t, p)
	reads := srv.Calls(linetest.OpRead)
	add := members(0, 30)
	noLine := providers.Member{Customer: "c-email-only", Values: map[string][]string{"email": {"a@example.jp"}}}
	malformed := providers.Member{Customer: "c-bad", Values: map[string][]string{"userId": {"U123"}}}
	twice := providers.Member{Customer: "c-two-accounts", Values: map[string][]string{"userId": {user(100), user(101), user(0)}}}
	req := providers.SyncMembersRequest{Segment: "loyal_store", Add: slices.Concat(add, []providers.Member{noLine, malformed, twice}), IdempotencyKey: "b1"}
	for try := range 2 {
		r := p.SyncMembers(ctx, req)
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Unmatched, []string{"c-email-only", "c-bad"}) {
			t.Fatalf("try %d: unmatched %v", try, r.Unmatched)
		}
		holds(t, srv, "loyal_store", held(slices.Concat(add, members(100, 102))))
	}
	if n := srv.Calls(linetest.OpRead) - reads; n != 1 {
		t.Fatalf("%d reads, want the one listing that finds the group", n)
	}
	if r := p.SyncMembers(ctx, providers.SyncMembersRequest{Segment: "loyal_store", Add: []providers.Member{noLine}}); len(r.Unmatched) != 1 || r.Diagnostics.HasErrors() {
		t.Fatalf("a batch of unmatched customers: %+v", r)
	}
}

// LINE cannot take a user out of a group: a removal is refused, nothing sent.
func TestSyncMembersRefusesRemovals(t *testing.T) {
	t.Parallel()
	srv, p, _ := applied(t)
	r := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: members(0, 3), Remove: members(3, 4)})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid || srv.Calls(linetest.OpUpdate) != 0 {
		t.Fatalf("%v after %d uploads, want invalid and none", r.Diagnostics.Err(), srv.Calls(linetest.OpUpdate))
	}
}

// Failures are classified as every provider error is: the engine repeats a rate limit or an
// outage, and reports the rest.
func TestSyncMembersErrors(t *testing.T) {
	t.Parallel()
	srv, p, _ := applied(t)
	p.retry.attempts = 1
	for status, want := range map[int]providers.ErrorCode{429: providers.ErrRateLimited, 500: providers.ErrUnavailable,
		503: providers.ErrUnavailable, 401: providers.ErrAuth, 403: providers.ErrAuth} {
		srv.Fail(linetest.OpUpdate, status, 1)
		r := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: members(0, 2)})
		if got := providers.CodeOf(r.Diagnostics.Err()); got != want {
			t.Errorf("HTTP %d: %q, want %q", status, got, want)
		}
	}
	r := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "lapsed", Add: members(0, 2)})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound {
		t.Errorf("a segment without a group: %v, want not_found", r.Diagnostics.Err())
	}
	// A call waiting for another (a rebuild) gives up when its context ends, to be repeated.
	p.members <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	r = p.SyncMembers(ctx, providers.SyncMembersRequest{Segment: "loyal_store", Add: members(0, 2)})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
		t.Errorf("a sync waiting on a rebuild past its deadline: %v, want unavailable", r.Diagnostics.Err())
	}
}

// A group replaced behind this process's back (an apply elsewhere replaced the audience) is
// found again by its segment.
func TestSyncMembersFindsReplacedGroup(t *testing.T) {
	t.Parallel()
	srv, p, id := applied(t)
	add(t, p, members(0, 2))
	other := configure(t, srv, nil)
	other.Delete(context.Background(), providers.DeleteRequest{Kind: providers.KindAudience, ID: id, Prior: loyal})
	other.Create(context.Background(), providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "apply-2", Attributes: loyal})
	add(t, p, members(2, 4))
	holds(t, srv, "loyal_store", held(members(2, 4)))
}

// A rebuild leaves one group of exactly the members; the audience keeps its ID in Musubi's
// state, and reads, renames and deletes by that ID reach the new group, so a plan sees no
// drift.
func TestRebuildMembers(t *testing.T) {
	t.Parallel()
	srv, p, id := applied(t)
	ctx := context.Background()
	add(t, p, members(0, 40))
	// 10 customers left the segment, 5 joined.
	now := slices.Concat(members(10, 45), []providers.Member{{Customer: "c-no-line"}})
	r := rebuild(p, now, "rebuild-1")
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Unmatched, []string{"c-no-line"}) {
		t.Fatalf("unmatched %v", r.Unmatched)
	}
	g := holds(t, srv, "loyal_store", held(members(10, 45)))
	if newID := strconv.FormatInt(g.ID, 10); newID == id || g.Name != "Store regulars [musubi loyal_store "+keyTag("rebuild-1")+"]" {
		t.Fatalf("the rebuilt group: %d %q", g.ID, g.Name)
	}

	writes := srv.Calls(linetest.OpUpdate) + srv.Calls(linetest.OpCreate)
	if err := rebuild(p, now, "rebuild-1").Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	holds(t, srv, "loyal_store", held(members(10, 45)))
	if n := srv.Calls(linetest.OpUpdate) + srv.Calls(linetest.OpCreate); n != writes {
		t.Fatalf("a repeated rebuild uploaded or created again")
	}

	read := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: id, Prior: loyal})
	if !read.Found || read.ID != strconv.FormatInt(g.ID, 10) || len(providers.Diff(providers.KindAudience, loyal, read.Attributes)) != 0 {
		t.Fatalf("read by the first ID: %+v", read)
	}
	if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: id}); r.Found {
		t.Fatal("a read without the segment finds a group by the old ID")
	}
	add(t, p, members(45, 46))
	holds(t, srv, "loyal_store", held(members(10, 46)))

	renamed := providers.Attrs{"segment": "loyal_store", "description": "Regulars"}
	if err := p.Update(ctx, providers.UpdateRequest{Kind: providers.KindAudience, ID: id, Prior: loyal, Planned: renamed}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if g := holds(t, srv, "loyal_store", held(members(10, 46))); g.Name != "Regulars [musubi loyal_store "+keyTag("rebuild-1")+"]" {
		t.Fatalf("renamed to %q", g.Name)
	}
	if err := p.Delete(ctx, providers.DeleteRequest{Kind: providers.KindAudience, ID: id, Prior: renamed}).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Audiences()); n != 0 {
		t.Fatalf("%d groups after the delete", n)
	}
	if r := rebuild(p, now, "rebuild-2"); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound || len(srv.Audiences()) != 0 {
		t.Fatalf("a rebuild of a deleted audience: %v, want not_found and no group made", r.Diagnostics.Err())
	}
}

// A rebuild cut short leaves the old group in place, and syncs meanwhile reach both; repeated
// with the same key, it finishes with one group of exactly the members.
func TestRebuildMembersInterrupted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		fault func(srv *linetest.Server)
	}{
		{"create answer lost", func(srv *linetest.Server) { srv.Lose(linetest.OpCreate, 1) }},
		{"second batch fails", func(srv *linetest.Server) {
			srv.Inject(linetest.OpUpdate, contracttest.Fault{Status: 500, Times: defaultRetrying.attempts})
		}},
		{"delete of the old group fails", func(srv *linetest.Server) { srv.Fail(linetest.OpDelete, 503, defaultRetrying.attempts) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, p, id := applied(t)
			add(t, p, members(0, 10))
			c.fault(srv)
			if r := rebuild(p, members(5, 20_005), "rebuild-1"); providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
				t.Fatalf("%v, want unavailable", r.Diagnostics.Err())
			}
			if r := p.Read(context.Background(), providers.ReadRequest{Kind: providers.KindAudience, ID: id, Prior: loyal}); !r.Found || r.ID != id {
				t.Fatalf("the old group is the audience until the swap: %+v", r)
			}
			add(t, p, members(20_005, 20_006))
			for _, g := range groups(srv, "loyal_store") {
				if !slices.Contains(g.UserIDs, user(20_005)) {
					t.Fatalf("group %d missed a sync during the rebuild", g.ID)
				}
			}
			if err := rebuild(p, members(5, 20_005), "rebuild-1").Diagnostics.Err(); err != nil {
				t.Fatal(err)
			}
			holds(t, srv, "loyal_store", held(members(5, 20_006)))
		})
	}
}

// One rebuild makes many requests: they are paced at LINE's 60 a minute, not left to meet
// its 429s.
func TestRebuildMembersPaced(t *testing.T) {
	t.Parallel()
	srv, p, w := contract(t)
	newAudience(t, p)
	if err := rebuild(p, members(0, 25_000), "r").Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	holds(t, srv, "loyal_store", held(members(0, 25_000)))
	// The create carries the first 10,000; two uploads and a delete follow, a second apart.
	if got := w.Waits(); !slices.Equal(got, []time.Duration{time.Second, time.Second, time.Second}) {
		t.Fatalf("waits %v", got)
	}
}

// LINE expires a group 180 days after it was made: syncs to it fail as not_found, and a
// rebuild brings the audience back, the expired group deleted.
func TestRebuildMembersRenewsExpiredGroup(t *testing.T) {
	t.Parallel()
	srv, p, id := applied(t)
	add(t, p, members(0, 3))
	n, _ := parseAudienceID(id)
	srv.ExpireAudience(n)
	r := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: members(3, 4)})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound {
		t.Fatalf("a sync to an expired group: %v, want not_found", r.Diagnostics.Err())
	}
	if err := rebuild(p, members(0, 4), "r").Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	g := holds(t, srv, "loyal_store", held(members(0, 4)))
	if r := p.Read(context.Background(), providers.ReadRequest{Kind: providers.KindAudience, ID: id, Prior: loyal}); !r.Found || r.ID != strconv.FormatInt(g.ID, 10) {
		t.Fatalf("read by the expired group's ID: %+v", r)
	}
}

package wechat

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
)

// tagged applies the tag of segment loyal_store for an account of n followers, and returns
// its ID and the followers.
func tagged(t *testing.T, n int) (*wechattest.Server, *Provider, int64, []string) {
	srv, p := contract(t)
	var id int64
	fmt.Sscan(createTag(t, p, "apply-1", providers.Attrs{"segment": "loyal_store"}), &id)
	return srv, p, id, followers(srv, n)
}

// fans are the customers c<i> following as openids[i], for i in [from, to).
func fans(openids []string, from, to int) []providers.Member {
	var out []providers.Member
	for i := from; i < to; i++ {
		out = append(out, providers.Member{Customer: fmt.Sprint("c", i), Values: map[string][]string{"openid": {openids[i]}}})
	}
	return out
}

func syncTag(p *Provider, add, remove []providers.Member) providers.SyncMembersResponse {
	return p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: add, Remove: remove, IdempotencyKey: "b"})
}

func TestMemberRules(t *testing.T) {
	t.Parallel()
	if r := New().MemberRules(); !slices.Equal(r.Fields, []string{"openid"}) || r.Batch != 50 || r.PerSecond != 0 || r.AddOnly || r.Consent != "" {
		t.Fatalf("%+v", r)
	}
}

// Followers entering the segment are tagged and those leaving untagged, so the tag holds
// exactly the members; customers WeChat cannot tag are unmatched, and a repeated batch
// changes nothing.
func TestSyncMembers(t *testing.T) {
	t.Parallel()
	srv, p, tagID, ids := tagged(t, 70)
	srv.Unfollow(ids[60])
	others := []providers.Member{
		{Customer: "c-no-wechat", Values: map[string][]string{"email": {"a@example.cn"}}},
		{Customer: "c-malformed", Values: map[string][]string{"openid": {"o<script>"}}},
	}
	add := slices.Concat(fans(ids, 0, 61), others)
	for try := range 2 {
		r := syncTag(p, add, nil)
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Unmatched, []string{"c60", "c-no-wechat", "c-malformed"}) {
			t.Fatalf("try %d: unmatched %v", try, r.Unmatched)
		}
		if got := srv.Members(tagID); !slices.Equal(got, slices.Sorted(slices.Values(ids[:60]))) {
			t.Fatalf("try %d: %d tagged, want 60", try, len(got))
		}
	}
	// 20 leave (one of them no longer following), 9 join.
	r := syncTag(p, fans(ids, 61, 70), fans(ids, 41, 61))
	if err := r.Diagnostics.Err(); err != nil || len(r.Unmatched) != 0 {
		t.Fatalf("%v, unmatched %v", err, r.Unmatched)
	}
	want := slices.Sorted(slices.Values(slices.Concat(ids[:41], ids[61:70])))
	if got := srv.Members(tagID); !slices.Equal(got, want) {
		t.Fatalf("%d tagged, want %d", len(got), len(want))
	}
}

// Failures are classified as every provider error is: the engine repeats a rate limit or an
// outage, and reports the rest.
func TestSyncMembersErrors(t *testing.T) {
	t.Parallel()
	srv, p, _, ids := tagged(t, 3)
	p.retry.Attempts = 1
	for _, c := range []struct {
		status, times int
		want          providers.ErrorCode
	}{
		{429, 1, providers.ErrRateLimited}, // 45009: the day's quota
		{500, 1, providers.ErrUnavailable}, // -1: system busy
		{401, 2, providers.ErrAuth},        // 40001, and again with a fresh token
	} {
		srv.Fail(wechattest.OpUpdate, c.status, c.times)
		if got := providers.CodeOf(syncTag(p, fans(ids, 0, 3), nil).Diagnostics.Err()); got != c.want {
			t.Errorf("HTTP %d: %q, want %q", c.status, got, c.want)
		}
	}
	r := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "lapsed", Add: fans(ids, 0, 1)})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound {
		t.Errorf("a segment without a tag: %v, want not_found", r.Diagnostics.Err())
	}
}

// The ledger names a segment's tag. A tag deleted in the console is forgotten; one made again
// by the next apply takes its place.
func TestSyncMembersTagMadeAgain(t *testing.T) {
	t.Parallel()
	srv, p, tagID, ids := tagged(t, 4)
	if err := srv.Remove(providers.KindAudience, fmt.Sprint(tagID)); err != nil {
		t.Fatal(err)
	}
	if got := providers.CodeOf(syncTag(p, fans(ids, 0, 2), nil).Diagnostics.Err()); got != providers.ErrNotFound {
		t.Fatalf("a sync to a deleted tag: %q, want not_found", got)
	}
	var again int64
	fmt.Sscan(createTag(t, p, "apply-2", providers.Attrs{"segment": "loyal_store"}), &again)
	p.ledger.setSegment(context.Background(), tagID, "loyal_store") // as if the failed sync had not forgotten it
	if err := syncTag(p, fans(ids, 0, 4), nil).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Members(again); len(got) != 4 {
		t.Fatalf("%d tagged, want 4", len(got))
	}
	if tags, _ := p.ledger.segmentTags(context.Background(), "loyal_store"); !slices.Equal(tags, []int64{again}) {
		t.Fatalf("the ledger names tags %v of the segment, want %d", tags, again)
	}
	elsewhere := configure(t, srv, nil) // a machine without apply's ledger
	if got := providers.CodeOf(syncTag(elsewhere, fans(ids, 0, 1), nil).Diagnostics.Err()); got != providers.ErrNotFound {
		t.Fatalf("a sync without the ledger: %q, want not_found", got)
	}
}

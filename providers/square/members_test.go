package square_test

import (
	"context"
	"slices"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/square"
)

// customers registers n customer profiles with the seller and returns them as the engine
// passes them.
func customers(t *testing.T, p providers.Provider, n int) []providers.Member {
	srv := servers.Of(p)
	out := make([]providers.Member, n)
	for i := range n {
		id := srv.AddCustomer("c@example.jp")
		out[i] = providers.Member{Customer: "uni-" + id, Values: map[string][]string{"customer_id": {id}}}
	}
	return out
}

func memberHarness() providertest.MemberHarness {
	h := providertest.MemberHarness{
		New:       providertest.Fresh(configure, nil),
		Customers: customers,
		Members: func(t *testing.T, p providers.Provider, segment string) []string {
			srv := servers.Of(p)
			return srv.GroupMembers(srv.SegmentGroup(segment))
		},
		Unknown: map[string][]string{"customer_id": {"NOSUCHCUSTOMER000000000000"}},
	}
	return providertest.WithMemberBackstage(h, &servers, "update", attempts)
}

func TestMemberSyncer(t *testing.T) {
	t.Parallel()
	providertest.RunMemberSyncer(t, memberHarness())
}

func sync(p *square.Provider, add, remove []providers.Member) providers.SyncMembersResponse {
	return p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: add, Remove: remove, IdempotencyKey: "k"})
}

// One call a member, the group found once: a batch of three members makes three calls, and
// the next batch lists no groups again.
func TestOneCallAMember(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	if r := p.MemberRules(); r.Batch != 1 || r.PerSecond != square.MemberCallsPerSecond || !slices.Equal(r.Fields, []string{"customer_id"}) {
		t.Fatalf("rules %+v", r)
	}
	providertest.Create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store"}, "a", nil)
	ms := customers(t, p, 3)
	reads := srv.Calls("read")
	if r := sync(p, ms, nil); r.Diagnostics.HasErrors() || len(r.Unmatched) > 0 {
		t.Fatalf("%v, unmatched %v", r.Diagnostics.Err(), r.Unmatched)
	}
	if r := sync(p, nil, ms[:1]); r.Diagnostics.HasErrors() {
		t.Fatal(r.Diagnostics.Err())
	}
	if puts, deletes, lists := srv.Calls("update"), srv.Calls("delete"), srv.Calls("read")-reads; puts != 3 || deletes != 1 || lists != 1 {
		t.Fatalf("%d adds, %d removals, %d reads: want 3, 1 and the one listing of groups", puts, deletes, lists)
	}
	if got := srv.GroupMembers(srv.SegmentGroup("loyal_store")); len(got) != 2 || slices.Contains(got, ms[0].Values["customer_id"][0]) {
		t.Fatalf("members %v", got)
	}
}

// A group deleted and made again by an apply is found again: the sync goes on into the new
// group, whose ID the provider had not seen.
func TestRecreatedGroupIsFound(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	old := providertest.Create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store"}, "a", nil)
	ms := customers(t, p, 2)
	if r := sync(p, ms[:1], nil); r.Diagnostics.HasErrors() {
		t.Fatal(r.Diagnostics.Err())
	}
	if err := srv.Remove(providers.KindAudience, old); err != nil {
		t.Fatal(err)
	}
	now := providertest.Create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store"}, "b", nil)
	if r := sync(p, ms[1:], nil); r.Diagnostics.HasErrors() || len(r.Unmatched) > 0 {
		t.Fatalf("%v, unmatched %v", r.Diagnostics.Err(), r.Unmatched)
	}
	if got := srv.GroupMembers(now); !slices.Equal(got, ms[1].Values["customer_id"]) {
		t.Fatalf("the new group holds %v", got)
	}
}

// A member with several customer profiles joins with each Square knows, and is matched.
func TestMergedProfiles(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	group := providertest.Create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store"}, "a", nil)
	known := srv.AddCustomer("hana@example.jp")
	m := providers.Member{Customer: "uni-merged", Values: map[string][]string{"customer_id": {"GONE00000000000000000000", " " + known + " ", known}}}
	if r := sync(p, []providers.Member{m}, nil); r.Diagnostics.HasErrors() || len(r.Unmatched) > 0 {
		t.Fatalf("%v, unmatched %v", r.Diagnostics.Err(), r.Unmatched)
	}
	if got := srv.GroupMembers(group); !slices.Equal(got, []string{known}) {
		t.Fatalf("members %v", got)
	}
}

package shopify_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/providertest"
	"github.com/musubi-hq/musubi/providers/shopify"
)

const customerGID = "gid://shopify/Customer/"

// customers registers n customers of the shop and returns them as the engine passes them:
// every other one by the number Shopify's webhooks carry, the others by GID.
func customers(t *testing.T, p providers.Provider, n int) []providers.Member {
	srv := servers.Of(p)
	out := make([]providers.Member, n)
	for i := range n {
		id := srv.AddCustomer(fmt.Sprintf("c%d@example.jp", i))
		num := strings.TrimPrefix(id, customerGID)
		v := id
		if i%2 == 1 {
			v = num
		}
		out[i] = providers.Member{Customer: "uni-" + num, Values: map[string][]string{"customer_id": {v}}}
	}
	return out
}

func memberHarness() providertest.MemberHarness {
	h := providertest.MemberHarness{
		New:       providertest.Fresh(configure, nil),
		Customers: customers,
		Members: func(t *testing.T, p providers.Provider, segment string) []string {
			return servers.Of(p).Tagged("musubi:" + segment)
		},
		Held: func(m providers.Member) string {
			return customerGID + strings.TrimPrefix(m.Values["customer_id"][0], customerGID)
		},
		Unknown: map[string][]string{"customer_id": {customerGID + "999999"}},
	}
	return providertest.WithMemberBackstage(h, &servers, "update", attempts)
}

func TestMemberSyncer(t *testing.T) {
	t.Parallel()
	providertest.RunMemberSyncer(t, memberHarness())
}

// sync syncs one batch to segment loyal_store.
func sync(t *testing.T, p *shopify.Provider, add, remove []providers.Member) providers.SyncMembersResponse {
	t.Helper()
	return p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "loyal_store", Add: add, Remove: remove, IdempotencyKey: "k"})
}

func withAudience(t *testing.T) (*shopify.Provider, func() []string) {
	p, srv := configure(t, nil)
	create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store"}, "a", nil)
	return p, func() []string { return srv.Tagged("musubi:loyal_store") }
}

// A batch of more changes than a document carries goes in documents of MaxTagChanges
// aliased mutations, each waiting until the bucket can pay for it rather than be throttled.
func TestSyncMembersGoesInDocumentsOfFifty(t *testing.T) {
	t.Parallel()
	p, tagged := withAudience(t)
	srv := servers.Of(p)
	ms := customers(t, p, 2*shopify.MaxTagChanges+20)
	srv.SetBucket(2000, 200, 100) // enough to find the segment, not for a document of 500 points
	r := sync(t, p, ms, nil)
	if err := r.Diagnostics.Err(); err != nil || len(r.Unmatched) > 0 {
		t.Fatalf("%v, unmatched %v", err, r.Unmatched)
	}
	if got := len(tagged()); got != len(ms) {
		t.Fatalf("%d customers tagged, want %d", got, len(ms))
	}
	if n, th := srv.Calls("update"), srv.Throttled(); n != 3 || th != 0 {
		t.Fatalf("%d mutation documents, %d throttled: want 3 documents of 50, 50 and 20, none throttled", n, th)
	}
}

// MemberRules paces calls to the bucket: a Standard plan's until Shopify names the shop's.
func TestMemberRulesFollowTheBucket(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	r := p.MemberRules()
	if !slices.Equal(r.Fields, []string{"customer_id"}) || r.Batch != shopify.MaxTagChanges || r.PerSecond != 0.2 {
		t.Fatalf("rules %+v", r)
	}
	srv.SetBucket(20000, 20000, 1000) // Shopify Plus
	create(t, p, providers.KindAudience, providers.Attrs{"segment": "loyal_store"}, "a", nil)
	if r := p.MemberRules(); r.PerSecond != 2 {
		t.Fatalf("on Plus, %v calls a second; want 2 (1,000 points a second, 500 a call)", r.PerSecond)
	}
}

// A member is matched when Shopify knew one of its customer IDs; values that are no
// customer ID are never sent, since a malformed ID would fail the whole document.
func TestMemberIDs(t *testing.T) {
	t.Parallel()
	p, tagged := withAudience(t)
	srv := servers.Of(p)
	known := srv.AddCustomer("hana@example.jp")
	merged := providers.Member{Customer: "uni-merged", Values: map[string][]string{"customer_id": {customerGID + "999998", strings.TrimPrefix(known, customerGID)}}}
	malformed := providers.Member{Customer: "uni-malformed", Values: map[string][]string{"customer_id": {"abc", "gid://shopify/Order/7", "0", "-4", "0012", "99999999999999999999"}}}
	r := sync(t, p, []providers.Member{merged, malformed}, nil)
	if err := r.Diagnostics.Err(); err != nil || !slices.Equal(r.Unmatched, []string{"uni-malformed"}) {
		t.Fatalf("%v, unmatched %v", err, r.Unmatched)
	}
	if got := tagged(); !slices.Equal(got, []string{known}) {
		t.Fatalf("tagged %v", got)
	}
	before := srv.Calls("update")
	if r := sync(t, p, nil, []providers.Member{malformed}); !slices.Equal(r.Unmatched, []string{"uni-malformed"}) || srv.Calls("update") != before {
		t.Fatalf("a batch of nothing Shopify could match: unmatched %v, %d mutation calls", r.Unmatched, srv.Calls("update")-before)
	}
}

// A change Shopify refuses for another reason than an unknown customer fails the batch,
// classified, naming the customer; the engine reports it.
func TestRefusedTagFailsTheBatch(t *testing.T) {
	t.Parallel()
	p, _ := withAudience(t)
	srv := servers.Of(p)
	ms := customers(t, p, 1)
	if err := srv.Refuse("update", "tags", "", "A customer can have at most 250 tags", 1); err != nil {
		t.Fatal(err)
	}
	r := sync(t, p, ms, nil)
	err := r.Diagnostics.Err()
	if providers.CodeOf(err) != providers.ErrInvalid || !strings.Contains(err.Error(), "250 tags") || !strings.Contains(err.Error(), customerGID) {
		t.Fatalf("got %v", err)
	}
}

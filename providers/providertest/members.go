package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
)

// MemberHarness describes a MemberSyncer under test, as `musubi serve` drives it: batches of
// at most MemberRules().Batch members to the audience of one segment, each repeated with
// the same idempotency key after a crash or a temporary error. The suite makes the audience
// itself, as an apply would: Plan and Create of an audience {segment, description}.
type MemberHarness struct {
	// New returns a provider, a MemberSyncer, configured against a fresh system.
	New func(t *testing.T) providers.Provider
	// Customers makes n customers the system knows and returns them as the engine passes
	// them: Values keyed by the fields or types of the provider's MemberRules.
	Customers func(t *testing.T, p providers.Provider, n int) []providers.Member
	// Members returns the members the system holds in segment's audience, named as Held
	// names a member, in any order.
	Members func(t *testing.T, p providers.Provider, segment string) []string
	// Held names a member as Members does. Nil takes the member's first value of the rules'
	// first field (or, without fields, first type).
	Held func(m providers.Member) string
	// Unknown are the Values of a member the system knows nothing of: a well-formed ID of
	// no customer. Nil skips that case, for systems that cannot tell (hashed identifiers).
	Unknown map[string][]string
	// Remove deletes an object behind the provider's back, as Harness.Remove does
	// (WithMemberBackstage fills it). Nil skips the case of a deleted audience.
	Remove func(t *testing.T, p providers.Provider, kind providers.Kind, id string)
	// Fail makes the call that carries the next SyncMembers' single added member fail with
	// the HTTP status, through every attempt the provider makes, and returns the wait a 429
	// names (0 where the system names none). WithMemberBackstage fills it. Nil skips the
	// failure cases.
	Fail func(t *testing.T, p providers.Provider, status int) time.Duration
}

// memberRetryAfter is the wait the 429s of WithMemberBackstage ask for.
const memberRetryAfter = 3 * time.Second

// WithMemberBackstage fills h's Remove and Fail with calls to the contract server kept in
// servers for each provider: op is the operation ("update", …) of the server that carries
// an added member, attempts how many calls of it the provider makes when they fail with a
// status; the fault meets every one, and a 429 asks for a wait of three seconds.
func WithMemberBackstage[S Backstage](h MemberHarness, servers *Fixtures[S], op string, attempts func(op string, status int, lose bool) int) MemberHarness {
	h.Remove = func(t *testing.T, p providers.Provider, k providers.Kind, id string) {
		if err := servers.Of(p).Remove(k, id); err != nil {
			t.Fatal(err)
		}
	}
	h.Fail = func(t *testing.T, p providers.Provider, status int) time.Duration {
		f := contracttest.Fault{Status: status, RetryAfter: memberRetryAfter, Times: attempts(op, status, false)}
		if err := servers.Of(p).Inject(op, f); err != nil {
			t.Fatal(err)
		}
		return memberRetryAfter
	}
	return h
}

// memberSegment is the segment whose audience the suite fills.
const memberSegment = "loyal_store"

// RunMemberSyncer runs the MemberSyncer suite: members added and removed land in the
// system exactly, unknown customers are unmatched, repeated batches change nothing, and
// failures are classified so the engine knows to repeat a batch or report it.
func RunMemberSyncer(t *testing.T, h MemberHarness) {
	t.Run("rules", func(t *testing.T) { testMemberRules(t, h) })
	t.Run("sync", func(t *testing.T) { testMemberSync(t, h) })
	t.Run("unmatched", func(t *testing.T) { testUnmatched(t, h) })
	t.Run("rate-limited", func(t *testing.T) { testMemberFailure(t, h, 429, providers.ErrRateLimited) })
	t.Run("unavailable", func(t *testing.T) { testMemberFailure(t, h, 503, providers.ErrUnavailable) })
	t.Run("audience-gone", func(t *testing.T) { testAudienceGone(t, h) })
}

type memberFixture struct {
	t     *testing.T
	h     MemberHarness
	p     providers.Provider
	s     providers.MemberSyncer
	rules providers.MemberRules
	// audience is the ID of the segment's audience.
	audience string
	n        int
}

func newMemberFixture(t *testing.T, h MemberHarness) *memberFixture {
	p := h.New(t)
	t.Cleanup(func() { p.Close() })
	s, ok := p.(providers.MemberSyncer)
	if !ok {
		t.Fatalf("%T is not a providers.MemberSyncer", p)
	}
	f := &memberFixture{t: t, h: h, p: p, s: s, rules: s.MemberRules()}
	if f.rules.Batch < 1 {
		t.Fatalf("MemberRules().Batch is %d: a call carries at least one member", f.rules.Batch)
	}
	ctx := context.Background()
	attrs := providers.Attrs{"segment": memberSegment, "description": "Store regulars"}
	planned := p.Plan(ctx, providers.PlanRequest{Kind: providers.KindAudience, Proposed: attrs}).Planned
	r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, Attributes: planned, IdempotencyKey: t.Name() + "-audience"})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatalf("creating the audience of %s: %v", memberSegment, err)
	}
	f.audience = r.ID
	return f
}

func (f *memberFixture) held(m providers.Member) string {
	if f.h.Held != nil {
		return f.h.Held(m)
	}
	for _, k := range slices.Concat(f.rules.Fields, f.rules.Types) {
		if v := m.Values[k]; len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// sync sends one batch and returns the response.
func (f *memberFixture) sync(key string, add, remove []providers.Member) providers.SyncMembersResponse {
	f.t.Helper()
	if n := len(add) + len(remove); n > f.rules.Batch {
		f.t.Fatalf("the suite built a batch of %d members; the rules allow %d", n, f.rules.Batch)
	}
	return f.s.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: memberSegment, Add: add, Remove: remove, IdempotencyKey: key})
}

// apply sends the changes in batches of at most the rules' Batch members, adds first, as
// the engine does, and returns the requests it sent; a failed batch fails the test.
func (f *memberFixture) apply(add, remove []providers.Member) []providers.SyncMembersRequest {
	f.t.Helper()
	type change struct {
		m      providers.Member
		remove bool
	}
	var all []change
	for _, m := range add {
		all = append(all, change{m, false})
	}
	for _, m := range remove {
		all = append(all, change{m, true})
	}
	var sent []providers.SyncMembersRequest
	for chunk := range slices.Chunk(all, f.rules.Batch) {
		f.n++
		req := providers.SyncMembersRequest{Segment: memberSegment, IdempotencyKey: fmt.Sprintf("%s-batch-%d", f.t.Name(), f.n)}
		for _, c := range chunk {
			if c.remove {
				req.Remove = append(req.Remove, c.m)
			} else {
				req.Add = append(req.Add, c.m)
			}
		}
		f.send(req)
		sent = append(sent, req)
	}
	return sent
}

// send sends a request and fails the test unless it succeeded with every member matched.
func (f *memberFixture) send(req providers.SyncMembersRequest) {
	f.t.Helper()
	r := f.s.SyncMembers(context.Background(), req)
	if err := r.Diagnostics.Err(); err != nil {
		f.t.Fatalf("batch %s: %v", req.IdempotencyKey, err)
	}
	if len(r.Unmatched) > 0 {
		f.t.Fatalf("batch %s: customers the system knows came back unmatched: %v", req.IdempotencyKey, r.Unmatched)
	}
}

// expect checks the system holds exactly members in the audience.
func (f *memberFixture) expect(members []providers.Member, after string) {
	f.t.Helper()
	want := make([]string, len(members))
	for i, m := range members {
		want[i] = f.held(m)
	}
	got := slices.Clone(f.h.Members(f.t, f.p, memberSegment))
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		f.t.Fatalf("after %s the system holds %d members, want %d: missing %v, extra %v",
			after, len(got), len(want), absent(want, got), absent(got, want))
	}
}

// absent lists the values of a that b lacks.
func absent(a, b []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(v string) bool { return slices.Contains(b, v) })
}

// without returns ms less drop.
func without(ms, drop []providers.Member) []providers.Member {
	return slices.DeleteFunc(slices.Clone(ms), func(m providers.Member) bool {
		return slices.ContainsFunc(drop, func(d providers.Member) bool { return d.Customer == m.Customer })
	})
}

// testMemberRules: the rules name what members are matched by, and customers come keyed so.
func testMemberRules(t *testing.T, h MemberHarness) {
	f := newMemberFixture(t, h)
	r := f.rules
	if len(r.Fields)+len(r.Types) == 0 {
		t.Error("MemberRules names no field or type to match members by")
	}
	if r.PerSecond < 0 {
		t.Errorf("MemberRules().PerSecond is %v", r.PerSecond)
	}
	for _, m := range h.Customers(t, f.p, 2) {
		if f.held(m) == "" {
			t.Errorf("customer %s has no value of the rules' fields %v or types %v: %v", m.Customer, r.Fields, r.Types, m.Values)
		}
	}
}

// testMemberSync: members added, then some removed while another is added, are exactly what
// the system holds; each batch repeated with its key, and removals of absent members,
// change nothing. A system that cannot remove members is rebuilt instead.
func testMemberSync(t *testing.T, h MemberHarness) {
	f := newMemberFixture(t, h)
	n := min(2*f.rules.Batch+1, 61)
	cs := h.Customers(t, f.p, n+1)
	members, late := cs[:n], cs[n]
	f.apply(members, nil)
	f.expect(members, fmt.Sprintf("adding %d members", n))

	gone := members[:n/2+1]
	now := append(without(members, gone), late)
	if f.rules.AddOnly {
		rb, ok := f.s.(providers.MemberRebuilder)
		if !ok {
			t.Fatal("the rules say AddOnly, but the provider is no providers.MemberRebuilder")
		}
		req := providers.RebuildMembersRequest{Segment: memberSegment, Members: now, IdempotencyKey: t.Name() + "-rebuild"}
		for i := range 2 {
			r := rb.RebuildMembers(context.Background(), req)
			if err := r.Diagnostics.Err(); err != nil || len(r.Unmatched) > 0 {
				t.Fatalf("rebuild %d: %v, unmatched %v", i+1, err, r.Unmatched)
			}
			f.expect(now, fmt.Sprintf("rebuild %d of the audience", i+1))
		}
		return
	}
	sent := f.apply([]providers.Member{late}, gone)
	f.expect(now, fmt.Sprintf("removing %d members and adding one", len(gone)))
	for _, req := range sent {
		f.send(req)
	}
	f.expect(now, "repeating the same batches")
	f.apply(nil, gone[:1])
	f.expect(now, "removing a member that is no longer in the audience")
}

// testUnmatched: a member without the system's identifier, and one the system does not
// know, are unmatched, not errors; the others in their batch still land.
func testUnmatched(t *testing.T, h MemberHarness) {
	f := newMemberFixture(t, h)
	known := h.Customers(t, f.p, 1)
	batch := []providers.Member{known[0], {Customer: "uni-no-id", Values: map[string][]string{"unrelated": {"x"}}}}
	want := []string{"uni-no-id"}
	if h.Unknown != nil {
		batch = append(batch, providers.Member{Customer: "uni-unknown", Values: h.Unknown})
		want = append(want, "uni-unknown")
	}
	var got []string
	for i, chunk := range slices.Collect(slices.Chunk(batch, f.rules.Batch)) {
		r := f.sync(fmt.Sprint("unmatched-", i), chunk, nil)
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatalf("a batch with customers the system cannot match failed: %v", err)
		}
		got = append(got, r.Unmatched...)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("unmatched %v, want %v", got, want)
	}
	f.expect(known, "a batch with unmatched customers")
	if h.Unknown != nil && !f.rules.AddOnly {
		r := f.sync("unmatched-removal", nil, []providers.Member{{Customer: "uni-unknown", Values: h.Unknown}})
		if err := r.Diagnostics.Err(); err != nil || !slices.Equal(r.Unmatched, []string{"uni-unknown"}) {
			t.Fatalf("removing a customer the system does not know: %v, unmatched %v", err, r.Unmatched)
		}
	}
}

// testMemberFailure: a batch the system refuses for a while is classified so the engine
// repeats it (a rate limit with the wait it named), holds nothing of it, and lands once
// repeated.
func testMemberFailure(t *testing.T, h MemberHarness, status int, code providers.ErrorCode) {
	if h.Fail == nil {
		t.Skip("no way to make the system fail")
	}
	f := newMemberFixture(t, h)
	m := h.Customers(t, f.p, 1)
	wait := h.Fail(t, f.p, status)
	r := f.sync("failing", m, nil)
	var ae *providers.APIError
	if err := r.Diagnostics.Err(); !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("a batch failing with HTTP %d: %v, want a %s error", status, err, code)
	}
	if code == providers.ErrRateLimited && wait > 0 && ae.RetryAfter != wait {
		t.Errorf("RetryAfter is %s; the system asked for %s", ae.RetryAfter, wait)
	}
	f.expect(nil, fmt.Sprintf("a batch failing with HTTP %d", status))
	f.send(providers.SyncMembersRequest{Segment: memberSegment, Add: m, IdempotencyKey: "failing"})
	f.expect(m, "repeating the failed batch")
}

// testAudienceGone: once the audience is deleted behind the provider's back, a batch is
// not_found, which the engine reports rather than repeats.
func testAudienceGone(t *testing.T, h MemberHarness) {
	if h.Remove == nil {
		t.Skip("no way to delete the audience behind the provider's back")
	}
	f := newMemberFixture(t, h)
	cs := h.Customers(t, f.p, 2)
	f.apply(cs[:1], nil)
	h.Remove(t, f.p, providers.KindAudience, f.audience)
	r := f.sync("after-delete", cs[1:], nil)
	if err := r.Diagnostics.Err(); providers.CodeOf(err) != providers.ErrNotFound {
		t.Fatalf("a batch to a deleted audience: %v, want not_found", err)
	}
}

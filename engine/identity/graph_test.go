package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func newGraph(t testing.TB, r Rules) *Graph {
	t.Helper()
	g, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func resolve(t testing.TB, g *Graph, at time.Time, ids ...ID) Resolution {
	t.Helper()
	r, err := g.Resolve(ids, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func email(v string) ID  { return ID{"email", v} }
func phone(v string) ID  { return ID{"phone", v} }
func member(v string) ID { return ID{"member", v} }
func device(v string) ID { return ID{"device", v} }

func wantIDs(t testing.TB, what string, got []ID, want ...ID) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

var retail = Rules{Priority: []string{"member", "email", "phone", "device"}, DefaultCountry: "JP"}

func TestResolveNewAttachMerge(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)

	a := resolve(t, g, t0, email("hanako@example.jp"), phone("+819012345678"))
	if !a.Created || a.Customer == "" || len(a.Merges) != 0 {
		t.Fatalf("first event: %+v", a)
	}
	wantIDs(t, "attached", a.Attached, email("hanako@example.jp"), phone("+819012345678"))

	same := resolve(t, g, t0, phone("+819012345678"))
	if same.Customer != a.Customer || same.Created || len(same.Attached) != 0 {
		t.Fatalf("known phone: %+v", same)
	}

	more := resolve(t, g, t0, phone("+819012345678"), member("M1"))
	if more.Customer != a.Customer || more.Created {
		t.Fatalf("known phone and a new member: %+v", more)
	}
	wantIDs(t, "attached", more.Attached, member("M1"))

	b := resolve(t, g, t0, email("taro@example.jp"))
	if !b.Created || b.Customer == a.Customer {
		t.Fatalf("another person: %+v", b)
	}
	if g.Len() != 2 {
		t.Fatalf("Len %d", g.Len())
	}

	m := resolve(t, g, t0.Add(time.Hour), email("taro@example.jp"), member("M1"))
	if m.Customer != a.Customer || len(m.Merges) != 1 {
		t.Fatalf("the member number links the two: %+v", m)
	}
	mg := m.Merges[0]
	if mg.Into != a.Customer || mg.From != b.Customer || !mg.At.Equal(t0.Add(time.Hour)) || !strings.HasPrefix(mg.ID, "m_") {
		t.Errorf("merge %+v", mg)
	}
	wantIDs(t, "moved", mg.Moved, email("taro@example.jp"))
	wantIDs(t, "cause", mg.Cause, member("M1"), email("taro@example.jp"))
	if g.Len() != 1 || g.Canonical(b.Customer) != a.Customer {
		t.Errorf("Len %d, Canonical(%s) = %s", g.Len(), b.Customer, g.Canonical(b.Customer))
	}
	wantIDs(t, "identifiers", g.Identifiers(a.Customer),
		member("M1"), email("hanako@example.jp"), email("taro@example.jp"), phone("+819012345678"))
	if ids := g.Identifiers(b.Customer); len(ids) != 0 {
		t.Errorf("a merged-away customer holds %v", ids)
	}
	if c, ok := g.Lookup(email("taro@example.jp")); !ok || c != a.Customer {
		t.Errorf("Lookup = %s, %v", c, ok)
	}
	if _, ok := g.Lookup(email("nobody@example.jp")); ok {
		t.Error("Lookup found an unknown identifier")
	}
	if ms := g.Merges(a.Customer); len(ms) != 1 || ms[0].ID != mg.ID {
		t.Errorf("Merges = %+v", ms)
	}
	checkInvariants(t, g, t0)
}

func TestNothingUsable(t *testing.T) {
	t.Parallel()
	g := newGraph(t, Rules{BlockedValues: map[string][]string{"device": {"shared"}}})
	r := resolve(t, g, t0, device("shared"), ID{"email", ""}, ID{"", "x"})
	if r.Customer != "" || r.Created || g.Len() != 0 {
		t.Fatalf("%+v", r)
	}
	if len(r.Dropped) != 3 {
		t.Fatalf("dropped %+v", r.Dropped)
	}
	if r, _ := g.Resolve(nil, t0); r.Customer != "" {
		t.Fatalf("no identifiers: %+v", r)
	}
	if _, err := g.Resolve(make([]ID, MaxPerEvent+1), t0); err == nil {
		t.Fatal("an event with too many identifiers was resolved")
	}
}

// A tablet in a store is used by every customer: its device ID must never tie two people.
func TestSharedIPadNeverMerges(t *testing.T) {
	t.Parallel()
	r := retail
	r.BlockedValues = map[string][]string{"device": {"ipad-shibuya-1"}, "phone": {"090-0000-1111"}}
	r.BlockedPatterns = map[string][]*regexp.Regexp{"email": {regexp.MustCompile(`^test@`)}}
	g := newGraph(t, r)

	hanako := resolve(t, g, t0, email("hanako@example.jp"), device("ipad-shibuya-1"))
	taro := resolve(t, g, t0, email("taro@example.jp"), device("ipad-shibuya-1"))
	if hanako.Customer == taro.Customer || !taro.Created {
		t.Fatalf("the shared tablet merged two people: %s, %s", hanako.Customer, taro.Customer)
	}
	want := []Dropped{{device("ipad-shibuya-1"), "blocked value"}}
	if !slices.Equal(taro.Dropped, want) {
		t.Errorf("dropped %+v, want %+v", taro.Dropped, want)
	}
	if _, ok := g.Lookup(device("ipad-shibuya-1")); ok {
		t.Error("a blocked value was attached")
	}
	alone := resolve(t, g, t0, device("ipad-shibuya-1"))
	if alone.Customer != "" {
		t.Errorf("the tablet alone resolved to %s", alone.Customer)
	}

	// Blocked values are compared normalised: the national form blocks the E.164 one.
	p := resolve(t, g, t0, email("jiro@example.jp"), phone("+819000001111"))
	if len(p.Dropped) != 1 || p.Dropped[0].ID != phone("+819000001111") {
		t.Errorf("dropped %+v", p.Dropped)
	}
	q := resolve(t, g, t0, email("test@example.jp"), member("M9"))
	if len(q.Dropped) != 1 || q.Dropped[0].Reason != "blocked value: matches ^test@" {
		t.Errorf("dropped %+v", q.Dropped)
	}
	checkInvariants(t, g, t0)
}

// A member limit of one refuses to merge two members: the event's lowest-priority identifier
// is dropped, and the reason recorded, until what is left fits.
func TestMemberLimitRefusesMerge(t *testing.T) {
	t.Parallel()
	r := retail
	r.Limits = map[string]Limit{"member": {Max: 1}}
	g := newGraph(t, r)

	a := resolve(t, g, t0, member("M1"), email("hanako@example.jp"))
	b := resolve(t, g, t0, member("M2"), phone("+819011112222"))

	// The email (stronger than the phone) picks hanako; taking in M2's customer would give
	// her two member numbers, so the phone is dropped.
	r1 := resolve(t, g, t0, email("hanako@example.jp"), phone("+819011112222"))
	if r1.Customer != a.Customer || len(r1.Merges) != 0 || len(r1.Attached) != 0 {
		t.Fatalf("%+v", r1)
	}
	want := []Dropped{{phone("+819011112222"), "limit: the customer would hold 2 member values (max 1)"}}
	if !slices.Equal(r1.Dropped, want) {
		t.Errorf("dropped %+v, want %+v", r1.Dropped, want)
	}

	// Here the member number picks M2's customer. line_user ranks last, so it is dropped
	// first; the merge still breaks the limit, so the email goes too. As Segment does, what
	// is dropped stays dropped, though line_user alone would have fitted.
	r2 := resolve(t, g, t0, member("M2"), email("hanako@example.jp"), ID{"line_user", "U1"})
	if r2.Customer != b.Customer || len(r2.Merges) != 0 || len(r2.Attached) != 0 {
		t.Fatalf("%+v", r2)
	}
	want = []Dropped{
		{ID{"line_user", "U1"}, "limit: the customer would hold 2 member values (max 1)"},
		{email("hanako@example.jp"), "limit: the customer would hold 2 member values (max 1)"},
	}
	if !slices.Equal(r2.Dropped, want) {
		t.Errorf("dropped %+v, want %+v", r2.Dropped, want)
	}

	// A new customer with two member numbers keeps the first.
	r3 := resolve(t, g, t0, member("M3"), member("M4"))
	wantIDs(t, "attached", r3.Attached, member("M3"))
	if len(r3.Dropped) != 1 || r3.Dropped[0].ID != member("M4") {
		t.Errorf("dropped %+v", r3.Dropped)
	}
	checkInvariants(t, g, t0)
}

func TestLimitWindow(t *testing.T) {
	t.Parallel()
	g := newGraph(t, Rules{Priority: []string{"email", "anonymous_id"},
		Limits: map[string]Limit{"anonymous_id": {Max: 2, Window: 7 * 24 * time.Hour}}})
	anon := func(v string) ID { return ID{"anonymous_id", v} }
	c := resolve(t, g, t0, email("hanako@example.jp"), anon("a1")).Customer
	resolve(t, g, t0.Add(time.Hour), email("hanako@example.jp"), anon("a2"))
	r := resolve(t, g, t0.Add(24*time.Hour), email("hanako@example.jp"), anon("a3"))
	if len(r.Attached) != 0 || len(r.Dropped) != 1 ||
		r.Dropped[0].Reason != "limit: the customer would hold 3 anonymous_id values attached within 168h0m0s (max 2)" {
		t.Fatalf("third anonymous ID within a week: %+v", r)
	}
	r = resolve(t, g, t0.Add(8*24*time.Hour), email("hanako@example.jp"), anon("a3"))
	if r.Customer != c || len(r.Attached) != 1 {
		t.Fatalf("a week later: %+v", r)
	}
	checkInvariants(t, g, t0.Add(8*24*time.Hour))
}

// Tightening a limit keeps what customers hold; it only stops additions.
func TestTightenedLimitKeepsExisting(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	c := resolve(t, g, t0, email("a@example.jp"), email("b@example.jp")).Customer
	r := retail
	r.Limits = map[string]Limit{"email": {Max: 1}}
	g.SetRules(r)
	if got := resolve(t, g, t0, email("a@example.jp"), email("b@example.jp")); got.Customer != c || len(got.Dropped) != 0 {
		t.Fatalf("known emails: %+v", got)
	}
	if got := resolve(t, g, t0, email("a@example.jp"), phone("+819012345678")); got.Customer != c || len(got.Attached) != 1 {
		t.Fatalf("a phone: %+v", got)
	}
	if got := resolve(t, g, t0, email("a@example.jp"), email("c@example.jp")); len(got.Attached) != 0 || len(got.Dropped) != 1 {
		t.Fatalf("a third email: %+v", got)
	}
}

func TestPerCustomerCap(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	c := resolve(t, g, t0, member("M")).Customer
	for i := range maxPerCustomer - 1 {
		resolve(t, g, t0, member("M"), ID{"cookie", fmt.Sprint(i)})
	}
	r := resolve(t, g, t0, member("M"), ID{"cookie", "one too many"})
	if r.Customer != c || len(r.Attached) != 0 || len(r.Dropped) != 1 || !strings.Contains(r.Dropped[0].Reason, "1001 identifiers") {
		t.Fatalf("%+v", r)
	}
}

func TestSurvivor(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	older := resolve(t, g, t0, email("old@example.jp")).Customer
	younger := resolve(t, g, t0, email("young@example.jp")).Customer
	withMember := resolve(t, g, t0, member("M1")).Customer

	// Two emails, the same priority: the older customer survives, whatever the order.
	r := resolve(t, g, t0, email("young@example.jp"), email("old@example.jp"))
	if r.Customer != older || r.Merges[0].From != younger {
		t.Fatalf("%+v", r)
	}
	// A member number outranks emails, even of an older customer.
	r = resolve(t, g, t0, email("old@example.jp"), member("M1"))
	if r.Customer != withMember || r.Merges[0].From != older {
		t.Fatalf("%+v", r)
	}
}

func TestUnlistedTypesRankAfterListedAlphabetically(t *testing.T) {
	t.Parallel()
	g := newGraph(t, Rules{Priority: []string{"email"}, Limits: map[string]Limit{"zeta": {Max: 1}}})
	c := resolve(t, g, t0, ID{"zeta", "z1"}, ID{"alpha", "a"}, email("e@example.jp")).Customer
	wantIDs(t, "identifiers", g.Identifiers(c), email("e@example.jp"), ID{"alpha", "a"}, ID{"zeta", "z1"})
	other := resolve(t, g, t0, ID{"zeta", "z2"}).Customer
	// Merging would give two zeta values: zeta, the lowest, is dropped first, which ends it.
	r := resolve(t, g, t0, ID{"alpha", "a"}, ID{"zeta", "z2"})
	if r.Customer != c || len(r.Dropped) != 1 || r.Dropped[0].ID != (ID{"zeta", "z2"}) || g.Canonical(other) != other {
		t.Fatalf("%+v", r)
	}
}

// script is a reproducible history: resolutions over small pools of identifiers (so there are
// merges and limit drops), unmerges and forgets. It returns the records the engine would store;
// with redact, each forget removes the forgotten identifiers from the records before it, as
// the engine's store does.
func script(t testing.TB, g *Graph, seed uint64, steps int, redact bool) []Record {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var recs []Record
	at := t0
	types := []string{"member", "email", "phone", "device", "line_user"}
	for range steps {
		at = at.Add(time.Duration(rng.IntN(36)) * time.Hour)
		switch p := rng.IntN(20); {
		case p == 0:
			cs := liveCustomers(g)
			if len(cs) == 0 {
				continue
			}
			ms := g.Merges(cs[rng.IntN(len(cs))])
			if len(ms) == 0 {
				continue
			}
			u, err := g.Unmerge(ms[rng.IntN(len(ms))].ID, at)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, u.Record())
		case p == 1:
			cs := liveCustomers(g)
			if len(cs) == 0 {
				continue
			}
			ids, rec, err := g.Forget(cs[rng.IntN(len(cs))])
			if err != nil {
				t.Fatal(err)
			}
			if redact {
				for i := range recs {
					recs[i].Redact(func(id ID) bool { return slices.Contains(ids, id) })
				}
			}
			recs = append(recs, rec)
		default:
			var ids []ID
			for range 1 + rng.IntN(4) {
				typ := types[rng.IntN(len(types))]
				ids = append(ids, ID{typ, fmt.Sprintf("%s-%d", typ, rng.IntN(40))})
			}
			r, err := g.Resolve(ids, at)
			if err != nil {
				t.Fatal(err)
			}
			if r.Created || len(r.Attached) > 0 || len(r.Merges) > 0 {
				recs = append(recs, r.Record())
			}
		}
	}
	return recs
}

func liveCustomers(g *Graph) []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []string
	for c := range g.customers {
		if g.customers[c].state == live {
			out = append(out, g.uid(uint32(c)))
		}
	}
	return out
}

var scriptRules = Rules{Priority: []string{"member", "email", "phone"}, DefaultCountry: "JP",
	Limits:        map[string]Limit{"member": {Max: 1}, "device": {Max: 2, Window: 72 * time.Hour}},
	BlockedValues: map[string][]string{"device": {"device-0"}}}

func TestDeterministicIDs(t *testing.T) {
	t.Parallel()
	a, b := newGraph(t, scriptRules), newGraph(t, scriptRules)
	ra, rb := script(t, a, 1, 600, false), script(t, b, 1, 600, false)
	ja, _ := json.Marshal(ra)
	jb, _ := json.Marshal(rb)
	if string(ja) != string(jb) {
		t.Fatal("the same events gave different records")
	}
	if dump(a) != dump(b) {
		t.Fatal("the same events gave different graphs")
	}
	// The Uni-ID of a customer is c_ and 20 base32 characters of the SHA-256 of the type and
	// value of its strongest identifier.
	g := newGraph(t, retail)
	if c := resolve(t, g, t0, email("hanako@example.jp"), phone("+819012345678")).Customer; c != "c_nlg2tk6olg6kfn6gkzk5" {
		t.Errorf("the Uni-ID of hanako@example.jp is %s", c)
	}
}

func TestUIDCollisionGetsSuffix(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	first := resolve(t, g, t0, email("hanako@example.jp")).Customer
	if _, _, err := g.Forget(first); err != nil {
		t.Fatal(err)
	}
	again := resolve(t, g, t0, email("hanako@example.jp"))
	if !again.Created || again.Customer != first+"-2" {
		t.Fatalf("re-created as %s after %s was forgotten", again.Customer, first)
	}
	if g.Canonical(first) != "" || g.Canonical(again.Customer) != again.Customer {
		t.Errorf("Canonical: %q, %q", g.Canonical(first), g.Canonical(again.Customer))
	}
}

func TestMergeChainAndCanonical(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	a := resolve(t, g, t0, email("a@example.jp")).Customer
	b := resolve(t, g, t0, phone("+819000000001")).Customer
	c := resolve(t, g, t0, member("M1")).Customer
	ab := resolve(t, g, t0, email("a@example.jp"), phone("+819000000001")).Merges[0]
	ca := resolve(t, g, t0.Add(time.Minute), member("M1"), email("a@example.jp")).Merges[0]
	if ab.Into != a || ab.From != b || ca.Into != c || ca.From != a {
		t.Fatalf("merges %+v %+v", ab, ca)
	}
	for _, x := range []string{a, b, c} {
		if got := g.Canonical(x); got != c {
			t.Errorf("Canonical(%s) = %s, want %s", x, got, c)
		}
	}
	if g.Canonical("c_nobody") != "" {
		t.Error("an unknown customer has a canonical one")
	}
	if ms := g.Merges(c); len(ms) != 1 || ms[0].ID != ca.ID {
		t.Errorf("Merges(c) = %+v", ms)
	}
	if ms := g.Merges(a); len(ms) != 1 || ms[0].ID != ab.ID {
		t.Errorf("Merges(a) = %+v", ms)
	}
	wantIDs(t, "moved", ca.Moved, email("a@example.jp"), phone("+819000000001"))
	checkInvariants(t, g, t0)
}

func TestUnmergeRestoresBothSides(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	a := resolve(t, g, t0, email("hanako@example.jp"), phone("+819012345678")).Customer
	b := resolve(t, g, t0, member("M1"), phone("+819087654321")).Customer
	aIDs, bIDs := g.Identifiers(a), g.Identifiers(b)

	// At the shared tablet, someone types hanako's email and another member's number.
	m := resolve(t, g, t0.Add(time.Hour), member("M1"), email("hanako@example.jp")).Merges[0]
	if m.Into != b || m.From != a {
		t.Fatalf("merge %+v", m)
	}
	later := resolve(t, g, t0.Add(2*time.Hour), member("M1"), ID{"line_user", "U1"})
	wantIDs(t, "attached after the merge", later.Attached, ID{"line_user", "U1"})

	u, err := g.Unmerge(m.ID, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if u.Merge != m.ID || u.Into != b || u.From != a {
		t.Errorf("unmerge %+v", u)
	}
	wantIDs(t, "restored", u.Restored, aIDs...)
	wantIDs(t, "the merged-away side", g.Identifiers(a), aIDs...)
	wantIDs(t, "the survivor", g.Identifiers(b), append(slices.Clone(bIDs), ID{"line_user", "U1"})...)
	if g.Canonical(a) != a || g.Len() != 2 || len(g.Merges(b)) != 0 {
		t.Errorf("Canonical %s, Len %d, Merges %v", g.Canonical(a), g.Len(), g.Merges(b))
	}
	if c, _ := g.Lookup(email("hanako@example.jp")); c != a {
		t.Errorf("hanako's email resolves to %s", c)
	}

	if _, err := g.Unmerge(m.ID, t0); err == nil || !strings.Contains(err.Error(), "already undone") {
		t.Errorf("undoing twice: %v", err)
	}
	if _, err := g.Unmerge("m_nothing", t0); !errors.Is(err, ErrUnknown) {
		t.Errorf("an unknown merge: %v", err)
	}
	checkInvariants(t, g, t0)
}

func TestUnmergeInsideALaterMerge(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	a := resolve(t, g, t0, email("a@example.jp")).Customer
	b := resolve(t, g, t0, phone("+819000000002")).Customer
	z := resolve(t, g, t0, member("Z")).Customer
	ab := resolve(t, g, t0, email("a@example.jp"), phone("+819000000002")).Merges[0]
	za := resolve(t, g, t0, member("Z"), email("a@example.jp")).Merges[0]

	// Undo the inner merge while its survivor is itself merged away: b comes back out of z.
	if _, err := g.Unmerge(ab.ID, t0); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "b", g.Identifiers(b), phone("+819000000002"))
	wantIDs(t, "z", g.Identifiers(z), member("Z"), email("a@example.jp"))
	if g.Canonical(b) != b || g.Canonical(a) != z {
		t.Errorf("Canonical(b) %s, Canonical(a) %s", g.Canonical(b), g.Canonical(a))
	}
	// Undoing the outer one gives a only what is still in z.
	u, err := g.Unmerge(za.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "restored", u.Restored, email("a@example.jp"))
	wantIDs(t, "z", g.Identifiers(z), member("Z"))
	if g.Len() != 3 {
		t.Errorf("Len %d", g.Len())
	}
	checkInvariants(t, g, t0)
}

func TestForget(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	a := resolve(t, g, t0, email("hanako@example.jp"), phone("+819012345678")).Customer
	b := resolve(t, g, t0, member("M1")).Customer
	other := resolve(t, g, t0, email("taro@example.jp")).Customer
	m := resolve(t, g, t0, member("M1"), email("hanako@example.jp")).Merges[0]

	// Forgetting by the merged-away ID erases the whole person.
	ids, rec, err := g.Forget(a)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "forgotten", ids, member("M1"), email("hanako@example.jp"), phone("+819012345678"))
	if rec.Op != OpForget || rec.Customer != b {
		t.Errorf("record %+v", rec)
	}
	for _, id := range ids {
		if c, ok := g.Lookup(id); ok {
			t.Errorf("%v still resolves to %s", id, c)
		}
	}
	for _, c := range []string{a, b} {
		if g.Canonical(c) != "" || len(g.Identifiers(c)) != 0 || len(g.Merges(c)) != 0 {
			t.Errorf("%s still resolves", c)
		}
	}
	if _, err := g.Unmerge(m.ID, t0); !errors.Is(err, ErrUnknown) {
		t.Errorf("unmerging a forgotten person's merge: %v", err)
	}
	if g.Len() != 1 || g.Canonical(other) != other {
		t.Errorf("Len %d", g.Len())
	}
	if _, _, err := g.Forget(b); err == nil {
		t.Error("forgetting twice")
	}
	if _, _, err := g.Forget("c_nobody"); !errors.Is(err, ErrUnknown) {
		t.Errorf("forgetting nobody: %v", err)
	}
	// The person may come back; the old IDs stay gone.
	back := resolve(t, g, t0, member("M1"))
	if !back.Created || back.Customer == b {
		t.Errorf("came back as %+v", back)
	}
	checkInvariants(t, g, t0)
}

func TestReplayReproducesTheGraph(t *testing.T) {
	t.Parallel()
	// Redacted too: a forget removes the forgotten identifiers from the records before it.
	for seed := range uint64(8) {
		redact := seed >= 4
		live := newGraph(t, scriptRules)
		recs := script(t, live, seed, 800, redact)
		if plain := script(t, newGraph(t, scriptRules), seed, 800, false); redact && fmt.Sprint(plain) == fmt.Sprint(recs) {
			t.Fatalf("seed %d: nothing was redacted", seed)
		}

		// Through JSON, as the engine stores them.
		replayed := newGraph(t, Rules{}) // replay never consults the rules
		for i, rec := range recs {
			body, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			var back Record
			if err := json.Unmarshal(body, &back); err != nil {
				t.Fatal(err)
			}
			if err := replayed.Replay(back); err != nil {
				t.Fatalf("seed %d record %d %s: %v", seed, i, body, err)
			}
		}
		replayed.SetRules(scriptRules)
		if got, want := dump(replayed), dump(live); got != want {
			t.Fatalf("seed %d: replayed graph differs:\n%s", seed, firstDiff(got, want))
		}
		if got, want := snapshot(t, replayed), snapshot(t, live); got != want {
			t.Fatalf("seed %d: snapshots differ", seed)
		}
		// And both go on the same way.
		a, b := script(t, live, seed+100, 200, false), script(t, replayed, seed+100, 200, false)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Fatalf("seed %d: the graphs diverge after replay", seed)
		}
		checkInvariants(t, replayed, time.Time{})
	}
}

func TestReplayRejectsWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	g := newGraph(t, retail)
	r := resolve(t, g, t0, email("hanako@example.jp"))
	before := dump(g)
	bad := []Record{
		{Op: "rename"},
		r.Record(), // created twice
		{Op: OpResolve, Customer: "c_nobody", Attached: []ID{email("x@example.jp")}},
		{Op: OpResolve, Customer: "c_new", Created: true, Attached: []ID{email("hanako@example.jp")}},
		{Op: OpResolve, Customer: r.Customer, Merges: []Merge{{ID: "m_1", Into: r.Customer, From: "c_nobody"}}},
		{Op: OpResolve, Customer: r.Customer, Merges: []Merge{{ID: "m_1", Into: r.Customer, From: r.Customer}}},
		{Op: OpUnmerge, Merge: "m_nothing"},
		{Op: OpForget, Customer: "c_nobody"},
	}
	for _, rec := range bad {
		if err := g.Replay(rec); err == nil {
			t.Errorf("replayed %+v", rec)
		}
		if dump(g) != before {
			t.Fatalf("a rejected record %+v changed the graph", rec)
		}
	}
}

func TestResolveBatchIsResolveInOrder(t *testing.T) {
	t.Parallel()
	recs := customerBase(5_000)
	for _, r := range []Rules{benchRules, scriptRules} {
		batch, one := newGraph(t, r), newGraph(t, r)
		got, err := batch.ResolveBatch(recs, t0)
		if err != nil {
			t.Fatal(err)
		}
		for i, rec := range recs {
			res := resolve(t, one, t0, rec...)
			if got[i] != res.Customer {
				t.Fatalf("record %d: batch %s, one by one %s", i, got[i], res.Customer)
			}
		}
		if dump(batch) != dump(one) {
			t.Fatal("the graphs differ")
		}
		checkInvariants(t, batch, t0)
	}
	if _, err := newGraph(t, retail).ResolveBatch([][]ID{make([]ID, MaxPerEvent+1)}, t0); err == nil {
		t.Error("a record with too many identifiers")
	}
}

func TestResolveKnownAllocatesNothing(t *testing.T) {
	g := newGraph(t, retail)
	ids := []ID{email("hanako@example.jp"), phone("+819012345678"), member("M1")}
	resolve(t, g, t0, ids...)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := g.Resolve(ids, t0); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("resolving a known customer allocates %v times", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	g := newGraph(t, scriptRules)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 600 {
				ids := []ID{email(fmt.Sprintf("e%d", rng.IntN(300))), phone(fmt.Sprintf("p%d", rng.IntN(300)))}
				r, err := g.Resolve(ids, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if i%20 == 0 && len(r.Merges) > 0 && w == 0 {
					if _, err := g.Unmerge(r.Merges[0].ID, t0); err != nil {
						t.Error(err)
						return
					}
				}
				g.Identifiers(g.Canonical(r.Customer))
				g.Lookup(ids[0])
				g.Merges(r.Customer)
				g.Len()
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			var b strings.Builder
			if err := g.Snapshot(&b); err != nil {
				t.Error(err)
			}
			g.SetRules(scriptRules)
		}
	})
	wg.Wait()
	checkInvariants(t, g, t0)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    Rules
		want string
	}{
		{Rules{Priority: []string{"email", "email"}}, `"email" appears twice`},
		{Rules{Priority: []string{""}}, "empty identifier type"},
		{Rules{Limits: map[string]Limit{"member": {Max: 0}}}, "at least 1"},
		{Rules{Limits: map[string]Limit{"member": {Max: 1, Window: -time.Hour}}}, "negative window"},
		{Rules{BlockedPatterns: map[string][]*regexp.Regexp{"email": {nil}}}, "nil"},
		{Rules{DefaultCountry: "XX"}, `default country "XX"`},
	} {
		if _, err := New(c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.r, err, c.want)
		}
	}
	if _, err := New(Rules{DefaultCountry: "jp"}); err != nil {
		t.Error(err)
	}
}

// SetRules copies the rules: changing the caller's maps afterwards changes nothing.
func TestRulesAreCopied(t *testing.T) {
	t.Parallel()
	r := Rules{BlockedValues: map[string][]string{"device": {"shared"}}}
	g := newGraph(t, r)
	r.BlockedValues["device"][0] = "other"
	if got := resolve(t, g, t0, device("shared")); got.Customer != "" {
		t.Error("the blocked value changed under the graph")
	}
	if g.Rules().BlockedValues["device"][0] != "shared" {
		t.Error("Rules() does not show the rules in force")
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

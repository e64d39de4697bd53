package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/meta/metatest"
	"github.com/musubi-hq/musubi/providers/providertest"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"hanako@example.jp", "hanako@example.jp"},
		{"  Hanako.Yamada@Example.JP \t", "hanako.yamada@example.jp"},
		{"ÉLODIE@exemple.fr", "élodie@exemple.fr"},
		{"a+tag@shop.example.com", "a+tag@shop.example.com"},
		{"", ""},
		{"hanako", ""},
		{"@example.jp", ""},
		{"hanako@", ""},
		{"hanako@localhost", ""},
		{"hanako@@example.jp", ""},
		{"han ako@example.jp", ""},
		{"hanako@example.jp.", ""},
		{"hanako@.example.jp", ""},
		{"a@b@example.jp", ""},
		{"hanako\n@example.jp", ""},
	} {
		got, ok := NormalizeEmail(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"+819012345678", "819012345678"},
		{"+81 90-1234-5678", "819012345678"},
		{" +1 (415) 555.2671 ", "14155552671"},
		{"0081 90 1234 5678", "819012345678"},
		{"819012345678", "819012345678"},
		{"+0081 90 1234 5678", "819012345678"},
		{"090-1234-5678", ""},    // national: no country code
		{"+81 90-1234-567x", ""}, // letters
		{"+81 90/1234/5678", ""},
		{"+123456", ""},                    // too short for a number
		{"+1234567890123456", ""},          // longer than E.164 allows
		{"+0000000000000000000000000", ""}, // zeros only
		{"", ""},
		{"+", ""},
	} {
		got, ok := NormalizePhone(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	// FIPS 180-2's example of SHA-256.
	if h := Hash("abc"); h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Hash(abc) = %s", h)
	}
}

// member makes the i-th test customer, with an email address and a phone number, consenting.
func member(i int) Member {
	return Member{Customer: fmt.Sprint("cus_", i), Emails: []string{fmt.Sprintf(" Customer%d@Example.JP", i)},
		Phones: []string{fmt.Sprintf("+81 90-%04d-%04d", i/10000, i%10000)}, AdsConsent: true}
}

// hashes are the hashes the server should hold for members.
func hashes(ms ...Member) []string {
	var out []string
	for _, m := range ms {
		for _, e := range m.Emails {
			n, _ := NormalizeEmail(e)
			out = append(out, Hash(n))
		}
		for _, p := range m.Phones {
			n, _ := NormalizePhone(p)
			out = append(out, Hash(n))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// newAudience makes an audience on p and returns its ID.
func newAudience(t testing.TB, p *Provider) string {
	t.Helper()
	return providertest.Create(t, p, providers.KindAudience, providers.Attrs{"segment": "low_awareness"}, "audience", nil)
}

// An upload of more than 10,000 rows goes in batches of one session, numbered from 1, the
// last closing it; the audience holds every hash, once.
func TestAddMembersInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	ms := make([]Member, 2*MaxRows+1)
	for i := range ms {
		ms[i] = member(i)
	}
	up, err := p.AddMembers(ctx, id, "sync-1", ms)
	if err != nil {
		t.Fatal(err)
	}
	if up.Batches != 3 || up.Rows != len(ms) || up.Received != int64(len(ms)) || up.Invalid != 0 || up.SessionID == 0 {
		t.Fatalf("upload %+v", up)
	}
	sessions := srv.Sessions(id)
	if len(sessions) != 1 || sessions[0].ID != up.SessionID || sessions[0].Batches != 3 || !sessions[0].Closed ||
		sessions[0].Estimated != int64(len(ms)) || sessions[0].Received != int64(len(ms)) {
		t.Fatalf("sessions %+v", sessions)
	}
	if got := srv.Members(id); !slices.Equal(got, hashes(ms...)) {
		t.Fatalf("the audience holds %d hashes, want %d", len(got), 2*len(ms))
	}
	// The same members in another order, under the same key, are the same upload.
	slices.Reverse(ms)
	again, err := p.AddMembers(ctx, id, "sync-1", ms)
	if err != nil || again.SessionID != up.SessionID {
		t.Fatalf("the same upload again: %+v, %v; want session %d", again, err, up.SessionID)
	}
	if s := srv.Sessions(id); len(s) != 1 || s[0].Received != int64(len(ms)) {
		t.Fatalf("the same upload again was applied again: %+v", s)
	}
}

// Only hashes leave Musubi: no request holds an address or a number as the customer gave it,
// nor Musubi's customer ID.
func TestOnlyHashesLeave(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	ms := []Member{member(1), member(2)}
	if _, err := p.AddMembers(context.Background(), id, "k", ms); err != nil {
		t.Fatal(err)
	}
	if _, err := p.RemoveMembers(context.Background(), id, "k", ms[:1]); err != nil {
		t.Fatal(err)
	}
	for _, c := range srv.Received() {
		body := string(c.Body)
		for _, m := range ms {
			for _, raw := range []string{"customer1@example.jp", "customer2@example.jp", "819000000001", "90-0000-0001", "%40", m.Customer} {
				if strings.Contains(strings.ToLower(body), strings.ToLower(raw)) && c.Op == metatest.OpUsers {
					t.Fatalf("%s %s sends %q", c.Method, c.Path, raw)
				}
			}
		}
	}
}

// Members with nothing usable are unmatched, members without consent to ads withheld: nothing
// of theirs is sent, and neither is an error. An upload of no one makes no call.
func TestUnmatchedAndWithheld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	nothing := Member{Customer: "cus_none"}
	unusable := Member{Customer: "cus_bad", Emails: []string{"not an address"}, Phones: []string{"090-1234-5678"}, AdsConsent: true}
	refused := member(3)
	refused.AdsConsent = false
	before := srv.Calls(metatest.OpUsers)
	up, err := p.AddMembers(ctx, id, "k1", []Member{nothing, unusable, refused})
	if err != nil || up.Batches != 0 || srv.Calls(metatest.OpUsers) != before {
		t.Fatalf("an upload of no one: %+v, %v, %d calls", up, err, srv.Calls(metatest.OpUsers)-before)
	}
	if len(up.Withheld) != 2 || len(up.Unmatched) != 1 || up.Unmatched[0].Customer != "cus_bad" {
		t.Fatalf("withheld %v, unmatched %v", up.Withheld, up.Unmatched)
	}
	// One email address is enough; a second address pairs with no phone.
	only := Member{Emails: []string{"a@example.jp", "b@example.jp"}, Phones: []string{"not a number"}, AdsConsent: true}
	up, err = p.AddMembers(ctx, id, "k2", []Member{only, refused})
	if err != nil || up.Rows != 2 || len(up.Unmatched) != 0 || len(up.Withheld) != 1 {
		t.Fatalf("%+v, %v", up, err)
	}
	if got := srv.Members(id); !slices.Equal(got, hashes(Member{Emails: only.Emails})) {
		t.Fatalf("the audience holds %v", got)
	}
}

// RemoveMembers takes the hashes out, whatever the member's consent: withdrawing consent is
// how a customer leaves an ad audience.
func TestRemoveMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	ms := []Member{member(1), member(2), member(3)}
	if _, err := p.AddMembers(ctx, id, "add", ms); err != nil {
		t.Fatal(err)
	}
	gone := ms[1]
	gone.AdsConsent = false
	up, err := p.RemoveMembers(ctx, id, "withdrawn", []Member{gone})
	if err != nil || up.Rows != 1 || len(up.Withheld) != 0 {
		t.Fatalf("%+v, %v", up, err)
	}
	if got := srv.Members(id); !slices.Equal(got, hashes(ms[0], ms[2])) {
		t.Fatalf("after the removal the audience holds %d hashes", len(got))
	}
	// Adding them back under a new key is a new session, applied.
	if _, err := p.AddMembers(ctx, id, "back", []Member{ms[1]}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Members(id); !slices.Equal(got, hashes(ms...)) {
		t.Fatalf("after adding back the audience holds %d hashes", len(got))
	}
	if len(srv.Sessions(id)) != 3 {
		t.Fatalf("sessions %+v", srv.Sessions(id))
	}
}

// A batch whose answer was lost is sent again in the same session; Meta answers it as before
// and applies nothing twice.
func TestLostBatchAppliesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	ms := make([]Member, MaxRows+5)
	for i := range ms {
		ms[i] = member(i)
	}
	if err := srv.Lose(metatest.OpUsers, 1); err != nil {
		t.Fatal(err)
	}
	up, err := p.AddMembers(ctx, id, "lost", ms)
	if err != nil || up.Received != int64(len(ms)) || up.Batches != 2 {
		t.Fatalf("%+v, %v", up, err)
	}
	if n := srv.Calls(metatest.OpUsers); n != 3 {
		t.Fatalf("%d calls, want 3: batch 1 lost and sent again, batch 2", n)
	}
	if s := srv.Sessions(id); len(s) != 1 || s[0].Received != int64(len(ms)) || !s[0].Closed {
		t.Fatalf("session %+v", s)
	}
}

// throttleNth answers the nth upload request with Meta's custom audience rate limit, without
// sending it on.
type throttleNth struct {
	next    http.RoundTripper
	n, seen atomic.Int32
	minutes int
}

func (t *throttleNth) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/users") && t.seen.Add(1) == t.n.Load() {
		body := `{"error":{"message":"too many calls","code":80003}}`
		h := http.Header{"Content-Type": {"application/json"}, "X-Business-Use-Case-Usage": {fmt.Sprintf(
			`{"1":[{"type":"custom_audience","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":%d}]}`, t.minutes)}}
		return &http.Response{StatusCode: 400, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
	return t.next.RoundTrip(r)
}

// A rate limit of minutes goes back to the caller with the wait, after the batches Meta took;
// the caller's retry under the same key continues the session where it stopped.
func TestRateLimitedUploadResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	tr := &throttleNth{next: http.DefaultTransport, minutes: 5}
	tr.n.Store(2)
	p.http.Transport = tr
	ms := make([]Member, 2*MaxRows+1)
	for i := range ms {
		ms[i] = member(i)
	}
	up, err := p.AddMembers(ctx, id, "sync", ms)
	var ae *providers.APIError
	if !errors.As(err, &ae) || ae.Code != providers.ErrRateLimited || ae.RetryAfter != 5*time.Minute || up.Rows != MaxRows {
		t.Fatalf("%+v, %v", up, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("after %d of %d rows", MaxRows, len(ms))) {
		t.Fatalf("the error does not say how far the upload got: %v", err)
	}
	again, err := p.AddMembers(ctx, id, "sync", ms)
	if err != nil || again.SessionID != up.SessionID || again.Received != int64(len(ms)) {
		t.Fatalf("the retry: %+v, %v", again, err)
	}
	if s := srv.Sessions(id); len(s) != 1 || s[0].Received != int64(len(ms)) || s[0].Batches != 3 {
		t.Fatalf("session %+v", s)
	}
	if got := srv.Members(id); len(got) != 2*len(ms) {
		t.Fatalf("the audience holds %d hashes, want %d", len(got), 2*len(ms))
	}
}

// The same key with other members is another upload: a session of its own, all applied.
func TestSameKeyOtherMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	a, err := p.AddMembers(ctx, id, "daily", []Member{member(1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.AddMembers(ctx, id, "daily", []Member{member(2)})
	if err != nil || b.SessionID == a.SessionID {
		t.Fatalf("%+v, %v", b, err)
	}
	if got := srv.Members(id); !slices.Equal(got, hashes(member(1), member(2))) {
		t.Fatalf("the audience holds %v", got)
	}
}

// Uploads to an audience that is gone, or to something that is no audience ID, fail clearly.
func TestUploadErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	if err := srv.Remove(providers.KindAudience, id); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddMembers(ctx, id, "k", []Member{member(1)}); providers.CodeOf(err) != providers.ErrNotFound {
		t.Fatalf("an upload to a deleted audience: %v", err)
	}
	if _, err := p.RemoveMembers(ctx, "segment.x", "k", []Member{member(1)}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Fatalf("an upload to no audience ID: %v", err)
	}
	if err := srv.Inject(metatest.OpUsers, contracttest.Fault{Status: 401}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddMembers(ctx, newAudience(t, p), "k", []Member{member(1)}); providers.CodeOf(err) != providers.ErrAuth {
		t.Fatalf("a refused token: %v", err)
	}
}

// customers are the test customers from to to-1 as the engine sends them: identifiers by
// type, no consent (the engine sent only those who gave it).
func customers(from, to int) ([]providers.Member, []Member) {
	var out []providers.Member
	var ms []Member
	for i := from; i < to; i++ {
		m := member(i)
		ms = append(ms, m)
		out = append(out, providers.Member{Customer: m.Customer, Values: map[string][]string{"email": m.Emails, "phone": m.Phones}})
	}
	return out, ms
}

func syncAudience(p *Provider, add, remove []providers.Member, key string) providers.SyncMembersResponse {
	return p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "low_awareness", Add: add, Remove: remove, IdempotencyKey: key})
}

func TestMemberRules(t *testing.T) {
	t.Parallel()
	r := New().MemberRules()
	if !slices.Equal(r.Types, []string{"email", "phone"}) || len(r.Fields) != 0 || r.Batch != 10_000 || r.PerSecond != 1 || r.Consent != "ads" || r.AddOnly {
		t.Fatalf("%+v", r)
	}
}

// Joiners are added and leavers removed, so the audience holds exactly the members' hashes;
// a customer with nothing Meta can match is unmatched; a batch repeated after a crash is the
// same sessions, and Meta applies no row twice.
func TestSyncMembers(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	add, ms := customers(0, 30)
	nothing := providers.Member{Customer: "c-nothing", Values: map[string][]string{"email": {"not an address"}, "phone": {"090-1234-5678"}}}
	for try := range 2 {
		r := syncAudience(p, append(slices.Clone(add), nothing), nil, "b1")
		if err := r.Diagnostics.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Unmatched, []string{"c-nothing"}) {
			t.Fatalf("try %d: unmatched %v", try, r.Unmatched)
		}
		if got := srv.Members(id); !slices.Equal(got, hashes(ms...)) {
			t.Fatalf("try %d: %d hashes, want %d", try, len(got), len(hashes(ms...)))
		}
	}
	if s := srv.Sessions(id); len(s) != 1 || s[0].Received != 30 {
		t.Fatalf("sessions %+v: want one of 30 rows, the repeat applied once", s)
	}
	join, joined := customers(30, 35)
	leave, _ := customers(0, 10)
	if err := syncAudience(p, join, leave, "b2").Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := srv.Members(id), hashes(slices.Concat(ms[10:], joined)...); !slices.Equal(got, want) {
		t.Fatalf("%d hashes, want %d", len(got), len(want))
	}
}

// A batch whose upload failed half-way goes back to the engine, which repeats it under the
// same key: the session continues and no batch is applied twice.
func TestSyncMembersRepeatedAfterFailure(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	add, ms := customers(0, MaxRows+5)
	srv.Inject(metatest.OpUsers, contracttest.Fault{Delay: time.Millisecond})              // the first batch goes
	srv.Inject(metatest.OpUsers, contracttest.Fault{Status: 500, Times: retries.Attempts}) // the second fails every try
	r := syncAudience(p, add, nil, "b1")
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrUnavailable {
		t.Fatalf("%v, want unavailable", r.Diagnostics.Err())
	}
	if err := syncAudience(p, add, nil, "b1").Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Members(id); !slices.Equal(got, hashes(ms...)) {
		t.Fatalf("%d hashes, want %d", len(got), len(hashes(ms...)))
	}
	if s := srv.Sessions(id); len(s) != 1 || s[0].Received != int64(len(ms)) || !s[0].Closed || s[0].Batches != 2 {
		t.Fatalf("sessions %+v: want one, every row applied once", s)
	}
}

// Failures are classified as every provider error is: the engine repeats a rate limit or an
// outage, and reports the rest.
func TestSyncMembersErrors(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	newAudience(t, p)
	p.retry.Attempts = 1
	add, _ := customers(0, 2)
	for status, want := range map[int]providers.ErrorCode{429: providers.ErrRateLimited, 500: providers.ErrUnavailable,
		503: providers.ErrUnavailable, 401: providers.ErrAuth, 403: providers.ErrAuth} {
		srv.Fail(metatest.OpUsers, status, 1)
		if got := providers.CodeOf(syncAudience(p, add, nil, "b").Diagnostics.Err()); got != want {
			t.Errorf("HTTP %d: %q, want %q", status, got, want)
		}
	}
	r := p.SyncMembers(context.Background(), providers.SyncMembersRequest{Segment: "lapsed", Add: add})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound {
		t.Errorf("a segment without an audience: %v, want not_found", r.Diagnostics.Err())
	}
}

// The segment's audience is found by its mark, once; an audience replaced since (an apply
// elsewhere) is found again.
func TestSyncMembersFindsAudience(t *testing.T) {
	t.Parallel()
	p, srv := configure(t, nil)
	id := newAudience(t, p)
	add, ms := customers(0, 3)
	syncAudience(p, add, nil, "b1")
	reads := srv.Calls(metatest.OpRead)
	syncAudience(p, add, nil, "b2")
	if n := srv.Calls(metatest.OpRead) - reads; n != 0 {
		t.Fatalf("a second sync listed the audiences %d times", n)
	}
	if err := srv.Remove(providers.KindAudience, id); err != nil {
		t.Fatal(err)
	}
	other := New() // another process on the same ad account
	providertest.Configure(t, other, "meta.ads", map[string]any{"ad_account_id": srv.AdAccount, "access_token": srv.Token, "api_url": srv.URL}, nil)
	again := newAudience(t, other)
	if err := syncAudience(p, add, nil, "b3").Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Members(again); !slices.Equal(got, hashes(ms...)) {
		t.Fatalf("the audience made again holds %d hashes, want %d", len(got), len(hashes(ms...)))
	}
}

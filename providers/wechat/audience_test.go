package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/wechat/wechattest"
)

func createTag(t *testing.T, p *Provider, key string, attrs providers.Attrs) string {
	t.Helper()
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: key, Attributes: tagKind{}.plan(attrs)})
	if err := r.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// followers makes n followers of the account.
func followers(srv *wechattest.Server, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = srv.Follow("", "")
	}
	return out
}

// Tagging goes 50 openids a call, WeChat's most; untagging likewise.
func TestMembersBatchedBy50(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	ctx := context.Background()
	id := createTag(t, p, "k", providers.Attrs{"segment": "loyal_store"})
	ids := followers(srv, 120)
	if err := p.AddMembers(ctx, id, append(ids, ids[:7]...)); err != nil { // repeats are sent once
		t.Fatal(err)
	}
	if n := srv.Calls(wechattest.OpUpdate); n != 3 {
		t.Fatalf("120 openids took %d calls, want 3 (50, 50, 20)", n)
	}
	var tagID int64
	fmt.Sscan(id, &tagID)
	if got := srv.Members(tagID); len(got) != 120 {
		t.Fatalf("%d followers tagged, want 120", len(got))
	}
	for _, c := range srv.Received() {
		var body struct {
			OpenIDs []string `json:"openid_list"`
		}
		json.Unmarshal(c.Body, &body)
		if c.Op == wechattest.OpUpdate && len(body.OpenIDs) > MaxTagging {
			t.Fatalf("a call carried %d openids", len(body.OpenIDs))
		}
	}
	if err := p.RemoveMembers(ctx, id, ids[:60]); err != nil {
		t.Fatal(err)
	}
	if got, calls := srv.Members(tagID), srv.Calls(wechattest.OpUpdate); len(got) != 60 || calls != 5 {
		t.Fatalf("%d followers tagged after untagging 60, in %d calls in all; want 60, in 5", len(got), calls)
	}
}

// WeChat refuses a whole tagging call for one openid that no longer follows: the provider
// halves the call until the others are tagged, and names the one left out.
func TestMembersLeaveOutUnfollowed(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	id := createTag(t, p, "k", providers.Attrs{"segment": "loyal_store"})
	ids := followers(srv, 50)
	srv.Unfollow(ids[17])
	err := p.AddMembers(context.Background(), id, ids)
	var left *LeftOut
	if !errors.As(err, &left) || !slices.Equal(left.OpenIDs, []string{ids[17]}) || providers.CodeOf(err) != providers.ErrNotFound {
		t.Fatalf("%v, want %s left out, as not_found", err, ids[17])
	}
	var tagID int64
	fmt.Sscan(id, &tagID)
	if got := srv.Members(tagID); len(got) != 49 || slices.Contains(got, ids[17]) {
		t.Fatalf("%d tagged, want the 49 followers", len(got))
	}
}

// A follower carrying WeChat's 20 tags refuses a whole call as well: left out, the others
// tagged.
func TestMembersLeaveOutFullFollower(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	ids := followers(srv, 10)
	for i := range wechattest.MaxUserTags {
		other := createTag(t, p, fmt.Sprint("other", i), providers.Attrs{"segment": fmt.Sprint("s", i)})
		if err := p.AddMembers(context.Background(), other, ids[3:4]); err != nil {
			t.Fatal(err)
		}
	}
	id := createTag(t, p, "k", providers.Attrs{"segment": "loyal_store"})
	var left *LeftOut
	if err := p.AddMembers(context.Background(), id, ids); !errors.As(err, &left) || !slices.Equal(left.OpenIDs, ids[3:4]) {
		t.Fatalf("%v, want %s left out", err, ids[3])
	}
	var tagID int64
	fmt.Sscan(id, &tagID)
	if got := srv.Members(tagID); len(got) != 9 || slices.Contains(got, ids[3]) {
		t.Fatalf("%d tagged, want the 9 others", len(got))
	}
}

func TestMembersRefusals(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	ctx := context.Background()
	if err := p.AddMembers(ctx, "tag-1", []string{follower}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Errorf("a tag ID that is not a number: %v", err)
	}
	if err := p.AddMembers(ctx, "101", []string{"o<script>"}); providers.CodeOf(err) != providers.ErrInvalid {
		t.Errorf("an openid of another form: %v", err)
	}
	if err := p.AddMembers(ctx, "999", []string{follower}); providers.CodeOf(err) != providers.ErrNotFound {
		t.Errorf("an unknown tag: %v", err)
	}
	if n := srv.Calls(wechattest.OpUpdate); n != 1 {
		t.Errorf("%d tagging calls, want only the one for the unknown tag", n)
	}
}

// A tag of the same name that Musubi did not make is not taken over.
func TestTagNameTaken(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	createTag(t, p, "first", providers.Attrs{"segment": "a", "description": "常客"})
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "second",
		Attributes: providers.Attrs{"segment": "b", "description": "常客"}})
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrConflict || !strings.Contains(r.Diagnostics.Err().Error(), "import it") {
		t.Fatalf("%v, want a conflict", r.Diagnostics.Err())
	}
	if n := len(srv.Tags()); n != 2 {
		t.Fatalf("%d tags, want WeChat's own and the first", n)
	}
}

// A tag keeps only its name: the segment is read back from the ledger, else from the state.
func TestTagSegmentReadBack(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	ctx := context.Background()
	id := createTag(t, p, "k", providers.Attrs{"segment": "loyal_store", "description": "常客"})
	other := configure(t, srv, nil) // another machine: a fresh ledger
	prior := providers.Attrs{"segment": "loyal_store", "description": "常客"}
	for _, c := range []struct {
		p     *Provider
		prior providers.Attrs
		want  string
	}{{p, nil, "loyal_store"}, {other, prior, "loyal_store"}, {other, nil, ""}} {
		r := c.p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: id, Prior: c.prior})
		if !r.Found || r.Attributes.String("segment") != c.want || r.Attributes.String("description") != "常客" {
			t.Errorf("%+v, want segment %q", r, c.want)
		}
	}
	// WeChat's own tag 2 (星标组) can be imported; it belongs to no segment until applied.
	imp := p.Import(ctx, providers.ImportRequest{Kind: providers.KindAudience, ID: "2"})
	if imp.Diagnostics.HasErrors() || imp.Attributes.String("description") != "星标组" {
		t.Fatalf("import of tag 2: %+v", imp)
	}
}

// The contract server's rules, called as any HTTP client would.
func TestContractServerRules(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	tok, err := p.tokens.get(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = follower
	}
	cases := []struct {
		name, method, path, token string
		body                      any
		errcode                   int
	}{
		{"no access token", "GET", "tags/get", "", nil, 41001},
		{"a made-up token", "GET", "tags/get", "made-up", nil, 40001},
		{"GET of a POST API", "GET", "tags/create", tok, nil, 43002},
		{"tag name of 31 bytes", "POST", "tags/create", tok, map[string]any{"tag": map[string]string{"name": strings.Repeat("a", 31)}}, 45158},
		{"WeChat's own tag", "POST", "tags/delete", tok, map[string]any{"tag": map[string]int{"id": 2}}, 45058},
		{"51 openids", "POST", "tags/members/batchtagging", tok, map[string]any{"openid_list": many, "tagid": 2}, 40032},
		{"a stranger's openid", "POST", "tags/members/batchtagging", tok, map[string]any{"openid_list": []string{"oStranger0000000000000000000"}, "tagid": 2}, 40003},
		{"unknown template", "POST", "message/template/send", tok, map[string]any{"touser": follower, "template_id": "x", "data": map[string]any{}}, 40037},
		{"wrong secret", "POST", "stable_token", "", map[string]string{"grant_type": "client_credential", "appid": srv.AppID, "secret": "x"}, 40125},
	}
	for _, c := range cases {
		var rd *bytes.Reader
		if c.body != nil {
			b, _ := json.Marshal(c.body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(c.method, srv.URL+"/cgi-bin/"+c.path+"?access_token="+c.token, rd)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Errcode int    `json:"errcode"`
			Errmsg  string `json:"errmsg"`
		}
		json.NewDecoder(res.Body).Decode(&got)
		res.Body.Close()
		if res.StatusCode != 200 || got.Errcode != c.errcode || !strings.Contains(got.Errmsg, " rid: ") {
			t.Errorf("%s: HTTP %d errcode %d %q, want HTTP 200 errcode %d with a rid", c.name, res.StatusCode, got.Errcode, got.Errmsg, c.errcode)
		}
	}
	// An account holds 100 tags, WeChat's own included.
	for i := len(srv.Tags()); i < wechattest.MaxTags; i++ {
		createTag(t, p, fmt.Sprint("k", i), providers.Attrs{"segment": fmt.Sprint("s", i)})
	}
	r := p.Create(context.Background(), providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "one-more",
		Attributes: tagKind{}.plan(providers.Attrs{"segment": "one_more"})})
	if !strings.Contains(r.Diagnostics.Err().Error(), "errcode 45056") {
		t.Fatalf("the 101st tag: %v", r.Diagnostics.Err())
	}
}

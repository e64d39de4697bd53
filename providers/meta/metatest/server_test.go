package metatest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// graph makes a call and returns the HTTP status, the error code (0 for none) and the answer.
func graph(t *testing.T, s *Server, method, path string, params url.Values, token string) (int, int, map[string]any) {
	t.Helper()
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		path += "?" + params.Encode()
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	code := 0
	if e, ok := out["error"].(map[string]any); ok {
		code = int(e["code"].(float64))
		if e["fbtrace_id"] == "" {
			t.Errorf("an error without fbtrace_id: %v", e)
		}
	}
	return res.StatusCode, code, out
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// start runs a server with one audience and returns both.
func start(t *testing.T) (*Server, string) {
	s := NewServer()
	t.Cleanup(s.Close)
	_, code, out := graph(t, s, http.MethodPost, "/v26.0/"+s.AdAccount+"/customaudiences", url.Values{"name": {"Low awareness"},
		"subtype": {"CUSTOM"}, "customer_file_source": {"USER_PROVIDED_ONLY"}}, s.Token)
	if code != 0 {
		t.Fatal(out)
	}
	return s, out["id"].(string)
}

// upload makes a members call of rows under a session.
func upload(t *testing.T, s *Server, method, id string, rows [][]string, session string) (int, map[string]any) {
	t.Helper()
	p, _ := json.Marshal(map[string]any{"schema": []string{"EMAIL", "PHONE"}, "data": rows})
	_, code, out := graph(t, s, method, "/v26.0/"+id+"/users", url.Values{"payload": {string(p)}, "session": {session}}, s.Token)
	return code, out
}

func session(id int64, seq int, last bool) string {
	return fmt.Sprintf(`{"session_id":%d,"batch_seq":%d,"last_batch_flag":%v,"estimated_num_total":3}`, id, seq, last)
}

func TestAuthAndVersion(t *testing.T) {
	t.Parallel()
	s, id := start(t)
	for _, c := range []struct {
		name, path, token string
		code              int
	}{
		{"no token", "/v26.0/" + id, "", 104},
		{"a wrong token", "/v26.0/" + id, "EAAG-wrong", 190},
		{"a retired version", "/v24.0/" + id, s.Token, 2635},
		{"no version", "/" + id, s.Token, 2500},
		{"the token as a parameter", "/v26.0/" + id + "?access_token=" + s.Token, "", 0},
	} {
		if _, code, out := graph(t, s, http.MethodGet, c.path, nil, c.token); code != c.code {
			t.Errorf("%s: code %d, want %d: %v", c.name, code, c.code, out)
		}
	}
}

func TestAudiences(t *testing.T) {
	t.Parallel()
	s, id := start(t)
	for i := range 4 {
		graph(t, s, http.MethodPost, "/v26.0/"+s.AdAccount+"/customaudiences", url.Values{"name": {fmt.Sprint("a", i)},
			"subtype": {"CUSTOM"}, "customer_file_source": {"PARTNER_PROVIDED_ONLY"}}, s.Token)
	}
	for _, c := range []struct {
		name   string
		params url.Values
	}{
		{"no name", url.Values{"subtype": {"CUSTOM"}, "customer_file_source": {"USER_PROVIDED_ONLY"}}},
		{"a lookalike", url.Values{"name": {"x"}, "subtype": {"LOOKALIKE"}, "customer_file_source": {"USER_PROVIDED_ONLY"}}},
		{"no file source", url.Values{"name": {"x"}, "subtype": {"CUSTOM"}}},
	} {
		if _, code, _ := graph(t, s, http.MethodPost, "/v26.0/"+s.AdAccount+"/customaudiences", c.params, s.Token); code != 100 {
			t.Errorf("%s: code %d, want 100", c.name, code)
		}
	}
	if _, code, _ := graph(t, s, http.MethodPost, "/v26.0/act_1/customaudiences", url.Values{"name": {"x"}}, s.Token); code != 100 {
		t.Errorf("another ad account: code %d", code)
	}
	// Pages of two, oldest first, until there is no next.
	var names []string
	q := url.Values{"fields": {"id,name"}, "limit": {"2"}}
	for range 5 {
		_, _, out := graph(t, s, http.MethodGet, "/v26.0/"+s.AdAccount+"/customaudiences", q, s.Token)
		for _, a := range out["data"].([]any) {
			names = append(names, a.(map[string]any)["name"].(string))
		}
		paging := out["paging"].(map[string]any)
		if paging["next"] == nil {
			break
		}
		q.Set("after", paging["cursors"].(map[string]any)["after"].(string))
	}
	if strings.Join(names, ",") != "Low awareness,a0,a1,a2,a3" {
		t.Fatalf("listed %v", names)
	}
	if _, code, out := graph(t, s, http.MethodGet, "/v26.0/"+id, url.Values{"fields": {"name,rule"}}, s.Token); code != 100 {
		t.Fatalf("a field the node lacks: %v", out)
	}
	graph(t, s, http.MethodPost, "/v26.0/"+id, url.Values{"name": {"Renamed"}}, s.Token)
	if _, _, out := graph(t, s, http.MethodGet, "/v26.0/"+id, url.Values{"fields": {"name,subtype"}}, s.Token); out["name"] != "Renamed" || out["subtype"] != "CUSTOM" {
		t.Fatalf("after a rename: %v", out)
	}
	graph(t, s, http.MethodDelete, "/v26.0/"+id, nil, s.Token)
	if _, code, out := graph(t, s, http.MethodGet, "/v26.0/"+id, nil, s.Token); code != 100 || out["error"].(map[string]any)["error_subcode"] != 33.0 {
		t.Fatalf("a deleted audience: %v", out)
	}
}

func TestUploadRules(t *testing.T) {
	t.Parallel()
	s, id := start(t)
	email, phone := hash("hanako@example.jp"), hash("819012345678")
	tooMany := make([][]string, MaxRows+1)
	for i := range tooMany {
		tooMany[i] = []string{hash(fmt.Sprint(i)), ""}
	}
	for _, c := range []struct {
		name    string
		rows    [][]string
		session string
	}{
		{"a raw email address", [][]string{{"hanako@example.jp", phone}}, session(1, 1, true)},
		{"a raw phone number", [][]string{{email, "+81 90-1234-5678"}}, session(1, 1, true)},
		{"upper-case hex", [][]string{{strings.ToUpper(email), ""}}, session(1, 1, true)},
		{"a short hash", [][]string{{email[:40], ""}}, session(1, 1, true)},
		{"a row too short", [][]string{{email}}, session(1, 1, true)},
		{"no rows", [][]string{}, session(1, 1, true)},
		{"10,001 rows", tooMany, session(1, 1, true)},
		{"no session", [][]string{{email, phone}}, ""},
		{"a session starting at 2", [][]string{{email, phone}}, session(1, 2, true)},
		{"a session of ID 0", [][]string{{email, phone}}, session(0, 1, true)},
	} {
		if code, out := upload(t, s, http.MethodPost, id, c.rows, c.session); code != 100 {
			t.Errorf("%s: %v, want code 100", c.name, out)
		}
	}
	if len(s.Members(id)) != 0 || len(s.Sessions(id)) != 0 {
		t.Fatal("a refused upload left something behind")
	}

	// Batch 1, a repeat of it, a skip, batch 2 closing the session, and a batch after it.
	rows := [][]string{{email, phone}, {"", ""}}
	if code, out := upload(t, s, http.MethodPost, id, rows, session(7, 1, false)); code != 0 || out["num_received"] != 2.0 || out["num_invalid_entries"] != 1.0 {
		t.Fatalf("batch 1: %v", out)
	}
	if code, out := upload(t, s, http.MethodPost, id, rows, session(7, 1, false)); code != 0 || out["num_received"] != 2.0 {
		t.Fatalf("batch 1 again: %v", out)
	}
	if code, _ := upload(t, s, http.MethodPost, id, rows, session(7, 3, false)); code != 100 {
		t.Fatal("a skipped batch was taken")
	}
	if code, _ := upload(t, s, http.MethodDelete, id, rows, session(7, 2, false)); code != 100 {
		t.Fatal("a removal in an adding session was taken")
	}
	if code, out := upload(t, s, http.MethodPost, id, [][]string{{hash("b@example.jp"), ""}}, session(7, 2, true)); code != 0 {
		t.Fatalf("batch 2: %v", out)
	}
	if code, _ := upload(t, s, http.MethodPost, id, rows, session(7, 3, false)); code != 100 {
		t.Fatal("a batch after the last was taken")
	}
	ses := s.Sessions(id)
	if len(ses) != 1 || ses[0].Received != 3 || ses[0].Batches != 2 || !ses[0].Closed || ses[0].Op != "add" {
		t.Fatalf("session %+v", ses)
	}
	if got := s.Members(id); len(got) != 3 {
		t.Fatalf("members %v", got)
	}
	if code, _ := upload(t, s, http.MethodDelete, id, [][]string{{email, ""}}, session(8, 1, true)); code != 0 {
		t.Fatal("the removal failed")
	}
	if got := s.Members(id); len(got) != 2 || strings.Contains(strings.Join(got, ","), email) {
		t.Fatalf("after the removal: %v", got)
	}
	// A schema of one key takes a list of values.
	single, _ := json.Marshal(map[string]any{"schema": "EMAIL_SHA256", "data": []string{hash("c@example.jp"), hash("d@example.jp")}})
	if _, code, out := graph(t, s, http.MethodPost, "/v26.0/"+id+"/users", url.Values{"payload": {string(single)}, "session": {session(9, 1, true)}}, s.Token); code != 0 || out["num_received"] != 2.0 {
		t.Fatalf("a single-key upload: %v", out)
	}
	if got := s.Members(id); len(got) != 4 {
		t.Fatalf("after a single-key upload: %v", got)
	}
}

// An injected failure is worded as Meta's error object; a rate limit says when access
// comes back.
func TestFaults(t *testing.T) {
	t.Parallel()
	s, id := start(t)
	for status, code := range map[int]int{401: 190, 403: 200, 404: 100, 409: 506, 429: 80003, 500: 1, 503: 2, 422: 100} {
		if err := s.Fail(OpRead, status, 1); err != nil {
			t.Fatal(err)
		}
		if st, c, out := graph(t, s, http.MethodGet, "/v26.0/"+id, nil, s.Token); st != status || c != code {
			t.Errorf("a %d fault: %d %v", status, st, out)
		}
	}
	if err := s.Inject(OpUsers, contracttest.Fault{Status: 429, RetryAfter: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v26.0/"+id+"/users", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var usage map[string][]map[string]any
	json.Unmarshal([]byte(res.Header.Get("X-Business-Use-Case-Usage")), &usage)
	if u := usage[strings.TrimPrefix(s.AdAccount, "act_")]; len(u) != 1 || u[0]["type"] != "custom_audience" || u[0]["estimated_time_to_regain_access"] != 2.0 {
		t.Fatalf("X-Business-Use-Case-Usage: %v", usage)
	}
}

package engine

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

// The answer to POST /v1/events, encoded with go-json, is byte for byte what encoding/json
// writes: every field of a result and of an answer, empty and set, and text that JSON
// escapes (quotes, control characters, HTML, non-ASCII).
func TestResultsEncodeAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 30, 0, 123456789, time.FixedZone("JST", 9*3600))
	results := []Result{
		{ID: "e1"},
		{ID: "e2", Customer: "c_1", Duplicate: true},
		{ID: `"quoted" <b>&amp;</b> 東京 \ tab	nl
x`, Customer: "c_2", Merged: []string{"c_3", "c_4"}, Entered: []string{"vip"}, Exited: []string{"new"},
			Fired: []string{"t1", "t2"}, Dropped: []string{"phone: not a number"}, Redeemed: []string{"SPR-1"}, Suppressed: true,
			Answers: []Outcome{
				{Type: "issue_coupon", Campaign: "spring", Code: "SPR-1", Status: "issued", ExpiresAt: at},
				{Type: "send", Via: "line.main", To: "U1", Subject: "Hi\u2028there", Text: "¥1,000 off <today> & \x01", Variant: "a",
					Status: "queued", Key: "mk_1", Customer: "c_9", Reason: ""},
				{Type: "send", Status: "scheduled", At: at.UTC()},
			}},
		{ID: "e4", Entered: []string{}, Answers: []Outcome{}},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{"results": results})
	rec := httptest.NewRecorder()
	writeResults(rec, results)
	if got := rec.Body.String(); got != want.String() {
		t.Fatalf("go-json wrote\n%s\nencoding/json writes\n%s", got, want.String())
	}
}

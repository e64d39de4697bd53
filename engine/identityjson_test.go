package engine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/musubi-hq/musubi/engine/identity"
)

// The identity log is decoded with go-json for speed: every kind of record it holds reads
// back exactly as encoding/json, which wrote it, reads it.
func TestIdentityRecordsDecodeAsTheStandardLibrary(t *testing.T) {
	at := time.Date(2027, 2, 16, 12, 0, 0, 123456789, time.FixedZone("JST", 9*3600))
	ids := []identity.ID{{Type: "email", Value: "hanako@example.jp"}, {Type: "phone", Value: "+819012345678"}, {Type: "note", Value: "quote \" and \\ and 結び"}}
	recs := []identity.Record{
		{Op: identity.OpResolve, At: at, Customer: "c_1", Created: true, Attached: ids},
		{Op: identity.OpResolve, At: at.UTC(), Customer: "c_1", Merges: []identity.Merge{{ID: "m_1", Into: "c_1", From: "c_2", At: at, Moved: ids[:1], Cause: ids[1:]}}},
		{Op: identity.OpResolve, Customer: "c_3", Merges: []identity.Merge{{ID: "m_2", Into: "c_3", From: "c_4"}}},
		{Op: identity.OpUnmerge, At: at, Merge: "m_1"},
		{Op: identity.OpForget, At: at, Customer: "c_1"},
	}
	for _, r := range recs {
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var want, got identity.Record
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := gojson.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n go-json: %+v\nstdlib: %+v", raw, got, want)
		}
	}
	var r identity.Record
	if err := gojson.Unmarshal([]byte(`{"op": "resolve", "at": "not a time"}`), &r); err == nil {
		t.Error("a broken record decoded")
	}
}

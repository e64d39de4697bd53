package engine

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// A batch that does not decode names the event, as a batch that does not validate does
// (Ingest): `event 1 (id "x"): ...`, with the index from 0 and the id when it is a string. A
// value of the wrong type is named by its field. A lone event, or an array of one, is not
// numbered, and JSON that does not parse cannot say which event it broke.
func TestDecodeEventsNamesTheEvent(t *testing.T) {
	const ok = `{"id": "a", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"total": 1}}`
	for _, c := range []struct{ body, want string }{
		{`[` + ok + `, {"id": "x", "type": "purchase", "data": {"total": 1}, "totl": 1}]`,
			`event 1 (id "x"): invalid JSON: unknown field "totl"`},
		{`[{"id": "x", "type": "purchase", "colour": "red"}, ` + ok + `]`,
			`event 0 (id "x"): invalid JSON: unknown field "colour"`},
		{`[` + ok + `, {"id": "y", "type": "purchase", "data": "3200"}]`,
			`event 1 (id "y"): invalid JSON: data: want an object, got a string`},
		{`[` + ok + `, {"id": "y", "type": "purchase", "identifiers": {"email": 5}}]`,
			`event 1 (id "y"): invalid JSON: identifiers: want a string for each entry, got a number`},
		{`[` + ok + `, {"id": 7, "type": "purchase"}]`, `event 1: invalid JSON: id: want a string, got a number`},
		{`[` + ok + `, 5]`, `event 1: invalid JSON: want an object, got a number`},
		{`[` + ok + `, null]`, `event 1: an event is a JSON object, not null`},
		{`[` + ok + `, {"id": "z", "consent": {"line": "yes"}}]`,
			`event 1 (id "z"): invalid JSON: consent: want true or false for each entry, got a string`},
		{`{"id": "x", "type": "purchase", "colour": "red"}`, `invalid JSON: unknown field "colour"`},
		{`{"id": 1}`, `invalid JSON: id: want a string, got a number`},
		{`[{"id": "x", "totl": 1}]`, `invalid JSON: unknown field "totl"`},
		{`[` + ok + `, {"id": "x",}]`, `invalid JSON: invalid character '}' looking for beginning of object key string`},
		{`[` + ok + `] []`, `unexpected data after the JSON value`},
		{`{"id": "x"} {}`, `unexpected data after the JSON value`},
	} {
		evs, err := DecodeEvents([]byte(c.body))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v (%d events)\nwant %s", c.body, err, len(evs), c.want)
		}
	}
	evs, err := DecodeEvents([]byte(`[` + ok + `, ` + ok + `]`))
	if err != nil || len(evs) != 2 || evs[1].ID != "a" || evs[1].Data["total"] == nil {
		t.Fatalf("a good batch: %v, %v", evs, err)
	}
}

// A /v1/decide body's fields are named from its root, through the event.
func TestJSONErrorNamesTheFieldFromTheRoot(t *testing.T) {
	var req DecideRequest
	err := json.Unmarshal([]byte(`{"event": {"id": "x", "identifiers": {"email": 5}}}`), &req)
	const want = "invalid JSON: event.identifiers: want a string for each entry, got a number"
	if got := jsonError(err, reflect.TypeFor[DecideRequest]()); got == nil || got.Error() != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// The one-pass reading of a batch gives what reading it event by event gives, and neither
// panics on any input.
func FuzzDecodeEvents(f *testing.F) {
	const ok = `{"id": "a", "type": "purchase", "identifiers": {"email": "a@b.jp"}, "data": {"total": 1, "items": [{"sku": "x", "qty": 2.5}]}}`
	for _, seed := range []string{`[` + ok + `]`, `[` + ok + `, ` + ok + `]`, `[]`, `[null]`, `[` + ok + `, {"id": "x", "totl": 1}]`,
		`[{"id": "b", "consent": {"line": true}, "record": {"phone_number": "090"}, "source": "pos"}] `, ok} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := DecodeEvents(body)
		fast, ok := decodeBatch(body)
		if !ok {
			return
		}
		slow, serr := decodeEach(body)
		if err != nil || serr != nil {
			t.Fatalf("one pass read %d events, event by event failed: %v / %v", len(fast), err, serr)
		}
		if len(fast) != len(slow) || len(evs) != len(fast) {
			t.Fatalf("one pass read %d events, event by event %d", len(fast), len(slow))
		}
		for i := range fast {
			if !reflect.DeepEqual(fast[i], slow[i]) {
				t.Fatalf("event %d: one pass %+v, event by event %+v", i, fast[i], slow[i])
			}
		}
	})
}

// The scanner reads what encoding/json reads, or gives up.
func FuzzScanEvents(f *testing.F) {
	const ok = `{"id": "a", "type": "purchase", "time": "2026-12-01T09:00:00+09:00", "identifiers": {"email": "a@b.jp"}, "data": {"total": 1, "items": [{"sku": "x", "qty": 2.5, "tags": [true, false, null, -0.5e+3]}]}}`
	for _, seed := range []string{`[` + ok + `]`, `[` + ok + `, ` + ok + `]`, `[]`, ` [ ] `, `[null]`, `[{}]`, `[` + ok + `, {"id": "x", "totl": 1}]`,
		`[{"id": "b", "consent": {"line": true}, "record": {"phone_number": "090"}, "source": "pos", "attributes": {"x": {}}}] `,
		`[{"id": "a", "ID": "b"}]`, `[{"id": "a", "id": "b"}]`, `[{"data": {"a": 1, "a": 2}}]`, `[{"data": {"n": 01}}]`, `[{"id": "\u00e9"}]`, `[{"id": "é"}]`,
		"[{\"id\": \"\xff\"}]", `[{"time": "2026-13-01T00:00:00Z"}]`, `[{"data": {"n": 1.}}]`, `[{"data": {"n": -}}]`, `[{"identifiers": {"a": null}}]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := scanEvents(body)
		if !ok {
			return
		}
		want, err := decodeEach(body)
		if err != nil {
			t.Fatalf("the scanner read %d events, encoding/json fails: %v", len(got), err)
		}
		if len(got) != len(want) {
			t.Fatalf("the scanner read %d events, encoding/json %d", len(got), len(want))
		}
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("event %d: the scanner read %+v, encoding/json %+v", i, got[i], want[i])
			}
		}
	})
}

func BenchmarkDecodeEvents(b *testing.B) {
	env := &benchEnv{customers: 1000}
	body := env.randomEvents(rand.New(rand.NewPCG(1, 2)), 200)
	for name, decode := range map[string]func([]byte) ([]*Event, bool){"scanner": scanEvents, "encoding-json": decodeBatch} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := decode(body); !ok {
					b.Fatal("not read")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*200), "ns/event")
		})
	}
}

// The event log's JSON reads back as encoding/json's encoding of the event does, for events
// as they are decoded and as validation leaves their numbers (int64, float64).
func FuzzEventJSON(f *testing.F) {
	for _, seed := range []string{
		`{"id": "a", "type": "purchase", "time": "2026-12-01T09:00:00.123456789+09:00", "identifiers": {"email": "a@b.jp", "phone": "+81"}, "data": {"total": 1, "items": [{"sku": "x", "qty": 2.5}], "big": 1e300, "small": 1e-9, "neg": -0.0}}`,
		`{"id": "b\u2028\"\\\n<&>", "type": "follow", "consent": {"line": true, "email": false}, "record": {"phone_number": "090", "n": 12345678901234567890}, "source": "pos", "attributes": {"tone": null, "x": [true, null, {}]}}`,
		"{\"id\": \"\xff\xfe\", \"type\": \"t\", \"customer\": \"c\", \"channel\": \"pos\", \"store_id\": \"s\\u0001\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := DecodeEvents(body)
		if err != nil {
			return
		}
		for _, ev := range evs {
			for _, validated := range []bool{false, true} {
				if validated {
					ev.Data, _ = numbersToGo(ev.Data).(map[string]any)
					ev.Attributes, _ = numbersToGo(ev.Attributes).(map[string]any)
				}
				want, werr := json.Marshal(ev)
				got, gerr := marshalEvent(ev)
				if (werr != nil) != (gerr != nil) {
					t.Fatalf("encoding/json: %v, the log's encoding: %v", werr, gerr)
				}
				if werr != nil {
					continue
				}
				if !json.Valid(got) {
					t.Fatalf("not JSON: %s", got)
				}
				var a, b Event
				aerr, berr := json.Unmarshal(want, &a), json.Unmarshal(got, &b)
				if (aerr != nil) != (berr != nil) {
					t.Fatalf("encoding/json's reads back with %v, the log's (%s) with %v", aerr, got, berr)
				}
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("encoding/json's reads back as\n%+v\nthe log's\n%+v\n(%s)", a, b, got)
				}
			}
		}
	})
}

func BenchmarkEventJSON(b *testing.B) {
	evs, err := DecodeEvents([]byte(`{"id": "b1234", "type": "purchase", "source": "pos", "channel": "pos", "store_id": "store-3",
		"record": {"phone_number": "+819000001234"}, "identifiers": {"phone": "+819000001234"}, "data": {"total": 4200, "currency": "JPY"}}`))
	if err != nil {
		b.Fatal(err)
	}
	ev := evs[0]
	ev.Time = time.Now()
	ev.Data = numbersToGo(ev.Data).(map[string]any)
	for name, enc := range map[string]func(*Event) ([]byte, error){"log": marshalEvent,
		"encoding-json": func(e *Event) ([]byte, error) { return json.Marshal(e) }} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package engine

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/engine/identity"
	"github.com/musubi-hq/musubi/lang"
)

// Event is one incoming event, as POST /v1/events takes it (docs/engine.md has the schema).
// Identifiers come in one of three ways: by type (identifiers), as the source record's fields
// mapped through the identity_source's identifiers (record), or as a known Uni-ID (customer).
type Event struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	Time        time.Time         `json:"time,omitzero"`
	Source      string            `json:"source,omitempty"`
	Channel     string            `json:"channel,omitempty"`
	StoreID     string            `json:"store_id,omitempty"`
	Customer    string            `json:"customer,omitempty"`
	Identifiers map[string]string `json:"identifiers,omitempty"`
	Record      map[string]any    `json:"record,omitempty"`
	// Consent records what the customer agreed to (or withdrew) with this event, per channel.
	Consent map[string]bool `json:"consent,omitempty"`
	// Attributes sets profile attributes: home_city, locale, timezone, tone, or any other.
	Attributes map[string]any `json:"attributes,omitempty"`
	// Data holds the event type's own fields (total, items, cart...).
	Data map[string]any `json:"data,omitempty"`

	// key is the de-duplication key: the source (or "api") and the ID.
	key string
	// scope, when set, replaces the source in key: a provider's webhook events are one ID
	// space whatever source the URL names, as the URL is not what the provider signs.
	scope string
	// fields is the CEL value of `event`, checked against the event type.
	fields *lang.Record
	// depth counts how many engine events led to this one (segment.entered, emit).
	depth int
	// body is the event as the event log keeps it, when encoded ahead of processing.
	body []byte
	// dup is set when the event was seen before (Engine.claim): it is acknowledged, not run.
	dup bool
	// parts are, by position in prog's TriggersByEvent, what each trigger condition's event
	// part is for the event (ruleOut).
	parts []eventPart
	// traitInputs are, by position in prog's TraitsByEvent, what the event adds to each
	// trait that reads the event alone (observeEarly).
	traitInputs []traitInput
	// prog is the programme parts and traitInputs were worked out for.
	prog *program
	// ids and idsDropped are the event's identifiers normalised under idRules, and those
	// that could not be (see Engine.identifiersOf).
	ids        []identity.ID
	idsDropped []string
	idRules    *identity.Rules
}

// marshal encodes the event for the event log.
func (e *Event) marshal() ([]byte, error) {
	if e.body != nil {
		return e.body, nil
	}
	return marshalEvent(e)
}

// Key is the event's de-duplication key.
func (e *Event) Key() string { return e.key }

// maxIDLen bounds event IDs and identifier values.
const maxIDLen = 256

// DecodeEvents reads a JSON event or an array of events, as POST /v1/events takes them.
// Unknown fields are refused, so a misspelt field is an error, not a silent gap. In a batch,
// the error names the event as Ingest does: `event 1 (id "x"): ...`.
func DecodeEvents(body []byte) ([]*Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fmt.Errorf("the body is empty; send an event object or an array of events")
	}
	if body[0] != '[' {
		e, err := decodeEvent(body)
		if err != nil {
			return nil, err
		}
		return []*Event{e}, nil
	}
	if evs, ok := scanEvents(body); ok {
		return evs, nil
	}
	if evs, ok := decodeBatch(body); ok {
		return evs, nil
	}
	return decodeEach(body)
}

// decodeEach reads an array of events split first, so that an event's own error can say
// which event it is.
func decodeEach(body []byte) ([]*Event, error) {
	var raws []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raws); err != nil {
		return nil, jsonError(err, nil)
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	evs := make([]*Event, len(raws))
	for i, raw := range raws {
		e, err := decodeEvent(raw)
		if err != nil {
			if len(raws) > 1 {
				err = fmt.Errorf("%s: %w", nameEvent(i, raw), err)
			}
			return nil, err
		}
		evs[i] = e
	}
	return evs, nil
}

// decodeBatch reads a well-formed array of events in one pass. On any problem it gives up,
// and DecodeEvents reads the array again, slowly, to say which event is wrong and why.
func decodeBatch(body []byte) ([]*Event, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, false
	}
	var evs []*Event
	for dec.More() {
		var e *Event
		if err := dec.Decode(&e); err != nil || e == nil {
			return nil, false
		}
		evs = append(evs, e)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return evs, true
}

// decodeEvent reads one JSON event, refusing unknown fields.
func decodeEvent(b []byte) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var e Event
	if err := dec.Decode(&e); err != nil {
		return nil, jsonError(err, reflect.TypeFor[Event]())
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	if string(b) == "null" {
		return nil, fmt.Errorf("an event is a JSON object, not null")
	}
	return &e, nil
}

// nameEvent says which event of a batch raw is, with its id when it has one.
func nameEvent(i int, raw json.RawMessage) string {
	var probe struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &probe) == nil {
		if id, ok := probe.ID.(string); ok {
			return fmt.Sprintf("event %d (id %q)", i, id)
		}
	}
	return fmt.Sprintf("event %d", i)
}

// jsonError says what is wrong with a JSON body decoded into a root (nil when unknown); a
// value of the wrong type is named by its field, as the event type's own fields are
// (`data: want an object, got a string`).
func jsonError(err error, root reflect.Type) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "want " + jsonKind(te.Type)
		// encoding/json names a map, not the entry in it, for an entry of the wrong type.
		if ft := jsonField(root, te.Field); ft != nil && ft.Kind() == reflect.Map && ft.Elem() == te.Type {
			want = "want " + jsonKind(te.Type) + " for each entry"
		}
		if te.Field == "" {
			return fmt.Errorf("invalid JSON: %s, got %s", want, article(te.Value))
		}
		return fmt.Errorf("invalid JSON: %s: %s, got %s", te.Field, want, article(te.Value))
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return fmt.Errorf("invalid JSON: %s", msg)
}

// jsonField returns the type of the field at a dotted path of JSON names inside root, nil
// when there is none.
func jsonField(root reflect.Type, path string) reflect.Type {
	t := root
	for _, name := range strings.Split(path, ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct || name == "" {
			return nil
		}
		var found reflect.Type
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && (tag == name || tag == "" && strings.EqualFold(f.Name, name)) {
				found = f.Type
				break
			}
		}
		t = found
	}
	return t
}

// jsonKind names what a Go type takes in JSON.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return t.String()
}

// article puts "a" or "an" before a JSON value kind as encoding/json names it ("string",
// "number 1.5", "object").
func article(v string) string {
	if v != "" && strings.ContainsRune("aeiou", rune(v[0])) {
		return "an " + v
	}
	return "a " + v
}

// validate checks an event against the event types and the active bundle and prepares its
// CEL value. The error names the field.
func (e *Event) validate(p *program, now time.Time) error {
	if e.ID == "" {
		return fmt.Errorf("id: required (the source's event ID; repeats are dropped)")
	}
	if len(e.ID) > maxIDLen {
		return fmt.Errorf("id: longer than %d characters", maxIDLen)
	}
	if _, ok := lang.LookupEventType(e.Type); !ok {
		return fmt.Errorf("type: unknown event type %q%s", e.Type, suggest(e.Type, lang.EventTypeNames()))
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.Time.After(now.Add(24 * time.Hour)) {
		return fmt.Errorf("time: %s is more than a day in the future", e.Time.Format(time.RFC3339))
	}
	if err := lang.CheckTime(e.Time, "time"); err != nil {
		return err
	}
	src := "api"
	if e.Source != "" {
		s, ok := p.Sources[e.Source]
		if !ok {
			return fmt.Errorf("source: no identity_source %q in the active rules%s", e.Source, suggest(e.Source, sortedKeys(p.Sources)))
		}
		src = e.Source
		if len(e.Record) > 0 {
			if e.Identifiers == nil {
				e.Identifiers = map[string]string{}
			}
			for typ, field := range s.Identifiers {
				if v, ok := e.Record[field]; ok && v != nil {
					if _, set := e.Identifiers[typ]; !set {
						e.Identifiers[typ] = fmt.Sprint(v)
					}
				}
			}
		}
	} else if len(e.Record) > 0 {
		return fmt.Errorf("record: needs source, the identity_source whose identifiers name its fields")
	}
	if len(e.Identifiers) > identity.MaxPerEvent {
		return fmt.Errorf("identifiers: %d identifiers; at most %d", len(e.Identifiers), identity.MaxPerEvent)
	}
	for typ, v := range e.Identifiers {
		if len(v) > maxIDLen {
			return fmt.Errorf("identifiers.%s: longer than %d characters", typ, maxIDLen)
		}
	}
	if err := e.coerce(); err != nil {
		return err
	}
	e.key = cmp.Or(e.scope, src) + ":" + e.ID
	e.Attributes = numbersToGo(e.Attributes).(map[string]any)
	return nil
}

// coerce checks the event's data against its type and makes `event`, its CEL value.
func (e *Event) coerce() error {
	et, ok := lang.LookupEventType(e.Type)
	if !ok {
		return fmt.Errorf("type: unknown event type %q", e.Type)
	}
	data := numbersToGo(e.Data).(map[string]any)
	for _, common := range []string{"id", "type", "time", "channel", "source", "store_id"} {
		if _, ok := data[common]; ok {
			return fmt.Errorf("data.%s: set %s at the top level of the event", common, common)
		}
	}
	if strings.HasPrefix(e.Type, lang.CustomEventPrefix) {
		data = map[string]any{"data": data} // a custom event's own fields are one free map
	}
	fields, err := et.Type.CoerceRecord(data, "data")
	if err != nil {
		return err
	}
	fields.Set("id", e.ID)
	fields.Set("type", e.Type)
	fields.Set("time", e.Time)
	fields.Set("channel", e.Channel)
	fields.Set("source", e.Source)
	fields.Set("store_id", e.StoreID)
	e.fields = fields
	return nil
}

// numbersToGo turns json.Number into int64 or float64 through a decoded tree.
func numbersToGo(v any) any {
	switch x := v.(type) {
	case nil:
		return map[string]any{}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			if e == nil {
				continue
			}
			x[k] = numbersToGo(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = numbersToGo(e)
		}
		return x
	}
	return v
}

// sortedKeys returns m's keys in order. It sizes the slice once: an event's identifiers are
// sorted for every event, and slices.Collect would grow it step by step.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggest returns ` (did you mean "x"?)` for a close name.
func suggest(got string, names []string) string {
	if s := lang.Suggest(got, names); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

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
	// fields is the CEL value of `event`, checked against the event type.
	fields map[string]any
	// depth counts how many engine events led to this one (segment.entered, emit).
	depth int
	// body is the event as the event log keeps it, when encoded ahead of processing.
	body []byte
	// dup is set when the event was seen before (Engine.claim): it is acknowledged, not run.
	dup bool
}

// marshal encodes the event for the event log.
func (e *Event) marshal() ([]byte, error) {
	if e.body != nil {
		return e.body, nil
	}
	return json.Marshal(e)
}

// Key is the event's de-duplication key.
func (e *Event) Key() string { return e.key }

// maxIDLen bounds event IDs and identifier values.
const maxIDLen = 256

// DecodeEvents reads a JSON event or an array of events, as POST /v1/events takes them.
// Unknown fields are refused, so a misspelt field is an error, not a silent gap.
func DecodeEvents(body []byte) ([]*Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, fmt.Errorf("the body is empty; send an event object or an array of events")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var evs []*Event
	if body[0] == '[' {
		if err := dec.Decode(&evs); err != nil {
			return nil, jsonError(err)
		}
	} else {
		var e Event
		if err := dec.Decode(&e); err != nil {
			return nil, jsonError(err)
		}
		evs = []*Event{&e}
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return evs, nil
}

func jsonError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return fmt.Errorf("invalid JSON: %s", msg)
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
	et, ok := lang.LookupEventType(e.Type)
	if !ok {
		return fmt.Errorf("type: unknown event type %q%s", e.Type, suggest(e.Type, lang.EventTypeNames()))
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.Time.After(now.Add(24 * time.Hour)) {
		return fmt.Errorf("time: %s is more than a day in the future", e.Time.Format(time.RFC3339))
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
	if len(e.Identifiers) == 0 && e.Customer == "" {
		return fmt.Errorf("identifiers: the event names no customer (give identifiers, a record with a source, or customer)")
	}
	for typ, v := range e.Identifiers {
		if len(v) > maxIDLen {
			return fmt.Errorf("identifiers.%s: longer than %d characters", typ, maxIDLen)
		}
	}
	data := map[string]any{}
	maps.Copy(data, numbersToGo(e.Data).(map[string]any))
	for _, common := range []string{"id", "type", "time", "channel", "source", "store_id"} {
		if _, ok := data[common]; ok {
			return fmt.Errorf("data.%s: set %s at the top level of the event", common, common)
		}
	}
	data["id"], data["type"], data["time"] = e.ID, e.Type, e.Time.Format(time.RFC3339Nano)
	data["channel"], data["source"], data["store_id"] = e.Channel, e.Source, e.StoreID
	fields, err := et.Type.Coerce(data, "data")
	if err != nil {
		return err
	}
	fields["time"] = e.Time
	e.fields = fields
	e.key = src + ":" + e.ID
	e.Attributes = numbersToGo(e.Attributes).(map[string]any)
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

func sortedKeys[V any](m map[string]V) []string { return lang.Sorted(m) }

// suggest returns ` (did you mean "x"?)` for a close name.
func suggest(got string, names []string) string {
	if s := lang.Suggest(got, names); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

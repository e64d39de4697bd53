package engine

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// scanEvents reads a batch of events in the shape sources send: an array of objects whose
// keys are the event's fields as documented, strings without escapes, no duplicate fields.
// It is several times faster than encoding/json, which reflects over every field and value;
// anything else (an escape, a null, a key in other letter case, an unknown field, any error)
// makes it give up, and encoding/json reads the batch, with its errors. FuzzDecodeEvents
// checks that both give the same events.
func scanEvents(body []byte) ([]*Event, bool) {
	s := scanner{b: body}
	s.space()
	if !s.take('[') {
		return nil, false
	}
	var evs []*Event
	s.space()
	if s.take(']') {
		return evs, s.end()
	}
	for {
		e, ok := s.event()
		if !ok {
			return nil, false
		}
		evs = append(evs, e)
		s.space()
		if s.take(']') {
			return evs, s.end()
		}
		if !s.take(',') {
			return nil, false
		}
	}
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// take consumes c if it is next.
func (s *scanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// str reads a string without escapes, of valid UTF-8 and no control characters.
func (s *scanner) str() (string, bool) {
	s.space()
	if !s.take('"') {
		return "", false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				return "", false
			}
			return string(v), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return "", false
}

// object reads {"key": value, ...}, calling field for each key with the scanner at its value.
func (s *scanner) object(field func(key string) bool) bool {
	s.space()
	if !s.take('{') {
		return false
	}
	s.space()
	if s.take('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok {
			return false
		}
		s.space()
		if !s.take(':') || !field(k) {
			return false
		}
		s.space()
		if s.take('}') {
			return true
		}
		if !s.take(',') {
			return false
		}
	}
}

// The fields of an event, as bits, to refuse one given twice.
const (
	fID = 1 << iota
	fType
	fTime
	fSource
	fChannel
	fStoreID
	fCustomer
	fIdentifiers
	fRecord
	fConsent
	fAttributes
	fData
)

var eventFields = map[string]int{"id": fID, "type": fType, "time": fTime, "source": fSource, "channel": fChannel,
	"store_id": fStoreID, "customer": fCustomer, "identifiers": fIdentifiers, "record": fRecord, "consent": fConsent,
	"attributes": fAttributes, "data": fData}

func (s *scanner) event() (*Event, bool) {
	e := &Event{}
	seen := 0
	ok := s.object(func(key string) bool {
		f := eventFields[key]
		if f == 0 || seen&f != 0 {
			return false
		}
		seen |= f
		var ok bool
		switch f {
		case fID:
			e.ID, ok = s.str()
		case fType:
			e.Type, ok = s.str()
		case fTime:
			ok = s.time(&e.Time)
		case fSource:
			e.Source, ok = s.str()
		case fChannel:
			e.Channel, ok = s.str()
		case fStoreID:
			e.StoreID, ok = s.str()
		case fCustomer:
			e.Customer, ok = s.str()
		case fIdentifiers:
			e.Identifiers = map[string]string{}
			ok = s.object(func(k string) bool {
				v, ok := s.str()
				e.Identifiers[k] = v
				return ok
			})
		case fConsent:
			e.Consent = map[string]bool{}
			ok = s.object(func(k string) bool {
				v, ok := s.boolean()
				e.Consent[k] = v
				return ok
			})
		case fRecord:
			e.Record, ok = s.mapValue(0)
		case fAttributes:
			e.Attributes, ok = s.mapValue(0)
		case fData:
			e.Data, ok = s.mapValue(0)
		}
		return ok
	})
	return e, ok
}

// time reads a timestamp as time.Time's UnmarshalJSON does.
func (s *scanner) time(t *time.Time) bool {
	s.space()
	start := s.i
	if _, ok := s.str(); !ok {
		return false
	}
	return t.UnmarshalJSON(s.b[start:s.i]) == nil
}

func (s *scanner) boolean() (bool, bool) {
	s.space()
	switch {
	case s.word("true"):
		return true, true
	case s.word("false"):
		return false, true
	}
	return false, false
}

func (s *scanner) word(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// mapValue reads an object of any values, as encoding/json decodes one into a map[string]any
// with UseNumber.
func (s *scanner) mapValue(depth int) (map[string]any, bool) {
	m := map[string]any{}
	ok := s.object(func(k string) bool {
		v, ok := s.value(depth + 1)
		m[k] = v
		return ok
	})
	return m, ok
}

func (s *scanner) value(depth int) (any, bool) {
	if depth > maxValueDepth {
		return nil, false
	}
	s.space()
	if s.i >= len(s.b) {
		return nil, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.str()
	case c == '{':
		return s.mapValue(depth)
	case c == '[':
		s.i++
		l := []any{}
		s.space()
		if s.take(']') {
			return l, true
		}
		for {
			v, ok := s.value(depth + 1)
			if !ok {
				return nil, false
			}
			l = append(l, v)
			s.space()
			if s.take(']') {
				return l, true
			}
			if !s.take(',') {
				return nil, false
			}
		}
	case c == 't' || c == 'f':
		return s.boolean()
	case c == 'n':
		return nil, s.word("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return nil, false
}

// number reads a number as JSON spells one.
func (s *scanner) number() (json.Number, bool) {
	start := s.i
	s.take('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	switch {
	case s.take('0'):
	case digits() == 0:
		return "", false
	}
	if s.take('.') && digits() == 0 {
		return "", false
	}
	if s.take('e') || s.take('E') {
		if !s.take('+') {
			s.take('-')
		}
		if digits() == 0 {
			return "", false
		}
	}
	return json.Number(s.b[start:s.i]), true
}

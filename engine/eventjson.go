package engine

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The event log keeps each event as JSON, its documented schema, so a store can be read with
// any tool. Every event is encoded once, in the request's goroutine; encoding/json spent most
// of that reflecting over the struct and its maps, so the encoding is written out here. It
// gives what encoding/json gives to read back (FuzzEventJSON checks it), with map keys in the
// same sorted order; a value of another Go type than JSON decoding makes, or a number JSON has
// no form for, is left to encoding/json, which says what is wrong.

// errEventJSON is appendEventJSON giving way to encoding/json.
var errEventJSON = errors.New("left to encoding/json")

// marshalEvent encodes an event for the event log.
func marshalEvent(e *Event) ([]byte, error) {
	b, err := appendEventJSON(make([]byte, 0, 256), e)
	if err == errEventJSON {
		return json.Marshal(e)
	}
	return b, err
}

func appendEventJSON(b []byte, e *Event) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	if !e.Time.IsZero() {
		if y := e.Time.Year(); y < 0 || y > 9999 {
			return nil, errEventJSON
		}
		b = append(b, `,"time":"`...)
		b = e.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendJSONField(b, "source", e.Source)
	b = appendJSONField(b, "channel", e.Channel)
	b = appendJSONField(b, "store_id", e.StoreID)
	b = appendJSONField(b, "customer", e.Customer)
	b = appendJSONMap(b, "identifiers", e.Identifiers, appendJSONString)
	if b, err = appendJSONObject(b, "record", e.Record); err != nil {
		return nil, err
	}
	b = appendJSONMap(b, "consent", e.Consent, strconv.AppendBool)
	if b, err = appendJSONObject(b, "attributes", e.Attributes); err != nil {
		return nil, err
	}
	if b, err = appendJSONObject(b, "data", e.Data); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendJSONMap appends ,"name":{…} for a map of strings or booleans, omitted when empty.
func appendJSONMap[V string | bool](b []byte, name string, m map[string]V, value func([]byte, V) []byte) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '{')
	var keys [16]string
	for i, k := range sortedInto(keys[:0], m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// appendJSONObject appends ,"name":{…} for an object field that is omitted when empty.
func appendJSONObject(b []byte, name string, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return b, nil
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONValue(b, m, 0)
}

// appendJSONField appends ,"name":"v" for a string field that is omitted when empty.
func appendJSONField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, v)
}

func appendJSONValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return nil, errEventJSON
	}
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendJSONString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendJSONFloat(b, x)
	case json.Number:
		if x == "" {
			return nil, errEventJSON
		}
		return append(b, x...), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSONValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		var keys [16]string
		for i, k := range sortedInto(keys[:0], x) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			if b, err = appendJSONValue(b, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, errEventJSON
}

// sortedInto appends m's keys to keys, sorted; a small map's keys stay on the stack.
func sortedInto[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendJSONFloat formats a float as encoding/json does: the shortest form that reads back,
// with an exponent only for very small and very large numbers.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errEventJSON
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json
// makes it; <, > and & are written as they are, which any JSON reader reads the same.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

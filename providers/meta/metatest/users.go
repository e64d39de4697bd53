package metatest

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/musubi-hq/musubi/providers/contracttest"
)

// Member uploads: POST (add) and DELETE (remove) /{id}/users, in sessions.

// keys are the schema keys the server takes: what Musubi sends, plain or with the _SHA256
// names Meta also accepts. Meta takes more (names, birthdays, places…); the server refuses
// them rather than pretend to match them.
var keys = []string{"EMAIL", "PHONE", "EMAIL_SHA256", "PHONE_SHA256"}

// unhashedRE catches what a client forgot to hash: an email address, a phone number.
var unhashedRE = regexp.MustCompile(`@|^\+?[0-9 ()\-.]{6,20}$`)

// Session is an upload session as the server keeps it.
type Session struct {
	Audience string
	ID       int64
	// Op is "add" or "remove": a session does one or the other.
	Op string
	// Batches is the last batch_seq applied; Closed is set by last_batch_flag.
	Batches int
	Closed  bool
	// Estimated is the last estimated_num_total; Received counts the rows applied, repeated
	// batches not counted again.
	Estimated, Received int64
	answers             map[int]map[string]any
}

type sessionKey struct {
	audience string
	id       int64
}

// sessionParam is the session parameter of an upload.
type sessionParam struct {
	ID        int64 `json:"session_id"`
	Seq       int   `json:"batch_seq"`
	Last      bool  `json:"last_batch_flag"`
	Estimated int64 `json:"estimated_num_total"`
}

// payloadParam is the payload parameter: a schema of several keys and a list of rows, or
// (oneKey) of one key and a list of values.
type payloadParam struct {
	Schema json.RawMessage `json:"schema"`
	Data   [][]string      `json:"data"`
}

type oneKey struct {
	Schema string   `json:"schema"`
	Data   []string `json:"data"`
}

// isHash reports whether v is a SHA-256 hash in lower-case hex.
func isHash(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// readPayload checks a payload and returns its rows of hashes ("" for an absent value).
func readPayload(raw string) ([][]string, *graphErr) {
	if raw == "" {
		return nil, invalid("payload is required: {\"schema\": …, \"data\": […]}")
	}
	var schema []string
	var rows [][]string
	var p payloadParam
	var one oneKey
	switch {
	case json.Unmarshal([]byte(raw), &p) == nil && json.Unmarshal(p.Schema, &schema) == nil && len(schema) > 0:
		rows = p.Data
	case json.Unmarshal([]byte(raw), &one) == nil && one.Schema != "":
		schema = []string{one.Schema}
		rows = make([][]string, len(one.Data))
		for i := range one.Data {
			rows[i] = one.Data[i : i+1]
		}
	default:
		return nil, invalid("payload must be {\"schema\": [keys…], \"data\": [[values…]…]} or {\"schema\": key, \"data\": [values…]}")
	}
	for i, k := range schema {
		if !slices.Contains(keys, k) || slices.Index(schema, k) != i {
			return nil, invalid("payload.schema: %q is not one of %s, or is there twice", k, strings.Join(keys, ", "))
		}
	}
	if len(rows) < 1 || len(rows) > MaxRows {
		return nil, invalid("payload.data has %d rows; a request takes 1 to %d", len(rows), MaxRows)
	}
	for i, r := range rows {
		if len(r) != len(schema) {
			return nil, invalid("payload.data[%d] must have a value for each of the %d keys of the schema", i, len(schema))
		}
		for j, v := range r {
			switch {
			case v == "" || isHash(v):
			case unhashedRE.MatchString(v):
				return nil, invalid("payload.data[%d][%d] looks like an unhashed %s; send the SHA-256 of the normalised value, in lower-case hex",
					i, j, strings.ToLower(strings.TrimSuffix(schema[j], "_SHA256")))
			default:
				return nil, invalid("payload.data[%d][%d] is not a SHA-256 hash in lower-case hex", i, j)
			}
		}
	}
	return rows, nil
}

// readSession checks a session parameter.
func readSession(raw string) (sessionParam, *graphErr) {
	var sp sessionParam
	if raw == "" {
		return sp, invalid("session is required: {\"session_id\", \"batch_seq\", \"last_batch_flag\", \"estimated_num_total\"}")
	}
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return sp, invalid("session is not JSON of the right shape: %v", err)
	}
	switch {
	case sp.ID <= 0:
		return sp, invalid("session.session_id must be a positive number")
	case sp.Seq < 1:
		return sp, invalid("session.batch_seq starts at 1")
	case sp.Estimated < 0:
		return sp, invalid("session.estimated_num_total cannot be negative")
	}
	return sp, nil
}

// users adds rows to or removes them from an audience, one batch of a session.
func (s *Server) users(c call) any {
	op := "add"
	if c.r.Method == http.MethodDelete {
		op = "remove"
	}
	rows, e := readPayload(c.params.Get("payload"))
	if e != nil {
		return e
	}
	sp, e := readSession(c.params.Get("session"))
	if e != nil {
		return e
	}
	return s.existing(c, func(a *Audience) any {
		key := sessionKey{a.ID, sp.ID}
		ses := s.sessions[key]
		switch {
		case ses == nil && sp.Seq != 1:
			return invalid("session %d of audience %s has no batch 1; a session starts at batch_seq 1", sp.ID, a.ID)
		case ses == nil:
			ses = &Session{Audience: a.ID, ID: sp.ID, Op: op, answers: map[int]map[string]any{}}
			s.sessions[key] = ses
		case ses.Op != op:
			return invalid("session %d is an upload to %s members; start another session to %s", sp.ID, ses.Op, op)
		case sp.Seq <= ses.Batches:
			return ses.answers[sp.Seq] // a repeated batch: answered again, applied once
		case ses.Closed:
			return invalid("session %d was closed by its last batch, %d", sp.ID, ses.Batches)
		case sp.Seq != ses.Batches+1:
			return invalid("session %d: batch_seq %d skips batch %d", sp.ID, sp.Seq, ses.Batches+1)
		}
		set := s.members[a.ID]
		unusable := 0
		samples := map[string]string{}
		for i, r := range rows {
			empty := true
			for _, v := range r {
				if v == "" {
					continue
				}
				empty = false
				var h [32]byte
				hex.Decode(h[:], []byte(v))
				if op == "add" {
					set[h] = struct{}{}
				} else {
					delete(set, h)
				}
			}
			if empty {
				unusable++
				if len(samples) < 10 {
					samples[strconv.Itoa(i)] = "the row has no value"
				}
			}
		}
		ses.Batches, ses.Closed, ses.Estimated = sp.Seq, sp.Last, sp.Estimated
		ses.Received += int64(len(rows))
		a.Updated = s.now()
		ans := map[string]any{"audience_id": a.ID, "session_id": strconv.FormatInt(sp.ID, 10),
			"num_received": len(rows), "num_invalid_entries": unusable, "invalid_entry_samples": samples}
		ses.answers[sp.Seq] = ans
		return ans
	})
}

// Audiences lists the ad account's custom audiences, oldest first, with their member counts.
func (s *Server) Audiences() []Audience {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := contracttest.Snapshot(s.audiences, func(a, b *Audience) int { return compareIDs(a.ID, b.ID) })
	for i := range out {
		out[i].Members = len(s.members[out[i].ID])
	}
	return out
}

// Members lists the hashes an audience holds, sorted.
func (s *Server) Members(audienceID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.members[audienceID]))
	for h := range s.members[audienceID] {
		out = append(out, hex.EncodeToString(h[:]))
	}
	slices.Sort(out)
	return out
}

// Sessions lists an audience's upload sessions by ID.
func (s *Server) Sessions(audienceID string) []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Session
	for k, ses := range s.sessions {
		if k.audience == audienceID {
			out = append(out, *ses)
		}
	}
	slices.SortFunc(out, func(a, b Session) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Objects describes what the server holds, a line an audience: ID, members, name, description.
func (s *Server) Objects() []string {
	var out []string
	for _, a := range s.Audiences() {
		out = append(out, fmt.Sprintf("audience %s %d %q %q", a.ID, a.Members, a.Name, a.Description))
	}
	return out
}

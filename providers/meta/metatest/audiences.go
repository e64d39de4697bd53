package metatest

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The custom audience endpoints: create and list on the ad account, read, rename and delete
// by ID.

// sources are the customer_file_source values Meta takes.
var sources = []string{"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"}

// fields are the fields of a custom audience the server answers; asking for another is an
// error, as Meta answers a field the node type lacks.
var fields = []string{"id", "name", "description", "subtype", "customer_file_source", "account_id",
	"approximate_count_lower_bound", "approximate_count_upper_bound", "operation_status", "delivery_status",
	"time_created", "time_updated"}

// checkAccount refuses an ad account other than the server's. Called with s.mu held or not.
func (s *Server) checkAccount(c call) *graphErr {
	if acct := accountRE.FindStringSubmatch(c.path)[1]; acct != s.AdAccount {
		return noObject(c.r.Method, acct)
	}
	return nil
}

func (s *Server) createAudience(c call) any {
	if e := s.checkAccount(c); e != nil {
		return e
	}
	name, subtype, source := c.params.Get("name"), c.params.Get("subtype"), c.params.Get("customer_file_source")
	switch {
	case strings.TrimSpace(name) == "":
		return invalid("name is required")
	case subtype != "CUSTOM":
		return invalid("subtype %q: this server makes customer-file audiences, subtype CUSTOM", subtype)
	case !slices.Contains(sources, source):
		return invalid("customer_file_source must be one of %s, not %q", strings.Join(sources, ", "), source)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := strconv.FormatInt(s.seq, 10)
	s.audiences[id] = &Audience{ID: id, Name: name, Description: c.params.Get("description"), Subtype: subtype,
		Source: source, Created: s.now(), Updated: s.now()}
	s.members[id] = map[[32]byte]struct{}{}
	return map[string]any{"id": id}
}

// selected reads the fields parameter: the fields to answer, or the error for one the node
// lacks.
func selected(c call) ([]string, *graphErr) {
	want := []string{"id"}
	if f := c.params.Get("fields"); f != "" {
		want = strings.Split(f, ",")
	}
	for _, f := range want {
		if !slices.Contains(fields, strings.TrimSpace(f)) {
			return nil, refusal(100, "(#100) Tried accessing nonexisting field (%s) on node type (CustomAudience)", strings.TrimSpace(f))
		}
	}
	return want, nil
}

// view answers an audience's fields. Called with s.mu held.
func (s *Server) view(a *Audience, want []string) map[string]any {
	out := map[string]any{}
	n := len(s.members[a.ID])
	for _, f := range want {
		switch f = strings.TrimSpace(f); f {
		case "id":
			out[f] = a.ID
		case "name":
			out[f] = a.Name
		case "description":
			out[f] = a.Description
		case "subtype":
			out[f] = a.Subtype
		case "customer_file_source":
			out[f] = a.Source
		case "account_id":
			out[f] = strings.TrimPrefix(s.AdAccount, "act_")
		case "approximate_count_lower_bound", "approximate_count_upper_bound":
			out[f] = n
		case "operation_status":
			out[f] = map[string]any{"code": 200, "description": "Normal"}
		case "delivery_status":
			out[f] = map[string]any{"code": 200, "description": "This audience is ready for use."}
		case "time_created":
			out[f] = a.Created.Unix()
		case "time_updated":
			out[f] = a.Updated.Unix()
		}
	}
	return out
}

// listAudiences is a page of the ad account's audiences, oldest first, after a cursor.
func (s *Server) listAudiences(c call) any {
	if e := s.checkAccount(c); e != nil {
		return e
	}
	want, e := selected(c)
	if e != nil {
		return e
	}
	limit := DefaultPageSize
	if l := c.params.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return invalid("limit must be a whole number of 1 or more")
		}
		limit = min(n, MaxPageSize)
	}
	after := ""
	if cur := c.params.Get("after"); cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil {
			return invalid("after is not a cursor this endpoint gave")
		}
		after = string(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.audienceIDs()
	from := 0
	if after != "" {
		from, _ = slices.BinarySearchFunc(ids, after, compareIDs)
		if from < len(ids) && ids[from] == after {
			from++
		}
	}
	page := ids[from:min(from+limit, len(ids))]
	data := make([]map[string]any, len(page))
	for i, id := range page {
		data[i] = s.view(s.audiences[id], want)
	}
	out := map[string]any{"data": data}
	if len(page) > 0 {
		cursor := func(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }
		paging := map[string]any{"cursors": map[string]string{"before": cursor(page[0]), "after": cursor(page[len(page)-1])}}
		if from+len(page) < len(ids) {
			next := *c.r.URL
			q := next.Query()
			q.Set("after", cursor(page[len(page)-1]))
			next.RawQuery = q.Encode()
			paging["next"] = s.URL + next.RequestURI()
		}
		out["paging"] = paging
	}
	return out
}

// compareIDs orders numeric IDs as numbers.
func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// existing runs edit, under the lock, on the audience a call names.
func (s *Server) existing(c call, edit func(a *Audience) any) any {
	id := objectRE.FindStringSubmatch(c.path)[1]
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.audiences[id]
	if a == nil {
		return noObject(c.r.Method, id)
	}
	return edit(a)
}

func (s *Server) readAudience(c call) any {
	want, e := selected(c)
	if e != nil {
		return e
	}
	return s.existing(c, func(a *Audience) any { return s.view(a, want) })
}

func (s *Server) updateAudience(c call) any {
	if n, ok := c.params["name"]; ok && strings.TrimSpace(n[0]) == "" {
		return invalid("name cannot be empty")
	}
	return s.existing(c, func(a *Audience) any {
		if n, ok := c.params["name"]; ok {
			a.Name = n[0]
		}
		if d, ok := c.params["description"]; ok {
			a.Description = d[0]
		}
		a.Updated = s.now()
		return map[string]bool{"success": true}
	})
}

func (s *Server) deleteAudience(c call) any {
	return s.existing(c, func(a *Audience) any {
		s.removeLocked(a.ID)
		return map[string]bool{"success": true}
	})
}

// removeLocked deletes an audience, its members and its sessions. Called with s.mu held.
func (s *Server) removeLocked(id string) {
	delete(s.audiences, id)
	delete(s.members, id)
	for k := range s.sessions {
		if k.audience == id {
			delete(s.sessions, k)
		}
	}
}

// The Admin's view of audiences, called with s.mu held.

func (s *Server) audienceIDs() []string {
	ids := make([]string, 0, len(s.audiences))
	for id := range s.audiences {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareIDs)
	return ids
}

func (s *Server) audienceOf(id string) (*Audience, error) {
	if a := s.audiences[id]; a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("the ad account has no custom audience %s", id)
}

// tamperAudience renames an audience, as Ads Manager does: its name is the canonical
// description.
func (s *Server) tamperAudience(id, attr, value string) error {
	a, err := s.audienceOf(id)
	if err != nil {
		return err
	}
	if attr != "description" {
		return fmt.Errorf("Ads Manager renames a custom audience (description), it has no %s", attr)
	}
	a.Name, a.Updated = value, s.now()
	return nil
}

func (s *Server) removeAudience(id string) error {
	if _, err := s.audienceOf(id); err != nil {
		return err
	}
	s.removeLocked(id)
	return nil
}

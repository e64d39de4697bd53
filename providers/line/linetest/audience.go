package linetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The audience group endpoints: upload (create and add), read, list, rename, delete.

type audienceIDs []struct {
	ID string `json:"id"`
}

// checkUpload applies the limits of an upload of user IDs.
func checkUpload(ids audienceIDs, required bool) []errorDetail {
	least := 0
	if required {
		least = 1
	}
	if len(ids) < least || len(ids) > MaxAudienceUpload {
		return []errorDetail{{Message: fmt.Sprintf("Size must be between %d and %d", least, MaxAudienceUpload), Property: "audiences"}}
	}
	for i, a := range ids {
		if !userIDRE.MatchString(a.ID) {
			return []errorDetail{{Message: "must be a user ID", Property: fmt.Sprintf("audiences[%d].id", i)}}
		}
	}
	return nil
}

func checkName(name string) []errorDetail {
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxAudienceName {
		return []errorDetail{{Message: fmt.Sprintf("Length must be between 1 and %d", MaxAudienceName), Property: "description"}}
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return []errorDetail{{Message: "The audience's name contains an invalid character", Property: "description"}}
	}
	return nil
}

func (a *Audience) add(ids audienceIDs) {
	have := make(map[string]bool, len(a.UserIDs))
	for _, id := range a.UserIDs {
		have[id] = true
	}
	for _, id := range ids {
		if !have[id.ID] {
			have[id.ID] = true
			a.UserIDs = append(a.UserIDs, id.ID)
		}
	}
}

func (s *Server) createAudience(c call) reply {
	body := c.body
	var req struct {
		Description   string      `json:"description"`
		IsIfaAudience bool        `json:"isIfaAudience"`
		Audiences     audienceIDs `json:"audiences"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	details := append(checkName(req.Description), checkUpload(req.Audiences, false)...)
	if req.IsIfaAudience {
		details = append(details, errorDetail{Message: "IFA audiences need an application to LINE", Property: "isIfaAudience"})
	}
	if len(details) > 0 {
		return invalidBody(details...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.audiences) >= MaxAudiences {
		return invalidBody(errorDetail{Message: fmt.Sprintf("You have already created the maximum number of audiences (%d)", MaxAudiences)})
	}
	s.seq++
	a := &Audience{ID: s.seq, Name: req.Description, Status: "IN_PROGRESS", Created: s.now()}
	a.add(req.Audiences)
	s.audiences[a.ID] = a
	return reply{status: http.StatusAccepted, body: map[string]any{"audienceGroupId": a.ID, "createRoute": "MESSAGING_API",
		"type": "UPLOAD", "description": a.Name, "created": a.Created.Unix(), "permission": "READ_WRITE",
		"expireTimestamp": a.Created.Add(180 * 24 * time.Hour).Unix(), "isIfaAudience": false}}
}

func (s *Server) addAudience(c call) reply {
	body := c.body
	var req struct {
		AudienceGroupID int64       `json:"audienceGroupId"`
		Audiences       audienceIDs `json:"audiences"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	if details := checkUpload(req.Audiences, true); len(details) > 0 {
		return invalidBody(details...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.audiences[req.AudienceGroupID]
	if !ok {
		return audienceNotFound
	}
	if a.Status == "EXPIRED" {
		return invalidBody(errorDetail{Message: "AUDIENCE_GROUP_CAN_NOT_UPLOAD_STATUS_EXPIRED"})
	}
	a.add(req.Audiences)
	if a.Status == "READY" {
		a.Status = "IN_PROGRESS" // the added IDs are being processed
	}
	return reply{status: http.StatusAccepted, body: struct{}{}}
}

func (s *Server) audienceID(r *http.Request) int64 {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/bot/audienceGroup/")
	rest = strings.TrimSuffix(rest, "/updateDescription")
	id, _ := strconv.ParseInt(rest, 10, 64)
	return id
}

func (a *Audience) view() map[string]any {
	return map[string]any{"audienceGroupId": a.ID, "type": "UPLOAD", "description": a.Name, "status": a.Status,
		"audienceCount": len(a.UserIDs), "created": a.Created.Unix(), "isIfaAudience": false,
		"permission": "READ_WRITE", "createRoute": "MESSAGING_API"}
}

func (s *Server) getAudience(c call) reply {
	r := c.r
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.audiences[s.audienceID(r)]
	if !ok {
		return audienceNotFound
	}
	out := map[string]any{"audienceGroup": a.view(), "jobs": []any{}}
	if a.Status == "IN_PROGRESS" {
		a.Status = "READY" // the build finishes in the background; the next read sees it done
	}
	return reply{status: http.StatusOK, body: out}
}

func (s *Server) listAudiences(c call) reply {
	r := c.r
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		return invalidBody(errorDetail{Message: "must be 1 or higher", Property: "page"})
	}
	size := 20
	if v := q.Get("size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > 40 {
			return invalidBody(errorDetail{Message: "must be between 1 and 40", Property: "size"})
		}
	}
	name, status, route := strings.ToLower(q.Get("description")), q.Get("status"), q.Get("createRoute")
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []*Audience
	for _, a := range s.audiences {
		if (name == "" || strings.Contains(strings.ToLower(a.Name), name)) && (status == "" || a.Status == status) &&
			(route == "" || route == "MESSAGING_API") {
			match = append(match, a)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].ID > match[j].ID }) // newest first
	from, to := min((page-1)*size, len(match)), min(page*size, len(match))
	groups := make([]map[string]any, 0, to-from)
	for _, a := range match[from:to] {
		groups = append(groups, a.view())
	}
	return reply{status: http.StatusOK, body: map[string]any{"audienceGroups": groups, "hasNextPage": to < len(match),
		"totalCount": len(match), "readWriteAudienceGroupTotalCount": len(match), "page": page, "size": size}}
}

func (s *Server) renameAudience(c call) reply {
	r, body := c.r, c.body
	var req struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return errorReply(http.StatusBadRequest, "The request body could not be parsed as JSON")
	}
	if details := checkName(req.Description); len(details) > 0 {
		return invalidBody(details...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.audiences[s.audienceID(r)]
	if !ok {
		return audienceNotFound
	}
	a.Name = req.Description
	return reply{status: http.StatusOK, body: struct{}{}}
}

func (s *Server) deleteAudience(c call) reply {
	r := c.r
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.audienceID(r)
	if _, ok := s.audiences[id]; !ok {
		return audienceNotFound
	}
	delete(s.audiences, id)
	return reply{status: http.StatusOK, body: struct{}{}}
}

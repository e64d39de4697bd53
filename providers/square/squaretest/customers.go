package squaretest

import (
	"net/http"
	"sort"
	"strings"
)

const maxGroupPage = 50

type group struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
	seq       int
}

type groupBody struct {
	Group *group `json:"group"`
}

func (g *group) copy() *group { c := *g; return &c }

func checkGroupName(g *group) error {
	switch {
	case g == nil:
		return invalid("MISSING_REQUIRED_PARAMETER", "group", "group is required")
	case strings.TrimSpace(g.Name) == "":
		return invalid("VALUE_EMPTY", "group.name", "Value for `group.name` should not be empty.")
	}
	return nil
}

func (s *Server) createGroup(r *http.Request) (any, error) {
	var req struct {
		IdempotencyKey string `json:"idempotency_key"`
		Group          *group `json:"group"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkKey(req.IdempotencyKey, false, noKeyLimit); err != nil {
		return nil, err
	}
	if err := checkGroupName(req.Group); err != nil {
		return nil, err
	}
	return s.idempotent("customers/groups", req.IdempotencyKey, req, func() (any, error) {
		s.seq++
		now := s.now()
		g := &group{ID: newID(), Name: req.Group.Name, CreatedAt: now, UpdatedAt: now, seq: s.seq}
		s.groups[g.ID] = g
		return groupBody{g.copy()}, nil
	})
}

func (s *Server) group(r *http.Request) (*group, error) {
	id := r.PathValue("id")
	g := s.groups[id]
	if g == nil {
		return nil, notFound("group_id", "Customer group with ID %s not found.", id)
	}
	return g, nil
}

func (s *Server) getGroup(r *http.Request) (any, error) {
	g, err := s.group(r)
	if err != nil {
		return nil, err
	}
	return groupBody{g.copy()}, nil
}

func (s *Server) updateGroup(r *http.Request) (any, error) {
	g, err := s.group(r)
	if err != nil {
		return nil, err
	}
	var req groupBody
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkGroupName(req.Group); err != nil {
		return nil, err
	}
	g.Name, g.UpdatedAt = req.Group.Name, s.now()
	return groupBody{g.copy()}, nil
}

func (s *Server) deleteGroup(r *http.Request) (any, error) {
	g, err := s.group(r)
	if err != nil {
		return nil, err
	}
	delete(s.groups, g.ID)
	return struct{}{}, nil
}

func (s *Server) listGroups(r *http.Request) (any, error) {
	limit, err := limitParam(r, maxGroupPage, maxGroupPage)
	if err != nil {
		return nil, err
	}
	all := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		all = append(all, g)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	pg, next, err := page(all, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Groups []*group `json:"groups,omitempty"`
		Cursor string   `json:"cursor,omitempty"`
	}{Cursor: next}
	for _, g := range pg {
		out.Groups = append(out.Groups, g.copy())
	}
	return out, nil
}

package squaretest

import (
	"net/http"
	"slices"
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
	s.dropGroup(g.ID)
	return struct{}{}, nil
}

// dropGroup deletes a group and its memberships.
func (s *Server) dropGroup(id string) {
	delete(s.groups, id)
	delete(s.members, id)
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

// membership finds the customer and the group of a group membership call: an unknown one of
// either is 404 NOT_FOUND, as Square answers.
func (s *Server) membership(r *http.Request) (customerID, groupID string, err error) {
	customerID, groupID = r.PathValue("customer_id"), r.PathValue("group_id")
	if _, ok := s.customers[customerID]; !ok {
		return "", "", notFound("customer_id", "Customer with ID `%s` not found.", customerID)
	}
	if s.groups[groupID] == nil {
		return "", "", notFound("group_id", "Customer group with ID `%s` not found.", groupID)
	}
	return customerID, groupID, nil
}

// addGroupToCustomer puts a customer into a group (AddGroupToCustomer); a member stays one.
func (s *Server) addGroupToCustomer(r *http.Request) (any, error) {
	c, g, err := s.membership(r)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(s.members[g], c) {
		s.members[g] = append(s.members[g], c)
	}
	return struct{}{}, nil
}

// removeGroupFromCustomer takes a customer out of a group (RemoveGroupFromCustomer); one not
// in it stays out.
func (s *Server) removeGroupFromCustomer(r *http.Request) (any, error) {
	c, g, err := s.membership(r)
	if err != nil {
		return nil, err
	}
	s.members[g] = slices.DeleteFunc(s.members[g], func(m string) bool { return m == c })
	return struct{}{}, nil
}

// AddCustomer registers a customer profile, as the register or the Customer Directory would,
// and returns its ID.
func (s *Server) AddCustomer(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID()
	s.customers[id] = email
	return id
}

// GroupMembers returns the IDs of the customers in a group, sorted.
func (s *Server) GroupMembers(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.members[groupID])
	slices.Sort(out)
	return out
}

// SegmentGroup returns the ID of the group Musubi named after a segment, or "".
func (s *Server) SegmentGroup(segment string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range sortedKeys(s.groups) {
		if m := groupNameRE.FindStringSubmatch(s.groups[id].Name); m != nil {
			if seg, _, _ := strings.Cut(m[1], ": "); seg == segment {
				return id
			}
		}
	}
	return ""
}

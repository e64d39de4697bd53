package wechattest

import (
	"slices"
	"sort"
	"strings"
)

// The user tag APIs: create, list, rename, delete, tag and untag followers, list a tag's
// followers.

type tagBody struct {
	Tag struct {
		ID   *int64 `json:"id"`
		Name string `json:"name"`
	} `json:"tag"`
}

// checkName applies the rules of tag names: at most 30 bytes, unique in the account. other is
// the tag being renamed, whose own name does not count. Called with s.mu held.
func (s *Server) checkName(name string, other int64) answer {
	switch {
	case strings.TrimSpace(name) == "":
		return refusal(45157, "invalid tag name")
	case len(name) > MaxTagName:
		return refusal(45158, "tag name too long")
	}
	for _, t := range s.tags {
		if t.Name == name && t.ID != other {
			return refusal(45157, "invalid tag name")
		}
	}
	return nil
}

func (s *Server) createTag(c call) answer {
	var req tagBody
	if refused, ok := c.decode(&req); !ok {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused := s.checkName(req.Tag.Name, -1); refused != nil {
		return refused
	}
	if len(s.tags) >= MaxTags {
		return refusal(45056, "too many tag now, no need to add new")
	}
	s.seq++
	s.tags[s.seq] = &Tag{ID: s.seq, Name: req.Tag.Name}
	return answer{"tag": answer{"id": s.seq, "name": req.Tag.Name}}
}

func (s *Server) listTags(call) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]answer, 0, len(s.tags))
	for _, t := range s.tags {
		list = append(list, answer{"id": t.ID, "name": t.Name, "count": len(s.membersLocked(t.ID))})
	}
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(int64) < list[j]["id"].(int64) })
	return answer{"tags": list}
}

// existing finds the tag a body names. Called with s.mu held.
func (s *Server) existing(req tagBody) (*Tag, answer) {
	if req.Tag.ID == nil {
		return nil, refusal(47001, "data format error")
	}
	id := *req.Tag.ID
	if id >= 0 && id <= 2 {
		return nil, refusal(45058, "can't modify sys tag")
	}
	t, found := s.tags[id]
	if !found {
		return nil, refusal(45159, "invalid tag id")
	}
	return t, nil
}

// onTag runs edit, under the lock, on the tag a body names.
func (s *Server) onTag(c call, edit func(t *Tag, req tagBody) answer) answer {
	var req tagBody
	if refused, ok := c.decode(&req); !ok {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, refused := s.existing(req)
	if refused != nil {
		return refused
	}
	return edit(t, req)
}

func (s *Server) updateTag(c call) answer {
	return s.onTag(c, func(t *Tag, req tagBody) answer {
		if refused := s.checkName(req.Tag.Name, t.ID); refused != nil {
			return refused
		}
		t.Name = req.Tag.Name
		return done
	})
}

func (s *Server) deleteTag(c call) answer {
	return s.onTag(c, func(t *Tag, _ tagBody) answer {
		if len(s.membersLocked(t.ID)) > MaxDeletable {
			return refusal(45057, "can't delete the tag that has too many fans")
		}
		delete(s.tags, t.ID)
		for _, f := range s.followers {
			f.Tags = slices.DeleteFunc(f.Tags, func(x int64) bool { return x == t.ID })
		}
		return done
	})
}

// onTagging checks a tagging call and runs edit, under the lock, on its followers.
func (s *Server) onTagging(c call, edit func(fs []*Follower, tagID int64) answer) answer {
	var req struct {
		OpenIDs []string `json:"openid_list"`
		TagID   int64    `json:"tagid"`
	}
	if refused, ok := c.decode(&req); !ok {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(req.OpenIDs) < 1 || len(req.OpenIDs) > MaxTagging {
		return refusal(40032, "invalid openid list size")
	}
	if _, found := s.tags[req.TagID]; !found {
		return refusal(45159, "invalid tag id")
	}
	fs := make([]*Follower, len(req.OpenIDs))
	for i, id := range req.OpenIDs {
		if fs[i] = s.followers[id]; fs[i] == nil || !fs[i].Subscribed {
			return refusal(40003, "invalid openid")
		}
	}
	return edit(fs, req.TagID)
}

func (s *Server) batchTagging(c call) answer {
	return s.onTagging(c, func(fs []*Follower, tagID int64) answer {
		for _, f := range fs {
			if !slices.Contains(f.Tags, tagID) && len(f.Tags) >= MaxUserTags {
				return refusal(45059, "tag list size of user is limited")
			}
		}
		for _, f := range fs {
			if !slices.Contains(f.Tags, tagID) {
				f.Tags = append(f.Tags, tagID)
			}
		}
		return done
	})
}

func (s *Server) batchUntagging(c call) answer {
	return s.onTagging(c, func(fs []*Follower, tagID int64) answer {
		for _, f := range fs {
			f.Tags = slices.DeleteFunc(f.Tags, func(x int64) bool { return x == tagID })
		}
		return done
	})
}

// tagFollowers is POST /cgi-bin/user/tag/get: a tag's followers, 10,000 a page after
// next_openid.
func (s *Server) tagFollowers(c call) answer {
	var req struct {
		TagID      int64  `json:"tagid"`
		NextOpenID string `json:"next_openid"`
	}
	if refused, ok := c.decode(&req); !ok {
		return refused
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.tags[req.TagID]; !found {
		return refusal(45159, "invalid tag id")
	}
	ids := s.membersLocked(req.TagID)
	from, _ := slices.BinarySearch(ids, req.NextOpenID)
	if req.NextOpenID != "" && from < len(ids) && ids[from] == req.NextOpenID {
		from++
	}
	page := ids[from:min(from+10_000, len(ids))]
	next := ""
	if len(page) > 0 {
		next = page[len(page)-1]
	}
	return answer{"count": len(page), "data": answer{"openid": page}, "next_openid": next}
}

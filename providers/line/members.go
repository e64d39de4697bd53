package line

import (
	"context"
	"fmt"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/manage_audience"
	"github.com/musubi-hq/musubi/providers"
)

// audiencePerSecond is LINE's rate on each audience endpoint: 60 requests a minute.
const audiencePerSecond = 1

// MemberRules: LINE knows a customer by the userId its webhooks carry, takes 10,000 of them an
// upload, and cannot take one out of a group.
func (p *Provider) MemberRules() providers.MemberRules {
	return providers.MemberRules{Fields: []string{"userId"}, Batch: MaxAudienceUpload, PerSecond: audiencePerSecond, AddOnly: true}
}

// userIDs collects the members' LINE user IDs, each once, and the members with none.
func userIDs(members []providers.Member) (ids, unmatched []string) {
	seen := map[string]bool{}
	for _, m := range members {
		matched := false
		for _, id := range m.Values["userId"] {
			if !userIDRE.MatchString(id) {
				continue
			}
			matched = true
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if !matched {
			unmatched = append(unmatched, m.Customer)
		}
	}
	return ids, unmatched
}

// SyncMembers uploads the members entering the segment to its group (to each, while a rebuild
// has two). Removals are refused: MemberRules says the engine rebuilds instead.
func (p *Provider) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	if len(req.Remove) > 0 {
		return providers.SyncMembersResponse{Diagnostics: providers.FromError("Cannot remove members from a LINE audience",
			&providers.APIError{Code: providers.ErrInvalid, Message: "LINE cannot take users out of an audience group; rebuild the audience (RebuildMembers) instead"})}
	}
	ids, unmatched := userIDs(req.Add)
	out := providers.SyncMembersResponse{Unmatched: unmatched}
	if len(ids) > 0 {
		out.Diagnostics = providers.FromError(fmt.Sprintf("Cannot add members to the LINE audience of segment %s", req.Segment),
			p.oneAtATime(ctx, func() error { return p.addToSegment(ctx, req.Segment, ids) }))
	}
	return out
}

// oneAtATime runs a membership call once no other runs. LINE's rate is the channel's, and a
// sync meeting a rebuild half-way could add to the group the rebuild is about to delete.
func (p *Provider) oneAtATime(ctx context.Context, call func() error) error {
	select {
	case p.members <- struct{}{}:
		defer func() { <-p.members }()
		return call()
	case <-ctx.Done():
		return &providers.APIError{Code: providers.ErrUnavailable, Message: "interrupted waiting for another membership call: " + ctx.Err().Error()}
	}
}

// addToSegment uploads user IDs to the segment's live groups. A group gone since it was listed
// (deleted, expired, swapped by another process's rebuild) makes the groups listed again, once.
func (p *Provider) addToSegment(ctx context.Context, segment string, ids []string) error {
	for again := true; ; again = false {
		groups, err := p.liveGroups(ctx, segment)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err = p.upload(ctx, g, ids, nil); err != nil {
				break
			}
		}
		if ae := apiError(err); again && ae != nil && ae.Code == providers.ErrNotFound {
			p.forgetGroups(segment)
			continue
		}
		return err
	}
}

// liveGroups returns the segment's live groups, listing them when this process does not know
// them yet; an error when it has none.
func (p *Provider) liveGroups(ctx context.Context, segment string) ([]int64, error) {
	p.groupsMu.Lock()
	known, ok := p.groups[segment]
	p.groupsMu.Unlock()
	if ok {
		return known, nil
	}
	groups, err := p.segmentGroups(ctx, segment)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, g := range live(groups) {
		ids = append(ids, g.AudienceGroupId)
	}
	if len(ids) == 0 {
		return nil, &providers.APIError{Code: providers.ErrNotFound,
			Message: fmt.Sprintf("the channel has no live audience group of segment %s: apply the programme to make one", segment)}
	}
	p.rememberGroups(segment, ids...)
	return ids, nil
}

func (p *Provider) rememberGroups(segment string, ids ...int64) {
	p.groupsMu.Lock()
	defer p.groupsMu.Unlock()
	p.groups[segment] = ids
}

func (p *Provider) forgetGroups(segment string) {
	p.groupsMu.Lock()
	defer p.groupsMu.Unlock()
	delete(p.groups, segment)
}

// RebuildMembers makes a fresh group of exactly the members for the segment and deletes the
// segment's other groups, so customers who left are no longer in it. The fresh group is
// marked with the segment and a tag of the rebuild's key, and named with the description of
// the group it replaces; reads by the audience's ID find it by the segment. The old groups go
// only once every member is uploaded: until then narrowcasts reach the old group, and syncs
// add to both. A rebuild repeated with the same key finds its group by the tag, uploads the
// members again (LINE ignores IDs it holds) unless the old groups are gone already, and deletes
// them: one group remains. Its requests are paced at LINE's rate, as one call makes many.
func (p *Provider) RebuildMembers(ctx context.Context, req providers.RebuildMembersRequest) providers.SyncMembersResponse {
	ids, unmatched := userIDs(req.Members)
	err := p.oneAtATime(ctx, func() error { return p.rebuild(ctx, req.Segment, req.IdempotencyKey, ids) })
	return providers.SyncMembersResponse{Unmatched: unmatched, Diagnostics: providers.FromError(
		fmt.Sprintf("Cannot rebuild the LINE audience of segment %s", req.Segment), err)}
}

func (p *Provider) rebuild(ctx context.Context, segment, key string, ids []string) error {
	if key == "" {
		return &providers.APIError{Code: providers.ErrInvalid, Message: "a rebuild needs an idempotency key: it marks the fresh group"}
	}
	tag := keyTag(key)
	groups, err := p.segmentGroups(ctx, segment)
	if err != nil {
		return err
	}
	var fresh int64
	var old []manage_audience.AudienceGroup
	for _, g := range groups {
		if _, _, t := parseAudienceName(g.Description); t == tag && g.Status != manage_audience.AudienceGroupStatus_EXPIRED {
			fresh = g.AudienceGroupId
		} else {
			old = append(old, g)
		}
	}
	if fresh == 0 && len(old) == 0 {
		return &providers.APIError{Code: providers.ErrNotFound,
			Message: fmt.Sprintf("the channel has no audience group of segment %s to rebuild: apply the programme to make one", segment)}
	}
	// Until the swap is done, syncs list the groups again and add to both.
	p.forgetGroups(segment)
	wait := p.pacer()
	switch {
	case fresh == 0:
		first := ids[:min(len(ids), MaxAudienceUpload)]
		_ = wait(ctx) // the create is the rebuild's first request: no wait
		if fresh, err = p.newGroup(ctx, audienceName(replacedLabel(old), segment, tag), first); err != nil {
			return err
		}
		if err := p.upload(ctx, fresh, ids[len(first):], wait); err != nil {
			return err
		}
	case len(old) > 0:
		// A rebuild cut short: how many members its group got is unknown.
		if err := p.upload(ctx, fresh, ids, wait); err != nil {
			return err
		}
	}
	for _, g := range old {
		if err := wait(ctx); err != nil {
			return err
		}
		if err := p.deleteGroup(ctx, g.AudienceGroupId); err != nil {
			return err
		}
	}
	p.rememberGroups(segment, fresh)
	return nil
}

// replacedLabel is the description of the group a rebuild replaces: the oldest live one's,
// else the oldest's.
func replacedLabel(groups []manage_audience.AudienceGroup) string {
	g := groups[0]
	if current := live(groups); len(current) > 0 {
		g = current[0]
	}
	desc, _, _ := parseAudienceName(g.Description)
	return desc
}

// pacer spaces the audience requests of one call at LINE's rate: the first goes at once.
func (p *Provider) pacer() func(context.Context) error {
	first := true
	return func(ctx context.Context) error {
		if first {
			first = false
			return nil
		}
		return p.retry.sleep(ctx, time.Second/audiencePerSecond)
	}
}

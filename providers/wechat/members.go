package wechat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/musubi-hq/musubi/providers"
)

// MemberRules: WeChat knows a follower by the openid of its callbacks and tags 50 a call. It
// publishes daily quotas per API, not a rate: a used-up quota is rate_limited until midnight
// China Standard Time.
func (p *Provider) MemberRules() providers.MemberRules {
	return providers.MemberRules{Fields: []string{"openid"}, Batch: MaxTagging}
}

// openIDsOf lists each member's usable openids.
func openIDsOf(members []providers.Member) [][]string {
	out := make([][]string, len(members))
	for i, m := range members {
		for _, id := range m.Values["openid"] {
			if openIDRE.MatchString(id) {
				out[i] = append(out[i], id)
			}
		}
	}
	return out
}

// SyncMembers untags the followers leaving the segment and tags those entering it, in the
// segment's tag, which the ledger names. A customer with no openid of this account, or whom
// WeChat leaves out (not following, or carrying 20 tags), is unmatched; one left out of an
// untagging is not tagged, which is what a removal asks.
func (p *Provider) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	if p.ledger == nil {
		return providers.SyncMembersResponse{Diagnostics: providers.Errorf("WeChat provider not configured", "Configure was not called, or failed")}
	}
	add, remove := openIDsOf(req.Add), openIDsOf(req.Remove)
	left, err := p.syncTags(ctx, req.Segment, slices.Concat(add...), slices.Concat(remove...))
	var out providers.SyncMembersResponse
	for i, ids := range add {
		if !slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(left, id) }) {
			out.Unmatched = append(out.Unmatched, req.Add[i].Customer)
		}
	}
	out.Diagnostics = providers.FromError(fmt.Sprintf("Cannot sync the WeChat tag of segment %s", req.Segment), err)
	return out
}

// syncTags untags and tags openids in the segment's tags, and returns those tagging left out.
func (p *Provider) syncTags(ctx context.Context, segment string, add, remove []string) ([]string, error) {
	if len(add) == 0 && len(remove) == 0 {
		return nil, nil
	}
	tags, err := p.segmentTags(ctx, segment)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, id := range tags {
		tag := strconv.FormatInt(id, 10)
		// An openid left out of an untagging does not follow: it is not tagged either.
		if _, err := leftOut(p.keepTag(ctx, id, p.RemoveMembers(ctx, tag, remove))); err != nil {
			return nil, err
		}
		out, err := leftOut(p.keepTag(ctx, id, p.AddMembers(ctx, tag, add)))
		if err != nil {
			return nil, err
		}
		left = append(left, out...)
	}
	return left, nil
}

// leftOut splits a tagging call's *LeftOut, a partial success, from its other errors.
func leftOut(err error) ([]string, error) {
	var lo *LeftOut
	if errors.As(err, &lo) {
		return lo.OpenIDs, nil
	}
	return nil, err
}

// keepTag passes on the error of a tagging call, forgetting the tag in the ledger when WeChat
// says it is gone (deleted in the console): the segment's next tag takes its place.
func (p *Provider) keepTag(ctx context.Context, tagID int64, err error) error {
	if errcodeOf(err) == errInvalidTagID {
		if ferr := p.ledger.setSegment(ctx, tagID, ""); ferr != nil {
			return ferr
		}
	}
	return err
}

// segmentTags returns the tags of a segment, from the ledger that apply wrote. When the ledger
// names several (a tag deleted in the console and made again), those WeChat no longer has are
// forgotten.
func (p *Provider) segmentTags(ctx context.Context, segment string) ([]int64, error) {
	ids, err := p.ledger.segmentTags(ctx, segment)
	if err != nil {
		return nil, err
	}
	if len(ids) > 1 {
		all, err := p.tags(ctx)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if find(all, byID(id)) == nil {
				if err := p.ledger.setSegment(ctx, id, ""); err != nil {
					return nil, err
				}
			}
		}
		ids = slices.DeleteFunc(ids, func(id int64) bool { return find(all, byID(id)) == nil })
	}
	if len(ids) == 0 {
		return nil, &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf(
			"the provider's ledger names no tag of segment %s: apply the programme, and give musubi serve the ledger apply uses", segment)}
	}
	return ids, nil
}

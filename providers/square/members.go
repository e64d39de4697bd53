package square

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/musubi-hq/musubi/providers"
)

// A segment's members are the customer profiles in the customer group Musubi named after it
// (see groupName). Square's Customers API takes one membership a call, AddGroupToCustomer
// (PUT /v2/customers/{customer_id}/groups/{group_id}) or RemoveGroupFromCustomer (DELETE),
// and has no bulk form: a batch is one member.

// MemberCallsPerSecond paces membership calls. Square publishes no rate limits, only that a
// client sending too many requests gets 429 RATE_LIMITED and should back off (the client
// does, on every call); ten a second is a conservative default that keeps a backfill of
// 100,000 customers under three hours.
const MemberCallsPerSecond = 10

// memberField is the field Square's webhooks carry a customer profile's ID in (payments,
// customer.created and customer.updated).
const memberField = "customer_id"

// MemberRules: members are matched by customer_id, one a call, ten calls a second.
func (p *Provider) MemberRules() providers.MemberRules {
	return providers.MemberRules{Fields: []string{memberField}, Batch: 1, PerSecond: MemberCallsPerSecond}
}

// SyncMembers adds the customers entering a segment to its customer group and removes those
// leaving. A member without a customer_id, or whose profiles Square does not know, is
// unmatched; one with several profiles (merged in Musubi) joins or leaves with each, and is
// matched when Square knew one. Once the segment's group is gone the batch is not_found.
func (p *Provider) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	if !providers.NameRE.MatchString(req.Segment) {
		return providers.SyncMembersResponse{Diagnostics: providers.FromError("membership sync failed",
			invalidRequest("segment %q is not a segment Musubi names a customer group after", req.Segment))}
	}
	var out providers.SyncMembersResponse
	for i, m := range slices.Concat(req.Add, req.Remove) {
		matched := false
		for _, id := range customerIDs(m.Values[memberField]) {
			known, err := p.syncMember(ctx, req.Segment, id, i >= len(req.Add))
			if err != nil {
				return providers.SyncMembersResponse{Diagnostics: p.failure("membership sync failed", err)}
			}
			matched = matched || known
		}
		if !matched {
			out.Unmatched = append(out.Unmatched, m.Customer)
		}
	}
	return out
}

// customerIDs returns the distinct customer IDs among values.
func customerIDs(values []string) []string {
	var out []string
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// syncMember puts a customer into the segment's group, or takes it out; known is false for
// a customer Square does not know. Square answers an unknown customer and an unknown group
// alike, 404 NOT_FOUND, so the group is read to tell which: a group deleted since it was
// found is looked for again, once, in case an apply made the segment a new one.
func (p *Provider) syncMember(ctx context.Context, segment, customerID string, remove bool) (known bool, err error) {
	do := p.client.AddGroupToCustomer
	if remove {
		do = p.client.RemoveGroupFromCustomer
	}
	for again := false; ; again = true {
		groupID, err := p.memberGroup(ctx, segment, again)
		if err != nil {
			return false, err
		}
		err = do(ctx, customerID, groupID)
		if providers.CodeOf(err) != providers.ErrNotFound {
			return err == nil, err
		}
		g, err := p.client.CustomerGroup(ctx, groupID)
		if err != nil || g != nil {
			return false, err
		}
		if again {
			return false, notFound("customer group %s of segment %q was deleted while its members were synced", groupID, segment)
		}
	}
}

// memberGroups remembers the customer group of each segment whose members were synced, so a
// batch of one member makes one call.
type memberGroups struct {
	mu  sync.Mutex
	ids map[string]string
}

// memberGroup returns the ID of a segment's customer group: the one found before, unless
// fresh, else the one the listing finds.
func (p *Provider) memberGroup(ctx context.Context, segment string, fresh bool) (string, error) {
	mg := p.groups
	mg.mu.Lock()
	id := mg.ids[segment]
	mg.mu.Unlock()
	if id != "" && !fresh {
		return id, nil
	}
	id, err := p.segmentGroup(ctx, segment)
	if err != nil {
		return "", err
	}
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if id == "" {
		delete(mg.ids, segment)
		return "", notFound("no Square customer group mirrors segment %q: its audience is gone from Square (apply the programme to make it again)", segment)
	}
	if mg.ids == nil {
		mg.ids = map[string]string{}
	}
	mg.ids[segment] = id
	return id, nil
}

// segmentGroup finds the customer group Musubi named after a segment: "" when none is.
func (p *Provider) segmentGroup(ctx context.Context, segment string) (string, error) {
	return p.findGroup(ctx, func(s, _ string) bool { return s == segment })
}

package shopify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/musubi-hq/musubi/providers"
)

// A segment's members are the Shopify customers carrying its tag, musubi:SEGMENT, which the
// audience's Shopify segment selects; SyncMembers puts the tag on customers entering the
// segment and takes it off those leaving, with tagsAdd and tagsRemove (see Client.SyncTags).

// memberField is the field Shopify's webhooks carry a customer's ID in (orders' customer,
// customers/create and customers/update): a number, or the customer's GID.
const memberField = "customer_id"

// standardRestoreRate is the points a second a Standard plan's bucket restores: the least
// any shop does, assumed until Shopify reports the shop's own.
const standardRestoreRate = 100

// MemberRules: members are matched by customer_id, MaxTagChanges a call, each call paced to
// what the shop's bucket restores (10 points a mutation): 0.2 calls a second on a Standard
// plan, 2 on Plus.
func (p *Provider) MemberRules() providers.MemberRules {
	rate := float64(standardRestoreRate)
	if p.client != nil && p.client.RestoreRate() > 0 {
		rate = p.client.RestoreRate()
	}
	return providers.MemberRules{Fields: []string{memberField}, Batch: MaxTagChanges, PerSecond: rate / (MaxTagChanges * mutationCost)}
}

// SyncMembers tags the customers added to a segment and untags those removed. A member
// without a usable customer_id, or whose customers Shopify does not know, is unmatched. A
// member with several customer IDs (profiles merged in Musubi) is tagged on each; it is
// matched when Shopify knew one. Nothing is tagged once the audience's Shopify segment is
// gone: the batch is not_found, so the deletion is reported rather than tagged into.
func (p *Provider) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	seg := req.Segment
	if !providers.NameRE.MatchString(seg) || len(customerTag(seg)) > maxTag {
		return providers.SyncMembersResponse{Diagnostics: p.failure("membership sync failed",
			invalid("segment", "segment %q is not a segment Musubi tags Shopify customers for", seg))}
	}
	members := slices.Concat(req.Add, req.Remove)
	var changes []TagChange
	var owner []int // the member of each change
	for i, m := range members {
		for _, id := range customerGIDs(m.Values[memberField]) {
			changes = append(changes, TagChange{ID: id, Remove: i >= len(req.Add)})
			owner = append(owner, i)
		}
	}
	matched := make([]bool, len(members))
	if len(changes) > 0 {
		if _, err := p.memberSegment(ctx, seg); err != nil {
			return providers.SyncMembersResponse{Diagnostics: p.failure("membership sync failed", err)}
		}
		refused, err := p.client.SyncTags(ctx, customerTag(seg), changes)
		if err != nil {
			return providers.SyncMembersResponse{Diagnostics: p.failure("membership sync failed", err)}
		}
		var errs []error
		for j, ch := range changes {
			switch err := refused[j]; {
			case err == nil:
				matched[owner[j]] = true
			case !unknownCustomer(err):
				errs = append(errs, fmt.Errorf("customer %s: %w", ch.ID, err))
			}
		}
		if len(errs) > 0 {
			return providers.SyncMembersResponse{Diagnostics: p.failure("membership sync failed", errors.Join(errs...))}
		}
	}
	var out providers.SyncMembersResponse
	for i, m := range members {
		if !matched[i] {
			out.Unmatched = append(out.Unmatched, m.Customer)
		}
	}
	return out
}

const customerGIDPrefix = "gid://shopify/Customer/"

// customerGIDs turns customer IDs, numbers or GIDs, into GIDs, leaving out what is neither:
// Shopify answers a malformed ID with a top-level error, which would fail the whole document.
func customerGIDs(values []string) []string {
	var out []string
	for _, v := range values {
		num := strings.TrimPrefix(strings.TrimSpace(v), customerGIDPrefix)
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n > 0 && strconv.FormatInt(n, 10) == num {
			if id := customerGIDPrefix + num; !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// unknownCustomer reports whether Shopify refused a change for its customer: one that does
// not exist, or no longer does.
func unknownCustomer(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.API.Code == providers.ErrNotFound || len(e.Field) > 0 && e.Field[len(e.Field)-1] == "id"
}

// memberSegment returns the ID of the Shopify segment of a segment's audience: the one found
// before, while it still selects the segment's tag (a nodes query of one point), else the
// one the shop's listing finds.
func (p *Provider) memberSegment(ctx context.Context, segment string) (string, error) {
	p.segMu.Lock()
	id := p.segIDs[segment]
	p.segMu.Unlock()
	if id != "" {
		found, err := p.client.SegmentsByID(ctx, []string{id})
		if err != nil {
			return "", err
		}
		if sg := found[id]; sg != nil {
			if s, ok := parseSegmentQuery(sg.Query); ok && s == segment {
				return id, nil
			}
		}
	}
	sg, err := p.tagSegment(ctx, segment)
	if err != nil {
		return "", err
	}
	p.segMu.Lock()
	defer p.segMu.Unlock()
	if sg == nil {
		delete(p.segIDs, segment)
		return "", notFound("no Shopify segment selects the customers tagged %s: the audience of segment %q is gone from the shop (apply the programme to make it again)",
			customerTag(segment), segment)
	}
	if p.segIDs == nil {
		p.segIDs = map[string]string{}
	}
	p.segIDs[segment] = sg.ID
	return sg.ID, nil
}

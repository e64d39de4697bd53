package meta

import (
	"context"
	"fmt"
	"slices"

	"github.com/musubi-hq/musubi/providers"
)

// uploadsPerSecond keeps under Meta's custom audience limit of its lowest access tier, 5,000
// calls an hour an ad account (plus 40 an active audience); higher tiers allow more.
const uploadsPerSecond = 1

// MemberRules: Meta matches people by their hashed email addresses and phone numbers, whoever
// gave them, takes 10,000 rows an upload, and hears only of customers who consented to ads.
func (p *Provider) MemberRules() providers.MemberRules {
	return providers.MemberRules{Types: []string{"email", "phone"}, Batch: MaxRows, PerSecond: uploadsPerSecond, Consent: "ads"}
}

// asMembers turns the engine's members into uploads' members. The engine sends only customers
// with the ads consent MemberRules asks for to be added, so each is taken as consenting.
func asMembers(ms []providers.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{Customer: m.Customer, Emails: m.Values["email"], Phones: m.Values["phone"], AdsConsent: true}
	}
	return out
}

// SyncMembers removes the leavers from the segment's custom audience, then adds the joiners,
// each an upload session named by the batch's idempotency key, so a batch repeated after a
// crash continues its sessions and Meta applies no row twice. Joiners with no usable email
// address or phone number are unmatched.
func (p *Provider) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	add, remove := asMembers(req.Add), asMembers(req.Remove)
	var out providers.SyncMembersResponse
	if len(add) == 0 && len(remove) == 0 {
		return out
	}
	err := p.eachSegmentAudience(ctx, req.Segment, func(id string) error {
		if len(remove) > 0 {
			if _, err := p.RemoveMembers(ctx, id, req.IdempotencyKey, remove); err != nil {
				return err
			}
		}
		if len(add) == 0 {
			return nil
		}
		up, err := p.AddMembers(ctx, id, req.IdempotencyKey, add)
		out.Unmatched = out.Unmatched[:0]
		for _, m := range up.Unmatched {
			out.Unmatched = append(out.Unmatched, m.Customer)
		}
		return err
	})
	out.Diagnostics = providers.FromError(fmt.Sprintf("Cannot sync the Meta custom audience of segment %s", req.Segment), err)
	return out
}

// eachSegmentAudience runs sync on each audience marked with the segment (one, unless someone
// made more). An audience gone since it was listed makes the list read again, once.
func (p *Provider) eachSegmentAudience(ctx context.Context, segment string, sync func(id string) error) error {
	for again := true; ; again = false {
		ids, err := p.segmentAudiences(ctx, segment)
		for _, id := range ids {
			if err = sync(id); err != nil {
				break
			}
		}
		if again && isNotFound(err) {
			p.forgetAudiences(segment)
			continue
		}
		return err
	}
}

// segmentAudiences returns the IDs of the audiences marked with the segment, listing the ad
// account's audiences when this process does not know them yet; an error when there are none.
func (p *Provider) segmentAudiences(ctx context.Context, segment string) ([]string, error) {
	if ids, ok := p.knownAudiences(segment); ok {
		return ids, nil
	}
	var ids []string
	err := p.eachAudience(ctx, func(a audience) bool {
		if seg, _ := parseMark(a.Description); seg == segment {
			ids = append(ids, a.ID)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, &providers.APIError{Code: providers.ErrNotFound,
			Message: fmt.Sprintf("the ad account has no custom audience of segment %s: apply the programme to make one", segment)}
	}
	p.audiencesMu.Lock()
	defer p.audiencesMu.Unlock()
	p.audiences[segment] = ids
	return ids, nil
}

func (p *Provider) knownAudiences(segment string) ([]string, bool) {
	p.audiencesMu.Lock()
	defer p.audiencesMu.Unlock()
	ids, ok := p.audiences[segment]
	return ids, ok
}

func (p *Provider) forgetAudiences(segment string) {
	p.audiencesMu.Lock()
	defer p.audiencesMu.Unlock()
	delete(p.audiences, segment)
}

// forgetAudience forgets the segments an audience is known to hold.
func (p *Provider) forgetAudience(id string) {
	p.audiencesMu.Lock()
	defer p.audiencesMu.Unlock()
	for seg, ids := range p.audiences {
		if slices.Contains(ids, id) {
			delete(p.audiences, seg)
		}
	}
}

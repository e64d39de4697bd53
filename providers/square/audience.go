package square

import (
	"context"

	"github.com/musubi-hq/musubi/providers"
)

// A segment's audience is a customer group; its name carries the segment, the description
// and the idempotency marker, as a group holds nothing but a name.

func groupAttrs(g *CustomerGroup) providers.Attrs {
	seg, desc, _, ok := parseGroupName(g.Name)
	if !ok {
		seg = g.Name // renamed in Square: shown as a changed segment, which replaces the group
	}
	a := providers.Attrs{"segment": seg}
	if desc != "" {
		a["description"] = desc
	}
	return a
}

// findGroup returns the ID of the first customer group Musubi named whose segment and marker
// match accepts: "" when none does.
func (p *Provider) findGroup(ctx context.Context, match func(segment, marker string) bool) (string, error) {
	var id string
	err := p.client.ListCustomerGroups(ctx, func(g CustomerGroup) bool {
		if s, _, m, ok := parseGroupName(g.Name); ok && match(s, m) {
			id = g.ID
		}
		return id == ""
	})
	return id, err
}

func (p *Provider) createAudience(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	name := groupName(req.Attributes.String("segment"), req.Attributes.String("description"), markerOf(req.IdempotencyKey))
	g, err := p.client.CreateCustomerGroup(ctx, req.IdempotencyKey, name)
	if err != nil {
		return providers.CreateResponse{Diagnostics: p.failure("create failed", err)}
	}
	return providers.CreateResponse{ID: g.ID, Attributes: groupAttrs(g)}
}

func (p *Provider) readAudience(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	g, err := p.client.CustomerGroup(ctx, req.ID)
	if err != nil {
		return providers.ReadResponse{Diagnostics: p.failure("read failed", err)}
	}
	if g == nil {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: g.ID, Attributes: groupAttrs(g)}
}

// updateAudience renames the group. Square keeps no version on customer groups, so the live
// name is compared with the planned prior first: a group renamed in Square since the plan is
// a conflict, never overwritten.
func (p *Provider) updateAudience(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	fail := func(err error) providers.UpdateResponse {
		return providers.UpdateResponse{Diagnostics: p.failure("update failed", err)}
	}
	g, err := p.client.CustomerGroup(ctx, req.ID)
	if err != nil {
		return fail(err)
	}
	if g == nil {
		return fail(notFound("customer group %s no longer exists in Square", req.ID))
	}
	live := groupAttrs(g)
	if req.Prior != nil {
		if changed := providers.Diff(providers.KindAudience, req.Prior, live); len(changed) > 0 {
			return fail(conflict("customer group %s changed in Square since it was planned (%s); nothing was overwritten: plan again to see the change",
				req.ID, providers.DescribeChanges(changed, live)))
		}
	}
	_, _, marker, ok := parseGroupName(g.Name)
	if !ok {
		marker = markerOf(g.ID)
	}
	g, err = p.client.UpdateCustomerGroup(ctx, req.ID, groupName(req.Planned.String("segment"), req.Planned.String("description"), marker))
	if err != nil {
		return fail(err)
	}
	return providers.UpdateResponse{Attributes: groupAttrs(g)}
}

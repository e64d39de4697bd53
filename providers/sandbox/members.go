package sandbox

import (
	"context"
	"fmt"

	"github.com/musubi-hq/musubi/providers"
)

var _ providers.MemberSyncer = (*Provider)(nil)

// memberFields are what each simulated system knows its customers by, in the order it
// prefers them: the fields its events carry.
var memberFields = map[string][]string{
	"ec":        {"customer_id", "email"},
	"messaging": {"userId"},
}

// MemberRules implements providers.MemberSyncer: a system keeps members by the first field it
// knows a customer by.
func (p *Provider) MemberRules() providers.MemberRules {
	return providers.MemberRules{Fields: memberFields[p.system], Batch: 1000}
}

// SyncMembers implements providers.MemberSyncer on the audience object made for the segment.
func (p *Provider) SyncMembers(ctx context.Context, req providers.SyncMembersRequest) providers.SyncMembersResponse {
	fields, ok := memberFields[p.system]
	if !ok {
		return providers.SyncMembersResponse{Diagnostics: providers.FromError("Cannot keep members",
			&providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf("the simulated %s system keeps no audiences", p.system)})}
	}
	objs, err := p.store.List(ctx, p.name, providers.KindAudience)
	if err != nil {
		return providers.SyncMembersResponse{Diagnostics: providers.FromError("Reading the audiences", err)}
	}
	audience := ""
	for _, o := range objs {
		if o.Attributes.String("segment") == req.Segment {
			audience = o.ID
		}
	}
	if audience == "" {
		return providers.SyncMembersResponse{Diagnostics: providers.FromError("No audience", &providers.APIError{Code: providers.ErrNotFound,
			Message: fmt.Sprintf("%s holds no audience of segment %s; musubi apply creates it", p.name, req.Segment)})}
	}
	var resp providers.SyncMembersResponse
	key := func(m providers.Member) string {
		for _, f := range fields {
			if vs := m.Values[f]; len(vs) > 0 {
				return vs[0]
			}
		}
		return ""
	}
	var add, remove []string
	for _, m := range req.Add {
		if k := key(m); k != "" {
			add = append(add, k)
		} else {
			resp.Unmatched = append(resp.Unmatched, m.Customer)
		}
	}
	for _, m := range req.Remove {
		if k := key(m); k != "" {
			remove = append(remove, k)
		}
	}
	if err := p.store.SetMembers(ctx, audience, add, remove); err != nil {
		resp.Diagnostics = providers.FromError("Writing the members", err)
	}
	return resp
}

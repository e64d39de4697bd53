package shopify

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

// A segment's audience is a Shopify customer segment of the customers carrying the segment's
// tag: its query is segmentQuery(segment), its name segmentName(segment, description, marker).
// Shopify's segment language reads Shopify's own customer data (tags, orders, amount spent,
// email subscription), not Musubi's unified profiles and traits, and the audience the planner
// asks for carries the segment's name, not its CEL condition; so membership is kept as a tag,
// written by SyncMembers (members.go), which Shopify's segment then reflects.

func checkAudience(a providers.Attrs, bad func(attr, format string, args ...any)) {
	seg := a.String("segment")
	switch {
	case !providers.NameRE.MatchString(seg):
		bad("segment", "segment %q must be a block name (letters, digits, _ and -): the Shopify segment selects customers tagged %s", seg, customerTag(seg))
	case len(customerTag(seg)) > maxTag:
		bad("segment", "segment %q makes the tag %s, longer than the %d characters of a Shopify tag", seg, customerTag(seg), maxTag)
	}
	if n := utf8.RuneCountInString(segmentName(seg, a.String("description"), markerOf(""))); n > maxSegmentName {
		bad("description", "the segment's name would be %d characters (segment, description and Musubi's marker); Shopify takes at most %d", n, maxSegmentName)
	}
}

const segmentGIDPrefix = "gid://shopify/Segment/"

const (
	maxTag         = 255
	maxSegmentName = 255
)

// segmentAttrs reads an audience back: the segment from the query (a query rewritten in the
// admin reads as another segment), the description from the name.
func segmentAttrs(sg *Segment) providers.Attrs {
	a := providers.Attrs{}
	if seg, ok := parseSegmentQuery(sg.Query); ok {
		a["segment"] = seg
	} else {
		a["segment"] = sg.Query
	}
	if _, desc, _, ok := parseSegmentName(sg.Name); ok {
		if desc != "" {
			a["description"] = desc
		}
	} else if sg.Name != "" {
		a["description"] = sg.Name // renamed in the admin: shown as a changed description
	}
	return a
}

// findSegment returns the first of the shop's segments that match accepts, or nil.
func (p *Provider) findSegment(ctx context.Context, match func(Segment) bool) (*Segment, error) {
	var found *Segment
	err := p.client.Segments(ctx, func(sg Segment) bool {
		if match(sg) {
			found = &sg
		}
		return found == nil
	})
	return found, err
}

// tagSegment returns the shop's segment that selects a segment's tag, or nil.
func (p *Provider) tagSegment(ctx context.Context, segment string) (*Segment, error) {
	return p.findSegment(ctx, func(sg Segment) bool {
		s, ok := parseSegmentQuery(sg.Query)
		return ok && s == segment
	})
}

func (p *Provider) createAudience(ctx context.Context, req providers.CreateRequest) (string, providers.Attrs, error) {
	a := req.Attributes
	marker := markerOf(req.IdempotencyKey)
	name, query := segmentName(a.String("segment"), a.String("description"), marker), segmentQuery(a.String("segment"))
	existing, err := p.findSegment(ctx, func(sg Segment) bool {
		_, _, m, ok := parseSegmentName(sg.Name)
		return ok && m == marker
	})
	if err != nil {
		return "", nil, err
	}
	if existing != nil {
		if existing.Name == name && existing.Query == query {
			return existing.ID, segmentAttrs(existing), nil
		}
		sg, err := p.client.UpdateSegment(ctx, existing.ID, name, query)
		if err != nil {
			return "", nil, partial(err, "audience "+existing.ID)
		}
		return sg.ID, segmentAttrs(sg), nil
	}
	sg, err := p.client.CreateSegment(ctx, name, query)
	if err != nil {
		return "", nil, err
	}
	if sg == nil {
		return "", nil, apiError(providers.ErrUnavailable, 0, "", "%s: the answer holds no segment", opCreateSegment.name)
	}
	return sg.ID, segmentAttrs(sg), nil
}

func (p *Provider) readAudiences(ctx context.Context, reqs []providers.ReadRequest, idx []int, out []providers.ReadResponse) {
	if len(idx) == 0 {
		return
	}
	var ids []string
	for _, i := range idx {
		if strings.HasPrefix(reqs[i].ID, segmentGIDPrefix) {
			ids = append(ids, reqs[i].ID)
		}
	}
	found, err := p.client.SegmentsByID(ctx, ids)
	for _, i := range idx {
		if err != nil {
			out[i].Diagnostics = p.failure("read failed", err)
			continue
		}
		if sg := found[reqs[i].ID]; sg != nil {
			out[i] = providers.ReadResponse{Found: true, ID: sg.ID, Attributes: segmentAttrs(sg)}
		} else {
			out[i] = providers.ReadResponse{}
		}
	}
}

// updateAudience renames the segment and rewrites its query, unless it changed in Shopify
// since the plan.
func (p *Provider) updateAudience(ctx context.Context, req providers.UpdateRequest) (providers.Attrs, error) {
	found, err := p.client.SegmentsByID(ctx, []string{req.ID})
	if err != nil {
		return nil, err
	}
	sg := found[req.ID]
	if sg == nil {
		return nil, notFound("segment %s no longer exists in Shopify", req.ID)
	}
	if err := changedSince(providers.KindAudience, "segment", req.ID, req.Prior, segmentAttrs(sg)); err != nil {
		return nil, err
	}
	_, _, marker, ok := parseSegmentName(sg.Name)
	if !ok {
		marker = markerOf(req.ID)
	}
	seg := req.Planned.String("segment")
	sg, err = p.client.UpdateSegment(ctx, req.ID, segmentName(seg, req.Planned.String("description"), marker), segmentQuery(seg))
	if err != nil {
		return nil, err
	}
	return segmentAttrs(sg), nil
}

// TagCustomers adds customers (Shopify customer GIDs) to a segment's audience: it puts the
// segment's tag on each, which the audience's Shopify segment selects. Tagging a customer
// twice is harmless, so a sync that stopped half-way is simply run again.
func (p *Provider) TagCustomers(ctx context.Context, segment string, customerIDs []string) error {
	return p.retag(ctx, segment, customerIDs, p.client.AddTags)
}

// UntagCustomers takes customers out of a segment's audience by removing its tag.
func (p *Provider) UntagCustomers(ctx context.Context, segment string, customerIDs []string) error {
	return p.retag(ctx, segment, customerIDs, p.client.RemoveTags)
}

func (p *Provider) retag(ctx context.Context, segment string, ids []string, do func(context.Context, string, []string) error) error {
	if !providers.NameRE.MatchString(segment) {
		return invalid("segment", "segment %q is not a segment name", segment)
	}
	tag := []string{customerTag(segment)}
	for _, id := range ids {
		if err := do(ctx, id, tag); err != nil {
			return fmt.Errorf("customer %s: %w", id, err)
		}
	}
	return nil
}

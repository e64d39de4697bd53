package line

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/line/line-bot-sdk-go/v8/linebot/manage_audience"
	"github.com/musubi-hq/musubi/providers"
)

// An audience group's name is all LINE keeps of it, so Musubi's groups carry a mark after the
// description: the segment, and a tag of the idempotency key of the create that made the
// group, which is how a retried create finds it.
var (
	audienceMarkRE = regexp.MustCompile(`^(.*) \[musubi ([A-Za-z0-9_.-]+) ([0-9a-f]{8})\]$`)
	segmentRE      = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// maxAudiencePages bounds the search for a create's group: 40 groups a page.
const maxAudiencePages = 25

func audienceName(description, segment, tag string) string {
	return fmt.Sprintf("%s [musubi %s %s]", description, segment, tag)
}

// parseAudienceName splits a group's name into description, segment and tag; a name without
// Musubi's mark is all description.
func parseAudienceName(name string) (description, segment, tag string) {
	m := audienceMarkRE.FindStringSubmatch(name)
	if m == nil {
		return name, "", ""
	}
	return m[1], m[2], m[3]
}

func keyTag(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// audienceLabel is the description a group is given: the declared one, else the segment's name.
func audienceLabel(a providers.Attrs) string {
	if d := a.String("description"); d != "" {
		return d
	}
	return a.String("segment")
}

func checkAudience(a providers.Attrs) providers.Diagnostics {
	var ds providers.Diagnostics
	seg := a.String("segment")
	if !segmentRE.MatchString(seg) {
		ds = append(ds, providers.AttributeError("segment", "Unusable segment name for LINE",
			"a LINE audience needs a segment named with letters, digits, '_', '.' or '-', not %q", seg))
	}
	attr := "description"
	if a.String("description") == "" {
		attr = "segment"
	}
	if strings.IndexFunc(audienceLabel(a), unicode.IsControl) >= 0 {
		ds = append(ds, providers.AttributeError(attr, "Unusable in a LINE audience name",
			"LINE refuses audience names with control characters such as line breaks"))
	}
	if n := utf8.RuneCountInString(audienceName(audienceLabel(a), seg, keyTag(""))); n > MaxAudienceName {
		ds = append(ds, providers.AttributeError(attr, "Too long for LINE",
			"the audience group's name %q would be %d characters; LINE allows %d, and Musubi's mark takes %d of them",
			audienceLabel(a), n, MaxAudienceName, n-utf8.RuneCountInString(audienceLabel(a))))
	}
	return ds
}

// planAudience names the group after the segment when the segment has no description: LINE
// needs a name.
func planAudience(a providers.Attrs) providers.Attrs {
	if a.String("description") != "" {
		return a
	}
	out := a.Clone()
	out["description"] = audienceLabel(a)
	return out
}

func audienceAttrs(name string) providers.Attrs {
	desc, seg, _ := parseAudienceName(name)
	out := providers.Attrs{}
	if desc != "" {
		out["description"] = desc
	}
	if seg != "" {
		out["segment"] = seg
	}
	return out
}

// audienceRead turns a group into a read: an expired group is gone, as LINE no longer sends
// to it; a failed build is reported.
func audienceRead(g *manage_audience.AudienceGroup) providers.ReadResponse {
	if g.Status == manage_audience.AudienceGroupStatus_EXPIRED {
		return providers.ReadResponse{}
	}
	r := providers.ReadResponse{Found: true, ID: strconv.FormatInt(g.AudienceGroupId, 10), Attributes: audienceAttrs(g.Description)}
	if g.Status == manage_audience.AudienceGroupStatus_FAILED {
		r.Diagnostics = providers.Diagnostics{{Severity: providers.Warning, Summary: "LINE could not build the audience group",
			Detail: fmt.Sprintf("audience group %d failed (%s); narrowcasts to it will fail", g.AudienceGroupId, g.FailedType)}}
	}
	return r
}

func parseAudienceID(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}

func (p *Provider) createAudience(ctx context.Context, a providers.Attrs, idempotencyKey string) (string, providers.Attrs, error) {
	tag := keyTag(idempotencyKey)
	if g, err := p.findAudience(ctx, tag); err != nil {
		return "", nil, err
	} else if g != nil {
		return strconv.FormatInt(g.AudienceGroupId, 10), audienceAttrs(g.Description), nil
	}
	name := audienceName(audienceLabel(a), a.String("segment"), tag)
	id, err := p.newGroup(ctx, name, nil)
	if err != nil {
		return "", nil, err
	}
	p.forgetGroups(a.String("segment"))
	return strconv.FormatInt(id, 10), audienceAttrs(name), nil
}

// newGroup makes a group of the user IDs, at most MaxAudienceUpload of them. It is not
// repeated after a failure of unknown outcome: the caller finds the group by its mark.
func (p *Provider) newGroup(ctx context.Context, name string, userIDs []string) (int64, error) {
	req := &manage_audience.CreateAudienceGroupRequest{Description: name, Audiences: audienceList(userIDs)}
	var created *manage_audience.CreateAudienceGroupResponse
	_, err := p.do(ctx, "create the audience group", actsOnce, func() (*http.Response, error) {
		res, body, err := p.audiences(ctx).CreateAudienceGroupWithHttpInfo(req)
		created = body
		return res, err
	})
	if err != nil {
		return 0, err
	}
	return created.AudienceGroupId, nil
}

func audienceList(userIDs []string) []manage_audience.Audience {
	if len(userIDs) == 0 {
		return nil
	}
	out := make([]manage_audience.Audience, len(userIDs))
	for i, id := range userIDs {
		out[i].Id = id
	}
	return out
}

// findAudience looks for the group a create with this tag made, among the groups the channel
// made through the Messaging API.
func (p *Provider) findAudience(ctx context.Context, tag string) (*manage_audience.AudienceGroup, error) {
	groups, err := p.listGroups(ctx, tag, func(g manage_audience.AudienceGroup) bool {
		_, _, t := parseAudienceName(g.Description)
		return t == tag && g.Status != manage_audience.AudienceGroupStatus_EXPIRED
	})
	if err != nil || len(groups) == 0 {
		return nil, err
	}
	return &groups[0], nil
}

// segmentGroups lists the groups marked with the segment, expired ones too, the oldest first:
// normally one, two while a rebuild swaps a fresh group in.
func (p *Provider) segmentGroups(ctx context.Context, segment string) ([]manage_audience.AudienceGroup, error) {
	groups, err := p.listGroups(ctx, "[musubi "+segment+" ", func(g manage_audience.AudienceGroup) bool {
		_, seg, _ := parseAudienceName(g.Description)
		return seg == segment
	})
	slices.SortFunc(groups, func(a, b manage_audience.AudienceGroup) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.AudienceGroupId, b.AudienceGroupId))
	})
	return groups, err
}

// live drops the expired groups, which LINE no longer sends to nor takes uploads for.
func live(groups []manage_audience.AudienceGroup) []manage_audience.AudienceGroup {
	return slices.DeleteFunc(slices.Clone(groups), func(g manage_audience.AudienceGroup) bool {
		return g.Status == manage_audience.AudienceGroupStatus_EXPIRED
	})
}

// listGroups lists the channel's Messaging API groups whose names contain filter (LINE
// matches part of a name, ignoring case) and keep accepts.
func (p *Provider) listGroups(ctx context.Context, filter string, keep func(manage_audience.AudienceGroup) bool) ([]manage_audience.AudienceGroup, error) {
	var out []manage_audience.AudienceGroup
	for page := int64(1); page <= maxAudiencePages; page++ {
		var list *manage_audience.GetAudienceGroupsResponse
		_, err := p.do(ctx, "list audience groups", repeatable, func() (*http.Response, error) {
			res, body, err := p.audiences(ctx).GetAudienceGroupsWithHttpInfo(page, filter, "", 40, false,
				manage_audience.AudienceGroupCreateRoute_MESSAGING_API)
			list = body
			return res, err
		})
		if err != nil {
			return nil, err
		}
		for _, g := range list.AudienceGroups {
			if keep(g) {
				out = append(out, g)
			}
		}
		if !list.HasNextPage {
			break
		}
	}
	return out, nil
}

func (p *Provider) getAudience(ctx context.Context, id int64) (*manage_audience.AudienceGroup, error) {
	var data *manage_audience.GetAudienceDataResponse
	_, err := p.do(ctx, "read the audience group", repeatable, func() (*http.Response, error) {
		res, body, err := p.audiences(ctx).GetAudienceDataWithHttpInfo(id)
		data = body
		return res, err
	})
	if err != nil {
		if ae := apiError(err); ae != nil && ae.Code == providers.ErrNotFound {
			return nil, nil
		}
		return nil, err
	}
	if data.AudienceGroup == nil {
		return nil, fmt.Errorf("read the audience group: LINE answered without the group")
	}
	return data.AudienceGroup, nil
}

// readAudience reads a group by ID, or by the key of the create that made it. A group a
// rebuild replaced is gone, and the segment's group takes its place under another ID: a read
// by the old ID with the segment in the prior finds the segment's group, so the state's ID
// keeps working and the plan sees neither drift nor a missing object.
func (p *Provider) readAudience(ctx context.Context, id, idempotencyKey string, prior providers.Attrs) (providers.ReadResponse, error) {
	var g *manage_audience.AudienceGroup
	var err error
	if id == "" {
		g, err = p.findAudience(ctx, keyTag(idempotencyKey))
	} else if n, ok := parseAudienceID(id); ok {
		g, err = p.getAudience(ctx, n)
	}
	if err != nil {
		return providers.ReadResponse{}, err
	}
	if (g == nil || g.Status == manage_audience.AudienceGroupStatus_EXPIRED) && id != "" && prior.String("segment") != "" {
		groups, err := p.segmentGroups(ctx, prior.String("segment"))
		if err != nil {
			return providers.ReadResponse{}, err
		}
		if current := live(groups); len(current) > 0 {
			g = &current[0]
		}
	}
	if g == nil {
		return providers.ReadResponse{}, nil
	}
	return audienceRead(g), nil
}

// resourceGroups are the groups an audience resource stands for: its ID's, and every group of
// its segment, which after a rebuild is the one that took the ID's place.
func (p *Provider) resourceGroups(ctx context.Context, id, segment string) ([]manage_audience.AudienceGroup, error) {
	var groups []manage_audience.AudienceGroup
	if segment != "" {
		var err error
		if groups, err = p.segmentGroups(ctx, segment); err != nil {
			return nil, err
		}
	}
	n, ok := parseAudienceID(id)
	if !ok || slices.ContainsFunc(groups, func(g manage_audience.AudienceGroup) bool { return g.AudienceGroupId == n }) {
		return groups, nil
	}
	g, err := p.getAudience(ctx, n)
	if err != nil || g == nil {
		return groups, err
	}
	return append(groups, *g), nil
}

// updateAudience renames the resource's groups; their marks stay, so later creates, reads and
// syncs still find them.
func (p *Provider) updateAudience(ctx context.Context, id string, prior, planned providers.Attrs) (providers.Attrs, error) {
	if _, ok := parseAudienceID(id); !ok {
		return nil, &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf("%q is not a LINE audience group ID", id)}
	}
	groups, err := p.resourceGroups(ctx, id, prior.String("segment"))
	if err != nil {
		return nil, err
	}
	groups = live(groups)
	if len(groups) == 0 {
		return nil, &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf("the channel has no audience group %s", id)}
	}
	var name string
	for _, g := range groups {
		_, _, tag := parseAudienceName(g.Description)
		if tag == "" {
			tag = keyTag(id)
		}
		name = audienceName(audienceLabel(planned), planned.String("segment"), tag)
		_, err = p.do(ctx, "rename the audience group", repeatable, func() (*http.Response, error) {
			res, _, err := p.audiences(ctx).UpdateAudienceGroupDescriptionWithHttpInfo(g.AudienceGroupId,
				&manage_audience.UpdateAudienceGroupDescriptionRequest{Description: name})
			return res, err
		})
		if err != nil {
			return nil, err
		}
	}
	return audienceAttrs(name), nil
}

// deleteAudience deletes the group and, when the prior names the segment, every group of the
// segment: after a rebuild the ID's group is gone and another holds the segment.
func (p *Provider) deleteAudience(ctx context.Context, id string, prior providers.Attrs) error {
	var ids []int64
	if n, ok := parseAudienceID(id); ok {
		ids = append(ids, n)
	}
	if seg := prior.String("segment"); seg != "" {
		groups, err := p.segmentGroups(ctx, seg)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if !slices.Contains(ids, g.AudienceGroupId) {
				ids = append(ids, g.AudienceGroupId)
			}
		}
		defer p.forgetGroups(seg)
	}
	for _, n := range ids {
		if err := p.deleteGroup(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// deleteGroup deletes one group; one already gone is not an error.
func (p *Provider) deleteGroup(ctx context.Context, n int64) error {
	_, err := p.do(ctx, "delete the audience group", repeatable, func() (*http.Response, error) {
		res, _, err := p.audiences(ctx).DeleteAudienceGroupWithHttpInfo(n)
		return res, err
	})
	if ae := apiError(err); ae != nil && ae.Code == providers.ErrNotFound {
		return nil
	}
	return err
}

// AddMembers adds LINE user IDs to an audience group, MaxAudienceUpload a request; adding an
// ID the group holds already changes nothing, so a retry is harmless. SyncMembers keeps a
// segment's group in step through it.
func (p *Provider) AddMembers(ctx context.Context, audienceID string, userIDs []string) error {
	n, ok := parseAudienceID(audienceID)
	if !ok {
		return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf("%q is not a LINE audience group ID", audienceID)}
	}
	for _, id := range userIDs {
		if !userIDRE.MatchString(id) {
			return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf("%q is not a LINE user ID (U and 32 hex digits)", id)}
		}
	}
	return p.upload(ctx, n, userIDs, nil)
}

// upload adds user IDs to a group, MaxAudienceUpload a request, calling wait before each
// request when it is set.
func (p *Provider) upload(ctx context.Context, group int64, userIDs []string, wait func(context.Context) error) error {
	for start := 0; start < len(userIDs); start += MaxAudienceUpload {
		if wait != nil {
			if err := wait(ctx); err != nil {
				return err
			}
		}
		chunk := userIDs[start:min(start+MaxAudienceUpload, len(userIDs))]
		req := &manage_audience.AddAudienceToAudienceGroupRequest{AudienceGroupId: group, Audiences: audienceList(chunk)}
		_, err := p.do(ctx, "add users to the audience group", repeatable, func() (*http.Response, error) {
			res, _, err := p.audiences(ctx).AddAudienceToAudienceGroupWithHttpInfo(req)
			return res, err
		})
		if err != nil {
			return fmt.Errorf("after %d of %d users: %w", start, len(userIDs), err)
		}
	}
	return nil
}

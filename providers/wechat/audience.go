package wechat

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/musubi-hq/musubi/providers"
)

// WeChat's limits on user tags.
const (
	// MaxTagName is the longest tag name, in bytes of UTF-8: ten Chinese characters.
	MaxTagName = 30
	// MaxTagging is the most openids one tagging or untagging call carries.
	MaxTagging = 50
)

// openIDRE is the form of an openid: WeChat's are 28 characters of base64url.
var openIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)

// tag is a user tag as WeChat lists it.
type tag struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// tagName is the name a tag is given: the description, else the segment's name.
func tagName(a providers.Attrs) string {
	if d := a.String("description"); d != "" {
		return d
	}
	return a.String("segment")
}

func (tagKind) check(a providers.Attrs) providers.Diagnostics {
	var ds providers.Diagnostics
	if a.String("segment") == "" {
		ds = append(ds, providers.AttributeError("segment", "Missing segment", "a WeChat tag needs the segment whose followers it holds"))
	}
	attr := "description"
	if a.String("description") == "" {
		attr = "segment"
	}
	name := tagName(a)
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		ds = append(ds, providers.AttributeError(attr, "Unusable in a WeChat tag name", "a tag name cannot hold control characters such as line breaks"))
	}
	if len(name) > MaxTagName {
		ds = append(ds, providers.AttributeError(attr, "Too long for WeChat",
			"the tag name %q is %d bytes in UTF-8; WeChat takes %d (ten Chinese characters)", name, len(name), MaxTagName))
	}
	return ds
}

// plan names the tag after the segment when the segment has no description.
func (tagKind) plan(a providers.Attrs) providers.Attrs {
	out := a.Clone()
	out["description"] = tagName(a)
	return out
}

func tagAttrs(name, segment string) providers.Attrs {
	out := providers.Attrs{"description": name}
	if segment != "" {
		out["segment"] = segment
	}
	return out
}

func parseTagID(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n >= 0
}

func (p *Provider) tags(ctx context.Context) ([]tag, error) {
	var got struct {
		Tags []tag `json:"tags"`
	}
	err := p.call(ctx, request{what: "list the tags", path: "tags/get"}, &got)
	return got.Tags, err
}

func find(tags []tag, match func(tag) bool) *tag {
	if i := slices.IndexFunc(tags, match); i >= 0 {
		return &tags[i]
	}
	return nil
}

func byName(name string) func(tag) bool { return func(t tag) bool { return t.Name == name } }
func byID(id int64) func(tag) bool      { return func(t tag) bool { return t.ID == id } }

// create makes a tag. A create with the same key that reached WeChat before finds its tag
// by the name it asked for; a tag of that name that no create of Musubi's asked for is a
// conflict, not adopted.
func (p tagKind) create(ctx context.Context, a providers.Attrs, key string) (string, providers.Attrs, error) {
	name, seg := tagName(a), a.String("segment")
	asked, err := p.ledger.intendedTag(ctx, key)
	if err != nil {
		return "", nil, err
	}
	all, err := p.tags(ctx)
	if err != nil {
		return "", nil, err
	}
	if t := find(all, byName(asked)); asked != "" && t != nil {
		return p.adoptTag(ctx, t, seg)
	}
	if t := find(all, byName(name)); t != nil {
		return "", nil, &providers.APIError{Code: providers.ErrConflict, Message: fmt.Sprintf(
			"the account has a tag named %q already (ID %d): import it, or give the segment another description", name, t.ID)}
	}
	if err := p.ledger.intendTag(ctx, key, name); err != nil {
		return "", nil, err
	}
	var made struct {
		Tag tag `json:"tag"`
	}
	err = p.call(ctx, request{what: "create the tag", path: "tags/create", body: map[string]any{"tag": map[string]string{"name": name}}, once: true}, &made)
	if err != nil {
		return "", nil, err
	}
	if made.Tag.Name == "" {
		made.Tag.Name = name
	}
	return p.adoptTag(ctx, &made.Tag, seg)
}

func (p *Provider) adoptTag(ctx context.Context, t *tag, segment string) (string, providers.Attrs, error) {
	if err := p.ledger.setSegment(ctx, t.ID, segment); err != nil {
		return "", nil, err
	}
	return strconv.FormatInt(t.ID, 10), tagAttrs(t.Name, segment), nil
}

// read reads a tag by ID, or by the name its create asked for. The segment comes from the
// ledger, else from the state.
func (p tagKind) read(ctx context.Context, id, key string, prior providers.Attrs) (providers.ReadResponse, error) {
	match := byID(-1)
	if id == "" {
		name, err := p.ledger.intendedTag(ctx, key)
		if err != nil || name == "" {
			return providers.ReadResponse{}, err
		}
		match = byName(name)
	} else if n, ok := parseTagID(id); ok {
		match = byID(n)
	}
	all, err := p.tags(ctx)
	if err != nil {
		return providers.ReadResponse{}, err
	}
	t := find(all, match)
	if t == nil {
		return providers.ReadResponse{}, nil
	}
	seg, err := p.ledger.segment(ctx, t.ID)
	if err != nil {
		return providers.ReadResponse{}, err
	}
	if seg == "" {
		seg = prior.String("segment")
	}
	return providers.ReadResponse{Found: true, ID: strconv.FormatInt(t.ID, 10), Attributes: tagAttrs(t.Name, seg)}, nil
}

// update renames the tag and records its segment.
func (p tagKind) update(ctx context.Context, id string, planned providers.Attrs) (providers.Attrs, error) {
	n, ok := parseTagID(id)
	if !ok {
		return nil, &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf("%q is not a WeChat tag ID", id)}
	}
	all, err := p.tags(ctx)
	if err != nil {
		return nil, err
	}
	t := find(all, byID(n))
	if t == nil {
		return nil, &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf("the account has no tag %d", n)}
	}
	name := tagName(planned)
	if t.Name != name {
		body := map[string]any{"tag": map[string]any{"id": n, "name": name}}
		if err := p.call(ctx, request{what: "rename the tag", path: "tags/update", body: body}, nil); err != nil {
			return nil, err
		}
	}
	if err := p.ledger.setSegment(ctx, n, planned.String("segment")); err != nil {
		return nil, err
	}
	return tagAttrs(name, planned.String("segment")), nil
}

// remove deletes a tag; one already gone is not an error. WeChat refuses to delete a tag
// of more than 100,000 followers: untag them with RemoveMembers first.
func (p tagKind) remove(ctx context.Context, id string) error {
	n, ok := parseTagID(id)
	if !ok {
		return nil // never a WeChat tag: nothing to delete
	}
	err := p.call(ctx, request{what: "delete the tag", path: "tags/delete", body: map[string]any{"tag": map[string]int64{"id": n}}}, nil)
	if err != nil && errcodeOf(err) != errInvalidTagID {
		return err
	}
	return p.ledger.setSegment(ctx, n, "")
}

// LeftOut is the error of AddMembers and RemoveMembers when WeChat would not take some
// openids: they do not follow the account, or (tagging) carry the 20 tags a follower may. The
// others were tagged (or untagged). It is a not_found error.
type LeftOut struct {
	OpenIDs []string
}

func (e *LeftOut) Error() string {
	return e.Unwrap().Error()
}

// Unwrap returns the classified error.
func (e *LeftOut) Unwrap() error {
	return &providers.APIError{Code: providers.ErrNotFound,
		Message: fmt.Sprintf("%d openids do not follow the account (any more), or carry 20 tags already, and were left out", len(e.OpenIDs))}
}

// AddMembers tags followers, MaxTagging openids a call; tagging a follower twice changes
// nothing, so a retry is harmless. When WeChat refuses a call because an openid in it does
// not follow the account or carries 20 tags, the call is split until the others are tagged,
// and the error is a *LeftOut naming the rest. SyncMembers keeps a segment's tag in step
// through it.
func (p *Provider) AddMembers(ctx context.Context, audienceID string, openIDs []string) error {
	return p.members(ctx, "tag followers", "tags/members/batchtagging", audienceID, openIDs)
}

// RemoveMembers untags followers, as AddMembers tags them.
func (p *Provider) RemoveMembers(ctx context.Context, audienceID string, openIDs []string) error {
	return p.members(ctx, "untag followers", "tags/members/batchuntagging", audienceID, openIDs)
}

func (p *Provider) members(ctx context.Context, what, path, audienceID string, openIDs []string) error {
	n, ok := parseTagID(audienceID)
	if !ok {
		return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf("%q is not a WeChat tag ID", audienceID)}
	}
	ids := slices.Clone(openIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if !openIDRE.MatchString(id) {
			return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf("%q is not an openid", id)}
		}
	}
	var left []string
	for start := 0; start < len(ids); start += MaxTagging {
		out, err := p.tagBatch(ctx, what, path, n, ids[start:min(start+MaxTagging, len(ids))])
		if err != nil {
			return fmt.Errorf("after %d of %d openids: %w", start, len(ids), err)
		}
		left = append(left, out...)
	}
	if len(left) > 0 {
		return &LeftOut{OpenIDs: left}
	}
	return nil
}

// tagBatch makes one tagging call. WeChat refuses the whole call for one openid that does not
// follow, or that carries 20 tags, so a refused call is halved until that openid is alone,
// and left out: one follower does not hold up the others.
func (p *Provider) tagBatch(ctx context.Context, what, path string, tagID int64, ids []string) ([]string, error) {
	err := p.call(ctx, request{what: what, path: path, body: map[string]any{"openid_list": ids, "tagid": tagID}}, nil)
	switch errcodeOf(err) {
	case errInvalidOpenID, errNotFollowing, errOpenIDNotOfApp, errUserTagLimit:
	default:
		return nil, err
	}
	if len(ids) == 1 {
		return ids, nil
	}
	half := len(ids) / 2
	a, err := p.tagBatch(ctx, what, path, tagID, ids[:half])
	if err != nil {
		return nil, err
	}
	b, err := p.tagBatch(ctx, what, path, tagID, ids[half:])
	return append(a, b...), err
}

package meta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/musubi-hq/musubi/providers"
)

// A custom audience's description carries Musubi's mark: the segment whose members it holds
// and a tag of the idempotency key of the create that made it, which is how a create whose
// answer was lost finds its audience again. People see the name in Ads Manager; the mark
// stays out of it.
var markRE = regexp.MustCompile(`\[musubi ([^\s\[\]]+) ([0-9a-f]{16})\]`)

// segmentRE is what a segment name may hold to fit in the mark.
var segmentRE = regexp.MustCompile(`^[^\s\[\]]+$`)

const (
	// audienceFields are the fields a read asks for.
	audienceFields = "id,name,description,subtype,approximate_count_lower_bound,operation_status"
	// pageSize is how many audiences a page of the ad account's list holds.
	pageSize = 100
	// maxPages bounds the search for a create's audience.
	maxPages = 100
)

// audience is a custom audience as the Graph API returns it.
type audience struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Subtype     string `json:"subtype"`
	Size        int64  `json:"approximate_count_lower_bound"`
	Operation   struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"operation_status"`
}

// keyTag is the tag of an idempotency key in a mark.
func keyTag(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// mark is the description an audience is given.
func mark(segment, tag string) string {
	return fmt.Sprintf("Members of segment %s, kept by Musubi [musubi %s %s]", segment, segment, tag)
}

// parseMark returns the segment and tag of a description's mark, or "" for both.
func parseMark(description string) (segment, tag string) {
	m := markRE.FindStringSubmatch(description)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// audienceName is the name an audience is given, and the attribute it comes from: the
// description, else the segment's name.
func audienceName(a providers.Attrs) (name, attr string) {
	if d := a.String("description"); d != "" {
		return d, "description"
	}
	return a.String("segment"), "segment"
}

func checkAudience(a providers.Attrs) providers.Diagnostics {
	var ds providers.Diagnostics
	if seg := a.String("segment"); !segmentRE.MatchString(seg) {
		ds = append(ds, providers.AttributeError("segment", "Unusable segment name for Meta",
			"a Meta custom audience needs the segment whose members it holds, named without spaces or brackets, not %q", seg))
	}
	if name, attr := audienceName(a); strings.IndexFunc(name, unicode.IsControl) >= 0 {
		ds = append(ds, providers.AttributeError(attr, "Unusable in a Meta audience name",
			"a custom audience's name cannot hold control characters such as line breaks"))
	}
	return ds
}

// planAudience names the audience after the segment when the segment has no description:
// Meta needs a name.
func planAudience(a providers.Attrs) providers.Attrs {
	out := a.Clone()
	out["description"], _ = audienceName(a)
	return out
}

// attrs are the canonical attributes of an audience. A mark someone removed in Ads Manager
// leaves the segment the state knows.
func (a *audience) attrs(prior providers.Attrs) providers.Attrs {
	seg, _ := parseMark(a.Description)
	if seg == "" {
		seg = prior.String("segment")
	}
	out := providers.Attrs{"description": a.Name}
	if seg != "" {
		out["segment"] = seg
	}
	return out
}

// audienceIDRE is the form of a Graph object ID.
var audienceIDRE = regexp.MustCompile(`^[0-9]{1,30}$`)

func (a *audience) read(prior providers.Attrs) providers.ReadResponse {
	r := providers.ReadResponse{Found: true, ID: a.ID, Attributes: a.attrs(prior)}
	if a.Operation.Code >= 400 {
		// Meta reports an audience's problems as operation status codes of 400 and up, such
		// as 471 for one its policies restrict, which ads cannot use.
		r.Diagnostics = providers.Diagnostics{{Severity: providers.Warning, Summary: "Meta reports a problem with the custom audience",
			Detail: fmt.Sprintf("custom audience %s: operation status %d %s", a.ID, a.Operation.Code, a.Operation.Description)}}
	}
	return r
}

// createAudience makes a custom audience, unless a create with the same key made one already.
func (p *Provider) createAudience(ctx context.Context, a providers.Attrs, key string) (string, providers.Attrs, error) {
	tag := keyTag(key)
	found, err := p.findAudience(ctx, tag)
	if err != nil {
		return "", nil, err
	}
	if found != nil {
		return found.ID, found.attrs(a), nil
	}
	made := audience{Description: mark(a.String("segment"), tag)}
	made.Name, _ = audienceName(a)
	form := url.Values{"name": {made.Name}, "description": {made.Description}, "subtype": {"CUSTOM"},
		"customer_file_source": {p.cfg.source}}
	err = p.call(ctx, request{what: "create the custom audience", method: http.MethodPost,
		path: "/" + p.cfg.account + "/customaudiences", form: form, once: true}, &made)
	if err != nil {
		return "", nil, err
	}
	if !audienceIDRE.MatchString(made.ID) {
		return "", nil, &providers.APIError{Code: providers.ErrUnavailable, Message: "Meta answered the create without an audience ID"}
	}
	p.forgetAudiences(a.String("segment"))
	return made.ID, made.attrs(a), nil
}

// findAudience looks for the audience a create with this tag made, among the ad account's.
func (p *Provider) findAudience(ctx context.Context, tag string) (*audience, error) {
	var found *audience
	err := p.eachAudience(ctx, func(a audience) bool {
		if _, t := parseMark(a.Description); t == tag {
			found = &a
		}
		return found == nil
	})
	return found, err
}

// eachAudience lists the ad account's audiences, page by page, while more says to go on.
func (p *Provider) eachAudience(ctx context.Context, more func(audience) bool) error {
	q := url.Values{"fields": {"id,name,description"}, "limit": {fmt.Sprint(pageSize)}}
	for range maxPages {
		var page struct {
			Data   []audience `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				Next string `json:"next"`
			} `json:"paging"`
		}
		err := p.call(ctx, request{what: "list the custom audiences", method: http.MethodGet,
			path: "/" + p.cfg.account + "/customaudiences", query: q}, &page)
		if err != nil {
			return err
		}
		for _, a := range page.Data {
			if !more(a) {
				return nil
			}
		}
		// No next link is the last page, whatever the cursors say.
		if page.Paging.Next == "" || page.Paging.Cursors.After == "" {
			return nil
		}
		q.Set("after", page.Paging.Cursors.After)
	}
	return nil
}

// getAudience reads an audience by ID; one that does not exist (any more) is nil.
func (p *Provider) getAudience(ctx context.Context, id string) (*audience, error) {
	if !audienceIDRE.MatchString(id) {
		return nil, nil // never a Graph ID: nothing to read
	}
	var a audience
	err := p.call(ctx, request{what: "read the custom audience", method: http.MethodGet, path: "/" + id,
		query: url.Values{"fields": {audienceFields}}}, &a)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func (p *Provider) readAudience(ctx context.Context, id, key string, prior providers.Attrs) (providers.ReadResponse, error) {
	var a *audience
	var err error
	if id == "" {
		a, err = p.findAudience(ctx, keyTag(key))
	} else {
		a, err = p.getAudience(ctx, id)
	}
	if err != nil || a == nil {
		return providers.ReadResponse{}, err
	}
	return a.read(prior), nil
}

// updateAudience renames the audience and rewrites its mark, keeping the tag of the create
// that made it, so later reads by key still find it.
func (p *Provider) updateAudience(ctx context.Context, id string, planned providers.Attrs) (providers.Attrs, error) {
	a, err := p.getAudience(ctx, id)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf("the ad account has no custom audience %s", id)}
	}
	_, tag := parseMark(a.Description)
	if tag == "" {
		tag = keyTag(id) // imported: its own ID stands for the create
	}
	a.Name, _ = audienceName(planned)
	a.Description = mark(planned.String("segment"), tag)
	err = p.call(ctx, request{what: "rename the custom audience", method: http.MethodPost, path: "/" + id,
		form: url.Values{"name": {a.Name}, "description": {a.Description}}}, nil)
	if err != nil {
		return nil, err
	}
	return a.attrs(planned), nil
}

// deleteAudience deletes an audience; one already gone is not an error.
func (p *Provider) deleteAudience(ctx context.Context, id string) error {
	if !audienceIDRE.MatchString(id) {
		return nil // never a Graph ID: nothing to delete
	}
	err := p.call(ctx, request{what: "delete the custom audience", method: http.MethodDelete, path: "/" + id}, nil)
	p.forgetAudience(id)
	if isNotFound(err) {
		return nil
	}
	return err
}

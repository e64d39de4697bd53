package email

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

// Validate checks a message or audience the way the transport would refuse it.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	return providers.ValidateResponse{Diagnostics: p.check(req.Kind, req.Attributes)}
}

func (p *Provider) check(k providers.Kind, a providers.Attrs) providers.Diagnostics {
	ks, ok := p.kinds()[k]
	var ds providers.Diagnostics
	bad := func(attr, format string, args ...any) {
		ds = append(ds, providers.AttributeError(attr, "Cannot be sent by email", format, args...))
	}
	const noLists = "an SMTP server keeps no lists, so message the segment from a trigger, or use transport \"sendgrid\""
	if !ok || (k == providers.KindAudience && p.cfg.transport == transportSMTP) {
		if k == providers.KindAudience {
			bad("segment", "%s cannot have an audience: %s", p.name, noLists)
		} else {
			bad("", "an email provider manages no %s", k)
		}
		return ds
	}
	for _, name := range ks.Unheld(a) {
		switch name {
		case "audience":
			bad(name, "%s cannot broadcast to an audience: %s", p.name, noLists)
		default:
			bad(name, "an email %s has no %s", k, name)
		}
	}
	switch k {
	case providers.KindMessage:
		if strings.TrimSpace(a.String("template")) == "" {
			bad("template", "a message needs a template")
		}
		switch s := a.String("subject"); {
		case strings.TrimSpace(s) == "":
			bad("subject", "an email needs a subject")
		case strings.ContainsAny(s, "\r\n"):
			bad("subject", "the subject must be one line")
		}
		for name, t := range a.StringMap("variants") {
			if strings.TrimSpace(t) == "" {
				bad("variants", "variant %q has no template", name)
			}
		}
	case providers.KindAudience:
		seg := a.String("segment")
		switch {
		case seg == "":
			bad("segment", "an audience needs a segment")
		case strings.Contains(seg, listSeparator):
			bad("segment", "the segment name %q contains %q, which separates it from the description in the list name", seg, listSeparator)
		case utf8.RuneCountInString(seg) > maxListName:
			bad("segment", "the list name %q is over SendGrid's %d characters", seg, maxListName)
		default:
			if n := utf8.RuneCountInString(listName(a)); n > maxListName {
				bad("description", "the list name %q is %d characters; SendGrid takes %d, so shorten the segment's description",
					listName(a), n, maxListName)
			}
		}
	}
	return ds
}

// Plan keeps the desired attributes: neither kind has defaults the system fills in.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	return providers.PlanResponse{Planned: req.Proposed}
}

// Create stores a message template, or makes a SendGrid list.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	if ds := p.configured(); ds != nil {
		return providers.CreateResponse{Diagnostics: ds}
	}
	if ds := p.check(req.Kind, req.Attributes); ds.HasErrors() {
		return providers.CreateResponse{Diagnostics: ds}
	}
	if req.Kind == providers.KindAudience {
		return p.createList(ctx, req)
	}
	m, err := p.ledger.createMessage(ctx, p.name, req.IdempotencyKey, req.Attributes)
	if err != nil {
		return providers.CreateResponse{Diagnostics: providers.FromError("create failed", err)}
	}
	return providers.CreateResponse{ID: m.ID, Attributes: m.Attributes}
}

// Read returns a message or list by ID, or by the idempotency key of the create that made it.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	if ds := p.configured(); ds != nil {
		return providers.ReadResponse{Diagnostics: ds}
	}
	if req.Kind == providers.KindAudience {
		return p.readList(ctx, req.ID, req.IdempotencyKey)
	}
	var m *storedMessage
	var err error
	if req.ID != "" {
		m, err = p.ledger.message(ctx, p.name, req.ID)
	} else {
		m, err = p.ledger.messageByKey(ctx, p.name, req.IdempotencyKey)
	}
	if err != nil {
		return providers.ReadResponse{Diagnostics: providers.FromError("read failed", err)}
	}
	if m == nil {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: m.ID, Attributes: m.Attributes}
}

// Update changes a message template, or renames a list.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if ds := p.configured(); ds != nil {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	if ds := p.check(req.Kind, req.Planned); ds.HasErrors() {
		return providers.UpdateResponse{Diagnostics: ds}
	}
	if req.Kind == providers.KindAudience {
		return p.updateList(ctx, req)
	}
	found, err := p.ledger.updateMessage(ctx, p.name, req.ID, req.Planned)
	if err == nil && !found {
		err = &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf("message %s is not in the ledger of %s", req.ID, p.name)}
	}
	if err != nil {
		return providers.UpdateResponse{Diagnostics: providers.FromError("update failed", err)}
	}
	return providers.UpdateResponse{Attributes: req.Planned.Clone()}
}

// Delete removes a message template, or deletes a list (keeping its contacts).
func (p *Provider) Delete(ctx context.Context, req providers.DeleteRequest) providers.DeleteResponse {
	if ds := p.configured(); ds != nil {
		return providers.DeleteResponse{Diagnostics: ds}
	}
	var err error
	if req.Kind == providers.KindAudience {
		err = p.retry(ctx, func(int) error { return p.sg.deleteList(ctx, req.ID) })
	} else {
		err = p.ledger.deleteMessage(ctx, p.name, req.ID)
	}
	return providers.DeleteResponse{Diagnostics: providers.FromError("delete failed", err)}
}

// Import reads an existing message or list by ID.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	return providers.ImportByRead(ctx, p, p.name, req)
}

// listSeparator joins a segment and its description in a list name: SendGrid lists have
// only a name, and the description is what people see in SendGrid's contact screens.
const listSeparator = ": "

func listName(a providers.Attrs) string {
	if d := a.String("description"); d != "" {
		return a.String("segment") + listSeparator + d
	}
	return a.String("segment")
}

func listAttrs(l sgList) providers.Attrs {
	seg, desc, _ := strings.Cut(l.Name, listSeparator)
	a := providers.Attrs{"segment": seg}
	if desc != "" {
		a["description"] = desc
	}
	return a
}

// createList makes the list, remembering the name it asked for first. A create whose
// response was lost is found again by that name, on the retry and when Read looks the key
// up, so it never makes a second list.
func (p *Provider) createList(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	name := listName(req.Attributes)
	asked, err := p.ledger.intendedList(ctx, p.name, req.IdempotencyKey)
	if err == nil {
		err = p.ledger.intendList(ctx, p.name, req.IdempotencyKey, name)
	}
	if err != nil {
		return providers.CreateResponse{Diagnostics: providers.FromError("create failed", err)}
	}
	var l sgList
	err = p.retry(ctx, func(attempt int) error {
		if asked != "" || attempt > 1 {
			found, ok, err := p.sg.findList(ctx, name)
			if err != nil || ok {
				l = found
				return err
			}
		}
		l, err = p.sg.createList(ctx, name)
		return err
	})
	if err != nil {
		return providers.CreateResponse{Diagnostics: providers.FromError("create failed", err)}
	}
	return providers.CreateResponse{ID: l.ID, Attributes: listAttrs(l)}
}

func (p *Provider) readList(ctx context.Context, id, key string) providers.ReadResponse {
	var l sgList
	var found bool
	err := p.retry(ctx, func(int) error {
		var err error
		if id != "" {
			l, found, err = p.sg.getList(ctx, id)
			return err
		}
		name, err := p.ledger.intendedList(ctx, p.name, key)
		if err != nil || name == "" {
			return err
		}
		l, found, err = p.sg.findList(ctx, name)
		return err
	})
	if err != nil {
		return providers.ReadResponse{Diagnostics: providers.FromError("read failed", err)}
	}
	if !found {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: l.ID, Attributes: listAttrs(l)}
}

func (p *Provider) updateList(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	if req.Prior != nil && req.Planned.String("segment") != req.Prior.String("segment") {
		return providers.UpdateResponse{Diagnostics: providers.FromError("update failed", &providers.APIError{Code: providers.ErrInvalid,
			Message: "a list stands for one segment; changing the segment replaces the list"})}
	}
	var l sgList
	err := p.retry(ctx, func(int) error {
		var err error
		l, err = p.sg.renameList(ctx, req.ID, listName(req.Planned))
		return err
	})
	if err != nil {
		return providers.UpdateResponse{Diagnostics: providers.FromError("update failed", err)}
	}
	return providers.UpdateResponse{Attributes: listAttrs(l)}
}

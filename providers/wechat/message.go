package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/musubi-hq/musubi/providers"
)

// A WeChat message is a template message: one of the account's templates, chosen from
// WeChat's template library in the console, and a value for each of its {{key.DATA}} fields.
// Musubi's message template says both, a line each:
//
//	template_id: iPk5sOIt5X_flOVKn5GrTFpncEYTojx6ddbt8WYoV5s
//	url: https://shop.example.cn/coupons
//	thing1: 春季促销
//	amount2: {{ campaign.coupon.percent }}%
//
// template_id comes first and cannot hold a placeholder; url, optional, comes right after it;
// the fields follow. The engine renders the placeholders and hands Send the text, which Send
// reads the same way.

// fieldLimits are WeChat's longest values of the keyword types of new templates, in
// characters, by the prefix of the field's key (thing1, character_string2...).
var fieldLimits = map[string]int{
	"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5,
	"phone_number": 17, "car_number": 8, "name": 10, "phrase": 5,
}

// keyRE is the form of a template's field keys.
var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// field is one line of a message: a key of the template and its value.
type field struct {
	Key, Value string
}

// templateMessage is a message as WeChat sends it.
type templateMessage struct {
	TemplateID string
	URL        string
	Fields     []field
}

// parseMessage reads a message's lines. A value cannot span lines: a placeholder whose value
// holds a line break makes lines of its own, which are refused if they repeat a key or put
// template_id or url out of place.
func parseMessage(text string) (templateMessage, error) {
	var m templateMessage
	seen := map[string]bool{}
	n := 0
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n++
		key, value, ok := strings.Cut(line, ":")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok:
			return m, fmt.Errorf("line %q is not \"key: value\"", truncate(line, 40))
		case seen[key]:
			return m, fmt.Errorf("%s is given twice", key)
		case key == "template_id" && n != 1:
			return m, fmt.Errorf("template_id must be the first line")
		case n == 1 && key != "template_id":
			return m, fmt.Errorf("the first line must be template_id: the ID of one of the account's templates")
		case key == "url" && n != 2:
			return m, fmt.Errorf("url must come right after template_id")
		case key != "template_id" && key != "url" && !keyRE.MatchString(key):
			return m, fmt.Errorf("%q is not a template field's key (thing1, amount2, time3...)", truncate(key, 40))
		}
		seen[key] = true
		switch key {
		case "template_id":
			m.TemplateID = value
		case "url":
			m.URL = value
		default:
			m.Fields = append(m.Fields, field{key, value})
		}
	}
	switch {
	case m.TemplateID == "":
		return m, fmt.Errorf("no template_id: the first line must be template_id: the ID of one of the account's templates")
	case len(m.Fields) == 0:
		return m, fmt.Errorf("no fields: give a value for the template's fields, a line each (thing1: …)")
	case m.URL != "" && !strings.HasPrefix(m.URL, "https://") && !strings.HasPrefix(m.URL, "http://"):
		return m, fmt.Errorf("url must be an http(s) URL")
	}
	return m, nil
}

// limit returns the longest value WeChat takes in a field, 0 when it states none.
func limit(key string) int {
	return fieldLimits[strings.TrimRight(key, "0123456789")]
}

// checkValues applies the length limits of the fields' types to values without placeholders:
// at plan time the placeholders are not rendered yet; at send time there are none.
func (m templateMessage) checkValues() error {
	for _, f := range m.Fields {
		if strings.Contains(f.Value, "{{") {
			continue
		}
		if most, n := limit(f.Key), utf8.RuneCountInString(f.Value); most > 0 && n > most {
			return fmt.Errorf("%s is %d characters; WeChat takes %d in a %s field", f.Key, n, most, strings.TrimRight(f.Key, "0123456789"))
		}
	}
	return nil
}

// check checks a message's template and variants at plan time.
func (messageKind) check(a providers.Attrs) providers.Diagnostics {
	var ds providers.Diagnostics
	check := func(attr, what, text string) {
		m, err := parseMessage(text)
		if err == nil && strings.Contains(m.TemplateID, "{{") {
			err = fmt.Errorf("template_id cannot hold a placeholder: WeChat checks the template at apply time")
		}
		if err == nil {
			err = m.checkValues()
		}
		if err != nil {
			ds = append(ds, providers.AttributeError(attr, "Not a WeChat template message", "%s: %v", what, err))
		}
	}
	check("template", "the template", a.String("template"))
	variants := a.StringMap("variants")
	for _, name := range slices.Sorted(maps.Keys(variants)) {
		check("variants", fmt.Sprintf("variant %q", name), variants[name])
	}
	return ds
}

// accountTemplate is a template of the account, as WeChat lists it.
type accountTemplate struct {
	TemplateID string `json:"template_id"`
	Title      string `json:"title"`
	Content    string `json:"content"`
}

func (p *Provider) templates(ctx context.Context) ([]accountTemplate, error) {
	var got struct {
		List []accountTemplate `json:"template_list"`
	}
	err := p.call(ctx, request{what: "list the account's templates", path: "template/get_all_private_template"}, &got)
	return got.List, err
}

// verify checks the message's templates are in the account and have its fields.
func (p messageKind) verify(ctx context.Context, a providers.Attrs) error {
	if err := p.check(a).Err(); err != nil {
		return &providers.APIError{Code: providers.ErrInvalid, Message: err.Error()}
	}
	list, err := p.templates(ctx)
	if err != nil {
		return err
	}
	texts := []string{a.String("template")}
	for _, name := range slices.Sorted(maps.Keys(a.StringMap("variants"))) {
		texts = append(texts, a.StringMap("variants")[name])
	}
	for _, text := range texts {
		m, _ := parseMessage(text)
		i := slices.IndexFunc(list, func(t accountTemplate) bool { return t.TemplateID == m.TemplateID })
		if i < 0 {
			return &providers.APIError{Code: providers.ErrNotFound, Message: fmt.Sprintf(
				"the account has no template %s: add it from the template library in the WeChat console", m.TemplateID)}
		}
		for _, f := range m.Fields {
			if !strings.Contains(list[i].Content, "{{"+f.Key+".DATA}}") {
				return &providers.APIError{Code: providers.ErrInvalid, Message: fmt.Sprintf(
					"template %s (%s) has no field %s", m.TemplateID, list[i].Title, f.Key)}
			}
		}
	}
	return nil
}

// stored is a message this process wrote; WeChat keeps no copy, so after the process ends it
// lives only in Musubi's state, which the planner hands back on every read.
type stored struct {
	attrs providers.Attrs
	gone  bool
}

// messageID is the ID of the message made by a create with this idempotency key: WeChat
// hands out none, and a retried create must come back with the same one.
func messageID(idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return "msg-" + hex.EncodeToString(sum[:12])
}

// plan leaves a message as declared.
func (messageKind) plan(a providers.Attrs) providers.Attrs { return a }

func (p messageKind) create(ctx context.Context, a providers.Attrs, key string) (string, providers.Attrs, error) {
	if err := p.verify(ctx, a); err != nil {
		return "", nil, err
	}
	id := messageID(key)
	p.keep(id, stored{attrs: a.Clone()})
	return id, a.Clone(), nil
}

func (p messageKind) update(ctx context.Context, id string, a providers.Attrs) (providers.Attrs, error) {
	if err := p.verify(ctx, a); err != nil {
		return nil, err
	}
	p.keep(id, stored{attrs: a.Clone()})
	return a.Clone(), nil
}

// remove forgets a message: WeChat holds nothing of it.
func (p messageKind) remove(_ context.Context, id string) error {
	p.keep(id, stored{gone: true})
	return nil
}

func (p *Provider) keep(id string, s stored) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.messages[id] = s
}

// read answers from what this process wrote, else from the state's copy. A message
// whose template was deleted from the account reads as gone, so the next apply makes it again
// and says the template is missing.
func (p messageKind) read(ctx context.Context, id, key string, prior providers.Attrs) (providers.ReadResponse, error) {
	byKey := id == ""
	if byKey {
		id = messageID(key)
	}
	p.mu.Lock()
	s, known := p.messages[id]
	p.mu.Unlock()
	attrs := s.attrs
	switch {
	case known && s.gone, !known && (byKey || prior == nil):
		return providers.ReadResponse{}, nil
	case !known:
		attrs = prior
	}
	m, err := parseMessage(attrs.String("template"))
	if err != nil {
		return providers.ReadResponse{Found: true, ID: id, Attributes: attrs.Clone()}, nil // Validate reports it
	}
	list, err := p.templates(ctx)
	if err != nil {
		return providers.ReadResponse{}, err
	}
	if !slices.ContainsFunc(list, func(t accountTemplate) bool { return t.TemplateID == m.TemplateID }) {
		return providers.ReadResponse{Diagnostics: providers.Diagnostics{{Severity: providers.Warning,
			Summary: "WeChat template deleted", Detail: fmt.Sprintf("the account no longer has template %s, which %s sends",
				m.TemplateID, attrs.String("name"))}}}, nil
	}
	return providers.ReadResponse{Found: true, ID: id, Attributes: attrs.Clone()}, nil
}

package wechat

import (
	"context"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

func TestParseMessage(t *testing.T) {
	t.Parallel()
	m, err := parseMessage("template_id: T1\r\nurl: https://shop.example.cn/c?id=1\n\n  thing1 :  春季促销 \namount2: 10%\n")
	if err != nil {
		t.Fatal(err)
	}
	if m.TemplateID != "T1" || m.URL != "https://shop.example.cn/c?id=1" || len(m.Fields) != 2 ||
		m.Fields[0] != (field{"thing1", "春季促销"}) || m.Fields[1] != (field{"amount2", "10%"}) {
		t.Fatalf("%+v", m)
	}
	for text, says := range map[string]string{
		"thing1: x\ntemplate_id: T":              "first line must be template_id",
		"template_id: T\nthing1: x\nurl: https:": "url must come right after template_id",
		"template_id: T\nthing1: x\nthing1: y":   "thing1 is given twice",
		"template_id: T\nthing one: x":           "not a template field's key",
		"template_id: T\njust words":             "is not \"key: value\"",
		"template_id: T\nurl: https://a.example": "no fields",
		"template_id: T\nurl: ftp://a\nthing1:x": "url must be an http(s) URL",
		"":                                       "no template_id",
	} {
		if _, err := parseMessage(text); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want %q", text, err, says)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	t.Parallel()
	_, p := contract(t)
	validate := func(a providers.Attrs) providers.Diagnostics {
		return p.Validate(context.Background(), providers.ValidateRequest{Kind: providers.KindMessage, Attributes: a}).Diagnostics
	}
	// A placeholder may stand for a long value: it is checked at send time.
	if ds := validate(providers.Attrs{"template": "template_id: T\nthing1: {{ customer.attributes.long_name }}"}); ds.HasErrors() {
		t.Errorf("a placeholder: %v", ds.Err())
	}
	ds := validate(providers.Attrs{"template": "template_id: {{ event.template }}\nthing1: x"})
	if !ds.HasErrors() || ds[0].Attribute != "template" || !strings.Contains(ds.Err().Error(), "cannot hold a placeholder") {
		t.Errorf("a template_id from a placeholder: %v", ds.Err())
	}
	ds = validate(providers.Attrs{"template": "template_id: T\nphrase3: 六个字的短语"})
	if !ds.HasErrors() || !strings.Contains(ds.Err().Error(), "phrase3 is 6 characters; WeChat takes 5") {
		t.Errorf("a phrase of 6 characters: %v", ds.Err())
	}
}

func TestMessageCheckedAgainstTheAccount(t *testing.T) {
	t.Parallel()
	_, p := contract(t)
	ctx := context.Background()
	create := func(template string) providers.CreateResponse {
		return p.Create(ctx, providers.CreateRequest{Kind: providers.KindMessage, IdempotencyKey: template,
			Attributes: providers.Attrs{"name": "trigger.welcome", "template": template}})
	}
	r := create("template_id: not-in-the-account\nthing1: x")
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrNotFound || !strings.Contains(r.Diagnostics.Err().Error(), "template library") {
		t.Errorf("a template the account lacks: %v", r.Diagnostics.Err())
	}
	r = create("template_id: " + nudgeTemplate + "\nthing1: x\ntime3: 2027-03-01")
	if providers.CodeOf(r.Diagnostics.Err()) != providers.ErrInvalid || !strings.Contains(r.Diagnostics.Err().Error(), "has no field time3") {
		t.Errorf("a field the template lacks: %v", r.Diagnostics.Err())
	}
}

// A message whose template was deleted in the console reads as gone, with a warning; the
// next apply makes it again and is told the template is missing.
func TestMessageTemplateDeleted(t *testing.T) {
	t.Parallel()
	srv, p := contract(t)
	ctx := context.Background()
	c := p.Create(ctx, providers.CreateRequest{Kind: providers.KindMessage, IdempotencyKey: "k", Attributes: messageCase.Attrs})
	if err := c.Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	srv.RemoveTemplate(couponTemplate)
	r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindMessage, ID: c.ID})
	if r.Found || len(r.Diagnostics) != 1 || r.Diagnostics[0].Severity != providers.Warning {
		t.Fatalf("%+v, want gone with a warning", r)
	}
	// In another process, the state's copy is read back while the template exists.
	srv.AddTemplate(couponTemplate, "优惠券到账通知", couponContent)
	other := configure(t, srv, nil)
	r = other.Read(ctx, providers.ReadRequest{Kind: providers.KindMessage, ID: c.ID, Prior: messageCase.Attrs})
	if !r.Found || len(providers.Diff(providers.KindMessage, messageCase.Attrs, r.Attributes)) != 0 {
		t.Fatalf("%+v", r)
	}
	if imp := other.Import(ctx, providers.ImportRequest{Kind: providers.KindMessage, ID: c.ID}); providers.CodeOf(imp.Diagnostics.Err()) != providers.ErrNotFound {
		t.Fatalf("import of a message: %v", imp.Diagnostics.Err())
	}
}

package providers

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCheckTopics(t *testing.T) {
	var refused []string
	bad := func(attr, format string, args ...any) { refused = append(refused, attr) }
	known := []string{"follow", "unfollow"}
	if ds := CheckTopics([]string{"unfollow", "follow", "follow"}, known, "LINE", "the webhook delivers", bad); len(ds) != 0 || len(refused) != 0 {
		t.Errorf("all deliverable: %v %v", ds, refused)
	}
	ds := CheckTopics([]string{"follow", "purchase"}, known, "LINE", "the webhook delivers", bad)
	if len(ds) != 1 || ds[0].Severity != Warning || ds[0].Detail != "LINE sends no purchase events; the webhook delivers follow only" {
		t.Errorf("one not sent: %+v", ds)
	}
	if ds := CheckTopics([]string{"purchase"}, known, "LINE", "the webhook delivers", bad); len(ds) != 0 || len(refused) != 1 || refused[0] != "topics" {
		t.Errorf("none sent: %v, refused %v", ds, refused)
	}
}

func TestSubscriptionsPlanAndCheck(t *testing.T) {
	s := Subscriptions{System: "Shop", Topics: TopicMap{{Topic: "purchase", Hooks: []string{"ORDERS_CREATE"}}},
		Address: "a URI", Delivers: "the subscriptions deliver", WebhookURL: "https://musubi.example/hook"}
	planned := s.Plan(Attrs{"source": "ec", "topics": []string{"purchase", "follow"}})
	if planned.String("endpoint") != s.WebhookURL || strings.Join(planned.Strings("topics"), ",") != "purchase" {
		t.Errorf("planned %v", planned)
	}
	var refused []string
	bad := func(attr, format string, args ...any) { refused = append(refused, attr) }
	s.Check(Attrs{"topics": []string{"purchase"}, "endpoint": "http://musubi.example/hook"}, bad)
	s.WebhookURL = ""
	s.Check(Attrs{"topics": []string{"purchase"}}, bad)
	if strings.Join(refused, ",") != "endpoint,endpoint" {
		t.Errorf("refused %v, want a plain-http and a missing endpoint", refused)
	}
}

func TestDiscountType(t *testing.T) {
	for _, c := range []struct {
		a    Attrs
		want string
	}{{Attrs{"percent": 10.0}, "percent"}, {Attrs{"amount": int64(500)}, "amount"}, {Attrs{"discount_type": "gift"}, "gift"}, {nil, "percent"}} {
		if got := WithDiscountType(c.a).String("discount_type"); got != c.want {
			t.Errorf("%v: %s, want %s", c.a, got, c.want)
		}
	}
	a := Attrs{"amount": int64(500)}
	WithDiscountType(a)
	if _, set := a["discount_type"]; set {
		t.Error("the attributes passed in were changed")
	}
}

func TestUnheld(t *testing.T) {
	ks := KindSupport{Attributes: []string{"title", "percent"}}
	if got := ks.Unheld(Attrs{"title": "x", "code": "C", "audience": "a", "usage_limit": int64(0)}); strings.Join(got, ",") != "audience,code" {
		t.Errorf("unheld %v, want the set ones it does not hold, sorted", got)
	}
}

func TestStatusCodeAndTransportCause(t *testing.T) {
	for status, want := range map[int]ErrorCode{401: ErrAuth, 403: ErrAuth, 404: ErrNotFound, 409: ErrConflict, 429: ErrRateLimited,
		500: ErrUnavailable, 503: ErrUnavailable, 400: ErrInvalid, 422: ErrInvalid} {
		if got := StatusCode(status); got != want {
			t.Errorf("%d: %s, want %s", status, got, want)
		}
	}
	cause := errors.New("connection refused")
	if got := TransportCause(&url.Error{Op: "Post", URL: "https://x.example/?token=secret", Err: cause}); got != cause {
		t.Errorf("TransportCause = %v", got)
	}
	if got := WithoutQuery("/v3/marketing/lists?page_size=1000"); got != "/v3/marketing/lists" {
		t.Errorf("WithoutQuery = %s", got)
	}
}

func TestConfigureRequestString(t *testing.T) {
	r := ConfigureRequest{Config: map[string]any{"shop": " a ", "count": 3.0, "none": nil}}
	var ds Diagnostics
	if r.String("shop", "Invalid", &ds) != " a " || r.String("none", "Invalid", &ds) != "" || r.String("missing", "Invalid", &ds) != "" || len(ds) != 0 {
		t.Errorf("strings: %v", ds)
	}
	if r.String("count", "Invalid", &ds) != "" || len(ds) != 1 || ds[0].Attribute != "count" || !strings.Contains(ds[0].Detail, "not float64") {
		t.Errorf("a number: %+v", ds)
	}
}

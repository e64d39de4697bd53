package smaregi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
)

func TestParseProblemShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body, want string
	}{
		{`{"type":"about:blank","title":"Bad Request","detail":"入力内容に誤りがあります","status":400,
			"invalid-params":[{"name":"startDate","reason":"must be a date"}]}`, "Bad Request: 入力内容に誤りがあります (startDate: must be a date)"},
		{`{"title":"Bad Request","invalid_params":{"serialNumber":["is taken","is too long"],"couponName":"is required"}}`,
			"Bad Request (couponName: is required; serialNumber: is taken; is too long)"},
		{`{"error":"invalid_client","error_description":"client authentication failed"}`, "invalid_client: client authentication failed"},
		{`{"title":"Not Found","detail":"Not Found","status":"404"}`, "Not Found"},
	} {
		p, ok := ParseProblem([]byte(tc.body))
		if !ok || p.String() != tc.want {
			t.Errorf("%s\n got %q, want %q", tc.body, p.String(), tc.want)
		}
	}
	if _, ok := ParseProblem([]byte("<html>502 Bad Gateway</html>")); ok {
		t.Error("an HTML page parsed as a problem")
	}
	e := newError(502, http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:30 GMT"}}, []byte("<html>"), time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC))
	if e.API.Message != "Bad Gateway" || e.API.Code != providers.ErrUnavailable || e.API.RetryAfter != 0 {
		t.Errorf("a 502 HTML page: %+v", e.API)
	}
	e = newError(429, http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:30 GMT"}}, nil, time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC))
	if e.API.RetryAfter != 30*time.Second {
		t.Errorf("Retry-After as a date: %s", e.API.RetryAfter)
	}
}

// Error bodies come from the network: parsing any of them must not panic, and must yield a
// message.
func FuzzParseProblem(f *testing.F) {
	f.Add([]byte(`{"type":"about:blank","title":"Bad Request","status":400,"invalid-params":[{"name":"limit","reason":"1 to 1000"}]}`))
	f.Add([]byte(`{"invalid_params":{"a":["x"],"b":1}}`))
	f.Add([]byte(`{"error":"invalid_scope"}`))
	f.Add([]byte(`{"status":{"x":1},"invalid-params":[1,"a",null]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, ok := ParseProblem(body)
		if ok {
			_ = p.String()
		}
		for _, status := range []int{400, 429, 503} {
			if e := newError(status, http.Header{"Retry-After": {string(body)}}, body, time.Unix(0, 0)); e.API.Message == "" || e.API.RetryAfter < 0 {
				t.Fatalf("status %d: %+v", status, e.API)
			}
		}
	})
}

// Coupons read back come from the network too, and from admins who edit them by hand:
// whatever they hold, Read yields attributes of the canonical types.
func FuzzFromCoupon(f *testing.F) {
	f.Add("2", "12.5", "3000", "2027-03-01", "2027-03-31", "SPRING10", "musubi:0123456789abcdef:Asia/Tokyo")
	f.Add("1", "3000.00", "", "2027-03-01T00:00:00+09:00", "2027-13-45", "MSB0123456789ABCDEF", "musubi:0123456789abcdef:Mars/Olympus")
	f.Add("3", "NaN", "-1e309", "", "2027-03-31 10:00:00", "", "musubi:zz:")
	p := &Provider{}
	p.zone, p.zoneName = time.FixedZone("JST", 9*3600), "Asia/Tokyo"
	f.Fuzz(func(t *testing.T, awardType, awardValue, minPrice, start, end, serial, summary string) {
		a := p.fromCoupon(&Coupon{CouponID: "1", CouponName: "c", AwardType: awardType, AwardValue: awardValue,
			MinTargetPrice: minPrice, StartDate: start, EndDate: end, SerialNumber: serial, Summary: summary})
		if _, err := providers.Normalize(providers.KindCoupon, a); err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		if hash, tz, ok := parseMarker(summary); ok && (len(hash) != 16 || tz == "" || !strings.HasPrefix(summary, markerPrefix)) {
			t.Fatalf("marker %q parsed as %q %q", summary, hash, tz)
		}
	})
}

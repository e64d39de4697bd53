package providers

import (
	"encoding/json"
	"reflect"
	"testing"
)

// UnmarshalAttrs reads with go-json the values encoding/json would read.
func TestUnmarshalAttrsMatchesStdlib(t *testing.T) {
	for k, doc := range map[Kind]string{
		KindCoupon: `{"title":"春 \"sale\" \u00e9\ud83c\udf38","percent":12.5,"amount":9007199254740992,"min_total":1e3,` +
			`"usage_limit":0,"starts_at":"2027-03-01T00:00:00+09:00","combines_with":["order","shipping"],"stores":[],"code":null}`,
		KindMessage:  `{"name":"campaign.a","template":"{{ x }}\n","variants":{"a":"A","b":"","\u00e9":"\u0001"}}`,
		KindCodePool: `{"coupon":"campaign.a.coupon[sandbox.ec]","count":500.0,"seed":"s"}`,
	} {
		got, err := UnmarshalAttrs(k, []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(doc), &raw); err != nil {
			t.Fatal(err)
		}
		want, err := Normalize(k, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: go-json read %#v, encoding/json %#v", k, got, want)
		}
	}
	for _, bad := range []string{`{"percent":"ten"}`, `{"percent":1`, `[]`, `{"nope":1}`} {
		if _, err := UnmarshalAttrs(KindCoupon, []byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

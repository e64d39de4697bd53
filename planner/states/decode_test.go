package states

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/planner/addrs"
	"github.com/musubi-hq/musubi/providers"
)

// decodeStdlib is Decode as written with encoding/json, the reference go-json must match.
func decodeStdlib(b []byte) (*State, error) {
	var head document[json.RawMessage]
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, err
	}
	s := &State{FormatVersion: head.FormatVersion, Serial: head.Serial, Lineage: head.Lineage, ToolVersion: head.ToolVersion,
		Git: head.Git, UpdatedAt: head.UpdatedAt, Accounts: head.Accounts, Outputs: head.Outputs, resources: map[addrs.Instance]*Resource{}}
	for _, raw := range head.Resources {
		var r Resource
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		if err := r.normalize(); err != nil {
			return nil, err
		}
		s.resources[r.Address] = &r
	}
	return s, nil
}

// richState holds every attribute type of every kind a state keeps, with the values JSON
// makes awkward: large and fractional numbers, escapes, non-ASCII text, empty collections.
func richState() *State {
	s := New("v1.2.3")
	s.Serial = 42
	s.Git = &GitInfo{Commit: "abc123", Branch: "main", Author: "Hanako <h@example.jp>", Dirty: true}
	s.UpdatedAt = time.Date(2027, 3, 1, 9, 30, 0, 123456789, time.FixedZone("JST", 9*3600))
	s.Accounts = map[addrs.Provider]Account{
		{Type: "sandbox", Name: "ec"}:  {"file": "/tmp/ec.db", "token": "sha256:ab"},
		{Type: "shopify", Name: "jp"}:  {"shop": "musubi.myshopify.com"},
		{Type: "sandbox", Name: "pos"}: {},
	}
	s.Outputs = map[string]*Output{
		"codes":  {Type: json.RawMessage(`["list","string"]`), Value: json.RawMessage(`["A","B"]`)},
		"secret": {Sensitive: true, Type: json.RawMessage(`"string"`)},
		"n":      {Type: json.RawMessage(`"number"`), Value: json.RawMessage(`12.5`)},
	}
	ec, line := addrs.Provider{Type: "sandbox", Name: "ec"}, addrs.Provider{Type: "sandbox", Name: "line"}
	for i := 0; i < 40; i++ {
		block := addrs.Block{Type: "campaign", Name: fmt.Sprintf("c%02d", i)}
		coupon := addrs.Instance{Block: block, Kind: providers.KindCoupon, Provider: ec}
		s.Put(&Resource{Address: coupon, Kind: providers.KindCoupon, Provider: ec, ID: fmt.Sprintf("cpn_%d", i),
			Attributes: providers.Attrs{
				"title": "春のセール \"10%\" \\ \u2028 <b>&", "discount_type": "percent", "percent": 12.5 + float64(i),
				"amount": int64(1) << 53, "min_total": int64(-3000 * (i + 1)), "currency": "JPY", "code": fmt.Sprintf("SPRING%d", i),
				"per_customer": int64(1), "usage_limit": int64(9_007_199_254_740_992), "starts_at": "2027-03-01T00:00:00+09:00",
				"ends_at": "2027-03-31T23:59:59Z", "timezone": "Asia/Tokyo", "combines_with": []string{"order", "shipping"},
				"audience": "vip", "stores": []string{"s1", "s2", ""},
			}})
		pool := addrs.Instance{Block: block, Kind: providers.KindCodePool, Provider: ec}
		r := &Resource{Address: pool, Kind: providers.KindCodePool, Provider: ec,
			Attributes:   providers.Attrs{"coupon": coupon.String(), "pattern": "SP-####", "charset": "ABC", "count": int64(500 + i), "seed": "x"},
			Dependencies: []addrs.Instance{coupon},
			Pending:      &Pending{IdempotencyKey: fmt.Sprintf("key-%d", i), Since: time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)}}
		if i%2 == 1 {
			r.ID = fmt.Sprintf("pool_%d", i)
			r.Pending.Action = PendingUpdate
		}
		s.Put(r)
		msg := addrs.Instance{Block: block, Kind: providers.KindMessage, Provider: line, Index: i % 3}
		s.Put(&Resource{Address: msg, Kind: providers.KindMessage, Provider: line, ID: fmt.Sprintf("msg_%d", i),
			Attributes: providers.Attrs{"name": block.String(), "template": "{{ 1000 - event.cart.total }} yen\n\ttab",
				"variants": map[string]string{"a": "A {{x}}", "b": "", "é": "\x01"}}})
	}
	return s
}

// Decode reads with go-json what encoding/json would read: the same Go values of the same
// types, from the documents Encode writes and from hand-written ones.
func TestDecodeMatchesStdlib(t *testing.T) {
	rich, err := Encode(richState())
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{
		"rich":     string(rich),
		"compact":  strings.Join(strings.Fields(string(rich)), " "),
		"stateDoc": stateDoc,
		"numbers": `{"format_version":1,"serial":1,"lineage":"l","musubi_version":"v","resources":[
			{"address":"campaign.a.coupon[sandbox.ec]","kind":"coupon","provider":"sandbox.ec","id":"1",
			 "attributes":{"percent":1e1,"amount":2.0,"min_total":-0,"usage_limit":12345678901,"title":"\ud83c\udf38\u00e9"}}]}`,
		"nulls": `{"format_version":1,"serial":1,"lineage":"l","musubi_version":"v","git":null,"accounts":null,"resources":[
			{"address":"campaign.a.coupon[sandbox.ec]","kind":"coupon","provider":"sandbox.ec","attributes":{"title":null,"stores":[]},
			 "dependencies":null,"pending":null,"unknown":{"x":[1,2]}}]}`,
	}
	for name, doc := range docs {
		got, err := Decode([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := decodeStdlib([]byte(doc))
		if err != nil {
			t.Fatalf("%s: encoding/json: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: go-json read\n%#v\nencoding/json read\n%#v", name, got, want)
		}
		for addr, w := range want.resources {
			if g := got.resources[addr]; !reflect.DeepEqual(g, w) {
				t.Errorf("%s: %s: go-json read %#v, encoding/json %#v", name, addr, g, w)
			}
		}
	}
	s, _ := Decode(rich)
	if again, _ := Encode(s); string(again) != string(rich) {
		a, b := strings.Split(string(again), "\n"), strings.Split(string(rich), "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Errorf("line %d: %s, want %s", i+1, a[i], b[i])
				break
			}
		}
	}
}

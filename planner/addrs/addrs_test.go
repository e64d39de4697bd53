package addrs

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

func TestInstanceRoundTrip(t *testing.T) {
	for _, s := range []string{
		"campaign.spring.coupon[shopify.jp]",
		"campaign.Spring-2027.code_pool[sandbox.ec]",
		"segment.loyal_store.audience[line.oa]",
		"trigger.cart_nudge.message[sendgrid-v3.main_1]",
		"trigger.cart_nudge.message[line.oa,1]",
		"trigger.cart_nudge.message[line.oa,12]",
		"identity_source.pos.subscription[square.store]",
		"musubi.rules.rules[engine.main]",
	} {
		a, err := ParseInstance(s)
		if err != nil {
			t.Errorf("ParseInstance(%q): %v", s, err)
			continue
		}
		if got := a.String(); got != s {
			t.Errorf("ParseInstance(%q).String() = %q", s, got)
		}
		b, _ := a.MarshalText()
		var back Instance
		if err := back.UnmarshalText(b); err != nil || back != a {
			t.Errorf("text round trip of %q: %+v, %v", s, back, err)
		}
	}
	a := MustParseInstance("trigger.cart_nudge.message[line.oa,3]")
	want := Instance{Block: Block{"trigger", "cart_nudge"}, Kind: providers.KindMessage, Provider: Provider{"line", "oa"}, Index: 3}
	if a != want {
		t.Errorf("parsed %+v, want %+v", a, want)
	}
}

func TestParseInstanceErrors(t *testing.T) {
	for _, s := range []string{
		"", "campaign.spring", "campaign.spring.coupon", "campaign.spring.coupon[]", "campaign.spring.coupon[shopify]",
		"campaign.spring.coupon[shopify.jp", "campaign.spring.coupon[shopify.jp]x", "campaign.spring.coupon[shopify.jp,]",
		"campaign.spring.coupon[shopify.jp,-1]", "campaign.spring.coupon[shopify.jp,1,2]", "campaign.spring.coupon[Shopify.jp]",
		"campaign.spring.coupon[shopify.jp.x]", "campaign.2spring.coupon[shopify.jp]", "Campaign.spring.coupon[shopify.jp]",
		"campaign..coupon[shopify.jp]", "campaign.spring.coupon.x[shopify.jp]", " campaign.spring.coupon[shopify.jp]",
		"campaign.spring.coupon[shopify.jp,99999999999999999999999]",
	} {
		_, err := ParseInstance(s)
		if err == nil || err.Error() != strconv.Quote(s)+" is not a resource address such as campaign.spring.coupon[shopify.jp]" {
			t.Errorf("ParseInstance(%q): %v", s, err)
		}
	}
	if _, err := ParseInstance("campaign.spring.voucher[shopify.jp]"); err == nil || !strings.Contains(err.Error(), `unknown resource kind "voucher"`) {
		t.Errorf("unknown kind: %v", err)
	}
}

// addressRE is the grammar of instance addresses as a regular expression: the parser must
// accept exactly what it matches.
var addressRE = regexp.MustCompile(`^([a-z_]+)\.([A-Za-z][A-Za-z0-9_-]*)\.([a-z_]+)\[([a-z][a-z0-9_-]*)\.([A-Za-z][A-Za-z0-9_-]*)(?:,([0-9]+))?\]$`)

// Random mutations of valid addresses are accepted or refused exactly as the grammar says.
func TestParserFollowsTheGrammar(t *testing.T) {
	seeds := []string{"campaign.spring.coupon[shopify.jp]", "trigger.a-b_C.message[line-2.oa,10]", "_x.Y.code_pool[a.B-_9]"}
	alphabet := []byte("az_AZ09-.,[]x")
	r := rand.New(rand.NewPCG(1, 2))
	valid := 0
	for i := 0; i < 20000; i++ {
		b := []byte(seeds[r.IntN(len(seeds))])
		for n := r.IntN(3); n >= 0; n-- {
			at := r.IntN(len(b) + 1)
			switch r.IntN(3) {
			case 0:
				b = slices.Insert(b, at, alphabet[r.IntN(len(alphabet))])
			case 1:
				if at < len(b) {
					b = slices.Delete(b, at, at+1)
				}
			default:
				if at < len(b) {
					b[at] = alphabet[r.IntN(len(alphabet))]
				}
			}
		}
		s := string(b)
		a, ok := parseInstance(s)
		m := addressRE.FindStringSubmatch(s)
		if ok != (m != nil) {
			t.Fatalf("%q: parser says %v, grammar says %v", s, ok, m != nil)
		}
		if !ok {
			continue
		}
		valid++
		index, _ := strconv.Atoi(m[6])
		want := Instance{Block: Block{m[1], m[2]}, Kind: providers.Kind(m[3]), Provider: Provider{m[4], m[5]}, Index: index}
		if a != want {
			t.Fatalf("%q: parsed %+v, want %+v", s, a, want)
		}
	}
	if valid < 1000 {
		t.Errorf("only %d of the mutated addresses are valid; the test says little of the parser's acceptance", valid)
	}
}

// Instances sort as their addresses do as text, whatever their parts: a hyphen sorts before
// the dot that ends a name, and an index before the bracket that ends an address without one.
func TestCompareSortsAsText(t *testing.T) {
	list := []string{
		"campaign.a.coupon[sandbox.ec]",
		"campaign.a-b.coupon[sandbox.ec]",
		"campaign.a_b.coupon[sandbox.ec]",
		"campaign.ab.coupon[sandbox.ec]",
		"campaign.a.code_pool[sandbox.ec]",
		"campaign.a.coupon[sandbox.ec-2]",
		"campaign.a.coupon[sandbox.ec,1]",
		"trigger.t.message[line.oa,2]",
		"trigger.t.message[line.oa,10]",
		"trigger.t.message[line.oa]",
		"segment.s.audience[line.oa]",
		"campaign_x.a.coupon[sandbox.ec]",
	}
	want := slices.Clone(list)
	slices.Sort(want)
	as := make([]Instance, len(list))
	for i, s := range list {
		as[i] = MustParseInstance(s)
	}
	text := func(as []Instance) string {
		var out []string
		for _, a := range as {
			out = append(out, a.String())
		}
		return strings.Join(out, "\n")
	}
	byCompare := slices.Clone(as)
	slices.SortFunc(byCompare, Compare)
	if got := text(byCompare); got != strings.Join(want, "\n") {
		t.Errorf("sorted by Compare:\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	Sort(as, func(a Instance) Instance { return a })
	if got := text(as); got != strings.Join(want, "\n") {
		t.Errorf("Sort:\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if Compare(as[0], as[0]) != 0 {
		t.Error("an instance does not compare equal to itself")
	}
	// Random instances whose parts are often prefixes of one another.
	r := rand.New(rand.NewPCG(3, 4))
	word := func(first, rest string) string {
		w := []byte{first[r.IntN(len(first))]}
		for n := r.IntN(3); n > 0; n-- {
			w = append(w, rest[r.IntN(len(rest))])
		}
		return string(w)
	}
	kinds := []providers.Kind{providers.KindCoupon, providers.KindCodePool, providers.KindAudience, providers.KindMessage}
	random := func() Instance {
		return Instance{Block: Block{word("a_", "a_"), word("aA", "a-_0")}, Kind: kinds[r.IntN(len(kinds))],
			Provider: Provider{word("a", "a-_0"), word("aA", "a-_0")}, Index: r.IntN(3) * r.IntN(12)}
	}
	for i := 0; i < 20000; i++ {
		a, b := random(), random()
		if got, want := Compare(a, b), strings.Compare(a.String(), b.String()); got != want {
			t.Fatalf("Compare(%s, %s) = %d, want %d", a, b, got, want)
		}
	}
}

// States and plans hold addresses as JSON strings, in fields, lists and map keys and values.
func TestJSON(t *testing.T) {
	type doc struct {
		Address   Instance            `json:"address"`
		Block     Block               `json:"block"`
		Provider  Provider            `json:"provider"`
		Deps      []Instance          `json:"deps"`
		Refs      map[string]Instance `json:"refs"`
		Described map[Block]string    `json:"described"`
		Targets   []Target            `json:"targets"`
		Removed   Instance            `json:"removed,omitzero"`
	}
	const text = `{"address":"campaign.spring.code_pool[sandbox.ec]","block":"campaign.spring","provider":"sandbox.ec",` +
		`"deps":["campaign.spring.coupon[sandbox.ec]"],"refs":{"coupon":"campaign.spring.coupon[sandbox.ec]"},` +
		`"described":{"campaign.autumn":"Autumn","campaign.spring":"Spring"},"targets":["campaign.spring","trigger.t.message[line.oa,1]"]}`
	var d doc
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatal(err)
	}
	coupon := MustParseInstance("campaign.spring.coupon[sandbox.ec]")
	if d.Address.Kind != providers.KindCodePool || d.Block != (Block{"campaign", "spring"}) || d.Provider != (Provider{"sandbox", "ec"}) ||
		d.Deps[0] != coupon || d.Refs["coupon"] != coupon || d.Described[Block{"campaign", "autumn"}] != "Autumn" ||
		d.Targets[0].Instance != nil || d.Targets[1].Instance.Index != 1 {
		t.Fatalf("decoded %+v", d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != text {
		t.Errorf("encoded\n%s\nwant\n%s", b, text)
	}
	for _, bad := range []string{`{"address":"campaign.spring"}`, `{"block":"campaign"}`, `{"provider":"sandbox"}`, `{"targets":["x"]}`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

func TestTargets(t *testing.T) {
	coupon := MustParseInstance("campaign.spring.coupon[shopify.jp]")
	for _, c := range []struct {
		target string
		match  bool
	}{
		{"campaign.spring", true},
		{"campaign.autumn", false},
		{"campaign.spring.coupon[shopify.jp]", true},
		{"campaign.spring.coupon[shopify.jp,1]", false},
	} {
		tg, err := ParseTarget(c.target)
		if err != nil {
			t.Fatalf("ParseTarget(%q): %v", c.target, err)
		}
		if tg.String() != c.target || tg.Matches(coupon) != c.match {
			t.Errorf("target %q reads as %q, matches %v", c.target, tg, tg.Matches(coupon))
		}
	}
	for _, s := range []string{"campaign", "campaign.spring.x", ".spring", "campaign.spring.coupon[shopify]"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) accepted", s)
		}
	}
}

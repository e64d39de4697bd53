package states

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/musubi-hq/musubi/planner/addrs"
)

// stateDoc is a state file as musubi writes it: addresses as text, resources sorted by them.
const stateDoc = `{
 "format_version": 1,
 "serial": 4,
 "lineage": "lineage-1",
 "musubi_version": "v1",
 "resources": [
  {
   "address": "campaign.spring.code_pool[sandbox.ec]",
   "kind": "code_pool",
   "provider": "sandbox.ec",
   "id": "pool_1",
   "attributes": {
    "count": 500,
    "coupon": "campaign.spring.coupon[sandbox.ec]"
   },
   "dependencies": [
    "campaign.spring.coupon[sandbox.ec]"
   ]
  },
  {
   "address": "campaign.spring.coupon[sandbox.ec]",
   "kind": "coupon",
   "provider": "sandbox.ec",
   "id": "cpn_1",
   "attributes": {
    "percent": 10
   }
  },
  {
   "address": "trigger.nudge.message[sandbox.line,1]",
   "kind": "message",
   "provider": "sandbox.line",
   "id": "msg_2"
  },
  {
   "address": "trigger.nudge.message[sandbox.line]",
   "kind": "message",
   "provider": "sandbox.line",
   "id": "msg_1"
  }
 ]
}
`

func TestDecodeEncodeRoundTrip(t *testing.T) {
	s, err := Decode([]byte(stateDoc))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Find(poolAt); p == nil || p.Dependencies[0] != couponAt || p.Provider != sandboxEC || p.Attributes.Int("count") != 500 {
		t.Fatalf("decoded code pool: %+v", p)
	}
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte(stateDoc)) {
		t.Errorf("encoded\n%s\nwant\n%s", b, stateDoc)
	}
}

// Addresses are read once, where the state is read: a state with one that is not an address
// is refused there, naming it.
func TestDecodeRefusesBadAddresses(t *testing.T) {
	for _, c := range []struct{ old, new, want string }{
		{`"address": "campaign.spring.coupon[sandbox.ec]"`, `"address": "campaign.spring"`, `"campaign.spring" is not a resource address`},
		{`"provider": "sandbox.line"`, `"provider": "sandbox"`, `"sandbox" is not a provider address`},
		{`   "campaign.spring.coupon[sandbox.ec]"`, `   "coupon"`, `"coupon" is not a resource address`},
		{`"address": "trigger.nudge.message[sandbox.line]"`, `"address": "trigger.nudge.message[sandbox.line,1]"`, `trigger.nudge.message[sandbox.line,1] appears twice`},
	} {
		doc := strings.Replace(stateDoc, c.old, c.new, 1)
		if _, err := Decode([]byte(doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.new, err, c.want)
		}
	}
}

// The journal records puts and removes by address, and reading the state replays them.
func TestJournalReplaysByAddress(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(filepath.Join(t.TempDir(), "state.json"))
	s := sample()
	if err := l.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	j, err := l.Journal(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	moved := s.Find(couponAt).Clone()
	moved.Address = addrs.MustParseInstance("campaign.spring.coupon[sandbox.ec,1]")
	if err := j.Put(moved); err != nil {
		t.Fatal(err)
	}
	if err := j.Remove(poolAt); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lines, err := os.ReadFile(l.journalPath())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"remove":"` + pool + `"}`; !strings.Contains(string(lines), want+"\n") {
		t.Errorf("journal:\n%s\nhas no line %s", lines, want)
	}
	got, err := l.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Recovered || got.Find(poolAt) != nil || got.Find(moved.Address) == nil || got.Find(couponAt) == nil {
		t.Errorf("replayed state: %s", addresses(got.Resources()))
	}
}

// Outputs survive a write and a read, and a clone does not share them.
func TestOutputsRoundTrip(t *testing.T) {
	s := New("v1")
	s.Outputs = map[string]*Output{
		"prefix": {Type: []byte(`"string"`), Value: []byte(`"SPR"`)},
		"token":  {Sensitive: true, Type: []byte(`"string"`)},
	}
	b, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if o := got.Outputs["prefix"]; o == nil || string(o.Value) != `"SPR"` || o.Sensitive {
		t.Errorf("prefix after a round trip: %+v", o)
	}
	if o := got.Outputs["token"]; o == nil || !o.Sensitive || o.Value != nil {
		t.Errorf("token after a round trip: %+v", o)
	}
	c := got.Clone()
	c.Outputs["prefix"].Sensitive = true
	if got.Outputs["prefix"].Sensitive {
		t.Error("a clone shares its outputs with the original")
	}
}

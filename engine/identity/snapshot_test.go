package identity

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func snapshot(t testing.TB, g *Graph) string {
	t.Helper()
	var b bytes.Buffer
	if err := g.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	g := newGraph(t, scriptRules)
	script(t, g, 42, 1500, false)
	snap := snapshot(t, g)
	loaded, err := Load(scriptRules, strings.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(loaded), dump(g); got != want {
		t.Fatalf("the loaded graph differs:\n%s", firstDiff(got, want))
	}
	if snapshot(t, loaded) != snap {
		t.Fatal("a loaded graph writes another snapshot")
	}
	checkInvariants(t, loaded, time.Time{})
	// Both go on the same way: same Uni-IDs, merge IDs, unmerges and forgets.
	a, b := script(t, g, 43, 300, false), script(t, loaded, 43, 300, false)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("the loaded graph resolves differently")
	}
}

func TestSnapshotOfEmptyGraph(t *testing.T) {
	t.Parallel()
	g, err := Load(retail, strings.NewReader(snapshot(t, newGraph(t, retail))))
	if err != nil || g.Len() != 0 {
		t.Fatalf("%v, %v", g, err)
	}
}

// A snapshot cut short or damaged is an error, never a panic or a graph that half works.
func TestLoadRejectsDamage(t *testing.T) {
	t.Parallel()
	g := newGraph(t, scriptRules)
	script(t, g, 7, 300, false)
	snap := []byte(snapshot(t, g))
	for n := 0; n < len(snap); n += 1 + n/20 {
		if _, err := Load(scriptRules, bytes.NewReader(snap[:n])); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes loaded", n, len(snap))
		}
	}
	for i := len(snapshotMagic); i < len(snap); i += 7 {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x5a
		if g, err := Load(scriptRules, bytes.NewReader(bad)); err == nil {
			checkInvariants(t, g, time.Time{}) // a flipped byte inside a value may still make sense
		}
	}
	if _, err := Load(scriptRules, strings.NewReader("not a snapshot at all, no")); err == nil {
		t.Error("garbage loaded")
	}
}

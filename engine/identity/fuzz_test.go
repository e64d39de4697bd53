package identity

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var fuzzRules = Rules{Priority: []string{"member", "email", "phone"},
	Limits:        map[string]Limit{"member": {Max: 1}, "email": {Max: 2, Window: 48 * time.Hour}},
	BlockedValues: map[string][]string{"device": {"v0"}}}

// FuzzResolve runs random histories of resolutions, unmerges and forgets. After every step the
// graph must be consistent (every identifier belongs to at most one live customer, which lists
// it) and no customer may hold more values of a type than its limit; at the end, replaying the
// records and loading a snapshot must both give the same graph.
func FuzzResolve(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23})
	f.Add([]byte{3, 4, 0, 1, 5, 1, 3, 4, 2, 1, 1, 4, 6, 0, 0, 7, 1, 3, 2, 2, 2, 2, 1, 1})
	f.Add([]byte("merge unmerge forget merge again and again"))
	types := []string{"member", "email", "phone", "device", "cookie"}
	f.Fuzz(func(t *testing.T, ops []byte) {
		g, err := New(fuzzRules)
		if err != nil {
			t.Fatal(err)
		}
		next := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		var recs []Record
		at := t0
		for len(ops) > 0 {
			at = at.Add(time.Duration(next()%30) * time.Hour)
			switch op := next() % 8; op {
			case 6, 7:
				cs := liveCustomers(g)
				if len(cs) == 0 {
					continue
				}
				c := cs[next()%len(cs)]
				if op == 7 {
					_, rec, err := g.Forget(c)
					if err != nil {
						t.Fatal(err)
					}
					recs = append(recs, rec)
					continue
				}
				ms := g.Merges(c)
				if len(ms) == 0 {
					continue
				}
				u, err := g.Unmerge(ms[next()%len(ms)].ID, at)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, u.Record())
			default:
				ids := make([]ID, 1+next()%4)
				for i := range ids {
					b := next()
					ids[i] = ID{types[b%len(types)], fmt.Sprintf("v%d", (b/len(types))%12)}
				}
				r, err := g.Resolve(ids, at)
				if err != nil {
					t.Fatal(err)
				}
				if r.Created || len(r.Attached) > 0 || len(r.Merges) > 0 {
					recs = append(recs, r.Record())
				}
			}
			checkInvariants(t, g, at)
		}

		replayed, _ := New(fuzzRules)
		for i, rec := range recs {
			body, _ := json.Marshal(rec)
			var back Record
			if err := json.Unmarshal(body, &back); err != nil {
				t.Fatal(err)
			}
			if err := replayed.Replay(back); err != nil {
				t.Fatalf("record %d %s: %v", i, body, err)
			}
		}
		want := dump(g)
		if got := dump(replayed); got != want {
			t.Fatalf("replay differs:\n%s", firstDiff(got, want))
		}
		loaded, err := Load(fuzzRules, strings.NewReader(snapshot(t, g)))
		if err != nil {
			t.Fatal(err)
		}
		if got := dump(loaded); got != want {
			t.Fatalf("snapshot differs:\n%s", firstDiff(got, want))
		}
	})
}

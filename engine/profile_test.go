package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/lang/rules"
)

// A distinct trait counts each value once across its buckets, past the few it counts without
// a map.
func TestDistinctTraitCountsEachValueOnce(t *testing.T) {
	tr := &rules.CTrait{Agg: "distinct"}
	for _, n := range []int{0, 1, 15, 16, 17, 40} {
		var ts TraitState
		want := map[string]bool{}
		for b := range 3 {
			bucket := Bucket{Start: int64(b * 60), N: 1}
			for i := range n {
				v := fmt.Sprintf("store-%d", (i*7+b*3)%max(n, 1))
				if !slices.Contains(bucket.Distinct, v) {
					bucket.Distinct = append(bucket.Distinct, v)
				}
				want[v] = true
			}
			ts.Buckets = append(ts.Buckets, bucket)
		}
		if got := ts.value(tr, time.Now()); got != int64(len(want)) {
			t.Errorf("%d values a bucket: counted %v, want %d", n, got, len(want))
		}
	}
}

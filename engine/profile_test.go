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

// Events folded into a windowed trait out of time order land in their own buckets, kept in
// time order, whether they come after the last bucket, in it or before it.
func TestObserveKeepsBucketsInOrder(t *testing.T) {
	tr := &rules.CTrait{Agg: "count", WindowDur: 90 * 24 * time.Hour}
	day := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var ts TraitState
	for _, d := range []int{5, 1, 9, 5, 3, 9, 0, 1} {
		ts.observe(tr, day.AddDate(0, 0, d), int64(1))
	}
	var starts []int64
	var n int64
	for _, b := range ts.Buckets {
		starts = append(starts, b.Start)
		n += b.N
	}
	if !slices.IsSorted(starts) || len(starts) != 5 || n != 8 {
		t.Fatalf("buckets %v hold %d events", ts.Buckets, n)
	}
}

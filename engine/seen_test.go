package engine

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Every key added is a "maybe" however many layers the filter grows to, and few keys never
// added are.
func TestSeenKeysHasNoFalseNegatives(t *testing.T) {
	s := newSeenKeys()
	s.ready = true
	keys := make([]string, 3*seenFirstLayer)
	for i := range keys {
		keys[i] = "pos:" + strconv.Itoa(i)
	}
	s.add(keys)
	if len(s.layers) < 2 {
		t.Fatalf("%d keys in %d layers: the filter did not grow", len(keys), len(s.layers))
	}
	if got := len(s.maybe(keys)); got != len(keys) {
		t.Fatalf("%d of %d added keys are not found", len(keys)-got, len(keys))
	}
	fresh := make([]string, 100_000)
	for i := range fresh {
		fresh[i] = "ec:" + strconv.Itoa(i)
	}
	if rate := float64(len(s.maybe(fresh))) / float64(len(fresh)); rate > 3*seenFalseRate {
		t.Errorf("%.1f%% of new keys look seen, want about %.0f%%", 100*rate, 100*seenFalseRate)
	}
}

// Until the log's keys are loaded every key is asked of the store; after, the ones the log
// holds are.
func TestSeenKeysLoadFromTheLog(t *testing.T) {
	ctx := context.Background()
	st, err := OpenSQLite(filepath.Join(t.TempDir(), "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Update(ctx, func(tx Tx) error {
		for i := range 1000 {
			if err := tx.InsertEvent("pos:"+strconv.Itoa(i), "c_1", "purchase", time.UnixMilli(int64(i)), []byte(`{}`)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newSeenKeys()
	if got := s.maybe([]string{"x", "y"}); len(got) != 2 {
		t.Fatalf("before loading, maybe = %v, want every key", got)
	}
	if err := s.load(ctx, st); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if k := "pos:" + strconv.Itoa(i); len(s.maybe([]string{k})) != 1 {
			t.Fatalf("%s is in the log but not found", k)
		}
	}
}

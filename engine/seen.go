package engine

import (
	"context"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// seenKeys answers "might the event log hold this key?" from memory, so that settling
// duplicates does not read the store for every event: almost every event is new, and
// looking each one up cost more than storing it. A "no" is certain; a "maybe" (a duplicate,
// or about one new key in a hundred) is asked of the store. It is a stack of Bloom filters,
// each twice the size of the one before, so it stays accurate however long the log grows.
type seenKeys struct {
	mu     sync.Mutex
	layers []*bloom.BloomFilter
	n, max uint // keys in the last layer, and how many it is sized for
	// ready is set once every key the log held at start was added; until then every key is
	// a "maybe".
	ready bool
}

const (
	seenFirstLayer = 1 << 20
	seenFalseRate  = 0.01
)

func newSeenKeys() *seenKeys {
	return &seenKeys{layers: []*bloom.BloomFilter{bloom.NewWithEstimates(seenFirstLayer, seenFalseRate)}, max: seenFirstLayer}
}

// add records keys the event log holds, or is about to.
func (s *seenKeys) add(keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if s.n >= s.max {
			s.max *= 2
			s.layers, s.n = append(s.layers, bloom.NewWithEstimates(s.max, seenFalseRate)), 0
		}
		s.layers[len(s.layers)-1].AddString(k)
		s.n++
	}
}

// maybe returns the keys the event log may hold.
func (s *seenKeys) maybe(keys []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		return keys
	}
	var out []string
	for _, k := range keys {
		for _, l := range s.layers {
			if l.TestString(k) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// load adds every key of the event log. It runs beside the engine, which asks the store
// about every key until it is done; keys claimed meanwhile are added by the claims.
func (s *seenKeys) load(ctx context.Context, st Store) error {
	batch := make([]string, 0, 4096)
	err := st.EventKeys(ctx, func(key string) error {
		batch = append(batch, key)
		if len(batch) == cap(batch) {
			s.add(batch)
			batch = batch[:0]
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.add(batch)
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	return nil
}

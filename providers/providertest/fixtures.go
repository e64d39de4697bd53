package providertest

import (
	"sync"
	"testing"
)

// Fixtures keeps what a test made for each provider (its contract server, the faults in
// front of it), for harness hooks, which receive only the provider.
type Fixtures[T any] struct{ m sync.Map }

// Keep files v under provider p until the test ends.
func (f *Fixtures[T]) Keep(t testing.TB, p any, v T) {
	f.m.Store(p, v)
	t.Cleanup(func() { f.m.Delete(p) })
}

// Of returns what was kept for p, or T's zero value.
func (f *Fixtures[T]) Of(p any) T {
	v, _ := f.m.Load(p)
	t, _ := v.(T)
	return t
}

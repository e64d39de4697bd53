package providers

import (
	"fmt"
	"sort"
	"sync"
)

// Registration describes a built-in provider.
type Registration struct {
	// Type is the provider type written in configuration: provider "TYPE" "NAME".
	Type        string
	Description string
	// New returns an unconfigured provider.
	New func() Provider
}

var registry = struct {
	sync.RWMutex
	m map[string]Registration
}{m: map[string]Registration{}}

// Register adds a built-in provider. Provider packages call it from init.
func Register(r Registration) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[r.Type]; dup {
		panic(fmt.Sprintf("provider %q registered twice", r.Type))
	}
	registry.m[r.Type] = r
}

// Lookup returns the registration of a built-in provider type.
func Lookup(typ string) (Registration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.m[typ]
	return r, ok
}

// Registered lists the built-in providers, sorted by type.
func Registered() []Registration {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Registration, 0, len(registry.m))
	for _, r := range registry.m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

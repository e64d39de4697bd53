// Package plugins resolves what a provider block's source names — a built-in provider or a
// plugin binary (started by providers/plugin) — and owns the lock file (.musubi.lock.hcl):
// musubi init resolves every provider source, starts each plugin once to read its name,
// version and protocol, and pins its binary by SHA-256; Source then refuses to run a binary
// the lock file does not pin.
package plugins

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin"
)

// Source resolves provider blocks for the planner's host: "builtin/TYPE" runs in-process, any
// other source starts the plugin binary it names, after checking the binary against the
// lock file. A nil lock is read from workDir the first time a plugin needs it, so a
// configuration of built-ins alone needs no lock file.
func Source(workDir string, lock *Lock) func(p *lang.Provider) (providers.Provider, error) {
	var once sync.Once
	var lockErr error
	var mu sync.Mutex
	verified := map[string]bool{} // a binary several provider blocks use is hashed once
	return func(pb *lang.Provider) (providers.Provider, error) {
		r, err := Resolve(workDir, pb.Source)
		if err != nil {
			return nil, err
		}
		if r.Builtin != "" {
			reg, _ := providers.Lookup(r.Builtin)
			return reg.New(), nil
		}
		once.Do(func() {
			if lock == nil {
				lock, lockErr = ReadLock(workDir)
			}
		})
		if lockErr != nil {
			return nil, lockErr
		}
		mu.Lock()
		if !verified[r.Source] {
			if err := lock.Verify(r); err != nil {
				mu.Unlock()
				return nil, err
			}
			verified[r.Source] = true
		}
		mu.Unlock()
		p, _, err := plugin.Start(context.Background(), r.Path, plugin.Options{})
		return p, err
	}
}

// Initialised is one provider source after musubi init.
type Initialised struct {
	Locked
	// Blocks are the provider blocks using the source ("loyalty.app").
	Blocks []string
}

// Init resolves every provider source of a configuration, starts each plugin once to ask
// who it is, and returns the lock that pins them. A plugin whose binary no longer matches
// the existing lock file is refused unless upgrade is set. musubiVersion is recorded for
// built-ins. Nothing is written: the caller writes the lock.
func Init(ctx context.Context, cfg *lang.Config, workDir, musubiVersion string, upgrade bool) (*Lock, []Initialised, error) {
	prior, err := ReadLock(workDir)
	if err != nil {
		if !upgrade {
			return nil, nil, err
		}
		prior = &Lock{Providers: map[string]Locked{}}
	}
	blocks := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		src := cfg.Providers[name].Source
		blocks[src] = append(blocks[src], name)
	}
	lock := &Lock{Providers: map[string]Locked{}, Found: true}
	var out []Initialised
	var errs []error
	for _, src := range slices.Sorted(maps.Keys(blocks)) {
		e, err := initSource(ctx, workDir, src, musubiVersion, prior, upgrade)
		if err != nil {
			errs = append(errs, fmt.Errorf("provider.%s: %w", blocks[src][0], err))
			continue
		}
		lock.Providers[src] = e
		out = append(out, Initialised{Locked: e, Blocks: blocks[src]})
	}
	if len(errs) > 0 {
		return nil, out, errors.Join(errs...)
	}
	return lock, out, nil
}

func initSource(ctx context.Context, workDir, src, musubiVersion string, prior *Lock, upgrade bool) (Locked, error) {
	r, err := Resolve(workDir, src)
	if err != nil {
		return Locked{}, err
	}
	if r.Builtin != "" {
		return Locked{Source: src, Builtin: true, Version: musubiVersion}, nil
	}
	sum, err := Checksum(r.Path)
	if err != nil {
		return Locked{}, err
	}
	if old, ok := prior.Providers[src]; ok && !upgrade && !old.Builtin && old.SHA256 != sum {
		return Locked{}, fmt.Errorf("the plugin binary %s differs from the one %s pins (SHA-256 %s, pinned %s); "+
			"if you replaced it on purpose, run musubi init -upgrade", src, LockFile, short(sum), short(old.SHA256))
	}
	p, info, err := plugin.Start(ctx, r.Path, plugin.Options{})
	if err != nil {
		return Locked{}, err
	}
	if err := p.Close(); err != nil {
		return Locked{}, err
	}
	if info.Name == "" || info.Version == "" {
		return Locked{}, fmt.Errorf("the plugin %s does not say its name and version (sdk.Options.Name and Version)", src)
	}
	return Locked{Source: src, Name: info.Name, Version: info.Version, Protocol: info.Protocol, SHA256: sum}, nil
}

// Sources lists a lock's sources, sorted.
func (l *Lock) Sources() []string { return slices.Sorted(maps.Keys(l.Providers)) }

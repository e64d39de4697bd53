package provider

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	eng "github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/lang"
	"github.com/musubi-hq/musubi/providers"
	"github.com/zclconf/go-cty/cty"
)

// Settings are what an engine provider block says: a local store file, or a remote
// musubi serve and its admin token.
type Settings struct {
	// Path is the local store file, resolved against the configuration directory when
	// URL is not set.
	Path string
	// URL and Token reach a remote musubi serve.
	URL, Token string
}

// ReadSettings is the one reader of an engine provider block: get returns an attribute's
// string value, "" when unset. workDir resolves a relative path; "" leaves it relative.
func ReadSettings(get func(attr string) string, workDir string) Settings {
	s := Settings{Path: get("path"), URL: get("url"), Token: get("token")}
	if s.URL != "" {
		return s
	}
	if s.Path == "" {
		s.Path = filepath.FromSlash(eng.DefaultStorePath)
	}
	if !filepath.IsAbs(s.Path) && !eng.IsPostgres(s.Path) && workDir != "" {
		s.Path = filepath.Join(workDir, s.Path)
	}
	return s
}

// conflict says whether the block names both a local store and a remote server.
func (s Settings) conflict() *providers.Diagnostic {
	if s.URL == "" || s.Path == "" {
		return nil
	}
	d := providers.AttributeError("url", "Conflicting engine location",
		"set either path (a local engine store) or url (a remote musubi serve), not both")
	return &d
}

// check is what Configure refuses: a conflict, or a remote engine without its token.
func (s Settings) check() *providers.Diagnostic {
	if d := s.conflict(); d != nil {
		return d
	}
	if s.URL != "" && s.Token == "" {
		d := providers.AttributeError("token", "Missing admin token",
			"a remote engine needs token = env(\"MUSUBI_ADMIN_TOKEN\") to accept bundles")
		return &d
	}
	return nil
}

// Location is where a configuration's rules engine keeps its store, as the commands that
// run or reach the engine (serve, customer, outbox) find it.
type Location struct {
	// Path is the local store file.
	Path string
	// Explicit says Path came from a --store flag.
	Explicit bool
	// Local is the local engine provider naming the store, if one does.
	Local string
	// Remote are the engine providers that push to a remote musubi serve.
	Remote []Remote
	// Others are the configuration's providers other than engines.
	Others map[string]bool
	// NoProvider says the configuration has no engine provider.
	NoProvider bool
}

// Remote is an engine provider pushing to a remote musubi serve.
type Remote struct {
	Name, URL, Token string
}

// Locate finds the store of the configuration's local engine provider (or storeFlag, when
// set) and the remote engines it pushes to. With several local engine providers, storeFlag
// must choose. Paths stay relative to the configuration directory.
func Locate(cfg *lang.Config, storeFlag string) (*Location, error) {
	loc := &Location{Path: storeFlag, Explicit: storeFlag != "", Others: map[string]bool{}, NoProvider: true}
	var locals []string
	paths := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		p := cfg.Providers[name]
		if p.Ref.Type != providers.EngineType {
			loc.Others[name] = true
			continue
		}
		loc.NoProvider = false
		set := ReadSettings(func(attr string) string { return ctyString(p.Config[attr]) }, "")
		// A missing token is no obstacle here: admin commands take MUSUBI_ADMIN_TOKEN.
		if d := set.conflict(); d != nil {
			return nil, fmt.Errorf("provider.%s: %s: %s", name, d.Summary, d.Detail)
		}
		if set.URL != "" {
			loc.Remote = append(loc.Remote, Remote{Name: name, URL: set.URL, Token: set.Token})
			continue
		}
		locals = append(locals, name)
		paths[name] = set.Path
	}
	switch {
	case loc.Explicit:
	case len(locals) == 1:
		loc.Local, loc.Path = locals[0], paths[locals[0]]
	case len(locals) > 1:
		var ds []string
		for _, n := range locals {
			ds = append(ds, n+" ("+paths[n]+")")
		}
		return nil, fmt.Errorf("the configuration has several local engine providers: %s; choose the store with --store", strings.Join(ds, ", "))
	default:
		loc.Path = filepath.FromSlash(eng.DefaultStorePath)
	}
	return loc, nil
}

func ctyString(v cty.Value) string {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

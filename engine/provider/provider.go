// Package provider is the built-in `engine` provider: it pushes the programme's rule bundle
// (identity rules, traits, segments, triggers) to Musubi's rules engine, as the `rules` kind.
//
// With `path` (the default, .musubi/engine.db next to the configuration) the bundle is
// written into the engine's store file, where a `musubi serve` on the same file picks it up
// within a second; with `url` it goes to a remote `musubi serve` over its admin API, with
// `token` (from env()) as the bearer token. Read reports the active bundle's hash, so a
// bundle changed or removed on the server shows as drift in `musubi plan`.
package provider

import (
	"context"
	"net/http"
	"os"
	"sync"
	"time"

	eng "github.com/musubi-hq/musubi/engine"
	"github.com/musubi-hq/musubi/lang/rules"
	"github.com/musubi-hq/musubi/providers"
)

func init() {
	providers.Register(providers.Registration{
		Type:        providers.EngineType,
		Description: "Musubi's rules engine (musubi serve): the active rule bundle",
		New:         func() providers.Provider { return &Provider{} },
	})
}

// rulesID is the ID of an engine's one rule bundle resource.
const rulesID = "rules"

// Provider pushes rule bundles to one engine.
type Provider struct {
	name   string
	path   string
	client *eng.Client

	mu    sync.Mutex
	store eng.Store
}

// Schema describes the provider block and the rules kind.
func (p *Provider) Schema(context.Context) providers.SchemaResponse {
	return providers.SchemaResponse{
		Config: []providers.ConfigAttribute{
			{Name: "path", Type: providers.String, Description: "engine store file for a local engine, relative to the configuration (default " + eng.DefaultStorePath + "), or the PostgreSQL URL of a shared store (postgres://…)"},
			{Name: "url", Type: providers.String, Description: "base URL of a remote musubi serve, e.g. https://rules.example.jp"},
			{Name: "token", Type: providers.String, Sensitive: true, Description: "admin token of the remote musubi serve (MUSUBI_ADMIN_TOKEN there)"},
		},
		Kinds: map[providers.Kind]providers.KindSupport{
			providers.KindRules: {Attributes: []string{"bundle_hash", "summary", "bundle"},
				Description: "the engine's active rule bundle"},
		},
	}
}

// Configure picks the local store or the remote server.
func (p *Provider) Configure(_ context.Context, req providers.ConfigureRequest) providers.ConfigureResponse {
	p.name = req.Name
	get := func(attr string) string { s, _ := req.Config[attr].(string); return s }
	set := ReadSettings(get, req.WorkDir)
	if d := set.check(); d != nil {
		return providers.ConfigureResponse{Diagnostics: providers.Diagnostics{*d}}
	}
	if set.URL != "" {
		p.client = &eng.Client{URL: set.URL, Token: set.Token, HTTP: &http.Client{Timeout: 30 * time.Second}}
		return providers.ConfigureResponse{}
	}
	p.path = set.Path
	return providers.ConfigureResponse{}
}

// localStore opens the store file on first use, so `validate` and `plan -refresh=false` never
// create it.
func (p *Provider) localStore(ctx context.Context) (eng.Store, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store != nil {
		return p.store, nil
	}
	s, err := eng.OpenStore(ctx, p.path)
	if err != nil {
		return nil, err
	}
	p.store = s
	return s, nil
}

// Close closes the store file.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store == nil {
		return nil
	}
	err := p.store.Close()
	p.store = nil
	return err
}

// Validate compiles the bundle, so a rule the engine cannot run fails the plan.
func (p *Provider) Validate(_ context.Context, req providers.ValidateRequest) providers.ValidateResponse {
	if req.Kind != providers.KindRules {
		return providers.ValidateResponse{Diagnostics: providers.Errorf("Unsupported kind", "the engine provider manages only rules, not %s", req.Kind)}
	}
	if _, err := compile(req.Attributes.String("bundle")); err != nil {
		return providers.ValidateResponse{Diagnostics: providers.Diagnostics{providers.AttributeError("bundle", "The rule bundle does not compile", "%v", err)}}
	}
	return providers.ValidateResponse{}
}

func compile(data string) (*rules.Program, error) {
	b, err := rules.Decode([]byte(data))
	if err != nil {
		return nil, err
	}
	return rules.Compile(b)
}

// Plan keeps the desired attributes: the hash is worked out by the planner from the bundle.
func (p *Provider) Plan(_ context.Context, req providers.PlanRequest) providers.PlanResponse {
	return providers.PlanResponse{Planned: req.Proposed.Clone()}
}

// Create activates the bundle.
func (p *Provider) Create(ctx context.Context, req providers.CreateRequest) providers.CreateResponse {
	attrs, ds := p.push(ctx, req.Attributes.String("bundle"))
	return providers.CreateResponse{ID: rulesID, Attributes: attrs, Diagnostics: ds}
}

// Update activates the new bundle; the engine swaps it in atomically.
func (p *Provider) Update(ctx context.Context, req providers.UpdateRequest) providers.UpdateResponse {
	attrs, ds := p.push(ctx, req.Planned.String("bundle"))
	return providers.UpdateResponse{Attributes: attrs, Diagnostics: ds}
}

func (p *Provider) push(ctx context.Context, data string) (providers.Attrs, providers.Diagnostics) {
	prog, err := compile(data)
	if err != nil {
		return nil, providers.Diagnostics{providers.AttributeError("bundle", "The rule bundle does not compile", "%v", err)}
	}
	if p.client != nil {
		info, err := p.client.PushBundle(ctx, []byte(data))
		if err != nil {
			return nil, providers.FromError("pushing the rule bundle to "+p.client.URL, err)
		}
		return providers.Attrs{"bundle_hash": info.Hash, "summary": info.Summary}, nil
	}
	s, err := p.localStore(ctx)
	if err != nil {
		return nil, providers.FromError("opening the engine store", err)
	}
	if err := s.PutBundle(ctx, prog.Hash, []byte(data), "musubi apply"); err != nil {
		return nil, providers.FromError("writing the rule bundle", err)
	}
	return providers.Attrs{"bundle_hash": prog.Hash, "summary": prog.Bundle.Summary()}, nil
}

// Read reports the active bundle.
func (p *Provider) Read(ctx context.Context, req providers.ReadRequest) providers.ReadResponse {
	attrs, ds := p.active(ctx)
	if ds.HasErrors() {
		return providers.ReadResponse{Diagnostics: ds}
	}
	if attrs == nil {
		return providers.ReadResponse{}
	}
	return providers.ReadResponse{Found: true, ID: rulesID, Attributes: attrs}
}

func (p *Provider) active(ctx context.Context) (providers.Attrs, providers.Diagnostics) {
	if p.client != nil {
		info, err := p.client.Bundle(ctx)
		if err != nil {
			return nil, providers.FromError("reading the engine's rule bundle", err)
		}
		if info.Hash == "" {
			return nil, nil
		}
		return providers.Attrs{"bundle_hash": info.Hash, "summary": info.Summary}, nil
	}
	s, err := p.localStore(ctx)
	if err != nil {
		return nil, providers.FromError("opening the engine store", err)
	}
	hash, data, err := s.ActiveBundle(ctx)
	if err != nil {
		return nil, providers.FromError("reading the engine's rule bundle", err)
	}
	if data == nil {
		return nil, nil
	}
	summary := ""
	if b, err := rules.Decode(data); err == nil {
		summary = b.Summary()
	}
	return providers.Attrs{"bundle_hash": hash, "summary": summary}, nil
}

// Delete deactivates the rules: the engine keeps its customers and stops firing triggers.
func (p *Provider) Delete(ctx context.Context, _ providers.DeleteRequest) providers.DeleteResponse {
	if p.client != nil {
		if err := p.client.RemoveBundle(ctx); err != nil {
			return providers.DeleteResponse{Diagnostics: providers.FromError("removing the rule bundle", err)}
		}
		return providers.DeleteResponse{}
	}
	s, err := p.localStore(ctx)
	if err != nil {
		return providers.DeleteResponse{Diagnostics: providers.FromError("opening the engine store", err)}
	}
	if err := s.PutBundle(ctx, "", nil, ""); err != nil {
		return providers.DeleteResponse{Diagnostics: providers.FromError("removing the rule bundle", err)}
	}
	return providers.DeleteResponse{}
}

// Import adopts the active bundle.
func (p *Provider) Import(ctx context.Context, req providers.ImportRequest) providers.ImportResponse {
	attrs, ds := p.active(ctx)
	if !ds.HasErrors() && attrs == nil {
		ds = providers.FromError("Nothing to import", &providers.APIError{Code: providers.ErrNotFound, Message: "the engine has no active rule bundle"})
	}
	return providers.ImportResponse{Attributes: attrs, Diagnostics: ds}
}

// Estimate tells what a rule bundle would make of the engine's customers: those of the local
// store, read without a server (or beside the one running on it), or those of the remote
// server, asked through its admin API. A local store that does not exist yet is an engine
// with no data; it is not created.
func (p *Provider) Estimate(ctx context.Context, req providers.EstimateRequest) providers.EstimateResponse {
	if p.client != nil {
		resp, err := p.client.Estimate(ctx, req)
		if err != nil {
			return providers.EstimateResponse{Diagnostics: providers.FromError("estimating on "+p.client.URL, err)}
		}
		return *resp
	}
	var store eng.Store
	if _, err := os.Stat(p.path); err == nil || eng.IsPostgres(p.path) {
		s, err := p.localStore(ctx)
		if err != nil {
			return providers.EstimateResponse{Diagnostics: providers.FromError("opening the engine store", err)}
		}
		store = s
	}
	resp, err := eng.Estimate(ctx, store, req)
	if err != nil {
		return providers.EstimateResponse{Diagnostics: providers.FromError("estimating on the engine store", err)}
	}
	return *resp
}

var _ providers.Estimator = (*Provider)(nil)

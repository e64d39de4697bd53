// Package providers defines the contract between Musubi's planner and the systems it manages:
// the Provider interface, the canonical resource kinds and their attributes, the errors a
// provider reports, and the registry of built-in providers. A provider package imports only
// this package and its own API client.
package providers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Provider is implemented by every provider, built in or plugged in. Each method takes a
// request struct and returns a response struct carrying diagnostics, so fields can be added
// without breaking providers, and the gRPC protocol mirrors it one to one.
//
// The planner calls Schema and Configure once, then Validate and Plan while planning, Read
// while refreshing, and Create, Update and Delete while applying. Methods may be called
// concurrently after Configure returns.
type Provider interface {
	// Schema describes the provider's configuration and the kinds and attributes it manages.
	Schema(ctx context.Context) SchemaResponse
	// Configure receives the provider block's attributes.
	Configure(ctx context.Context, req ConfigureRequest) ConfigureResponse
	// Validate checks a desired resource without calling the remote system: an attribute the
	// system cannot express is an error here, at plan time.
	Validate(ctx context.Context, req ValidateRequest) ValidateResponse
	// Plan turns desired attributes into the attributes the system will hold (normalising,
	// filling defaults) and says which changes force a replacement.
	Plan(ctx context.Context, req PlanRequest) PlanResponse
	// Create makes a resource. The idempotency key is the same on every retry of one planned
	// create, so a retry after a timeout must not make a second object.
	Create(ctx context.Context, req CreateRequest) CreateResponse
	// Read returns the live attributes of a resource, found by ID or, when the ID is empty, by
	// the idempotency key of the create that made it. A missing resource is Found=false, not
	// an error.
	Read(ctx context.Context, req ReadRequest) ReadResponse
	// Update changes a resource in place.
	Update(ctx context.Context, req UpdateRequest) UpdateResponse
	// Delete removes a resource. Deleting a resource that is already gone succeeds.
	Delete(ctx context.Context, req DeleteRequest) DeleteResponse
	// Import reads an existing remote object so it can be brought under management.
	Import(ctx context.Context, req ImportRequest) ImportResponse
	// Close releases connections and files.
	Close() error
}

// BatchReader is implemented by providers whose system reads many objects in one call
// (Shopify's nodes query, Square's batch retrieve). Refresh then reads in batches of up to
// MaxReadBatch, instead of one call per resource. Responses match requests by position.
type BatchReader interface {
	ReadBatch(ctx context.Context, reqs []ReadRequest) []ReadResponse
}

// MaxReadBatch is the largest batch the planner passes to ReadBatch.
const MaxReadBatch = 250

// SchemaResponse describes a provider.
type SchemaResponse struct {
	// Config lists the attributes of the provider block.
	Config []ConfigAttribute
	// Kinds lists what the provider manages and how.
	Kinds       map[Kind]KindSupport
	Diagnostics Diagnostics
}

// ConfigAttribute is one attribute of a provider block.
type ConfigAttribute struct {
	Name        string
	Type        Type
	Required    bool
	Sensitive   bool // a credential: must come from env() and is never stored or shown
	Description string
}

// KindSupport says which canonical attributes of a kind a provider manages. Setting any other
// attribute to a non-zero value is a plan-time error naming the block and the provider.
type KindSupport struct {
	Attributes []string
	// ForceNew lists attributes the remote system cannot change in place: changing one
	// replaces the resource.
	ForceNew []string
	// Description says how the kind lands in the system ("a Shopify code discount").
	Description string
	// Codeless marks a coupon kind whose system takes no codes and instead applies the offer
	// by itself to the campaign's audience, as a Square register applies a pricing rule to a
	// customer group. Such a coupon is sent without its code and gets no code pool; it is
	// limited to the audience on the same provider. A campaign without an audience keeps its
	// codes, which the provider then refuses at plan time.
	Codeless bool
	// Topics lists, for a subscription, the event types the system's webhooks deliver. An
	// identity source without `events` subscribes to those of them the programme reads; nil
	// when the provider does not say, and the source then asks for what the rules use.
	Topics []string
}

// Unheld lists the attributes a sets that the kind does not hold, sorted: what Validate
// refuses before the provider's own checks.
func (ks KindSupport) Unheld(a Attrs) []string {
	var out []string
	for name, v := range a {
		if !slices.Contains(ks.Attributes, name) && !IsZero(v) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ConfigureRequest carries the provider block.
type ConfigureRequest struct {
	// Name is the provider's configured name ("shopify.jp").
	Name string
	// Config holds attribute values as JSON-like Go values.
	Config map[string]any
	// Sensitive names the attributes whose values are secrets.
	Sensitive map[string]bool
	// WorkDir is the configuration directory; relative paths in Config are relative to it.
	WorkDir string
}

// Show is how a diagnostic shows the value of configuration attribute name: quoted, unless it
// came from env(), whose values no diagnostic repeats.
func (r ConfigureRequest) Show(name, value string) string {
	if r.Sensitive[name] {
		return "the value from the environment"
	}
	return strconv.Quote(value)
}

// String reads a string attribute of the block, "" when it is unset. A value of another type
// reads as "" and adds an error under summary to ds.
func (r ConfigureRequest) String(name, summary string, ds *Diagnostics) string {
	v, ok := r.Config[name]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		*ds = append(*ds, AttributeError(name, summary, "%s must be a string, not %T", name, v))
	}
	return s
}

// ConfigureResponse reports configuration problems.
type ConfigureResponse struct {
	Diagnostics Diagnostics
}

// ValidateRequest asks whether a desired resource can be expressed.
type ValidateRequest struct {
	Kind       Kind
	Attributes Attrs
}

// ValidateResponse lists what cannot be expressed, with Attribute set on each diagnostic.
type ValidateResponse struct {
	Diagnostics Diagnostics
}

// PlanRequest carries the prior (state) and desired attributes of one resource. Prior is nil
// for a create.
type PlanRequest struct {
	Kind     Kind
	ID       string
	Prior    Attrs
	Proposed Attrs
}

// PlanResponse returns the attributes the resource will have and what forces a replacement
// (beyond KindSupport.ForceNew).
type PlanResponse struct {
	Planned         Attrs
	RequiresReplace []string
	Diagnostics     Diagnostics
}

// CreateRequest creates a resource.
type CreateRequest struct {
	Kind       Kind
	Attributes Attrs
	// IdempotencyKey is stable across retries of this create; send it where the API takes
	// one, or store it on the object so Read can find the object by it.
	IdempotencyKey string
	// Refs maps ref-typed attributes to the IDs of the resources they name.
	Refs map[string]string
}

// CreateResponse returns the new resource's ID and attributes as the system holds them.
type CreateResponse struct {
	ID          string
	Attributes  Attrs
	Diagnostics Diagnostics
}

// ReadRequest reads one resource.
type ReadRequest struct {
	Kind           Kind
	ID             string
	IdempotencyKey string
	Prior          Attrs
	Refs           map[string]string
}

// ReadResponse returns live attributes; Found is false when the resource is gone.
type ReadResponse struct {
	Found       bool
	ID          string
	Attributes  Attrs
	Diagnostics Diagnostics
}

// UpdateRequest changes a resource in place.
type UpdateRequest struct {
	Kind    Kind
	ID      string
	Prior   Attrs
	Planned Attrs
	Refs    map[string]string
}

// UpdateResponse returns the attributes after the update.
type UpdateResponse struct {
	Attributes  Attrs
	Diagnostics Diagnostics
}

// DeleteRequest removes a resource.
type DeleteRequest struct {
	Kind  Kind
	ID    string
	Prior Attrs
}

// DeleteResponse reports a failed delete.
type DeleteResponse struct {
	Diagnostics Diagnostics
}

// ImportRequest reads an existing object by its ID in the remote system.
type ImportRequest struct {
	Kind Kind
	ID   string
}

// ImportResponse returns the object's attributes.
type ImportResponse struct {
	Attributes  Attrs
	Diagnostics Diagnostics
}

// ImportByRead imports an object by reading it by ID, as a provider whose Read finds any
// object of the system does: the read's errors pass on, and nothing found is a not_found
// error naming the provider (name), the kind and the ID.
func ImportByRead(ctx context.Context, p Provider, name string, req ImportRequest) ImportResponse {
	r := p.Read(ctx, ReadRequest{Kind: req.Kind, ID: req.ID})
	if r.Diagnostics.HasErrors() {
		return ImportResponse{Diagnostics: r.Diagnostics}
	}
	if !r.Found {
		return ImportResponse{Diagnostics: FromError("import failed", &APIError{Code: ErrNotFound,
			Message: fmt.Sprintf("%s has no %s with ID %s", name, req.Kind, req.ID)})}
	}
	return ImportResponse{Attributes: r.Attributes}
}

package providers

import "context"

// Estimator is implemented by a provider that holds customer profiles (the rules engine): it
// tells what a rule bundle would make of the customers it knows before the bundle is pushed,
// so a plan can show it. It reads; it never changes anything.
type Estimator interface {
	Estimate(ctx context.Context, req EstimateRequest) EstimateResponse
}

// MaxPreviewSamples is the most sample customers a message preview shows.
const MaxPreviewSamples = 3

// EstimateRequest asks what a rule bundle would make of the customers.
type EstimateRequest struct {
	// Bundle is the rule bundle, JSON, as the rules kind's bundle attribute holds it.
	Bundle string `json:"bundle"`
	// Channels says how each messaging provider the bundle sends through ("TYPE.NAME")
	// reaches customers: the identifier type it addresses and the consent it needs. A
	// campaign's reach counts only channels named here.
	Channels map[string]ChannelSupport `json:"channels,omitempty"`
	// Samples is how many of the engine's customers each message preview is rendered for (at
	// most MaxPreviewSamples); 0 takes none of them.
	Samples int `json:"samples,omitempty"`
	// Customers, when set, are the customers previews are rendered for instead of the
	// engine's: the programme's test customers, made up, so no real person's data reaches a
	// plan (a pull-request comment) unless asked for.
	Customers []SampleCustomer `json:"customers,omitempty"`
}

// SampleCustomer is a made-up customer a message preview is rendered for.
type SampleCustomer struct {
	Name       string          `json:"name"`
	Consent    map[string]bool `json:"consent,omitempty"`
	Attributes map[string]any  `json:"attributes,omitempty"`
}

// ChannelSupport is what of a provider's MessagingSupport reach needs.
type ChannelSupport struct {
	Address string `json:"address"`
	Consent string `json:"consent,omitempty"`
}

// EstimateResponse is what the bundle would make of the customers.
type EstimateResponse struct {
	// Customers is how many customer profiles the counts are over; NoData says the engine
	// has none to read (no store yet, or no customer in it): the counts are all 0.
	Customers int  `json:"customers"`
	NoData    bool `json:"no_data,omitempty"`
	// Segments are the bundle's segments, in its order.
	Segments []SegmentEstimate `json:"segments,omitempty"`
	// Campaigns are the bundle's campaigns with an audience.
	Campaigns []CampaignEstimate `json:"campaigns,omitempty"`
	// Previews are the bundle's messages that are new or changed against the engine's
	// active rules, rendered for sample customers.
	Previews    []MessagePreview `json:"previews,omitempty"`
	Diagnostics Diagnostics      `json:"diagnostics,omitempty"`
}

// Estimate statuses: how a segment or message compares with the engine's active rules.
const (
	EstimateNew       = "new"
	EstimateChanged   = "changed"
	EstimateUnchanged = "unchanged"
)

// SegmentEstimate is a segment's members now and under the bundle.
type SegmentEstimate struct {
	Name string `json:"name"`
	// Status is new, changed (its condition, or a trait or segment it reads, is not what the
	// active rules have) or unchanged.
	Status string `json:"status"`
	// Now is the members the engine holds now (0 for a new segment); New the customers the
	// bundle's condition selects.
	Now int `json:"now"`
	New int `json:"new"`
}

// CampaignEstimate is a campaign's audience under the bundle and how many of it its messages
// reach.
type CampaignEstimate struct {
	Name     string `json:"name"`
	Audience string `json:"audience"`
	Members  int    `json:"members"`
	// Reach is the members reachable on at least one of the campaign's message channels: with
	// an identifier of the channel's address type and the channel's consent. ByChannel counts
	// each channel ("TYPE.NAME").
	Reach     int            `json:"reach"`
	ByChannel map[string]int `json:"by_channel,omitempty"`
}

// MessagePreview is a message of the bundle rendered for sample customers.
type MessagePreview struct {
	// Owner is "campaign.NAME" or "trigger.NAME"; Via the provider; Index tells apart the
	// owner's messages through the same provider, in the order written.
	Owner  string `json:"owner"`
	Via    string `json:"via"`
	Index  int    `json:"index,omitempty"`
	Status string `json:"status"`
	// Code is the sample code shown where the message carries the customer's code.
	Code    string          `json:"code,omitempty"`
	Samples []PreviewSample `json:"samples"`
}

// PreviewSample is a message as one customer would read it, in every variant.
type PreviewSample struct {
	// Customer is the sample customer's Uni-ID; empty for the synthetic customer used when
	// the engine has no customers.
	Customer string `json:"customer,omitempty"`
	// Gets is the variant the customer would get ("" for the message's own text).
	Gets     string            `json:"gets"`
	Variants []RenderedVariant `json:"variants"`
}

// RenderedVariant is one variant ("" for the message's own text) rendered.
type RenderedVariant struct {
	Name    string `json:"name"`
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	// Error says why it could not be rendered (a field the customer lacks, a rule error).
	Error string `json:"error,omitempty"`
}

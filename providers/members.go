package providers

import "context"

// MemberSyncer is a provider whose system holds a segment's members in the audience object it
// manages for the segment: a Shopify customer tag, a Square customer group, a LINE audience, a
// WeChat user tag, an ad platform's custom audience. `musubi serve` calls it as customers enter
// and leave the segment, so the retailer's systems act on the programme's segments.
type MemberSyncer interface {
	// MemberRules says what the system knows members by, and how calls must be batched.
	MemberRules() MemberRules
	// SyncMembers adds and removes members of the audience the provider made for the segment
	// (it finds the object by the segment, as it does on Read). A member the system cannot
	// match is reported unmatched, not as an error; adding a member twice or removing an
	// absent one is no error, so a batch repeated after a crash applies nothing twice.
	SyncMembers(ctx context.Context, req SyncMembersRequest) SyncMembersResponse
}

// MemberRules are a system's rules for membership calls.
type MemberRules struct {
	// Fields are the fields of the system's own records that name its customers, as its
	// webhooks deliver them (Shopify "customer_id", LINE "userId"): a member is matched by the
	// identifiers the programme's identity_source on this provider maps from those fields.
	Fields []string
	// Types are identifier types the system matches by themselves, whoever gave them
	// ("email", "phone": an ad platform matches hashed addresses).
	Types []string
	// Batch is the most members one call carries, adds and removes together.
	Batch int
	// PerSecond is the calls a second the system allows; 0 when it sets no rate.
	PerSecond float64
	// Consent, when set, is the consent a customer must have given for the system to hear of
	// them (an ad platform: "ads"); a customer without it is removed, never added.
	Consent string
	// AddOnly says the system cannot take members out of an audience (LINE): the engine then
	// sends no removals, and rebuilds the audience (MemberRebuilder) when removals wait.
	AddOnly bool
}

// MemberRebuilder is a MemberSyncer whose audiences are rebuilt whole: a fresh audience object
// with exactly members takes the old one's place, and the old one is deleted.
type MemberRebuilder interface {
	RebuildMembers(ctx context.Context, req RebuildMembersRequest) SyncMembersResponse
}

// RebuildMembersRequest is a segment's whole membership, for a rebuild.
type RebuildMembersRequest struct {
	Segment        string
	Members        []Member
	IdempotencyKey string
}

// SyncMembersRequest is one batch of membership changes to one segment's audience.
type SyncMembersRequest struct {
	Segment string
	// Add and Remove are the customers entering and leaving the audience.
	Add, Remove []Member
	// IdempotencyKey names the batch: the same key again is the same batch, repeated.
	IdempotencyKey string
}

// Member is a customer as the system may know them.
type Member struct {
	// Customer is the customer's Uni-ID; it never leaves Musubi.
	Customer string
	// Values are the customer's identifiers by the field or type of MemberRules that names
	// them ("customer_id", "email"), normalised as the engine keeps them.
	Values map[string][]string
}

// SyncMembersResponse says what became of a batch.
type SyncMembersResponse struct {
	// Unmatched lists the customers (Uni-IDs) the system could not match.
	Unmatched []string
	// Diagnostics report a batch that failed, classified as every provider error is: a
	// rate_limited or unavailable batch is repeated later, others are reported.
	Diagnostics Diagnostics
}

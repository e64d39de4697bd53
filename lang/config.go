package lang

import (
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Config is a loaded and checked Musubi configuration: every block of a directory decoded into
// typed values, every CEL expression compiled against its declared types, every reference
// resolved. Later stages (planner, engine, musubi test) read it and never see source strings.
type Config struct {
	// Dir is the directory the files were read from, relative to the fs.FS given to Load.
	Dir string
	// Files holds every parsed file by its name, for rendering diagnostics with source snippets.
	Files map[string]*hcl.File

	Settings        Settings
	Providers       map[string]*Provider // by "TYPE.NAME"
	Variables       map[string]*Variable
	Locals          map[string]*Local
	Outputs         map[string]*Output
	IdentitySources map[string]*IdentitySource
	Identity        *Identity // nil when no identity block is declared
	Traits          map[string]*Trait
	Segments        map[string]*Segment
	AudienceExports map[string]*AudienceExport
	Campaigns       map[string]*Campaign
	Triggers        map[string]*Trigger
	Policies        map[string]*Policy

	// Graph holds the references between blocks; it is acyclic once Load succeeds.
	Graph *Graph
	// Schema holds the CEL environments and types built for this configuration.
	Schema *Schema
	// UnsetEnv lists, sorted, the environment variables env() read that were not set, when
	// loaded with LoadOptions.DeferEnv. What depends on them is checked by plan, which needs
	// them set.
	UnsetEnv []string

	hclCtx *hcl.EvalContext // variables, locals and functions, for EvalHCL
}

// EvalHCL evaluates an HCL expression (var.x, local.y, function calls) as the configuration
// would, for `musubi console`.
func (c *Config) EvalHCL(src string) (cty.Value, hcl.Diagnostics) {
	if diags := checkHCL([]byte(src), "<console>", hclExpression); diags != nil {
		return cty.NilVal, diags
	}
	expr, diags := hclsyntax.ParseExpression([]byte(src), "<console>", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return expr.Value(c.hclCtx)
}

// Settings is the `musubi` block.
type Settings struct {
	Currency     string // ISO 4217 default for coupon amounts; JPY unless set
	Timezone     string // IANA zone for validity windows and quiet hours; Asia/Tokyo unless set
	CELCostLimit uint64 // runtime cost limit of every CEL program
	Backend      *Backend
	Delivery     Delivery
	Range        hcl.Range
}

// Backend is the `backend "TYPE"` block: where state lives.
type Backend struct {
	Type   string
	Config map[string]cty.Value
	Range  hcl.Range
}

// Delivery holds the sending rules the engine applies before every message.
type Delivery struct {
	QuietHours    *QuietHours
	FrequencyCaps []FrequencyCap
	SendRates     []SendRate
}

// SendRate paces the messages sent through one provider, below its system's rate limit.
type SendRate struct {
	Provider  string // "TYPE.NAME"
	PerSecond float64
	Range     hcl.Range
}

// QuietHours is a daily window in which messages are held, not dropped.
type QuietHours struct {
	From, Until string // "HH:MM"
	Timezone    string
	Range       hcl.Range
}

// FrequencyCap limits how many messages a customer receives on a channel in a period.
type FrequencyCap struct {
	Channel string // provider type such as "line", or "*" for all
	Max     int
	Per     time.Duration
	Range   hcl.Range
}

// ProviderRef names a configured provider: `provider.TYPE.NAME` in the language.
type ProviderRef struct {
	Type, Name string
}

// String returns "TYPE.NAME".
func (r ProviderRef) String() string { return r.Type + "." + r.Name }

// Provider is a `provider "TYPE" "NAME"` block.
type Provider struct {
	Ref    ProviderRef
	Source string // "builtin/TYPE" or a plugin source
	// Config holds the evaluated attributes other than source. Values derived from env() or
	// from sensitive variables are in Sensitive and must never be written anywhere.
	Config     map[string]cty.Value
	Sensitive  map[string]bool
	AttrRanges map[string]hcl.Range
	Range      hcl.Range
}

// Variable is a `variable` block with its resolved value.
type Variable struct {
	Name        string
	Description string
	Type        cty.Type
	Default     cty.Value // cty.NilVal when required
	Sensitive   bool
	Validations []VariableValidation
	Value       cty.Value
	Range       hcl.Range
}

// VariableValidation is a `validation` block inside a variable.
type VariableValidation struct {
	Condition    hcl.Expression
	ErrorMessage string
}

// Local is one attribute of a `locals` block.
type Local struct {
	Name  string
	Expr  hcl.Expression
	Value cty.Value
	Range hcl.Range
}

// Output is an `output` block.
type Output struct {
	Name        string
	Description string
	Sensitive   bool
	Value       cty.Value
	Range       hcl.Range
}

// IdentitySource is an `identity_source` block: a system contributing customer identifiers.
type IdentitySource struct {
	Name     string
	Provider ProviderRef
	// Identifiers maps an identifier type (email, phone, member, line_user…) to the field of the
	// source's records or events that carries it.
	Identifiers map[string]string
	// Events lists the event types the source sends; when empty, every type any trigger or
	// trait listens to.
	Events []string
	Range  hcl.Range
}

// Identity is the `identity` block: how identifiers tie into one unified customer ID.
type Identity struct {
	// Priority orders identifier types, strongest first; when a merge would break a limit, the
	// weakest identifiers of the incoming event are dropped first.
	Priority       []string
	Limits         map[string]IdentityLimit
	Blocked        map[string]*BlockedValues
	DefaultCountry string // for normalising national phone numbers to E.164
	Range          hcl.Range
}

// IdentityLimit caps how many values of one identifier type a profile may hold (merge protection).
type IdentityLimit struct {
	Type   string
	Max    int
	Window time.Duration // 0: ever
	Range  hcl.Range
}

// BlockedValues lists identifier values never used for matching (shared devices, test accounts).
type BlockedValues struct {
	Type     string
	Values   []string
	Patterns []*regexp.Regexp
	Range    hcl.Range
}

// Aggregate is how a trait combines the events it counts.
type Aggregate string

// The aggregates a trait may use.
const (
	AggCount    Aggregate = "count"
	AggSum      Aggregate = "sum"
	AggMin      Aggregate = "min"
	AggMax      Aggregate = "max"
	AggLast     Aggregate = "last"
	AggDistinct Aggregate = "distinct"
)

// Trait is a `trait` block: a per-customer aggregate the engine maintains as events arrive.
type Trait struct {
	Name      string
	On        string
	Where     *Expr // nil: every event of type On
	Window    time.Duration
	Aggregate Aggregate
	Value     *Expr // the aggregated expression; nil for count
	Range     hcl.Range
}

// Segment is a `segment` block.
type Segment struct {
	Name        string
	Description string
	Condition   *Expr
	Range       hcl.Range
}

// AudienceExport is an `audience_export` block: a segment kept as an audience on systems
// that take one without a campaign messaging it, such as an ad account's custom audience.
type AudienceExport struct {
	Name    string
	Segment string        // segment name
	To      []ProviderRef // the providers the audience lives on
	Range   hcl.Range
	// ToRange is where `to` is written, for a provider that cannot hold an audience.
	ToRange hcl.Range
}

// Campaign is a `campaign` block.
type Campaign struct {
	Name        string
	Description string
	Coupon      *Coupon // nil for a message-only campaign
	Audience    string  // segment name, or ""
	Channels    []ProviderRef
	Messages    []*Message
	// Referral: each customer's code is for their friends to use, and its use by another
	// customer is a referral (see docs/language.md).
	Referral bool
	Range    hcl.Range
	// AttrRanges points at attributes for plan-time errors ("channels", "coupon.percent"…).
	AttrRanges Ranges
}

// Coupon is a campaign's offer, normalised: money in minor units, times with zones.
type Coupon struct {
	Title        string
	Percent      float64 // 0 when Amount is set
	Amount       int64   // minor units; 0 when Percent is set
	Currency     string
	MinTotal     int64 // minor units
	Code         string
	Codes        *CodePool
	PerCustomer  int
	TotalLimit   int
	ValidFrom    time.Time
	ValidUntil   time.Time
	Timezone     string
	CombinesWith []string
	// AudienceOnly restricts redemption to the campaign's audience, where a channel can.
	AudienceOnly bool
	// Stores are the IDs of the stores (locations) the coupon may be redeemed at, sorted;
	// nil for every store.
	Stores []string
	// ValidFor is how long each customer's code is good for from when it is given them;
	// 0 when codes last the campaign.
	ValidFor time.Duration
	Range    hcl.Range
}

// CodePool is a coupon's set of unique codes.
type CodePool struct {
	Pattern string // '#' stands for one character of Charset
	Charset string
	Count   int
}

// Message is a `message` block of a campaign or a send action of a trigger.
type Message struct {
	Via      ProviderRef
	Subject  *Template // email subject; nil elsewhere
	Template *Template
	Variants []*MessageVariant
	// SendAt is when a campaign's message goes out, in the message's timezone (default
	// musubi.timezone); zero for at once, and for a trigger's messages, which go out when it
	// fires.
	SendAt time.Time
	Range  hcl.Range
}

// MessageVariant replaces a message's text for the customers its condition selects (tone,
// locale); the first matching variant wins.
type MessageVariant struct {
	Name     string
	When     *Expr
	Subject  *Template
	Template *Template
	Range    hcl.Range
}

// ActionType names what a trigger does.
type ActionType string

// The actions a trigger may take.
const (
	ActionSend        ActionType = "send"
	ActionIssueCoupon ActionType = "issue_coupon"
	ActionEmit        ActionType = "emit"
	// ActionAnswer renders a text for the caller that posted the event (a till's receipt, a
	// kiosk's screen): it is returned, not sent.
	ActionAnswer ActionType = "answer"
)

// Trigger is a `trigger` block.
type Trigger struct {
	Name      string
	On        string
	Condition *Expr // nil: always
	Cooldown  time.Duration
	// When its actions run: at once, or later (see Timing). Wait, when set, holds the
	// actions for Wait.For unless a later event cancels them.
	Timing
	Wait *Wait
	// Recheck: a later action runs only if the condition still holds then, for the
	// customer as they are then (default true).
	Recheck bool
	Actions []*Action
	Range   hcl.Range
}

// Timing is when an action runs: Delay after the event, then at the next At ("HH:MM" in the
// programme's time zone) if set. Zero: at once.
type Timing struct {
	Delay time.Duration
	At    string
}

// Timed reports whether the timing holds an action back.
func (t Timing) Timed() bool { return t.Delay > 0 || t.At != "" }

// Wait holds a trigger's actions for For; an Unless event for the same customer cancels them.
type Wait struct {
	For    time.Duration
	Unless []*Unless
	Range  hcl.Range
}

// Unless is an event that cancels a waiting trigger's actions: its type, and a condition over
// it (event) and the event that fired the trigger (trigger.event).
type Unless struct {
	On        string
	Condition *Expr // nil: any such event cancels
	Range     hcl.Range
}

// Timed reports whether a trigger's actions (any of them) run later.
func (t *Trigger) Timed() bool {
	if t.Wait != nil || t.Timing.Timed() {
		return true
	}
	for _, a := range t.Actions {
		if a.Timing.Timed() {
			return true
		}
	}
	return false
}

// Action is an `action` block of a trigger.
type Action struct {
	Type     ActionType
	Message  *Message // send; issue_coupon when it delivers the code
	Campaign string   // issue_coupon
	Event    string   // emit
	Data     map[string]*Expr
	// To is whom the action is for: "" for the event's customer, or a recipient of the
	// event type (RecipientCodeOwner).
	To string
	// Timing runs the action later than its trigger's own timing: its Delay adds to the
	// trigger's, its At replaces the trigger's.
	Timing
	// ValidUntil (issue_coupon) is when the code drawn stops being good, from the event (a
	// pickup deadline); nil: the campaign's own validity.
	ValidUntil *Expr
	// Answer is the text returned to the caller that posted the event (answer, and an
	// issue_coupon with a template and no via).
	Answer *Template
	Range  hcl.Range
}

// Policy is a `policy` block: a CEL rule every planned object of a kind must pass.
type Policy struct {
	Name      string
	AppliesTo string // "campaign", "segment" or "trigger"
	Condition *Expr
	Message   string
	Severity  string // "error" blocks apply; "warning" is shown
	Range     hcl.Range
}

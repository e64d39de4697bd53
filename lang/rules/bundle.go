// Package rules is the rule bundle: what `apply` pushes to the engine through the `engine`
// provider. A bundle is plain JSON built from a loaded configuration (identity rules, identity
// sources, traits, segments, triggers, the campaigns triggers draw codes from, delivery rules),
// with every CEL expression as source text. The engine never parses HCL: it compiles a bundle
// with Compile, against the same CEL environments `validate` checks the files with.
package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/musubi-hq/musubi/lang"
)

// FormatVersion is the bundle format this build reads and writes.
const FormatVersion = 1

// Bundle is a customer programme's runtime rules.
type Bundle struct {
	FormatVersion int        `json:"format_version"`
	Settings      Settings   `json:"settings"`
	Identity      Identity   `json:"identity"`
	Sources       []Source   `json:"sources,omitempty"`
	Traits        []Trait    `json:"traits,omitempty"`
	Segments      []Segment  `json:"segments,omitempty"`
	Triggers      []Trigger  `json:"triggers,omitempty"`
	Campaigns     []Campaign `json:"campaigns,omitempty"`
	Delivery      Delivery   `json:"delivery"`
	// Audiences are the segments systems hold as audiences, which the engine keeps in step.
	Audiences []Audience `json:"audiences,omitempty"`
}

// Audience is a segment held as an audience on a provider: a campaign's audience on the
// providers it messages through, or an audience_export's on each of its providers. The
// engine syncs it where the provider keeps members (providers.MemberSyncer).
type Audience struct {
	Segment  string `json:"segment"`
	Provider string `json:"provider"` // "TYPE.NAME"
}

// Settings are the programme-wide defaults.
type Settings struct {
	Currency     string `json:"currency"`
	Timezone     string `json:"timezone"`
	CELCostLimit uint64 `json:"cel_cost_limit"`
}

// Identity is the `identity` block.
type Identity struct {
	Priority       []string        `json:"priority,omitempty"`
	Limits         []IdentityLimit `json:"limits,omitempty"`
	Blocked        []Blocked       `json:"blocked,omitempty"`
	DefaultCountry string          `json:"default_country,omitempty"`
}

// IdentityLimit caps the values of one identifier type per customer.
type IdentityLimit struct {
	Type   string `json:"type"`
	Max    int    `json:"max"`
	Window string `json:"window,omitempty"` // a duration such as "30d"; empty: ever
}

// Blocked lists identifier values never used for matching.
type Blocked struct {
	Type     string   `json:"type"`
	Values   []string `json:"values,omitempty"`
	Patterns []string `json:"patterns,omitempty"`
}

// Source is an `identity_source` block: which fields of its records are identifiers.
type Source struct {
	Name        string            `json:"name"`
	Provider    string            `json:"provider"` // "TYPE.NAME"
	Identifiers map[string]string `json:"identifiers"`
}

// Trait is a `trait` block.
type Trait struct {
	Name      string `json:"name"`
	On        string `json:"on"`
	Where     string `json:"where,omitempty"`
	Window    string `json:"window,omitempty"`
	Aggregate string `json:"aggregate"`
	Value     string `json:"value,omitempty"`
}

// Segment is a `segment` block.
type Segment struct {
	Name      string `json:"name"`
	Condition string `json:"condition"`
}

// Trigger is a `trigger` block.
type Trigger struct {
	Name      string `json:"name"`
	On        string `json:"on"`
	Condition string `json:"condition,omitempty"`
	Cooldown  string `json:"cooldown,omitempty"`
	// Delay and At hold every action back (see lang.Timing); Wait holds them unless a later
	// event cancels them.
	Delay string `json:"delay,omitempty"`
	At    string `json:"at,omitempty"`
	Wait  *Wait  `json:"wait,omitempty"`
	// NoRecheck: a later action runs without checking the condition again.
	NoRecheck bool     `json:"no_recheck,omitempty"`
	Actions   []Action `json:"actions"`
}

// Wait is a trigger's `wait` block.
type Wait struct {
	For    string   `json:"for"`
	Unless []Unless `json:"unless,omitempty"`
}

// Unless is an event that cancels a wait.
type Unless struct {
	On        string `json:"on"`
	Condition string `json:"condition,omitempty"`
}

// Action is one action of a trigger.
type Action struct {
	Type     string            `json:"type"` // send, issue_coupon, emit
	Message  *Message          `json:"message,omitempty"`
	Campaign string            `json:"campaign,omitempty"`
	Event    string            `json:"event,omitempty"`
	Data     map[string]string `json:"data,omitempty"` // CEL per field of the emitted event
	// To is whom the action is for: empty for the event's customer, or "code_owner".
	To string `json:"to,omitempty"`
	// Delay and At run the action later than its trigger's timing.
	Delay string `json:"delay,omitempty"`
	At    string `json:"at,omitempty"`
	// ValidUntil is CEL: when the drawn code stops being good (issue_coupon).
	ValidUntil string `json:"valid_until,omitempty"`
	// Answer is the template of the text returned to the caller.
	Answer string `json:"answer,omitempty"`
}

// Message is what a send or issue_coupon action delivers.
type Message struct {
	Via      string    `json:"via"` // provider "TYPE.NAME"
	Subject  string    `json:"subject,omitempty"`
	Template string    `json:"template"`
	Variants []Variant `json:"variants,omitempty"`
	// SendAt is when a campaign's message goes out to its audience, RFC 3339 in UTC; empty
	// for at once. A trigger's messages go out when it fires and have none.
	SendAt string `json:"send_at,omitempty"`
}

// Variant replaces a message's text for the customers its condition selects.
type Variant struct {
	Name     string `json:"name"`
	When     string `json:"when"`
	Subject  string `json:"subject,omitempty"`
	Template string `json:"template"`
}

// Campaign is what the engine needs of a campaign: its offer, its audience, the codes it
// hands out and the messages it broadcasts to the audience while it runs.
type Campaign struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Audience    string    `json:"audience,omitempty"`
	Channels    []string  `json:"channels,omitempty"` // "TYPE.NAME" of every checkout
	Title       string    `json:"title,omitempty"`
	Code        string    `json:"code,omitempty"` // shared code
	Codes       *CodePool `json:"codes,omitempty"`
	MinTotal    int64     `json:"min_total,omitempty"`
	Currency    string    `json:"currency,omitempty"`
	Percent     float64   `json:"percent,omitempty"`
	Amount      int64     `json:"amount,omitempty"`
	PerCustomer int       `json:"per_customer,omitempty"`
	TotalLimit  int       `json:"total_limit,omitempty"`
	From        string    `json:"valid_from,omitempty"` // RFC 3339
	Until       string    `json:"valid_until,omitempty"`
	// ValidFor is how long each customer's code is good for from when it was given
	// (lang.FormatDuration); "" when codes last the campaign.
	ValidFor string    `json:"valid_for,omitempty"`
	Messages []Message `json:"messages,omitempty"`
	// Referral campaigns give each customer a code for their friends (see the engine).
	Referral bool `json:"referral,omitempty"`
}

// CodePool is a campaign's unique codes: the same generator and seed as every channel's pool.
type CodePool struct {
	Pattern string `json:"pattern"`
	Charset string `json:"charset"`
	Count   int    `json:"count"`
	Seed    string `json:"seed"`
}

// Delivery holds the sending rules: quiet hours and frequency caps.
type Delivery struct {
	QuietHours    *QuietHours    `json:"quiet_hours,omitempty"`
	FrequencyCaps []FrequencyCap `json:"frequency_caps,omitempty"`
	SendRates     []SendRate     `json:"send_rates,omitempty"`
}

// SendRate paces the sends of one provider ("TYPE.NAME").
type SendRate struct {
	Provider  string  `json:"provider"`
	PerSecond float64 `json:"per_second"`
}

// QuietHours is a daily window in which messages are held.
type QuietHours struct {
	From     string `json:"from"`
	Until    string `json:"until"`
	Timezone string `json:"timezone"`
}

// FrequencyCap limits messages per customer per channel (provider type, or "*").
type FrequencyCap struct {
	Channel string `json:"channel"`
	Max     int    `json:"max"`
	Per     string `json:"per"`
}

// FromConfig builds the bundle of a loaded configuration. seeds gives the code seed of each
// campaign with a code pool (the planner keeps them in state so codes never change).
func FromConfig(cfg *lang.Config, seeds map[string]string) *Bundle {
	b := &Bundle{FormatVersion: FormatVersion, Settings: Settings{Currency: cfg.Settings.Currency,
		Timezone: cfg.Settings.Timezone, CELCostLimit: cfg.Settings.CELCostLimit}}
	if id := cfg.Identity; id != nil {
		b.Identity.Priority = slices.Clone(id.Priority)
		b.Identity.DefaultCountry = id.DefaultCountry
		for _, t := range slices.Sorted(maps.Keys(id.Limits)) {
			l := id.Limits[t]
			il := IdentityLimit{Type: t, Max: l.Max}
			if l.Window > 0 {
				il.Window = lang.FormatDuration(l.Window)
			}
			b.Identity.Limits = append(b.Identity.Limits, il)
		}
		for _, t := range slices.Sorted(maps.Keys(id.Blocked)) {
			bv := id.Blocked[t]
			bl := Blocked{Type: t, Values: slices.Clone(bv.Values)}
			for _, p := range bv.Patterns {
				bl.Patterns = append(bl.Patterns, p.String())
			}
			b.Identity.Blocked = append(b.Identity.Blocked, bl)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(cfg.IdentitySources)) {
		s := cfg.IdentitySources[n]
		b.Sources = append(b.Sources, Source{Name: n, Provider: s.Provider.String(), Identifiers: s.Identifiers})
	}
	for _, n := range slices.Sorted(maps.Keys(cfg.Traits)) {
		t := cfg.Traits[n]
		bt := Trait{Name: n, On: t.On, Aggregate: string(t.Aggregate), Where: src(t.Where), Value: src(t.Value)}
		if t.Window > 0 {
			bt.Window = lang.FormatDuration(t.Window)
		}
		b.Traits = append(b.Traits, bt)
	}
	for _, n := range slices.Sorted(maps.Keys(cfg.Segments)) {
		b.Segments = append(b.Segments, Segment{Name: n, Condition: src(cfg.Segments[n].Condition)})
	}
	used := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(cfg.Triggers)) {
		t := cfg.Triggers[n]
		bt := Trigger{Name: n, On: t.On, Condition: src(t.Condition), Delay: durString(t.Delay), At: t.At}
		if t.Cooldown > 0 {
			bt.Cooldown = lang.FormatDuration(t.Cooldown)
		}
		if w := t.Wait; w != nil {
			bt.Wait = &Wait{For: durString(w.For)}
			for _, u := range w.Unless {
				bt.Wait.Unless = append(bt.Wait.Unless, Unless{On: u.On, Condition: src(u.Condition)})
			}
		}
		bt.NoRecheck = !t.Recheck && t.Timed()
		for _, a := range t.Actions {
			ba := Action{Type: string(a.Type), Campaign: a.Campaign, Event: a.Event, Message: message(a.Message), To: a.To,
				Delay: durString(a.Delay), At: a.At, ValidUntil: src(a.ValidUntil), Answer: tmpl(a.Answer)}
			if len(a.Data) > 0 {
				ba.Data = map[string]string{}
				for k, e := range a.Data {
					ba.Data[k] = src(e)
				}
			}
			if a.Campaign != "" {
				used[a.Campaign] = true
			}
			bt.Actions = append(bt.Actions, ba)
		}
		b.Triggers = append(b.Triggers, bt)
	}
	for _, n := range slices.Sorted(maps.Keys(cfg.Campaigns)) {
		c := cfg.Campaigns[n]
		bc := CampaignOf(c, seeds[n])
		if !used[n] && (bc.Audience == "" || len(bc.Messages) == 0) {
			bc.Codes = nil // no trigger draws codes and no broadcast hands them out
		}
		b.Campaigns = append(b.Campaigns, bc)
	}
	b.Audiences = audiences(cfg)
	d := cfg.Settings.Delivery
	if q := d.QuietHours; q != nil {
		tz := q.Timezone
		if tz == "" {
			tz = cfg.Settings.Timezone
		}
		b.Delivery.QuietHours = &QuietHours{From: q.From, Until: q.Until, Timezone: tz}
	}
	for _, f := range d.FrequencyCaps {
		b.Delivery.FrequencyCaps = append(b.Delivery.FrequencyCaps, FrequencyCap{Channel: f.Channel, Max: f.Max, Per: lang.FormatDuration(f.Per)})
	}
	for _, r := range d.SendRates {
		b.Delivery.SendRates = append(b.Delivery.SendRates, SendRate{Provider: r.Provider, PerSecond: r.PerSecond})
	}
	return b
}

// CampaignOf is a campaign as the engine and CEL see it; seed is its code pool's seed.
func CampaignOf(c *lang.Campaign, seed string) Campaign {
	bc := Campaign{Name: c.Name, Description: c.Description, Audience: c.Audience, Referral: c.Referral}
	for _, ch := range c.Channels {
		bc.Channels = append(bc.Channels, ch.String())
	}
	for _, m := range c.Messages {
		bc.Messages = append(bc.Messages, *message(m))
	}
	if cu := c.Coupon; cu != nil {
		bc.Title, bc.Code, bc.MinTotal, bc.Currency = cu.Title, cu.Code, cu.MinTotal, cu.Currency
		bc.Percent, bc.Amount, bc.PerCustomer, bc.TotalLimit = cu.Percent, cu.Amount, cu.PerCustomer, cu.TotalLimit
		if !cu.ValidFrom.IsZero() {
			bc.From = cu.ValidFrom.Format(time.RFC3339)
		}
		if !cu.ValidUntil.IsZero() {
			bc.Until = cu.ValidUntil.Format(time.RFC3339)
		}
		if cu.ValidFor > 0 {
			bc.ValidFor = lang.FormatDuration(cu.ValidFor)
		}
		if cu.Codes != nil {
			bc.Codes = &CodePool{Pattern: cu.Codes.Pattern, Charset: cu.Codes.Charset, Count: cu.Codes.Count, Seed: seed}
		}
	}
	return bc
}

// Value is the campaign as the CEL value `campaign` that policies and message templates see.
func (c *Campaign) Value() map[string]any {
	channels := make([]any, 0, len(c.Channels))
	for _, ch := range c.Channels {
		channels = append(channels, ch)
	}
	msgChannels := make([]any, 0, len(c.Messages))
	for _, m := range c.Messages {
		msgChannels = append(msgChannels, m.Via)
	}
	v := map[string]any{
		"name": c.Name, "description": c.Description, "audience": c.Audience,
		"channels": channels, "message_channels": msgChannels, "referral": c.Referral,
	}
	if c.Currency == "" { // no coupon
		return v
	}
	coupon := map[string]any{
		"title": c.Title, "percent": c.Percent, "amount": c.Amount, "currency": c.Currency,
		"min_total": c.MinTotal, "code": c.Code, "per_customer": int64(c.PerCustomer),
		"total_limit": int64(c.TotalLimit),
	}
	if c.Codes != nil {
		coupon["code_pattern"], coupon["code_count"] = c.Codes.Pattern, int64(c.Codes.Count)
	}
	if d, err := dur(c.ValidFor); err == nil && d > 0 {
		coupon["valid_for"] = d
	}
	for k, s := range map[string]string{"valid_from": c.From, "valid_until": c.Until} {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			coupon[k] = t
		}
	}
	v["coupon"] = coupon
	return v
}

// durString is a duration as the language writes it, "" for none.
func durString(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return lang.FormatDuration(d)
}

func src(e *lang.Expr) string {
	if e == nil {
		return ""
	}
	return e.Source
}

func message(m *lang.Message) *Message {
	if m == nil {
		return nil
	}
	bm := &Message{Via: m.Via.String(), Subject: tmpl(m.Subject), Template: tmpl(m.Template)}
	if !m.SendAt.IsZero() {
		bm.SendAt = m.SendAt.UTC().Format(time.RFC3339)
	}
	for _, v := range m.Variants {
		bm.Variants = append(bm.Variants, Variant{Name: v.Name, When: src(v.When), Subject: tmpl(v.Subject), Template: tmpl(v.Template)})
	}
	return bm
}

func tmpl(t *lang.Template) string {
	if t == nil {
		return ""
	}
	return t.Source
}

// Encode returns the bundle's canonical JSON: the same rules always encode to the same bytes.
func (b *Bundle) Encode() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic(fmt.Sprintf("encoding a rule bundle: %v", err)) // only plain values: cannot fail
	}
	return out
}

// Hash is the SHA-256 of the canonical JSON, as hex: what `plan` compares with the engine's.
func Hash(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:])
}

// Decode reads a bundle, refusing a format this build does not know.
func Decode(data []byte) (*Bundle, error) {
	var b Bundle
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("reading the rule bundle: %w", err)
	}
	if b.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("the rule bundle has format version %d; this musubi reads version %d: upgrade the older side", b.FormatVersion, FormatVersion)
	}
	return &b, nil
}

// Summary says what a bundle holds, for plans: "3 traits, 2 segments, 2 triggers, 3 sources".
func (b *Bundle) Summary() string {
	part := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	return strings.Join([]string{part(len(b.Sources), "source"), part(len(b.Traits), "trait"),
		part(len(b.Segments), "segment"), part(len(b.Triggers), "trigger")}, ", ")
}

// audiences lists the segments held as audiences, sorted and each once, as the configuration
// alone tells: the planner, which knows the providers, lists the audiences it plans instead.
func audiences(cfg *lang.Config) []Audience {
	set := map[Audience]bool{}
	for _, c := range cfg.Campaigns {
		if c.Audience == "" {
			continue
		}
		for _, m := range c.Messages {
			set[Audience{Segment: c.Audience, Provider: m.Via.String()}] = true
		}
		if c.Coupon != nil && c.Coupon.AudienceOnly {
			for _, ch := range c.Channels {
				set[Audience{Segment: c.Audience, Provider: ch.String()}] = true
			}
		}
	}
	for _, x := range cfg.AudienceExports {
		for _, to := range x.To {
			set[Audience{Segment: x.Segment, Provider: to.String()}] = true
		}
	}
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, func(a, b Audience) int {
		return cmp.Or(cmp.Compare(a.Segment, b.Segment), cmp.Compare(a.Provider, b.Provider))
	})
	return out
}

package rules

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/musubi-hq/musubi/lang"
)

// Program is a compiled bundle: every expression checked and ready to run, indexed for the
// engine's hot path (traits and triggers by event type).
type Program struct {
	Bundle *Bundle
	Hash   string
	Schema *lang.Schema

	Traits          []*CTrait
	TraitsByEvent   map[string][]*CTrait
	Segments        []*CSegment
	Triggers        []*CTrigger
	TriggersByEvent map[string][]*CTrigger
	// TriggersByName finds the trigger of a pending step; UnlessByEvent lists, by event type,
	// the waiting triggers an event of that type may cancel.
	TriggersByName map[string]*CTrigger
	UnlessByEvent  map[string][]*CTrigger
	Campaigns      map[string]*CCampaign
	// SourcesByProvider maps "TYPE.NAME" to the identity sources fed by that provider.
	SourcesByProvider map[string][]Source
	Sources           map[string]Source
	IdentityLimits    map[string]Limit
	BlockedPatterns   map[string][]*regexp.Regexp
	QuietHours        *QuietHours
	FrequencyCaps     []CFrequencyCap
	// SendRates are the configured sends per second, by provider "TYPE.NAME".
	SendRates map[string]float64
	Location  *time.Location
}

// Limit is a parsed identity limit.
type Limit struct {
	Max    int
	Window time.Duration
}

// CTrait is a compiled trait.
type CTrait struct {
	Trait
	Index     int // position in Program.Traits and in a profile's trait state
	Agg       lang.Aggregate
	WindowDur time.Duration
	Where     *lang.Expr
	ValueExpr *lang.Expr
	Type      *types.Type
	// EventOnly says where and value read the event alone (not now), so what an event adds
	// to the trait is known as soon as the event is.
	EventOnly bool
}

// CSegment is a compiled segment.
type CSegment struct {
	Name      string
	Index     int
	Condition *lang.Expr
	// Traits and Segments are what the condition reads; a segment reading neither depends
	// only on the rest of the profile (consent, attributes, identifiers).
	Traits, Segments []string
}

// CTrigger is a compiled trigger.
type CTrigger struct {
	Name      string
	On        string
	Condition *lang.Expr
	// EventPart is the part of the condition that reads only the event (Expr.EventPart):
	// where it is false the trigger does not fire, which is known before the customer is.
	EventPart *lang.Expr
	// Rest is the condition where its event part is true (Expr.SplitEventPart); nil with
	// EventWhole set when the event part is the whole condition; nil otherwise when only the
	// whole condition can say.
	Rest        *lang.Expr
	EventWhole  bool
	CooldownDur time.Duration
	// Delay, At and Wait hold the actions back (see lang.Timing); Unless are the events that
	// cancel a wait; Recheck evaluates the condition again when a held action runs.
	Delay   time.Duration
	At      string
	Wait    time.Duration
	Unless  []CUnless
	Recheck bool
	Actions []*CAction
}

// CUnless is a compiled cancelling event of a wait.
type CUnless struct {
	On        string
	Condition *lang.Expr // nil: any such event
}

// Waits reports whether the trigger's actions can be cancelled by a later event.
func (t *CTrigger) Waits() bool { return len(t.Unless) > 0 }

// Due is when the trigger's action a runs for an event at t: t itself when nothing holds it
// back. Delays add up; the action's At replaces the trigger's.
func (t *CTrigger) Due(a *CAction, at time.Time, loc *time.Location) time.Time {
	due := at.Add(t.Delay + t.Wait + a.DelayDur)
	clock := t.At
	if a.At != "" {
		clock = a.At
	}
	if clock != "" {
		if next, err := lang.NextClock(due, clock, loc); err == nil {
			due = next
		}
	}
	return due
}

// Timed reports whether action a runs later than its event.
func (t *CTrigger) Timed(a *CAction) bool {
	return t.Delay > 0 || t.Wait > 0 || t.At != "" || a.DelayDur > 0 || a.At != ""
}

// CAction is a compiled action.
type CAction struct {
	Action
	Msg        *CMessage
	Data       map[string]*lang.Expr
	DelayDur   time.Duration
	ValidUntil *lang.Expr
	Answer     *lang.Template
}

// CMessage is a compiled message.
type CMessage struct {
	Via      string
	Subject  *lang.Template
	Template *lang.Template
	Variants []CVariant
	// SendAt is when a campaign's message goes out; zero for at once.
	SendAt time.Time
}

// CVariant is a compiled message variant.
type CVariant struct {
	Name     string
	When     *lang.Expr
	Subject  *lang.Template
	Template *lang.Template
}

// CCampaign is a campaign with its code list, generated on first use.
type CCampaign struct {
	Campaign
	From, Until time.Time
	// ValidFor is how long each customer's code is good for from when it was given; 0 when
	// codes last the campaign.
	ValidFor time.Duration
	// Msgs are the compiled broadcast messages; Value is the CEL value `campaign` they see.
	Msgs  []*CMessage
	Value map[string]any
}

// Live reports whether the campaign runs at t: within its validity window, if it has one.
func (c *CCampaign) Live(t time.Time) bool {
	return (c.From.IsZero() || !t.Before(c.From)) && (c.Until.IsZero() || !t.After(c.Until))
}

// CFrequencyCap is a parsed frequency cap.
type CFrequencyCap struct {
	Channel string
	Max     int
	Per     time.Duration
}

// Compile checks and compiles a bundle. Errors name the block and attribute
// ("trigger.cart_nudge.condition:1:7: ...").
func Compile(b *Bundle) (*Program, error) {
	enc := b.Encode()
	p := &Program{Bundle: b, Hash: Hash(enc), TraitsByEvent: map[string][]*CTrait{},
		TriggersByEvent: map[string][]*CTrigger{}, TriggersByName: map[string]*CTrigger{}, UnlessByEvent: map[string][]*CTrigger{},
		Campaigns:         map[string]*CCampaign{},
		SourcesByProvider: map[string][]Source{}, Sources: map[string]Source{},
		IdentityLimits: map[string]Limit{}, BlockedPatterns: map[string][]*regexp.Regexp{}}
	cost := b.Settings.CELCostLimit
	if cost == 0 {
		cost = lang.DefaultCELCostLimit
	}
	loc, err := lang.LoadLocation(b.Settings.Timezone)
	if err != nil {
		return nil, fmt.Errorf("settings.timezone: %w", err)
	}
	p.Location = loc
	for _, l := range b.Identity.Limits {
		w, err := dur(l.Window)
		if err != nil {
			return nil, fmt.Errorf("identity.limit.%s.window: %w", l.Type, err)
		}
		p.IdentityLimits[l.Type] = Limit{Max: l.Max, Window: w}
	}
	for _, bl := range b.Identity.Blocked {
		for _, pat := range bl.Patterns {
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, fmt.Errorf("identity.blocked.%s: %w", bl.Type, err)
			}
			p.BlockedPatterns[bl.Type] = append(p.BlockedPatterns[bl.Type], re)
		}
	}
	for _, s := range b.Sources {
		p.Sources[s.Name] = s
		p.SourcesByProvider[s.Provider] = append(p.SourcesByProvider[s.Provider], s)
	}

	var fields []lang.TraitField
	for i, t := range b.Traits {
		name := "trait." + t.Name
		env, err := lang.TraitEnv(t.On)
		if err != nil {
			return nil, fmt.Errorf("%s.on: %w", name, err)
		}
		ct := &CTrait{Trait: t, Index: i, Agg: lang.Aggregate(t.Aggregate)}
		if ct.WindowDur, err = dur(t.Window); err != nil {
			return nil, fmt.Errorf("%s.window: %w", name, err)
		}
		if t.Where != "" {
			if ct.Where, err = lang.CompileExpr(env, lang.CtxTrait, name+".where", t.Where, types.BoolType, cost); err != nil {
				return nil, err
			}
		}
		if t.Value != "" {
			if ct.ValueExpr, err = lang.CompileExpr(env, lang.CtxTrait, name+".value", t.Value, nil, cost); err != nil {
				return nil, err
			}
		}
		if ct.Type, err = lang.TraitType(ct.Agg, ct.ValueExpr); err != nil {
			return nil, fmt.Errorf("%s.value: %w", name, err)
		}
		ct.EventOnly = (ct.Where == nil || ct.Where.ReadsOnly("event")) && (ct.ValueExpr == nil || ct.ValueExpr.ReadsOnly("event"))
		p.Traits = append(p.Traits, ct)
		p.TraitsByEvent[t.On] = append(p.TraitsByEvent[t.On], ct)
		fields = append(fields, lang.TraitField{Name: t.Name, Type: ct.Type})
	}
	var segNames []string
	for _, s := range b.Segments {
		segNames = append(segNames, s.Name)
	}
	schema, err := lang.NewSchema(fields, segNames)
	if err != nil {
		return nil, err
	}
	p.Schema = schema
	for i, s := range b.Segments {
		e, err := lang.CompileExpr(schema.Segment(), lang.CtxSegment, "segment."+s.Name+".condition", s.Condition, types.BoolType, cost)
		if err != nil {
			return nil, err
		}
		cs := &CSegment{Name: s.Name, Index: i, Condition: e}
		cs.Traits, cs.Segments = e.References()
		p.Segments = append(p.Segments, cs)
	}
	for _, c := range b.Campaigns {
		cc := &CCampaign{Campaign: c}
		if c.From != "" {
			if cc.From, err = time.Parse(time.RFC3339, c.From); err != nil {
				return nil, fmt.Errorf("campaign.%s.valid_from: %w", c.Name, err)
			}
		}
		if c.Until != "" {
			if cc.Until, err = time.Parse(time.RFC3339, c.Until); err != nil {
				return nil, fmt.Errorf("campaign.%s.valid_until: %w", c.Name, err)
			}
		}
		if c.ValidFor != "" {
			if cc.ValidFor, err = lang.ParseDuration(c.ValidFor); err != nil {
				return nil, fmt.Errorf("campaign.%s.valid_for: %w", c.Name, err)
			}
			if cc.ValidFor <= 0 {
				return nil, fmt.Errorf("campaign.%s.valid_for: %s is not a length of time", c.Name, c.ValidFor)
			}
		}
		if len(c.Messages) > 0 && c.Audience == "" {
			return nil, fmt.Errorf("campaign.%s: a campaign's messages go to its audience, and it has none", c.Name)
		}
		for i, m := range c.Messages {
			mn := fmt.Sprintf("campaign.%s.message[%d]", c.Name, i)
			cm, err := compileMessage(schema.Campaign(), lang.CtxCampaign, mn, &m, cost)
			if err != nil {
				return nil, err
			}
			if m.SendAt != "" {
				if cm.SendAt, err = time.Parse(time.RFC3339, m.SendAt); err != nil {
					return nil, fmt.Errorf("%s.send_at: %w", mn, err)
				}
			}
			cc.Msgs = append(cc.Msgs, cm)
		}
		cc.Value = c.Value()
		p.Campaigns[c.Name] = cc
	}
	for _, t := range b.Triggers {
		name := "trigger." + t.Name
		env, err := schema.Trigger(t.On)
		if err != nil {
			return nil, fmt.Errorf("%s.on: %w", name, err)
		}
		ct := &CTrigger{Name: t.Name, On: t.On, At: t.At, Recheck: !t.NoRecheck}
		if ct.CooldownDur, err = dur(t.Cooldown); err != nil {
			return nil, fmt.Errorf("%s.cooldown: %w", name, err)
		}
		if ct.Delay, err = dur(t.Delay); err != nil {
			return nil, fmt.Errorf("%s.delay: %w", name, err)
		}
		if err := checkClock(t.At); err != nil {
			return nil, fmt.Errorf("%s.at: %w", name, err)
		}
		if w := t.Wait; w != nil {
			if ct.Wait, err = dur(w.For); err != nil || ct.Wait <= 0 {
				return nil, fmt.Errorf("%s.wait.for: %q is not a duration above zero", name, w.For)
			}
			for i, u := range w.Unless {
				cu := CUnless{On: u.On}
				if u.Condition != "" {
					uenv, err := schema.Unless(t.On, u.On)
					if err != nil {
						return nil, fmt.Errorf("%s.wait.unless[%d]: %w", name, i, err)
					}
					if cu.Condition, err = lang.CompileExpr(uenv, lang.CtxUnless, fmt.Sprintf("%s.wait.unless[%d].condition", name, i), u.Condition, types.BoolType, cost); err != nil {
						return nil, err
					}
				}
				ct.Unless = append(ct.Unless, cu)
				if !slices.Contains(p.UnlessByEvent[u.On], ct) {
					p.UnlessByEvent[u.On] = append(p.UnlessByEvent[u.On], ct)
				}
			}
		}
		if t.Condition != "" {
			if ct.Condition, err = lang.CompileExpr(env, lang.CtxTrigger, name+".condition", t.Condition, types.BoolType, cost); err != nil {
				return nil, err
			}
			if event, rest, split := ct.Condition.SplitEventPart(); event != "" {
				// Only shortcuts: a part that does not compile back is left to the whole.
				ct.EventPart, _ = lang.CompileExpr(env, lang.CtxTrigger, name+".condition", event, types.BoolType, cost)
				switch {
				case ct.EventPart == nil || !split:
				case rest == "":
					ct.EventWhole = true
				default:
					ct.Rest, _ = lang.CompileExpr(env, lang.CtxTrigger, name+".condition", rest, types.BoolType, cost)
				}
			}
		}
		for i, a := range t.Actions {
			an := fmt.Sprintf("%s.action[%d]", name, i)
			ca := &CAction{Action: a}
			switch a.Type {
			case string(lang.ActionSend), string(lang.ActionIssueCoupon), string(lang.ActionEmit), string(lang.ActionAnswer):
			default:
				return nil, fmt.Errorf("%s: unknown action type %q", an, a.Type)
			}
			if ca.DelayDur, err = dur(a.Delay); err != nil {
				return nil, fmt.Errorf("%s.delay: %w", an, err)
			}
			if err := checkClock(a.At); err != nil {
				return nil, fmt.Errorf("%s.at: %w", an, err)
			}
			if a.ValidUntil != "" {
				if ca.ValidUntil, err = lang.CompileExpr(env, lang.CtxTrigger, an+".valid_until", a.ValidUntil, types.TimestampType, cost); err != nil {
					return nil, err
				}
			}
			if a.Answer != "" {
				if ca.Answer, err = lang.CompileTemplate(env, lang.CtxTrigger, an+".answer", a.Answer, cost); err != nil {
					return nil, err
				}
				if ct.Timed(ca) {
					return nil, fmt.Errorf("%s: an answer is returned to the caller at once; it cannot wait", an)
				}
			}
			if a.Campaign != "" {
				if _, ok := p.Campaigns[a.Campaign]; !ok {
					return nil, fmt.Errorf("%s: campaign %q is not in the bundle", an, a.Campaign)
				}
			}
			if et, _ := lang.LookupEventType(t.On); a.To != "" && !slices.Contains(et.Recipients, a.To) {
				return nil, fmt.Errorf("%s.to: a %s event names no %q", an, t.On, a.To)
			}
			if a.Message != nil && a.Message.SendAt != "" {
				return nil, fmt.Errorf("%s.send_at: a trigger's message goes out when the trigger fires; only a campaign's message has a send_at", an)
			}
			if a.Message != nil {
				if ca.Msg, err = compileMessage(env, lang.CtxTrigger, an, a.Message, cost); err != nil {
					return nil, err
				}
			}
			if len(a.Data) > 0 {
				ca.Data = map[string]*lang.Expr{}
				for k, s := range a.Data {
					if ca.Data[k], err = lang.CompileExpr(env, lang.CtxTrigger, an+".data."+k, s, nil, cost); err != nil {
						return nil, err
					}
				}
			}
			ct.Actions = append(ct.Actions, ca)
		}
		p.Triggers = append(p.Triggers, ct)
		p.TriggersByEvent[t.On] = append(p.TriggersByEvent[t.On], ct)
		p.TriggersByName[t.Name] = ct
	}
	if q := b.Delivery.QuietHours; q != nil {
		if _, err := lang.InDailyWindow(time.Now(), q.From, q.Until, q.Timezone); err != nil {
			return nil, fmt.Errorf("delivery.quiet_hours: %w", err)
		}
		p.QuietHours = q
	}
	for _, f := range b.Delivery.FrequencyCaps {
		per, err := dur(f.Per)
		if err != nil {
			return nil, fmt.Errorf("delivery.frequency_cap.%s.per: %w", f.Channel, err)
		}
		p.FrequencyCaps = append(p.FrequencyCaps, CFrequencyCap{Channel: f.Channel, Max: f.Max, Per: per})
	}
	p.SendRates = map[string]float64{}
	for _, r := range b.Delivery.SendRates {
		if r.PerSecond <= 0 {
			return nil, fmt.Errorf("delivery.send_rate.%s.per_second: %g is not above 0", r.Provider, r.PerSecond)
		}
		p.SendRates[r.Provider] = r.PerSecond
	}
	return p, nil
}

func compileMessage(env *cel.Env, ctx lang.Context, name string, m *Message, cost uint64) (*CMessage, error) {
	cm := &CMessage{Via: m.Via}
	var err error
	if cm.Template, err = lang.CompileTemplate(env, ctx, name+".template", m.Template, cost); err != nil {
		return nil, err
	}
	if m.Subject != "" {
		if cm.Subject, err = lang.CompileTemplate(env, ctx, name+".subject", m.Subject, cost); err != nil {
			return nil, err
		}
	}
	for _, v := range m.Variants {
		vn := name + ".variant." + v.Name
		cv := CVariant{Name: v.Name}
		if cv.When, err = lang.CompileExpr(env, ctx, vn+".when", v.When, types.BoolType, cost); err != nil {
			return nil, err
		}
		if cv.Template, err = lang.CompileTemplate(env, ctx, vn+".template", v.Template, cost); err != nil {
			return nil, err
		}
		if v.Subject != "" {
			if cv.Subject, err = lang.CompileTemplate(env, ctx, vn+".subject", v.Subject, cost); err != nil {
				return nil, err
			}
		}
		cm.Variants = append(cm.Variants, cv)
	}
	return cm, nil
}

// checkClock checks a time of day "HH:MM" ("" for none).
func checkClock(s string) error {
	if s == "" {
		return nil
	}
	_, err := lang.NextClock(time.Time{}, s, time.UTC)
	return err
}

func dur(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return lang.ParseDuration(s)
}

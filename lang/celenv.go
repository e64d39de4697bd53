package lang

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// DefaultCELCostLimit bounds every CEL program unless the musubi block sets cel_cost_limit. It
// allows comprehensions over a few thousand list elements and stops runaway ones.
const DefaultCELCostLimit = 1_000_000

// MaxCELRecursion and MaxCELSize bound what the CEL parser reads (cel-go's defaults, held
// here so that an upgrade cannot lift them): an expression nested deeper, or longer in code
// points, is a syntax error rather than a parse that exhausts the stack or the memory.
const (
	MaxCELRecursion = 250
	MaxCELSize      = 100_000
)

// Context names the place a CEL expression is written in, which decides its variables.
type Context string

// The CEL contexts of the language.
const (
	CtxSegment  Context = "segment"  // customer, now
	CtxTrigger  Context = "trigger"  // customer, event, now
	CtxTrait    Context = "trait"    // event, now
	CtxPolicy   Context = "policy"   // campaign | segment | trigger
	CtxCampaign Context = "campaign" // message templates: customer, now, code, campaign
	CtxUnless   Context = "unless"   // a wait's cancelling event: customer, event, trigger.event, now
)

// Schema holds the CEL types and environments of one configuration. Environments are built
// once and shared by every expression of their context; cel.Env is safe for concurrent use.
type Schema struct {
	Customer *ObjectType
	Traits   *ObjectType
	Segments *ObjectType

	base     *cel.Env
	segment  *cel.Env
	campaign *cel.Env
	policy   map[string]*cel.Env

	mu       sync.Mutex
	triggers map[string]*cel.Env    // by event type
	unless   map[[2]string]*cel.Env // by (trigger's event type, cancelling event type)

	// fingerprint identifies what the environments are built from (the traits with their
	// types, the segments); names names each environment, for the cache of checked expressions.
	fingerprint string
	names       map[*cel.Env]string
}

// TraitField is a trait's name and the CEL type of its value.
type TraitField struct {
	Name string
	Type *types.Type
}

// NewSchema builds the CEL environments for a configuration with the given traits and segments.
func NewSchema(traits []TraitField, segments []string) (*Schema, error) {
	tf := make([]Field, 0, len(traits))
	for _, t := range traits {
		tf = append(tf, Field{Name: t.Name, Type: t.Type, Doc: "trait"})
	}
	sf := make([]Field, 0, len(segments))
	for _, s := range segments {
		sf = append(sf, Field{Name: s, Type: types.BoolType, Doc: "whether the customer is in the segment"})
	}
	h := sha256.New()
	for _, t := range traits {
		fmt.Fprintf(h, "trait %q %q\n", t.Name, t.Type.String())
	}
	for _, name := range segments {
		fmt.Fprintf(h, "segment %q\n", name)
	}
	s := &Schema{
		fingerprint: hex.EncodeToString(h.Sum(nil)),
		names:       map[*cel.Env]string{},
		Traits:      NewObjectType("musubi.Traits", "The traits declared by trait blocks.", tf...),
		Segments:    NewObjectType("musubi.Segments", "Segment membership, one field per segment block.", sf...),
		policy:      map[string]*cel.Env{},
		triggers:    map[string]*cel.Env{},
		unless:      map[[2]string]*cel.Env{},
	}
	s.Customer = NewObjectType("musubi.Customer", "The unified customer profile (one Uni-ID across every channel).",
		Field{Name: "id", Type: types.StringType, Doc: "unified customer ID"},
		Field{Name: "identifiers", Type: types.NewMapType(types.StringType, types.NewListType(types.StringType)), Doc: "values per identifier type, e.g. identifiers.email"},
		Field{Name: "emails", Type: types.NewListType(types.StringType), Doc: "email addresses, normalised"},
		Field{Name: "phones", Type: types.NewListType(types.StringType), Doc: "phone numbers in E.164"},
		ConsentType.Obj("consent", "consent per channel"),
		s.Traits.Obj("traits", "trait values"),
		s.Segments.Obj("segments", "segment membership"),
		Field{Name: "attributes", Type: types.NewMapType(types.StringType, types.DynType), Doc: "free-form profile attributes from the sources"},
		Field{Name: "home_city", Type: types.StringType, Doc: "home city"},
		Field{Name: "previous_city", Type: types.StringType, Doc: "home city before the last move (location.changed), empty before one"},
		Field{Name: "locale", Type: types.StringType, Doc: "preferred language, e.g. ja-JP"},
		Field{Name: "timezone", Type: types.StringType, Doc: "IANA time zone"},
		Field{Name: "tone", Type: types.StringType, Doc: "preferred message tone, e.g. casual or formal"},
		LocationType.Obj("location", "last known position"),
		Field{Name: "first_seen", Type: types.TimestampType, Doc: "first event"},
		Field{Name: "last_seen", Type: types.TimestampType, Doc: "latest event"},
	)
	shared, err := sharedEnv()
	if err != nil {
		return nil, err
	}
	base, err := shared.Extend(cel.Types(s.Traits, s.Segments, s.Customer))
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	s.base = base
	if s.segment, err = base.Extend(cel.Variable("customer", s.Customer.CELType())); err != nil {
		return nil, err
	}
	if s.campaign, err = s.segment.Extend(
		cel.Variable("code", types.StringType),
		cel.Variable("campaign", CampaignType.CELType()),
	); err != nil {
		return nil, err
	}
	for name, t := range map[string]*ObjectType{"campaign": CampaignType, "segment": SegmentType, "trigger": TriggerType} {
		if s.policy[name], err = base.Extend(cel.Variable(name, t.CELType())); err != nil {
			return nil, err
		}
		s.names[s.policy[name]] = "policy " + name
	}
	s.names[s.segment] = "segment"
	s.names[s.campaign] = "campaign"
	return s, nil
}

// envName names an environment of the schema, or of trait expressions (s may be nil), with
// all it is built from: the same name is the same environment, in any run of this build.
func (s *Schema) envName(env *cel.Env) (string, bool) {
	if s != nil {
		s.mu.Lock()
		name, ok := s.names[env]
		s.mu.Unlock()
		if ok {
			return s.fingerprint + " " + name, true
		}
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for on, e := range shared.traits {
		if e == env {
			return "trait " + on, true
		}
	}
	return "", false
}

// Segment returns the environment of segment conditions and message variants: customer, now.
func (s *Schema) Segment() *cel.Env { return s.segment }

// Campaign returns the environment of campaign messages: customer, now, code, campaign.
func (s *Schema) Campaign() *cel.Env { return s.campaign }

// Policy returns the environment of policies on the given block type.
func (s *Schema) Policy(appliesTo string) (*cel.Env, bool) {
	e, ok := s.policy[appliesTo]
	return e, ok
}

// Trigger returns the environment of trigger conditions and templates on an event type:
// customer, event, now, and code (the coupon code an issue_coupon action drew).
func (s *Schema) Trigger(on string) (*cel.Env, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.triggers[on]; ok {
		return e, nil
	}
	et, ok := LookupEventType(on)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", on)
	}
	e, err := s.segment.Extend(cel.Types(et.Type), cel.Variable("event", et.Type.CELType()), cel.Variable("code", types.StringType))
	if err != nil {
		return nil, err
	}
	s.triggers[on] = e
	s.names[e] = "trigger " + on
	return e, nil
}

// Unless returns the environment of the condition of a wait's cancelling event: customer,
// event (the later event, of type on), trigger.event (the event of type triggerOn that fired
// the waiting trigger), now.
func (s *Schema) Unless(triggerOn, on string) (*cel.Env, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{triggerOn, on}
	if e, ok := s.unless[key]; ok {
		return e, nil
	}
	tt, ok := LookupEventType(triggerOn)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", triggerOn)
	}
	et, ok := LookupEventType(on)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", on)
	}
	waiting := waitingType(tt)
	e, err := s.segment.Extend(cel.Types(tt.Type, et.Type, waiting), cel.Variable("event", et.Type.CELType()),
		cel.Variable("trigger", waiting.CELType()))
	if err != nil {
		return nil, err
	}
	s.unless[key] = e
	s.names[e] = "unless " + triggerOn + " " + on
	return e, nil
}

// waitingTypes are the types of `trigger` in an unless condition, by the trigger's event type.
var waitingTypes sync.Map // event type name → *ObjectType

// waitingType is the type of `trigger` in the unless condition of a trigger on et: an object
// whose field event is the event that fired it.
func waitingType(et EventType) *ObjectType {
	if t, ok := waitingTypes.Load(et.Name); ok {
		return t.(*ObjectType)
	}
	t := NewObjectType("musubi.waiting."+strings.ReplaceAll(et.Name, ".", "_"), "A waiting trigger, in its unless conditions.",
		Field{Name: "event", Type: et.Type.CELType(), Object: et.Type, Doc: "the event that fired the trigger"})
	got, _ := waitingTypes.LoadOrStore(et.Name, t)
	return got.(*ObjectType)
}

// Trait returns the environment of trait expressions on an event type: event, now. It does
// not depend on the configuration, so trait types are known before the customer type is built.
func (s *Schema) Trait(on string) (*cel.Env, error) { return TraitEnv(on) }

// shared holds what every configuration's environments start from: Musubi's types and
// functions, CEL's extension libraries and `now`. Building it costs milliseconds, so once.
var shared struct {
	once   sync.Once
	env    *cel.Env
	err    error
	mu     sync.Mutex
	traits map[string]*cel.Env
}

func sharedEnv() (*cel.Env, error) {
	shared.once.Do(func() {
		shared.traits = map[string]*cel.Env{}
		shared.env, shared.err = cel.NewEnv(
			cel.Types(LocationType, ItemType, CartType, ConsentType, CouponType, CampaignType, SegmentType, TriggerType),
			cel.CrossTypeNumericComparisons(true),
			cel.OptionalTypes(),
			ext.Strings(), ext.Math(), ext.Sets(), ext.Lists(),
			musubiFunctions(),
			cel.Variable("now", types.TimestampType),
			cel.EagerlyValidateDeclarations(true),
			cel.ParserRecursionLimit(MaxCELRecursion),
			cel.ParserExpressionSizeLimit(MaxCELSize),
		)
		if shared.err != nil {
			shared.err = fmt.Errorf("building the CEL base environment: %w", shared.err)
		}
	})
	return shared.env, shared.err
}

// TraitEnv returns the environment of trait expressions on an event type.
func TraitEnv(on string) (*cel.Env, error) {
	base, err := sharedEnv()
	if err != nil {
		return nil, err
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if e, ok := shared.traits[on]; ok {
		return e, nil
	}
	et, ok := LookupEventType(on)
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", on)
	}
	e, err := base.Extend(cel.Types(et.Type), cel.Variable("event", et.Type.CELType()))
	if err != nil {
		return nil, err
	}
	shared.traits[on] = e
	return e, nil
}

// musubiFunctions declares the functions retail rules need beyond standard CEL.
func musubiFunctions() cel.EnvOption {
	loc := LocationType.CELType()
	dur := func(unit time.Duration) func(ref.Val) ref.Val {
		return func(v ref.Val) ref.Val {
			n := int64(v.(types.Int))
			if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
				return types.NewErr("duration overflow")
			}
			return types.Duration{Duration: time.Duration(n) * unit}
		}
	}
	return cel.Lib(funcLib{opts: []cel.EnvOption{
		// Locations are maps at run time, not values of the declared object type: the
		// checker has already matched the overload, so the run-time guard must not refuse them.
		cel.Function("geo.distance_km", decls.DisableTypeGuards(true),
			cel.Overload("geo_distance_km_location", []*cel.Type{loc, loc}, cel.DoubleType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					la, oka := locationOf(a)
					lb, okb := locationOf(b)
					if !oka || !okb {
						return types.NewErr("geo.distance_km: want two locations")
					}
					return types.Double(haversineKm(la[0], la[1], lb[0], lb[1]))
				})),
			cel.Overload("geo_distance_km_coords", []*cel.Type{cel.DoubleType, cel.DoubleType, cel.DoubleType, cel.DoubleType}, cel.DoubleType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return types.Double(haversineKm(float64(args[0].(types.Double)), float64(args[1].(types.Double)),
						float64(args[2].(types.Double)), float64(args[3].(types.Double))))
				})),
		),
		cel.Function("geo.point",
			cel.Overload("geo_point", []*cel.Type{cel.DoubleType, cel.DoubleType}, loc,
				cel.BinaryBinding(func(lat, lng ref.Val) ref.Val {
					return types.DefaultTypeAdapter.NativeToValue(map[string]any{"lat": float64(lat.(types.Double)), "lng": float64(lng.(types.Double))})
				})),
		),
		cel.Function("minutes", cel.Overload("minutes_int", []*cel.Type{cel.IntType}, cel.DurationType, cel.UnaryBinding(dur(time.Minute)))),
		cel.Function("hours", cel.Overload("hours_int", []*cel.Type{cel.IntType}, cel.DurationType, cel.UnaryBinding(dur(time.Hour)))),
		cel.Function("days", cel.Overload("days_int", []*cel.Type{cel.IntType}, cel.DurationType, cel.UnaryBinding(dur(24*time.Hour)))),
		cel.Function("weeks", cel.Overload("weeks_int", []*cel.Type{cel.IntType}, cel.DurationType, cel.UnaryBinding(dur(7*24*time.Hour)))),
		cel.Function("days_between",
			cel.Overload("days_between_timestamp_timestamp", []*cel.Type{cel.TimestampType, cel.TimestampType}, cel.IntType,
				cel.BinaryBinding(func(a, b ref.Val) ref.Val {
					ta, tb := a.(types.Timestamp).Time, b.(types.Timestamp).Time
					return types.Int(int64(math.Floor(tb.Sub(ta).Hours() / 24)))
				})),
		),
		cel.Function("in_hours",
			cel.Overload("in_hours_timestamp_string_string_string",
				[]*cel.Type{cel.TimestampType, cel.StringType, cel.StringType, cel.StringType}, cel.BoolType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					in, err := InDailyWindow(args[0].(types.Timestamp).Time, string(args[1].(types.String)),
						string(args[2].(types.String)), string(args[3].(types.String)))
					if err != nil {
						return types.NewErr("in_hours: %v", err)
					}
					return types.Bool(in)
				})),
		),
		cel.Function("local_date",
			cel.Overload("local_date_timestamp_string", []*cel.Type{cel.TimestampType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(ts, tz ref.Val) ref.Val {
					loc, err := LoadLocation(string(tz.(types.String)))
					if err != nil {
						return types.NewErr("local_date: %v", err)
					}
					return types.String(ts.(types.Timestamp).Time.In(loc).Format("2006-01-02"))
				})),
		),
	}})
}

type funcLib struct{ opts []cel.EnvOption }

func (l funcLib) CompileOptions() []cel.EnvOption     { return l.opts }
func (l funcLib) ProgramOptions() []cel.ProgramOption { return nil }

func locationOf(v ref.Val) ([2]float64, bool) {
	m, ok := v.Value().(map[string]any)
	if !ok {
		return [2]float64{}, false
	}
	lat, ok1 := toFloat(m["lat"])
	lng, ok2 := toFloat(m["lng"])
	return [2]float64{lat, lng}, ok1 && ok2
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case nil:
		return 0, true
	}
	return 0, false
}

// haversineKm is the great-circle distance between two points, in kilometres.
func haversineKm(lat1, lng1, lat2, lng2 float64) float64 {
	const earthRadiusKm = 6371.0088
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

var (
	zoneMu    sync.RWMutex
	zoneCache = map[string]*time.Location{}
)

// LoadLocation loads an IANA time zone once per process: time.LoadLocation reads the zone
// database on every call.
func LoadLocation(name string) (*time.Location, error) {
	zoneMu.RLock()
	loc, ok := zoneCache[name]
	zoneMu.RUnlock()
	if ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	zoneMu.Lock()
	zoneCache[name] = loc
	zoneMu.Unlock()
	return loc, nil
}

// InDailyWindow reports whether t falls in the daily window [from, until) in zone tz, where
// from and until are "HH:MM"; a window such as 21:00–09:00 wraps past midnight.
func InDailyWindow(t time.Time, from, until, tz string) (bool, error) {
	loc, err := LoadLocation(tz)
	if err != nil {
		return false, err
	}
	f, err := parseClock(from)
	if err != nil {
		return false, err
	}
	u, err := parseClock(until)
	if err != nil {
		return false, err
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	if f <= u {
		return m >= f && m < u, nil
	}
	return m >= f || m < u, nil
}

// NextClock is the first time of day hhmm ("HH:MM") in loc at or after t. A time of day that a
// daylight-saving jump skips on some day falls where time.Date puts it.
func NextClock(t time.Time, hhmm string, loc *time.Location) (time.Time, error) {
	m, err := parseClock(hhmm)
	if err != nil {
		return time.Time{}, err
	}
	lt := t.In(loc)
	at := time.Date(lt.Year(), lt.Month(), lt.Day(), m/60, m%60, 0, 0, loc)
	if at.Before(t) {
		at = time.Date(lt.Year(), lt.Month(), lt.Day()+1, m/60, m%60, 0, 0, loc)
	}
	return at, nil
}

func parseClock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("want a time of day as HH:MM, got %q", s)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h < 0 || m < 0 {
		return 0, fmt.Errorf("want a time of day as HH:MM, got %q", s)
	}
	if why := clockProblem(h, m); why != "" {
		return 0, fmt.Errorf("%q: %s", s, why)
	}
	return h*60 + m, nil
}

// FunctionDocs lists Musubi's own CEL functions for documentation and `musubi console`.
func FunctionDocs() []string {
	docs := []string{
		"geo.distance_km(location, location) -> double   great-circle distance",
		"geo.distance_km(lat1, lng1, lat2, lng2) -> double",
		"geo.point(lat, lng) -> location",
		"minutes(int), hours(int), days(int), weeks(int) -> duration",
		"days_between(timestamp, timestamp) -> int       whole days from the first to the second",
		"in_hours(timestamp, \"HH:MM\", \"HH:MM\", tz) -> bool  daily window, may wrap past midnight",
		"local_date(timestamp, tz) -> string              YYYY-MM-DD in the zone",
	}
	sort.Strings(docs)
	return docs
}

// EventTypeDoc renders an event type's fields, for docs and the console.
func EventTypeDoc(name string) (string, bool) {
	et, ok := LookupEventType(name)
	if !ok {
		return "", false
	}
	return strings.TrimRight(et.Type.describe(), "\n"), true
}

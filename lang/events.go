package lang

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/common/types"
)

// The shared object types of the customer programme. Money is always a whole number in the
// currency's minor unit (yen for JPY, cents for USD), so CEL arithmetic on it is exact.
var (
	LocationType = NewObjectType("musubi.Location", "A point on the map.",
		Field{Name: "lat", Type: types.DoubleType, Doc: "latitude in degrees"},
		Field{Name: "lng", Type: types.DoubleType, Doc: "longitude in degrees"},
	)
	ItemType = NewObjectType("musubi.Item", "A line of a cart or an order.",
		Field{Name: "sku", Type: types.StringType, Doc: "stock-keeping unit"},
		Field{Name: "name", Type: types.StringType, Doc: "product name"},
		Field{Name: "category", Type: types.StringType, Doc: "category, e.g. running_shoes"},
		Field{Name: "family", Type: types.StringType, Doc: "style the variants share, e.g. the same jacket in every colour"},
		Field{Name: "color", Type: types.StringType, Doc: "colour variant"},
		Field{Name: "size", Type: types.StringType, Doc: "size variant"},
		Field{Name: "price", Type: types.IntType, Doc: "unit price in minor units", Bounds: MoneyBounds},
		Field{Name: "quantity", Type: types.IntType, Doc: "number of units", Bounds: CountBounds},
	)
	CartType = NewObjectType("musubi.Cart", "A live cart, online or at a self-checkout.",
		Field{Name: "id", Type: types.StringType, Doc: "cart ID in the source system"},
		Field{Name: "total", Type: types.IntType, Doc: "cart total in minor units", Bounds: MoneyBounds},
		Field{Name: "currency", Type: types.StringType, Doc: "ISO 4217 code, e.g. JPY"},
		Field{Name: "item_count", Type: types.IntType, Doc: "number of units in the cart", Bounds: CountBounds},
		ItemType.ListOf("items", "cart lines"),
	)
	ConsentType = NewObjectType("musubi.Consent", "Whether the customer agreed to be messaged on each channel, and to ads.",
		Field{Name: "line", Type: types.BoolType, Doc: "LINE official account messages"},
		Field{Name: "email", Type: types.BoolType, Doc: "marketing email"},
		Field{Name: "sms", Type: types.BoolType, Doc: "SMS"},
		Field{Name: "push", Type: types.BoolType, Doc: "app push notifications"},
		Field{Name: "wechat", Type: types.BoolType, Doc: "WeChat official account messages"},
		Field{Name: "ads", Type: types.BoolType, Doc: "being shown ads matched from their email address or phone number (ad audiences)"},
	)
	CouponType = NewObjectType("musubi.Coupon", "A campaign's coupon as declared.",
		Field{Name: "title", Type: types.StringType, Doc: "title shown to staff and customers"},
		Field{Name: "percent", Type: types.DoubleType, Doc: "percentage off (0 when the coupon is an amount off)"},
		Field{Name: "amount", Type: types.IntType, Doc: "amount off in minor units (0 when a percentage)"},
		Field{Name: "currency", Type: types.StringType, Doc: "ISO 4217 code"},
		Field{Name: "min_total", Type: types.IntType, Doc: "minimum order total in minor units"},
		Field{Name: "code", Type: types.StringType, Doc: "the shared code, when there is one"},
		Field{Name: "code_pattern", Type: types.StringType, Doc: "pattern of unique codes, when there are some"},
		Field{Name: "code_count", Type: types.IntType, Doc: "number of unique codes"},
		Field{Name: "per_customer", Type: types.IntType, Doc: "uses allowed per customer (0 = no limit)"},
		Field{Name: "total_limit", Type: types.IntType, Doc: "uses allowed in all (0 = no limit)"},
		Field{Name: "valid_from", Type: types.TimestampType, Doc: "start of validity"},
		Field{Name: "valid_until", Type: types.TimestampType, Doc: "end of validity"},
		Field{Name: "valid_for", Type: types.DurationType, Doc: "how long each customer's code is good for from when it was given (0: the campaign's validity)"},
		Field{Name: "stores", Type: types.NewListType(types.StringType), Doc: "the stores the coupon may be redeemed at (empty: every store)"},
	)
	CampaignType = NewObjectType("musubi.Campaign", "A campaign as declared, for policies.",
		Field{Name: "name", Type: types.StringType, Doc: "block label"},
		Field{Name: "description", Type: types.StringType, Doc: "description"},
		CouponType.Obj("coupon", "the coupon"),
		Field{Name: "audience", Type: types.StringType, Doc: "segment name, or empty"},
		Field{Name: "channels", Type: types.NewListType(types.StringType), Doc: "providers the coupon must work on, e.g. shopify.jp"},
		Field{Name: "message_channels", Type: types.NewListType(types.StringType), Doc: "providers the campaign messages through"},
		Field{Name: "referral", Type: types.BoolType, Doc: "each customer's code is for their friends to use"},
	)
	SegmentType = NewObjectType("musubi.Segment", "A segment as declared, for policies.",
		Field{Name: "name", Type: types.StringType, Doc: "block label"},
		Field{Name: "description", Type: types.StringType, Doc: "description"},
		Field{Name: "condition", Type: types.StringType, Doc: "the CEL condition's source"},
		Field{Name: "estimated_members", Type: types.IntType, Doc: "customers in it once the plan's rules are pushed, as the engine estimates them; 0 when unknown"},
	)
	TriggerType = NewObjectType("musubi.Trigger", "A trigger as declared, for policies.",
		Field{Name: "name", Type: types.StringType, Doc: "block label"},
		Field{Name: "on", Type: types.StringType, Doc: "event type"},
		Field{Name: "condition", Type: types.StringType, Doc: "the CEL condition's source"},
		Field{Name: "cooldown", Type: types.DurationType, Doc: "minimum time between firings per customer"},
		Field{Name: "actions", Type: types.NewListType(types.StringType), Doc: "action types in order, e.g. send"},
		Field{Name: "channels", Type: types.NewListType(types.StringType), Doc: "providers the trigger sends through"},
		Field{Name: "delay", Type: types.DurationType, Doc: "how long its actions are held: its delay, or its wait's for"},
		Field{Name: "at", Type: types.StringType, Doc: "the time of day its actions run at, HH:MM, or empty"},
	)
)

// EventType is one kind of incoming event: its name (the value of a trigger's `on`) and the CEL
// type of `event` for rules on it.
type EventType struct {
	Name string
	Doc  string
	Type *ObjectType
	// Raised marks the events the engine raises itself (segment moves): no system may post
	// one, or it could fire a segment's trigger for a customer outside the segment.
	Raised bool
	// Recipients are whom an action's `to` may name on this event besides its customer:
	// RecipientCodeOwner on a redemption, whose code may be another customer's.
	Recipients []string
}

// The recipients an action may be addressed to: the event's customer (the default), or the
// customer a redeemed code was issued to.
const (
	RecipientCustomer  = "customer"
	RecipientCodeOwner = "code_owner"
)

// commonEventFields are present on every event.
var commonEventFields = []Field{
	{Name: "id", Type: types.StringType, Doc: "event ID, unique per source (used to drop duplicates)"},
	{Name: "type", Type: types.StringType, Doc: "event type, e.g. purchase"},
	{Name: "time", Type: types.TimestampType, Doc: "when it happened"},
	{Name: "channel", Type: types.StringType, Doc: "where: pos, ec, line, email, app, web, vending, event"},
	{Name: "source", Type: types.StringType, Doc: "identity_source that sent it"},
	{Name: "store_id", Type: types.StringType, Doc: "store, for in-store events"},
}

func eventType(name, doc string, fields ...Field) EventType {
	all := append(append([]Field{}, commonEventFields...), fields...)
	goName := "musubi.event." + strings.NewReplacer(".", "_").Replace(name)
	return EventType{Name: name, Doc: doc, Type: NewObjectType(goName, doc, all...)}
}

func raised(et EventType) EventType {
	et.Raised = true
	return et
}

func recipients(et EventType, names ...string) EventType {
	et.Recipients = names
	return et
}

// ProfileEventTypes are the events the engine reads whether or not a rule listens to them: a
// follow, an unfollow and a survey carry consent, and an account link ties identifiers into
// one customer. An identity source subscribes to them besides what triggers and traits use.
var ProfileEventTypes = []string{"account.linked", "follow", "survey.submitted", "unfollow"}

// CustomEventPrefix starts the names of events a programme defines itself; their payload is
// the untyped map `event.data`.
const CustomEventPrefix = "custom."

var eventTypes = map[string]EventType{}

func registerEvents(ets ...EventType) {
	for _, et := range ets {
		eventTypes[et.Name] = et
	}
}

func init() {
	money := func(name, doc string) Field {
		return Field{Name: name, Type: types.IntType, Doc: doc + " in minor units", Bounds: MoneyBounds}
	}
	str := func(name, doc string) Field { return Field{Name: name, Type: types.StringType, Doc: doc} }
	registerEvents(
		eventType("purchase", "A completed purchase, in a store (POS) or online (EC).",
			str("order_id", "order or transaction ID"),
			money("total", "amount paid"),
			str("currency", "ISO 4217 code"),
			ItemType.ListOf("items", "purchased lines"),
			Field{Name: "coupon_codes", Type: types.NewListType(types.StringType), Doc: "codes redeemed"},
			LocationType.Obj("location", "where, when known"),
		),
		eventType("cart.updated", "A cart changed: an item added or removed, at a self-checkout or online.",
			CartType.Obj("cart", "the cart after the change"),
		),
		eventType("location.changed", "The customer's known location or home city changed (app, survey, address book).",
			LocationType.Obj("location", "new position"),
			str("city", "new city"),
			str("previous_city", "city before the change, empty when unknown"),
			str("country", "ISO 3166 country code"),
		),
		eventType("store.visit", "The customer was seen in a store (beacon, check-in, Wi-Fi).",
			LocationType.Obj("location", "store position"),
			str("kind", "beacon, checkin or wifi"),
		),
		eventType("follow", "The customer followed (or unblocked) a messaging account.",
			str("account", "messaging account, e.g. the LINE official account"),
			Field{Name: "unblocked", Type: types.BoolType, Doc: "true when this follow lifts an earlier block"},
		),
		eventType("unfollow", "The customer unfollowed or blocked a messaging account.",
			str("account", "messaging account"),
		),
		eventType("order.ready_for_pickup", "An order bought online is ready for pickup in a store (BOPIS).",
			str("order_id", "order ID"),
			money("total", "order total"),
			str("currency", "ISO 4217 code"),
			Field{Name: "pickup_by", Type: types.TimestampType, Doc: "last pickup time"},
			ItemType.ListOf("items", "ordered lines"),
		),
		eventType("survey.submitted", "A survey or form was submitted, e.g. at an event or pop-up store.",
			str("survey_id", "survey ID"),
			Field{Name: "answers", Type: types.NewMapType(types.StringType, types.StringType), Doc: "answer per question"},
			str("email", "email given on the form"),
			Field{Name: "consent", Type: types.NewMapType(types.StringType, types.BoolType), Doc: "consent given per channel"},
		),
		eventType("tryon", "An item was tried on in a fitting room (RFID or staff app).",
			ItemType.Obj("item", "the item tried on"),
		),
		eventType("vending.purchase", "A purchase at a vending machine.",
			str("machine_id", "machine ID"),
			LocationType.Obj("location", "machine position"),
			money("total", "amount paid"),
			str("currency", "ISO 4217 code"),
			ItemType.ListOf("items", "purchased lines"),
		),
		recipients(eventType("coupon.redeemed", "A coupon code was used at a checkout: posted by the system, or raised by the engine for a purchase carrying a campaign's code.",
			str("code", "the code"),
			str("campaign", "campaign name"),
			str("order_id", "order ID"),
			money("total", "order total"),
			str("currency", "ISO 4217 code"),
			str("owner", "Uni-ID of the customer the code was issued to; empty for a shared code"),
			Field{Name: "referral", Type: types.BoolType, Doc: "the campaign is a referral campaign (set by the engine)"},
			Field{Name: "first_use", Type: types.BoolType, Doc: "the customer's first order with this code (set by the engine)"},
			Field{Name: "expired", Type: types.BoolType, Doc: "the code was no longer good: past its campaign's end, or its valid_for from when it was given (set by the engine)"},
		), RecipientCodeOwner),
		eventType("account.linked", "A messaging or app account was linked to a member or EC account.",
			str("account", "account that was linked"),
		),
		raised(eventType("segment.entered", "The customer entered a segment (emitted by the engine).",
			str("segment", "segment name"),
		)),
		raised(eventType("segment.exited", "The customer left a segment (emitted by the engine).",
			str("segment", "segment name"),
		)),
	)
}

// IsRaised reports whether events of a type are raised by the engine itself (EventType.Raised).
// It builds no type: a custom event's name is not looked up as LookupEventType builds it.
func IsRaised(name string) bool {
	et, ok := eventTypes[name]
	return ok && et.Raised
}

// LookupEventType returns the event type for a trigger's `on`. Names starting with "custom."
// are the programme's own events, with an untyped `data` map.
func LookupEventType(name string) (EventType, bool) {
	if et, ok := eventTypes[name]; ok {
		return et, true
	}
	if strings.HasPrefix(name, CustomEventPrefix) && len(name) > len(CustomEventPrefix) {
		if et, ok := customTypes.Load(name); ok {
			return et.(EventType), true
		}
		et := eventType(name, "A custom event.",
			Field{Name: "data", Type: types.NewMapType(types.StringType, types.DynType), Doc: "payload"},
		)
		// Building the type costs more than the event; the names a programme uses are kept,
		// up to a bound, so posted names cannot grow memory without end.
		if customCount.Add(1) <= maxCustomTypes {
			customTypes.Store(name, et)
		}
		return et, true
	}
	return EventType{}, false
}

var (
	customTypes sync.Map // custom event type name → EventType
	customCount atomic.Int64
)

const maxCustomTypes = 4096

// EventTypeNames lists the built-in event types, sorted.
func EventTypeNames() []string {
	names := make([]string, 0, len(eventTypes))
	for n := range eventTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

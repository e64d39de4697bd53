package square

// The Square objects and request bodies Musubi sends and reads, as documented for the pinned
// APIVersion. Only the fields Musubi uses are declared; Square ignores absent optional fields.

// Money is an amount in the currency's smallest unit (yen, cents).
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Catalog object types Musubi writes.
const (
	TypeDiscount    = "DISCOUNT"
	TypeProductSet  = "PRODUCT_SET"
	TypePricingRule = "PRICING_RULE"
)

// Discount types of a CatalogDiscount.
const (
	FixedPercentage = "FIXED_PERCENTAGE"
	FixedAmount     = "FIXED_AMOUNT"
)

// CatalogObject is one object of the seller's catalog. Version is Square's optimistic
// concurrency token: an update must carry the version it read.
//
// Where an object is present is three fields: present_at_all_locations (true when absent,
// as Square defaults it) makes it present everywhere but at absent_at_location_ids; false,
// nowhere but at present_at_location_ids.
type CatalogObject struct {
	Type                  string              `json:"type"`
	ID                    string              `json:"id"`
	Version               int64               `json:"version,omitempty"`
	UpdatedAt             string              `json:"updated_at,omitempty"`
	IsDeleted             bool                `json:"is_deleted,omitempty"`
	PresentAtAllLocations *bool               `json:"present_at_all_locations,omitempty"`
	PresentAtLocationIDs  []string            `json:"present_at_location_ids,omitempty"`
	AbsentAtLocationIDs   []string            `json:"absent_at_location_ids,omitempty"`
	DiscountData          *CatalogDiscount    `json:"discount_data,omitempty"`
	ProductSetData        *CatalogProductSet  `json:"product_set_data,omitempty"`
	PricingRuleData       *CatalogPricingRule `json:"pricing_rule_data,omitempty"`
}

// AtAllLocations reports whether the object is present at every location but those it is
// absent at; false when it is present only at the locations it lists.
func (o *CatalogObject) AtAllLocations() bool {
	return o.PresentAtAllLocations == nil || *o.PresentAtAllLocations
}

// CatalogDiscount is the amount a pricing rule takes off.
type CatalogDiscount struct {
	Name         string `json:"name,omitempty"`
	DiscountType string `json:"discount_type,omitempty"`
	// Percentage is a decimal string without a % sign: "7.5" is 7.5%.
	Percentage  string `json:"percentage,omitempty"`
	AmountMoney *Money `json:"amount_money,omitempty"`
}

// CatalogProductSet is the set of products a pricing rule matches.
type CatalogProductSet struct {
	Name          string   `json:"name,omitempty"`
	ProductIDsAny []string `json:"product_ids_any,omitempty"`
	ProductIDsAll []string `json:"product_ids_all,omitempty"`
	AllProducts   bool     `json:"all_products,omitempty"`
}

// CatalogPricingRule applies a discount automatically, at the register and in the Orders API,
// to the products of a set, within dates the seller's locations read in their local time.
type CatalogPricingRule struct {
	Name                      string   `json:"name,omitempty"`
	TimePeriodIDs             []string `json:"time_period_ids,omitempty"`
	DiscountID                string   `json:"discount_id,omitempty"`
	MatchProductsID           string   `json:"match_products_id,omitempty"`
	ExcludeProductsID         string   `json:"exclude_products_id,omitempty"`
	ValidFromDate             string   `json:"valid_from_date,omitempty"`
	ValidFromLocalTime        string   `json:"valid_from_local_time,omitempty"`
	ValidUntilDate            string   `json:"valid_until_date,omitempty"`
	ValidUntilLocalTime       string   `json:"valid_until_local_time,omitempty"`
	MinimumOrderSubtotalMoney *Money   `json:"minimum_order_subtotal_money,omitempty"`
	CustomerGroupIDsAny       []string `json:"customer_group_ids_any,omitempty"`
}

// CatalogObjectBatch is upserted all or nothing.
type CatalogObjectBatch struct {
	Objects []CatalogObject `json:"objects"`
}

type batchUpsertRequest struct {
	IdempotencyKey string               `json:"idempotency_key"`
	Batches        []CatalogObjectBatch `json:"batches"`
}

// IDMapping maps a temporary "#" ID of an upsert to the ID Square gave the object.
type IDMapping struct {
	ClientObjectID string `json:"client_object_id"`
	ObjectID       string `json:"object_id"`
}

// BatchUpsertResponse is what a batch upsert returns: the objects as stored, and the IDs the
// temporary ones became.
type BatchUpsertResponse struct {
	Objects    []CatalogObject `json:"objects"`
	IDMappings []IDMapping     `json:"id_mappings"`
}

type batchRetrieveRequest struct {
	ObjectIDs             []string `json:"object_ids"`
	IncludeRelatedObjects bool     `json:"include_related_objects,omitempty"`
}

// RetrieveResponse holds catalog objects and, when asked, the objects they refer to.
type RetrieveResponse struct {
	Objects        []CatalogObject `json:"objects"`
	RelatedObjects []CatalogObject `json:"related_objects"`
}

type retrieveObjectResponse struct {
	Object         *CatalogObject  `json:"object"`
	RelatedObjects []CatalogObject `json:"related_objects"`
}

type batchDeleteRequest struct {
	ObjectIDs []string `json:"object_ids"`
}

type batchDeleteResponse struct {
	DeletedObjectIDs []string `json:"deleted_object_ids"`
}

type listCatalogResponse struct {
	Objects []CatalogObject `json:"objects"`
	Cursor  string          `json:"cursor"`
}

// CustomerGroup is a group of customer profiles; pricing rules can be limited to its members.
type CustomerGroup struct {
	ID        string `json:"id,omitempty"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

type createGroupRequest struct {
	IdempotencyKey string        `json:"idempotency_key,omitempty"`
	Group          CustomerGroup `json:"group"`
}

type groupRequest struct {
	Group CustomerGroup `json:"group"`
}

type groupResponse struct {
	Group *CustomerGroup `json:"group"`
}

type listGroupsResponse struct {
	Groups []CustomerGroup `json:"groups"`
	Cursor string          `json:"cursor"`
}

// WebhookSubscription sends the events of its types to a notification URL. SignatureKey is
// returned when the subscription is created; it signs every notification.
type WebhookSubscription struct {
	ID              string   `json:"id,omitempty"`
	Name            string   `json:"name,omitempty"`
	Enabled         *bool    `json:"enabled,omitempty"`
	EventTypes      []string `json:"event_types,omitempty"`
	NotificationURL string   `json:"notification_url,omitempty"`
	APIVersion      string   `json:"api_version,omitempty"`
	SignatureKey    string   `json:"signature_key,omitempty"`
	CreatedAt       string   `json:"created_at,omitempty"`
	UpdatedAt       string   `json:"updated_at,omitempty"`
}

type createSubscriptionRequest struct {
	IdempotencyKey string              `json:"idempotency_key,omitempty"`
	Subscription   WebhookSubscription `json:"subscription"`
}

type subscriptionRequest struct {
	Subscription WebhookSubscription `json:"subscription"`
}

type subscriptionResponse struct {
	Subscription *WebhookSubscription `json:"subscription"`
}

type listSubscriptionsResponse struct {
	Subscriptions []WebhookSubscription `json:"subscriptions"`
	Cursor        string                `json:"cursor"`
}

// ErrorDetail is one entry of the errors[] array every Square error response carries.
type ErrorDetail struct {
	Category string `json:"category"`
	Code     string `json:"code"`
	Detail   string `json:"detail,omitempty"`
	Field    string `json:"field,omitempty"`
}

type errorBody struct {
	Errors []ErrorDetail `json:"errors"`
}

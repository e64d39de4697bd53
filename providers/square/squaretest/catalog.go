package squaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Square's catalog limits (CatalogInfo).
const (
	maxObjectsPerBatch  = 1000
	maxObjectsPerUpsert = 10000
	maxRetrieveIDs      = 1000
	maxDeleteIDs        = 200
	maxProductIDs       = 500
	listPage            = 100
)

type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type object struct {
	Type                  string           `json:"type"`
	ID                    string           `json:"id"`
	Version               int64            `json:"version,omitempty"`
	UpdatedAt             string           `json:"updated_at,omitempty"`
	IsDeleted             bool             `json:"is_deleted,omitempty"`
	PresentAtAllLocations *bool            `json:"present_at_all_locations,omitempty"`
	PresentAtLocationIDs  []string         `json:"present_at_location_ids,omitempty"`
	AbsentAtLocationIDs   []string         `json:"absent_at_location_ids,omitempty"`
	DiscountData          *discountData    `json:"discount_data,omitempty"`
	ProductSetData        *productSetData  `json:"product_set_data,omitempty"`
	PricingRuleData       *pricingRuleData `json:"pricing_rule_data,omitempty"`
}

type discountData struct {
	Name         string `json:"name,omitempty"`
	DiscountType string `json:"discount_type,omitempty"`
	Percentage   string `json:"percentage,omitempty"`
	AmountMoney  *money `json:"amount_money,omitempty"`
	PinRequired  bool   `json:"pin_required,omitempty"`
	LabelColor   string `json:"label_color,omitempty"`
}

type productSetData struct {
	Name          string   `json:"name,omitempty"`
	ProductIDsAny []string `json:"product_ids_any,omitempty"`
	ProductIDsAll []string `json:"product_ids_all,omitempty"`
	QuantityExact int64    `json:"quantity_exact,omitempty"`
	QuantityMin   int64    `json:"quantity_min,omitempty"`
	QuantityMax   int64    `json:"quantity_max,omitempty"`
	AllProducts   bool     `json:"all_products,omitempty"`
}

type pricingRuleData struct {
	Name                      string   `json:"name,omitempty"`
	TimePeriodIDs             []string `json:"time_period_ids,omitempty"`
	DiscountID                string   `json:"discount_id,omitempty"`
	MatchProductsID           string   `json:"match_products_id,omitempty"`
	ExcludeProductsID         string   `json:"exclude_products_id,omitempty"`
	ValidFromDate             string   `json:"valid_from_date,omitempty"`
	ValidFromLocalTime        string   `json:"valid_from_local_time,omitempty"`
	ValidUntilDate            string   `json:"valid_until_date,omitempty"`
	ValidUntilLocalTime       string   `json:"valid_until_local_time,omitempty"`
	ExcludeStrategy           string   `json:"exclude_strategy,omitempty"`
	MinimumOrderSubtotalMoney *money   `json:"minimum_order_subtotal_money,omitempty"`
	CustomerGroupIDsAny       []string `json:"customer_group_ids_any,omitempty"`
}

// presentAt reports whether the object is present at a location, as Square documents
// CatalogObject: present_at_all_locations (true when not given) makes it present everywhere
// but at absent_at_location_ids, false nowhere but at present_at_location_ids.
func (o *object) presentAt(location string) bool {
	if o.PresentAtAllLocations == nil || *o.PresentAtAllLocations {
		return !contains(o.AbsentAtLocationIDs, location)
	}
	return contains(o.PresentAtLocationIDs, location)
}

// checkLocations refuses location IDs that name none of the seller's locations.
func (s *Server) checkLocations(f string, o *object) error {
	for _, l := range []struct {
		field string
		ids   []string
	}{{"present_at_location_ids", o.PresentAtLocationIDs}, {"absent_at_location_ids", o.AbsentAtLocationIDs}} {
		for _, id := range l.ids {
			if !contains(s.Locations, id) {
				return invalid("INVALID_VALUE", f+"."+l.field, "location %s is not a location of this seller", id)
			}
		}
	}
	return nil
}

// clone copies an object deeply, so what a client sent never aliases what the server keeps.
// Reads need no copy: answers are encoded while the server's lock is held.
func (o *object) clone() *object {
	b, _ := json.Marshal(o)
	var c object
	json.Unmarshal(b, &c)
	return &c
}

// catalogTypes are the CatalogObjectType values ListCatalog accepts.
var catalogTypes = []string{"ITEM", "IMAGE", "CATEGORY", "ITEM_VARIATION", "TAX", "DISCOUNT", "MODIFIER_LIST",
	"MODIFIER", "PRICING_RULE", "PRODUCT_SET", "TIME_PERIOD", "MEASUREMENT_UNIT", "SUBSCRIPTION_PLAN",
	"ITEM_OPTION", "ITEM_OPTION_VAL", "CUSTOM_ATTRIBUTE_DEFINITION", "QUICK_AMOUNTS_SETTINGS"}

func (s *Server) nextVersion() int64 {
	v := time.Now().UnixMilli()
	if v <= s.version {
		v = s.version + 1
	}
	s.version = v
	return v
}

func (s *Server) rateLimited() *Error {
	e := errorf(http.StatusTooManyRequests, "RATE_LIMIT_ERROR", "RATE_LIMITED", "",
		"another catalog update of this seller is in progress; Square processes one at a time")
	e.RetryAfter = int(retryAfter / time.Second)
	return e
}

type idMapping struct {
	ClientObjectID string `json:"client_object_id"`
	ObjectID       string `json:"object_id"`
}

func (s *Server) batchUpsert(r *http.Request) (any, error) {
	var req struct {
		IdempotencyKey string `json:"idempotency_key"`
		Batches        []struct {
			Objects []object `json:"objects"`
		} `json:"batches"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := checkKey(req.IdempotencyKey, true, maxCatalogKey); err != nil {
		return nil, err
	}
	if len(req.Batches) == 0 {
		return nil, invalid("ARRAY_EMPTY", "batches", "batches must hold at least one batch")
	}
	total := 0
	for i, b := range req.Batches {
		switch n := len(b.Objects); {
		case n == 0:
			return nil, invalid("ARRAY_EMPTY", fmt.Sprintf("batches[%d].objects", i), "a batch must hold at least one object")
		case n > maxObjectsPerBatch:
			return nil, invalid("ARRAY_LENGTH_TOO_LONG", fmt.Sprintf("batches[%d].objects", i),
				"Too many objects (%d, max %d) in a single batch in BatchUpsertCatalogObjects request.", n, maxObjectsPerBatch)
		}
		total += len(b.Objects)
	}
	if total > maxObjectsPerUpsert {
		return nil, invalid("ARRAY_LENGTH_TOO_LONG", "batches", "Too many objects (%d, max %d) in a BatchUpsertCatalogObjects request.", total, maxObjectsPerUpsert)
	}
	if s.catalogHeld {
		return nil, s.rateLimited()
	}
	return s.idempotent("catalog/batch-upsert", req.IdempotencyKey, req, func() (any, error) {
		out := struct {
			Objects    []*object   `json:"objects"`
			IDMappings []idMapping `json:"id_mappings,omitempty"`
			UpdatedAt  string      `json:"updated_at"`
		}{UpdatedAt: s.now()}
		temp := map[string]string{} // temporary ID → new ID, across the batches of the request
		for i, b := range req.Batches {
			objs, maps, err := s.applyBatch(i, b.Objects, temp)
			if err != nil {
				return nil, err // batches before this one stay applied, as Square documents
			}
			out.Objects = append(out.Objects, objs...)
			out.IDMappings = append(out.IDMappings, maps...)
		}
		return out, nil
	})
}

// applyBatch validates every object of a batch, then stores them all, or none.
func (s *Server) applyBatch(bi int, objs []object, temp map[string]string) ([]*object, []idMapping, error) {
	local := map[string]string{}
	var maps []idMapping
	for i, o := range objs {
		f := fmt.Sprintf("batches[%d].objects[%d]", bi, i)
		switch {
		case o.ID == "":
			return nil, nil, invalid("MISSING_REQUIRED_PARAMETER", f+".id", "an object needs an id; new objects take a temporary one starting with #")
		case strings.HasPrefix(o.ID, "#"):
			if _, dup := local[o.ID]; dup || temp[o.ID] != "" {
				return nil, nil, invalid("INVALID_VALUE", f+".id", "the temporary id %s appears twice", o.ID)
			}
			local[o.ID] = newID()
			maps = append(maps, idMapping{ClientObjectID: o.ID, ObjectID: local[o.ID]})
		default:
			cur := s.catalog[o.ID]
			switch {
			case cur == nil:
				return nil, nil, notFound(f+".id", "Object with ID %s not found.", o.ID)
			case o.Version == 0:
				return nil, nil, invalid("MISSING_REQUIRED_PARAMETER", f+".version",
					"updating %s needs the version it was read at", o.ID)
			case o.Version != cur.Version:
				return nil, nil, errorf(http.StatusConflict, "INVALID_REQUEST_ERROR", "VERSION_MISMATCH", f+".version",
					"Object version does not match latest database version (sent %d, current %d) for %s.", o.Version, cur.Version, o.ID)
			case o.Type != cur.Type:
				return nil, nil, invalid("INVALID_VALUE", f+".type", "%s is a %s; its type cannot change to %s", o.ID, cur.Type, o.Type)
			}
		}
	}
	resolve := func(id string) string {
		if v, ok := local[id]; ok {
			return v
		}
		if v, ok := temp[id]; ok {
			return v
		}
		return id
	}
	staged := map[string]*object{}
	for i := range objs {
		o := objs[i].clone()
		o.ID = resolve(o.ID)
		o.IsDeleted = false
		staged[o.ID] = o
	}
	typeOf := func(id string) string {
		if o := staged[id]; o != nil {
			return o.Type
		}
		if o := s.catalog[id]; o != nil {
			return o.Type
		}
		return ""
	}
	out := make([]*object, 0, len(objs))
	for i := range objs {
		f := fmt.Sprintf("batches[%d].objects[%d]", bi, i)
		o := staged[resolve(objs[i].ID)]
		if o.PresentAtAllLocations == nil {
			all := true // Square's default, which it then returns
			o.PresentAtAllLocations = &all
		}
		err := s.checkLocations(f, o)
		if err != nil {
			return nil, nil, err
		}
		switch o.Type {
		case "DISCOUNT":
			err = s.checkDiscount(f, o)
		case "PRODUCT_SET":
			err = s.checkProductSet(f, o, typeOf)
		case "PRICING_RULE":
			err = s.checkPricingRule(f, o, resolve, typeOf)
		default:
			err = invalid("INVALID_ENUM_VALUE", f+".type", "type %q is not one this contract server holds (DISCOUNT, PRODUCT_SET, PRICING_RULE)", o.Type)
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, o)
	}
	v, at := s.nextVersion(), s.now()
	for _, o := range out {
		o.Version, o.UpdatedAt = v, at
		s.catalog[o.ID] = o.clone()
	}
	for k, id := range local {
		temp[k] = id
	}
	return out, maps, nil
}

var percentRE = regexp.MustCompile(`^\d{1,3}(\.\d+)?$`)

func (s *Server) checkMoney(field string, m *money, positive bool) error {
	switch {
	case m.Amount < 0 || (positive && m.Amount == 0):
		return invalid("VALUE_TOO_LOW", field+".amount", "amount must be above 0")
	case m.Currency == "":
		return invalid("MISSING_REQUIRED_PARAMETER", field+".currency", "money needs a currency")
	case m.Currency != s.Currency:
		return invalid("INVALID_VALUE", field+".currency", "currency %s is not the seller's currency %s", m.Currency, s.Currency)
	}
	return nil
}

func (s *Server) checkDiscount(f string, o *object) error {
	d := o.DiscountData
	if d == nil {
		return invalid("MISSING_REQUIRED_PARAMETER", f+".discount_data", "a DISCOUNT needs discount_data")
	}
	f += ".discount_data"
	if n := utf8.RuneCountInString(d.Name); n > 255 {
		return invalid("VALUE_TOO_LONG", f+".name", "name is %d characters; the limit is 255", n)
	}
	switch d.DiscountType {
	case "FIXED_PERCENTAGE":
		if d.AmountMoney != nil {
			return invalid("CONFLICTING_PARAMETERS", f+".amount_money", "a FIXED_PERCENTAGE discount takes percentage, not amount_money")
		}
		if !percentRE.MatchString(d.Percentage) {
			return invalid("INVALID_VALUE", f+".percentage", "percentage %q is not a decimal number", d.Percentage)
		}
		if p, _ := strconv.ParseFloat(d.Percentage, 64); p <= 0 || p > 100 {
			return invalid("INVALID_VALUE", f+".percentage", "percentage %s must be above 0 and at most 100", d.Percentage)
		}
	case "FIXED_AMOUNT":
		if d.Percentage != "" {
			return invalid("CONFLICTING_PARAMETERS", f+".percentage", "a FIXED_AMOUNT discount takes amount_money, not percentage")
		}
		if d.AmountMoney == nil {
			return invalid("MISSING_REQUIRED_PARAMETER", f+".amount_money", "a FIXED_AMOUNT discount needs amount_money")
		}
		return s.checkMoney(f+".amount_money", d.AmountMoney, true)
	case "VARIABLE_PERCENTAGE", "VARIABLE_AMOUNT":
	default:
		return invalid("INVALID_ENUM_VALUE", f+".discount_type", "discount_type %q is not a CatalogDiscountType", d.DiscountType)
	}
	return nil
}

func (s *Server) checkProductSet(f string, o *object, typeOf func(string) string) error {
	ps := o.ProductSetData
	if ps == nil {
		return invalid("MISSING_REQUIRED_PARAMETER", f+".product_set_data", "a PRODUCT_SET needs product_set_data")
	}
	f += ".product_set_data"
	set := 0
	for _, b := range []bool{len(ps.ProductIDsAny) > 0, len(ps.ProductIDsAll) > 0, ps.AllProducts} {
		if b {
			set++
		}
	}
	if set != 1 {
		return invalid("CONFLICTING_PARAMETERS", f, "exactly one of product_ids_any, product_ids_all and all_products must be set")
	}
	for _, ids := range [][]string{ps.ProductIDsAny, ps.ProductIDsAll} {
		if len(ids) > maxProductIDs {
			return invalid("ARRAY_LENGTH_TOO_LONG", f, "a product set holds at most %d IDs", maxProductIDs)
		}
		for _, id := range ids {
			if typeOf(id) == "" {
				return invalid("INVALID_VALUE", f, "product %s does not exist", id)
			}
		}
	}
	return nil
}

var (
	dateRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	clockRE = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}$`)
)

func (s *Server) checkPricingRule(f string, o *object, resolve, typeOf func(string) string) error {
	pr := o.PricingRuleData
	if pr == nil {
		return invalid("MISSING_REQUIRED_PARAMETER", f+".pricing_rule_data", "a PRICING_RULE needs pricing_rule_data")
	}
	f += ".pricing_rule_data"
	if n := utf8.RuneCountInString(pr.Name); n > 255 {
		return invalid("VALUE_TOO_LONG", f+".name", "name is %d characters; the limit is 255", n)
	}
	refs := []struct {
		field string
		id    *string
		typ   string
		need  bool
	}{
		{"discount_id", &pr.DiscountID, "DISCOUNT", true},
		{"match_products_id", &pr.MatchProductsID, "PRODUCT_SET", true},
		{"exclude_products_id", &pr.ExcludeProductsID, "PRODUCT_SET", false},
	}
	for _, ref := range refs {
		if *ref.id == "" {
			if ref.need {
				return invalid("MISSING_REQUIRED_PARAMETER", f+"."+ref.field, "%s is required", ref.field)
			}
			continue
		}
		*ref.id = resolve(*ref.id)
		if t := typeOf(*ref.id); t != ref.typ {
			return invalid("INVALID_VALUE", f+"."+ref.field, "%s %s is not an existing %s", ref.field, *ref.id, ref.typ)
		}
	}
	for _, id := range pr.TimePeriodIDs {
		if typeOf(resolve(id)) != "TIME_PERIOD" {
			return invalid("INVALID_VALUE", f+".time_period_ids", "time period %s does not exist", id)
		}
	}
	var from, until time.Time
	for _, d := range []struct {
		field, date, clock string
		at                 *time.Time
		dflt               string
	}{
		{"valid_from", pr.ValidFromDate, pr.ValidFromLocalTime, &from, "00:00:00"},
		{"valid_until", pr.ValidUntilDate, pr.ValidUntilLocalTime, &until, "23:59:59"},
	} {
		if d.date == "" {
			if d.clock != "" {
				return invalid("MISSING_REQUIRED_PARAMETER", f+"."+d.field+"_date", "%s_local_time needs %s_date", d.field, d.field)
			}
			continue
		}
		clock := d.clock
		if clock == "" {
			clock = d.dflt
		}
		if !dateRE.MatchString(d.date) {
			return invalid("INVALID_TIME", f+"."+d.field+"_date", "%q is not an RFC 3339 full-date (YYYY-MM-DD)", d.date)
		}
		if !clockRE.MatchString(clock) {
			return invalid("INVALID_TIME", f+"."+d.field+"_local_time", "%q is not an RFC 3339 partial-time (HH:MM:SS)", clock)
		}
		t, err := time.Parse("2006-01-02 15:04:05", d.date+" "+clock)
		if err != nil {
			return invalid("INVALID_TIME", f+"."+d.field+"_date", "%s %s is not a valid date and time", d.date, clock)
		}
		*d.at = t
	}
	if !from.IsZero() && !until.IsZero() && !until.After(from) {
		return invalid("INVALID_TIME_RANGE", f+".valid_until_date", "the rule ends before it starts")
	}
	if m := pr.MinimumOrderSubtotalMoney; m != nil {
		if err := s.checkMoney(f+".minimum_order_subtotal_money", m, false); err != nil {
			return err
		}
	}
	for _, id := range pr.CustomerGroupIDsAny {
		if s.groups[id] == nil {
			return invalid("INVALID_VALUE", f+".customer_group_ids_any", "customer group %s does not exist", id)
		}
	}
	return nil
}

// related lists the objects the given ones refer to, leaving out those already listed.
func (s *Server) related(objs []*object) []*object {
	seen := map[string]bool{}
	for _, o := range objs {
		seen[o.ID] = true
	}
	var out []*object
	for _, o := range objs {
		if o.PricingRuleData == nil {
			continue
		}
		pr := o.PricingRuleData
		for _, id := range append([]string{pr.DiscountID, pr.MatchProductsID, pr.ExcludeProductsID}, pr.TimePeriodIDs...) {
			if r := s.catalog[id]; r != nil && !seen[id] {
				seen[id] = true
				out = append(out, r)
			}
		}
	}
	return out
}

type retrieved struct {
	Objects        []*object `json:"objects,omitempty"`
	RelatedObjects []*object `json:"related_objects,omitempty"`
}

func (s *Server) batchRetrieve(r *http.Request) (any, error) {
	var req struct {
		ObjectIDs             []string `json:"object_ids"`
		IncludeRelatedObjects bool     `json:"include_related_objects"`
		CatalogVersion        int64    `json:"catalog_version"`
		IncludeDeletedObjects bool     `json:"include_deleted_objects"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	switch n := len(req.ObjectIDs); {
	case n == 0:
		return nil, invalid("MISSING_REQUIRED_PARAMETER", "object_ids", "object_ids is required")
	case n > maxRetrieveIDs:
		return nil, invalid("ARRAY_LENGTH_TOO_LONG", "object_ids", "%d object IDs; a batch retrieve takes at most %d", n, maxRetrieveIDs)
	}
	var out retrieved
	for _, id := range req.ObjectIDs {
		if o := s.catalog[id]; o != nil {
			out.Objects = append(out.Objects, o)
		}
	}
	if req.IncludeRelatedObjects {
		out.RelatedObjects = s.related(out.Objects)
	}
	return out, nil
}

func (s *Server) retrieveObject(r *http.Request) (any, error) {
	id := r.PathValue("id")
	o := s.catalog[id]
	if o == nil {
		return nil, notFound("", "Object with ID %s not found.", id)
	}
	out := struct {
		Object         *object   `json:"object"`
		RelatedObjects []*object `json:"related_objects,omitempty"`
	}{Object: o}
	if r.URL.Query().Get("include_related_objects") == "true" {
		out.RelatedObjects = s.related([]*object{o})
	}
	return out, nil
}

func (s *Server) deleteIDs(ids []string) (any, error) {
	if s.catalogHeld {
		return nil, s.rateLimited()
	}
	deleted := []string{}
	for _, id := range ids {
		if s.catalog[id] != nil {
			delete(s.catalog, id)
			deleted = append(deleted, id)
		}
	}
	return struct {
		DeletedObjectIDs []string `json:"deleted_object_ids"`
		DeletedAt        string   `json:"deleted_at"`
	}{deleted, s.now()}, nil
}

func (s *Server) batchDelete(r *http.Request) (any, error) {
	var req struct {
		ObjectIDs []string `json:"object_ids"`
	}
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	switch n := len(req.ObjectIDs); {
	case n == 0:
		return nil, invalid("MISSING_REQUIRED_PARAMETER", "object_ids", "object_ids is required")
	case n > maxDeleteIDs:
		return nil, invalid("ARRAY_LENGTH_TOO_LONG", "object_ids", "%d object IDs; a batch delete takes at most %d", n, maxDeleteIDs)
	}
	return s.deleteIDs(req.ObjectIDs)
}

func (s *Server) deleteObject(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if s.catalog[id] == nil {
		return nil, notFound("", "Object with ID %s not found.", id)
	}
	return s.deleteIDs([]string{id})
}

func (s *Server) listCatalog(r *http.Request) (any, error) {
	var types []string
	if t := r.URL.Query().Get("types"); t != "" {
		types = strings.Split(t, ",")
	}
	for _, t := range types {
		if !contains(catalogTypes, t) {
			return nil, invalid("INVALID_ENUM_VALUE", "types", "%q is not a CatalogObjectType", t)
		}
	}
	var all []*object
	for _, o := range s.catalog {
		if len(types) == 0 || contains(types, o.Type) {
			all = append(all, o)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	pg, next, err := page(all, r.URL.Query().Get("cursor"), listPage)
	if err != nil {
		return nil, err
	}
	return struct {
		Objects []*object `json:"objects,omitempty"`
		Cursor  string    `json:"cursor,omitempty"`
	}{pg, next}, nil
}

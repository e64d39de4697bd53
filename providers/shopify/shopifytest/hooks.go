package shopifytest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/contracttest"
	"github.com/musubi-hq/musubi/providers/signature"
)

// What the hooks know of how Musubi names what it makes, to find objects by the provider's
// resource IDs: a code pool is DISCOUNT_GID#pool_MARKER, its metafield pool_MARKER in the
// app's namespace; an identity source's webhook subscriptions are webhooks:MARKER, the
// marker in each one's URI; an audience's segment selects the customers tagged musubi:NAME.
// Markers are 16 hex digits. The server states these itself rather than asking the client,
// so a client that changes them fails its tests here.
const (
	poolNamespace  = "$app:musubi"
	poolPrefix     = "pool_"
	markerParam    = "musubi_marker"
	webhooksPrefix = "webhooks:"
)

var (
	poolIDRE     = regexp.MustCompile(`^(gid://shopify/DiscountCodeNode/\d+)#pool_([0-9a-f]{16})$`)
	webhooksIDRE = regexp.MustCompile(`^webhooks:([0-9a-f]{16})$`)
)

func parsePoolID(id string) (discountID, marker string, ok bool) {
	m := poolIDRE.FindStringSubmatch(id)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// uriMarker is the marker of a webhook subscription's URI.
func uriMarker(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", false
	}
	m := u.Query().Get(markerParam)
	return m, m != ""
}

func segmentQuery(segment string) string { return "customer_tags CONTAINS 'musubi:" + segment + "'" }

// formatMinor writes an amount in minor units as the decimal Shopify keeps, with the
// currency's decimals from ISO 4217.
func formatMinor(minor int64, currency string) string {
	d := 2
	for n, codes := range []string{"BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF", "", "",
		"BHD IQD JOD KWD LYD OMR TND", "CLF UYW"} {
		if slices.Contains(strings.Fields(codes), strings.ToUpper(currency)) {
			d = n
		}
	}
	return new(big.Rat).SetFrac(big.NewInt(minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)).FloatString(d)
}

// admin is what the server's Admin does to the shop's objects, as a merchant in the Shopify
// admin (or another app) would. Coupons take title, percent, amount, min_total (minor
// units), code, per_customer, usage_limit, starts_at, ends_at, combines_with
// (comma-separated classes) and audience (a segment ID, "" for everyone); a code pool takes
// count, keeping that many of the discount's codes after its first; audiences take
// description (renames the segment) and segment (rewrites its query); subscriptions take
// endpoint (keeping Musubi's query parameters) and topics (the Shopify topics to keep,
// comma-separated). Removing a code pool deletes its metafield and every code of the
// discount but the first.
func (s *Server) admin() *contracttest.Admin {
	return &contracttest.Admin{Vendor: "Shopify", Lock: &s.mu, Kinds: map[providers.Kind]contracttest.Kind{
		providers.KindCoupon:       {IDs: s.discountIDs, Tamper: s.tamperDiscount, Remove: s.removeDiscount},
		providers.KindCodePool:     {IDs: s.poolIDs, Tamper: s.tamperPool, Remove: s.removePool},
		providers.KindAudience:     {IDs: s.segmentIDs, Tamper: s.tamperSegment, Remove: s.removeSegment},
		providers.KindSubscription: {IDs: s.webhookIDs, Tamper: s.tamperWebhooks, Remove: s.removeWebhooks},
	}}
}

func (s *Server) discountIDs() []string {
	var out []string
	for _, id := range sortedIDs(s.discounts) {
		out = append(out, gid("DiscountCodeNode", id))
	}
	return out
}

func (s *Server) removeDiscount(id string) error {
	d := s.discountByGID(id)
	if d == nil {
		return fmt.Errorf("no code discount %s", id)
	}
	s.deleteDiscount(d)
	return nil
}

func (s *Server) tamperDiscount(id, attr, str string) error {
	d := s.discountByGID(id)
	if d == nil {
		return fmt.Errorf("no code discount %s", id)
	}
	d.updated = s.clock()
	num := func() (int64, error) {
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s takes an integer, not %q", attr, str)
		}
		return n, nil
	}
	at := func() (*time.Time, error) {
		if str == "" {
			return nil, nil
		}
		t, err := time.Parse(time.RFC3339, str)
		if err != nil {
			return nil, fmt.Errorf("%s takes an RFC 3339 time, not %q", attr, str)
		}
		return &t, nil
	}
	switch attr {
	case "title":
		d.title = str
	case "percent":
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return fmt.Errorf("percent takes a number, not %q", str)
		}
		f /= 100
		d.percentage, d.amount = &f, ""
	case "amount", "min_total":
		n, err := num()
		if err != nil {
			return err
		}
		dec := formatMinor(n, s.Currency)
		if attr == "amount" {
			d.percentage, d.amount = nil, dec
		} else if n == 0 {
			d.minSubtotal = ""
		} else {
			d.minSubtotal = dec
		}
	case "code":
		if len(d.codes) == 0 {
			return fmt.Errorf("discount %d has no code", d.id)
		}
		if _, taken := s.codes[strings.ToLower(str)]; taken {
			return fmt.Errorf("code %s is taken", str)
		}
		c := d.codes[0]
		delete(s.codes, strings.ToLower(c.code))
		c.code = str
		s.codes[strings.ToLower(str)] = c
	case "per_customer":
		d.once = str != "0" && str != ""
	case "usage_limit":
		n, err := num()
		if err != nil {
			return err
		}
		d.usageLimit = nil
		if n > 0 {
			d.usageLimit = &n
		}
	case "starts_at":
		t, err := at()
		if err != nil || t == nil {
			return fmt.Errorf("starts_at takes an RFC 3339 time, not %q", str)
		}
		d.startsAt = *t
	case "ends_at":
		t, err := at()
		if err != nil {
			return err
		}
		d.endsAt = t
	case "combines_with":
		d.combines = map[string]bool{}
		for _, c := range strings.Split(str, ",") {
			if c != "" {
				d.combines[c+"Discounts"] = true
			}
		}
	case "audience":
		if str == "" {
			d.context, d.segments = "all", nil
			return nil
		}
		sg := s.segmentByGID(str)
		if sg == nil {
			return fmt.Errorf("no segment %s", str)
		}
		d.context, d.segments = "segments", []int64{sg.id}
	default:
		return fmt.Errorf("a code discount holds no %s", attr)
	}
	return nil
}

func (s *Server) poolIDs() []string {
	var out []string
	for _, id := range sortedIDs(s.discounts) {
		for _, m := range s.discounts[id].metafields {
			if strings.HasPrefix(m.key, poolPrefix) && m.namespace == poolNamespace {
				out = append(out, gid("DiscountCodeNode", id)+"#"+m.key)
			}
		}
	}
	return out
}

// pool returns the discount of a code pool and the pool's marker.
func (s *Server) pool(id string) (*discount, string, error) {
	discountID, marker, ok := parsePoolID(id)
	d := s.discountByGID(discountID)
	if !ok || d == nil {
		return nil, "", fmt.Errorf("no code pool %s", id)
	}
	return d, marker, nil
}

func (s *Server) tamperPool(id, attr, str string) error {
	d, _, err := s.pool(id)
	if err != nil {
		return err
	}
	if attr != "count" {
		return fmt.Errorf("a code pool holds no %s the admin can change", attr)
	}
	n, err := strconv.Atoi(str)
	if err != nil || n < 0 {
		return fmt.Errorf("count takes a whole number, not %q", str)
	}
	for len(d.codes) > n+1 {
		s.removeCode(d.codes[len(d.codes)-1])
	}
	return nil
}

func (s *Server) removePool(id string) error {
	d, marker, err := s.pool(id)
	if err != nil {
		return err
	}
	d.metafields = slices.DeleteFunc(d.metafields, func(m *metafield) bool {
		return m.namespace == poolNamespace && m.key == poolPrefix+marker
	})
	for len(d.codes) > 1 {
		s.removeCode(d.codes[len(d.codes)-1])
	}
	return nil
}

func (s *Server) segmentByGID(id string) *segment {
	typ, n, ok := parseGID(id)
	if !ok || typ != "Segment" {
		return nil
	}
	return s.segments[n]
}

func (s *Server) segmentIDs() []string {
	var out []string
	for _, id := range sortedIDs(s.segments) {
		out = append(out, gid("Segment", id))
	}
	return out
}

func (s *Server) tamperSegment(id, attr, str string) error {
	sg := s.segmentByGID(id)
	if sg == nil {
		return fmt.Errorf("no segment %s", id)
	}
	switch attr {
	case "description", "name":
		sg.name = str
	case "segment":
		sg.query = segmentQuery(str)
	default:
		return fmt.Errorf("a segment holds no %s", attr)
	}
	sg.edited = s.clock()
	return nil
}

func (s *Server) removeSegment(id string) error {
	sg := s.segmentByGID(id)
	if sg == nil {
		return fmt.Errorf("no segment %s", id)
	}
	delete(s.segments, sg.id)
	return nil
}

// webhookIDs lists the subscription resources: one for the webhooks of each marker.
func (s *Server) webhookIDs() []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range sortedIDs(s.webhooks) {
		if m, ok := uriMarker(s.webhooks[id].uri); ok && !seen[m] {
			seen[m] = true
			out = append(out, webhooksPrefix+m)
		}
	}
	return out
}

// webhooksOf returns the webhooks of a subscription resource: those whose URI carries its
// marker.
func (s *Server) webhooksOf(id string) ([]*webhook, error) {
	var out []*webhook
	if m := webhooksIDRE.FindStringSubmatch(id); m != nil {
		for _, wid := range sortedIDs(s.webhooks) {
			wh := s.webhooks[wid]
			if marker, ok := uriMarker(wh.uri); ok && marker == m[1] {
				out = append(out, wh)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no webhook subscriptions %s", id)
	}
	return out, nil
}

func (s *Server) tamperWebhooks(id, attr, str string) error {
	whs, err := s.webhooksOf(id)
	if err != nil {
		return err
	}
	switch attr {
	case "endpoint":
		to, err := url.Parse(str)
		if err != nil {
			return err
		}
		for _, wh := range whs {
			u, _ := url.Parse(wh.uri)
			u.Scheme, u.Host, u.Path = to.Scheme, to.Host, to.Path
			wh.uri, wh.updated = u.String(), s.clock()
		}
	case "topics":
		keep := strings.Split(str, ",")
		for _, wh := range whs {
			if !slices.Contains(keep, wh.topic) {
				delete(s.webhooks, wh.id)
			}
		}
	default:
		return fmt.Errorf("a webhook subscription holds no %s", attr)
	}
	return nil
}

func (s *Server) removeWebhooks(id string) error {
	whs, err := s.webhooksOf(id)
	if err != nil {
		return err
	}
	for _, wh := range whs {
		delete(s.webhooks, wh.id)
	}
	return nil
}

// Objects describes every object the server holds, one line each, in creation order:
// DISCOUNT, SEGMENT and WEBHOOK lines.
func (s *Server) Objects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range sortedIDs(s.discounts) {
		d := s.discounts[id]
		value := ""
		if d.percentage != nil {
			value = strconv.FormatFloat(*d.percentage*100, 'f', -1, 64) + "%"
		} else {
			value = d.amount + " " + s.Currency
		}
		var code string
		if len(d.codes) > 0 {
			code = d.codes[0].code
		}
		line := fmt.Sprintf("DISCOUNT %s title=%q code=%s codes=%d value=%s", gid("DiscountCodeNode", id), d.title, code, len(d.codes), value)
		if d.minSubtotal != "" {
			line += " min=" + d.minSubtotal
		}
		line += fmt.Sprintf(" once=%v", d.once)
		if d.usageLimit != nil {
			line += fmt.Sprintf(" limit=%d", *d.usageLimit)
		}
		line += " starts=" + rfc3339(d.startsAt)
		if d.endsAt != nil {
			line += " ends=" + rfc3339(*d.endsAt)
		}
		var combines []string
		for _, k := range []string{"orderDiscounts", "productDiscounts", "shippingDiscounts"} {
			if d.combines[k] {
				combines = append(combines, strings.TrimSuffix(k, "Discounts"))
			}
		}
		line += " combines=" + strings.Join(combines, ",") + " context=" + d.context
		for _, sg := range d.segments {
			line += ":" + gid("Segment", sg)
		}
		pools := 0
		for _, m := range d.metafields {
			if strings.HasPrefix(m.key, poolPrefix) {
				pools++
			}
		}
		out = append(out, line+fmt.Sprintf(" pools=%d", pools))
	}
	for _, id := range sortedIDs(s.segments) {
		sg := s.segments[id]
		out = append(out, fmt.Sprintf("SEGMENT %s name=%q query=%q", gid("Segment", id), sg.name, sg.query))
	}
	for _, id := range sortedIDs(s.webhooks) {
		wh := s.webhooks[id]
		out = append(out, fmt.Sprintf("WEBHOOK %s topic=%s uri=%s", gid("WebhookSubscription", id), wh.topic, wh.uri))
	}
	return out
}

// Codes returns the codes of a discount, in the order they were added.
func (s *Server) Codes(discountID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.discountByGID(discountID)
	if d == nil {
		return nil
	}
	out := make([]string, len(d.codes))
	for i, c := range d.codes {
		out[i] = c.code
	}
	return out
}

// WebhookHeaders returns the headers Shopify sends with a webhook of topic (e.g.
// "orders/create") from this shop, signed with secret.
func (s *Server) WebhookHeaders(secret, topic string, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(signature.ShopifyHeader, signature.SignShopify(secret, body))
	h.Set("X-Shopify-Topic", topic)
	h.Set("X-Shopify-Shop-Domain", s.Shop)
	h.Set("X-Shopify-API-Version", APIVersion)
	h.Set("X-Shopify-Webhook-Id", uuid.NewString())
	h.Set("X-Shopify-Event-Id", uuid.NewString())
	h.Set("X-Shopify-Triggered-At", s.Now().Format(time.RFC3339Nano))
	return h
}

// Webhook builds the delivery Shopify would make of payload to the subscription of a topic
// (a WebhookSubscriptionTopic such as ORDERS_CREATE): the body, its headers signed with the
// app's Secret, and the subscription's URI. It is an error when no subscription has the topic.
func (s *Server) Webhook(topic string, payload any) ([]byte, http.Header, string, error) {
	s.mu.Lock()
	uri := ""
	for _, id := range sortedIDs(s.webhooks) {
		if wh := s.webhooks[id]; wh.topic == topic {
			uri = wh.uri
			break
		}
	}
	s.mu.Unlock()
	if uri == "" {
		return nil, nil, "", fmt.Errorf("no webhook subscription has the topic %s", topic)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, nil, "", err
	}
	return body, s.WebhookHeaders(s.Secret, TopicHeader(topic), body), uri, nil
}

// TopicHeader is the X-Shopify-Topic of a WebhookSubscriptionTopic: ORDERS_CREATE is
// orders/create.
func TopicHeader(topic string) string {
	return strings.Replace(strings.ToLower(topic), "_", "/", 1)
}

// AddCustomer registers a customer of the shop, as the storefront or the admin would, and
// returns its GID.
func (s *Server) AddCustomer(email string, tags ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &customer{id: s.nextID(), email: email, tags: tags}
	s.customers[c.id] = c
	return gid("Customer", c.id)
}

// CustomerTags returns a customer's tags, or nil when there is no such customer.
func (s *Server) CustomerTags(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	typ, n, ok := parseGID(id)
	if c := s.customers[n]; ok && typ == "Customer" && c != nil {
		return slices.Clone(c.tags)
	}
	return nil
}

// Tagged returns the GIDs of the customers carrying a tag, whatever its case, in the order
// they were added.
func (s *Server) Tagged(tag string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range sortedIDs(s.customers) {
		if hasTag(s.customers[id], tag) {
			out = append(out, gid("Customer", id))
		}
	}
	return out
}

func hasTag(c *customer, tag string) bool {
	return slices.ContainsFunc(c.tags, func(t string) bool { return strings.EqualFold(t, tag) })
}

// Members returns the emails of the customers a segment's query selects, for the tag
// queries Musubi writes (customer_tags CONTAINS 'TAG'), sorted.
func (s *Server) Members(segmentID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg := s.segmentByGID(segmentID)
	if sg == nil {
		return nil
	}
	tag, ok := strings.CutPrefix(sg.query, "customer_tags CONTAINS '")
	tag, ok2 := strings.CutSuffix(tag, "'")
	if !ok || !ok2 {
		return nil
	}
	var out []string
	for _, id := range sortedIDs(s.customers) {
		if c := s.customers[id]; hasTag(c, tag) {
			out = append(out, c.email)
		}
	}
	return out
}

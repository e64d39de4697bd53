package shopify

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"net/url"
	"regexp"
	"strings"
)

// Shopify's discounts, segments and webhook subscriptions have no field to look an object up
// by the idempotency key of the request that made it, so Musubi writes a marker derived from
// the key where it can find it again: in a discount's title, a segment's name, a webhook's
// URI query and a code pool's metafield key. A retried apply whose create reached Shopify but
// whose answer was lost finds the object by its marker and adopts it instead of making a
// second one. The marker is 16 hex digits of SHA-256(key), as the other providers write it.

const markerLen = 16

// markerOf returns the marker of an idempotency key.
func markerOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:markerLen]
}

// markerSuffixLen is the length of " [musubi MARKER]".
const markerSuffixLen = len(" [musubi ]") + markerLen

var markedRE = regexp.MustCompile(`^(.*) \[musubi ([0-9a-f]{16})\]$`)

// marked appends a marker to a title or name: "Spring 10% off [musubi 1f0c2a9e8b7d6c5a]".
// Merchants see it in the admin; customers see a code discount's code, not its title.
func marked(name, marker string) string { return name + " [musubi " + marker + "]" }

// parseMarked splits a name made by marked. ok is false for names Musubi did not write, or
// that someone edited in the admin.
func parseMarked(s string) (name, marker string, ok bool) {
	m := markedRE.FindStringSubmatch(s)
	if m == nil {
		return s, "", false
	}
	return m[1], m[2], true
}

// placeholderPrefix starts the code of a coupon whose codes come from a code pool: Shopify
// requires every code discount to have a code, so the discount is created with one derived
// from the idempotency key, which nobody is given.
const placeholderPrefix = "MUSUBI-"

var placeholderRE = regexp.MustCompile(`^MUSUBI-[A-Z2-7]{20}$`)

// placeholderCode returns the code a pool-based coupon is created with. It is derived from
// the idempotency key, so a retried create looks it up with codeDiscountNodeByCode, and it
// is 100 bits of hash, so it cannot be guessed from the coupon's other codes.
func placeholderCode(key string) string {
	sum := sha256.Sum256([]byte("musubi placeholder code\x00" + key))
	return placeholderPrefix + base32.StdEncoding.EncodeToString(sum[:])[:20]
}

// isPlaceholderCode reports whether a code is one placeholderCode makes.
func isPlaceholderCode(code string) bool { return placeholderRE.MatchString(code) }

// customerTag is the tag the engine puts on the Shopify customers of a segment. Shopify's
// segment language cannot see Musubi's profiles, so an audience's segment selects the
// customers carrying this tag.
func customerTag(segment string) string { return "musubi:" + segment }

// segmentQuery is the ShopifyQL query of a segment's audience.
func segmentQuery(segment string) string {
	return "customer_tags CONTAINS '" + customerTag(segment) + "'"
}

var segmentQueryRE = regexp.MustCompile(`^customer_tags CONTAINS 'musubi:([^']+)'$`)

// parseSegmentQuery returns the segment of a query segmentQuery wrote.
func parseSegmentQuery(q string) (segment string, ok bool) {
	m := segmentQueryRE.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// segmentName is the name of an audience's Shopify segment: the segment, its description
// and the marker, e.g. "loyal_store: Store regulars [musubi 1f0c2a9e8b7d6c5a]". Merchants
// see it in the admin's customer segments; Shopify wants segment names unique, and the
// marker makes them so.
func segmentName(segment, description, marker string) string {
	name := segment
	if description != "" {
		name += ": " + description
	}
	return marked(name, marker)
}

// parseSegmentName splits a name segmentName made. ok is false for names Musubi did not
// write.
func parseSegmentName(name string) (segment, description, marker string, ok bool) {
	rest, marker, ok := parseMarked(name)
	if !ok {
		return "", "", "", false
	}
	segment, description, _ = strings.Cut(rest, ": ")
	return segment, description, marker, true
}

// Query parameters Musubi adds to the URI of its webhook subscriptions. Shopify keeps no
// name on a subscription; the URI is the only field Musubi writes, so the identity source
// and the marker ride on it. The engine ignores them.
const (
	sourceParam = "musubi_source"
	markerParam = "musubi_marker"
)

// subscriptionURI is the URI of a webhook subscription of an identity source.
func subscriptionURI(endpoint, source, marker string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	q := u.Query()
	q.Set(sourceParam, source)
	q.Set(markerParam, marker)
	u.RawQuery = q.Encode()
	return u.String()
}

// parseSubscriptionURI splits a URI subscriptionURI made into the endpoint, the source and
// the marker. ok is false when the URI carries no marker.
func parseSubscriptionURI(uri string) (endpoint, source, marker string, ok bool) {
	u, err := url.Parse(uri)
	if err != nil {
		return uri, "", "", false
	}
	q := u.Query()
	source, marker = q.Get(sourceParam), q.Get(markerParam)
	q.Del(sourceParam)
	q.Del(markerParam)
	u.RawQuery = q.Encode()
	return u.String(), source, marker, marker != ""
}

// metafieldNamespace holds what Musubi stores on a discount: one metafield per code pool. It
// is reserved to the app ("$app:"), so other apps cannot read or change it.
const metafieldNamespace = "$app:musubi"

const poolKeyPrefix = "pool_"

// poolKey is the metafield key of the code pool a create with this marker made.
func poolKey(marker string) string { return poolKeyPrefix + marker }

// poolID is a code pool's resource ID: the discount's ID and the pool's metafield key.
func poolID(discountID, marker string) string { return discountID + "#" + poolKey(marker) }

// parsePoolID splits a poolID.
func parsePoolID(id string) (discountID, marker string, ok bool) {
	discountID, key, found := strings.Cut(id, "#")
	marker, isPool := strings.CutPrefix(key, poolKeyPrefix)
	if !found || !isPool || len(marker) != markerLen || !strings.HasPrefix(discountID, discountGIDPrefix) {
		return "", "", false
	}
	return discountID, marker, true
}

// subscriptionIDPrefix starts the resource ID of an identity source's webhook subscriptions,
// which are one Shopify subscription per topic, found by the marker in their URIs.
const subscriptionIDPrefix = "webhooks:"

// subscriptionID is the resource ID of the webhook subscriptions a create with this marker
// made.
func subscriptionID(marker string) string { return subscriptionIDPrefix + marker }

// parseSubscriptionID returns the marker of a subscriptionID.
func parseSubscriptionID(id string) (marker string, ok bool) {
	marker, ok = strings.CutPrefix(id, subscriptionIDPrefix)
	return marker, ok && len(marker) == markerLen
}

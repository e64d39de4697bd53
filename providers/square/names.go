package square

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Square has no field to look an object up by the idempotency key of the request that made
// it, so Musubi writes a marker derived from the key into a name: a retried apply whose
// create reached Square, but whose answer was lost, finds the object by listing. The marker
// is 16 hex digits of SHA-256(key); it never changes for the object's life.

const markerLen = 16

// markerOf returns the marker of an idempotency key.
func markerOf(key string) string { return hashHex(key, markerLen) }

func hashHex(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// productSetName names the "all products" set of a coupon; staff never see product sets.
func productSetName(marker string) string { return "musubi " + marker }

// groupName is the name of the customer group that mirrors a segment: the segment, its
// description, and the marker, e.g. "loyal_store: Store regulars [musubi 1f0c2a9e8b7d6c5a]".
// Staff see it in the Customer Directory; the engine finds the group of a segment by it.
func groupName(segment, description, marker string) string {
	name := segment
	if description != "" {
		name += ": " + description
	}
	return name + " [musubi " + marker + "]"
}

var groupNameRE = regexp.MustCompile(`^(.*) \[musubi ([0-9a-f]{16})\]$`)

// parseGroupName splits a customer group's name made by groupName. ok is false for groups
// Musubi did not name.
func parseGroupName(name string) (segment, description, marker string, ok bool) {
	m := groupNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", "", "", false
	}
	segment, description, _ = strings.Cut(m[1], ": ")
	return segment, description, m[2], true
}

// subscriptionName is the name of the webhook subscription of an identity source: "musubi
// SOURCE MARKER", at most 64 characters as Square requires.
func subscriptionName(source, marker string) string {
	return "musubi " + source + " " + marker
}

// maxSourceLen keeps subscriptionName within Square's 64 characters.
const maxSourceLen = 64 - len("musubi ") - 1 - markerLen

var subscriptionNameRE = regexp.MustCompile(`^musubi (\S+) ([0-9a-f]{16})$`)

// parseSubscriptionName splits a name made by subscriptionName.
func parseSubscriptionName(name string) (source, marker string, ok bool) {
	m := subscriptionNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

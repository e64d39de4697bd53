// Package signature checks and makes the HMAC signatures that webhook senders put on their
// requests. The engine uses it to verify inbound provider webhooks; providers and their contract
// servers use it to sign. One implementation per scheme, compared in constant time.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names the schemes use.
const (
	LINEHeader    = "X-Line-Signature"
	ShopifyHeader = "X-Shopify-Hmac-Sha256"
	SquareHeader  = "X-Square-Hmacsha256-Signature"
	// MusubiHeader signs payloads Musubi's webhook provider posts: "t=<unix seconds>,v1=<hex
	// HMAC-SHA256 of "<t>.<body>">", as Stripe and Slack sign theirs.
	MusubiHeader = "X-Musubi-Signature"
)

// MusubiTolerance is how far from the receiver's clock the time of a Musubi signature may be,
// unless the receiver says otherwise: Stripe's and Slack's five minutes.
const MusubiTolerance = 5 * time.Minute

// ErrMissing is returned when a request carries no signature at all.
var ErrMissing = errors.New("the request carries no signature")

// ErrMismatch is returned when a signature does not match the body.
var ErrMismatch = errors.New("the signature does not match the body")

// ErrStale is returned when a valid signature was made too long ago, or too far ahead of the
// receiver's clock: a request recorded and posted again, or a clock that is wrong.
var ErrStale = errors.New("the signature's time is outside the tolerance")

// HMACBase64 returns base64(HMAC-SHA256(secret, parts...)).
func HMACBase64(secret []byte, parts ...[]byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, parts...))
}

func mac(secret []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// verifyBase64 compares a base64 signature with the expected MAC in constant time.
func verifyBase64(got string, want []byte) error {
	got = strings.TrimSpace(got)
	if got == "" {
		return ErrMissing
	}
	raw, err := base64.StdEncoding.DecodeString(got)
	if err != nil {
		return fmt.Errorf("%w (not base64)", ErrMismatch)
	}
	if !hmac.Equal(raw, want) {
		return ErrMismatch
	}
	return nil
}

// SignLINE signs a body as the LINE Platform does: base64 HMAC-SHA256 keyed by the channel secret.
func SignLINE(channelSecret string, body []byte) string {
	return HMACBase64([]byte(channelSecret), body)
}

// VerifyLINE checks the x-line-signature header of a LINE webhook.
func VerifyLINE(channelSecret string, body []byte, header string) error {
	return verifyBase64(header, mac([]byte(channelSecret), body))
}

// SignShopify signs a body as Shopify does: base64 HMAC-SHA256 keyed by the app's client secret.
func SignShopify(secret string, body []byte) string {
	return HMACBase64([]byte(secret), body)
}

// VerifyShopify checks the X-Shopify-Hmac-SHA256 header of a Shopify webhook.
func VerifyShopify(secret string, body []byte, header string) error {
	return verifyBase64(header, mac([]byte(secret), body))
}

// SignSquare signs a notification as Square does: base64 HMAC-SHA256 of the notification URL
// followed by the body, keyed by the subscription's signature key.
func SignSquare(signatureKey, notificationURL string, body []byte) string {
	return HMACBase64([]byte(signatureKey), []byte(notificationURL), body)
}

// VerifySquare checks the x-square-hmacsha256-signature header. notificationURL must be the URL
// exactly as registered in the subscription, which may differ from what a proxy forwards.
func VerifySquare(signatureKey, notificationURL string, body []byte, header string) error {
	return verifyBase64(header, mac([]byte(signatureKey), []byte(notificationURL), body))
}

// SignMusubi signs a payload Musubi posts at time at: "t=<unix seconds>,v1=<hex HMAC-SHA256
// of "<t>.<body>">". The time is inside the signed content, so an old request cannot be
// posted again under a new time.
func SignMusubi(secret string, at time.Time, body []byte) string {
	t := strconv.FormatInt(at.Unix(), 10)
	return "t=" + t + ",v1=" + musubiMAC(secret, t, body)
}

func musubiMAC(secret, t string, body []byte) string {
	return hex.EncodeToString(mac([]byte(secret), []byte(t), []byte("."), body))
}

// VerifyMusubi checks an X-Musubi-Signature header: one of its v1 values must be the MAC of
// its t and the body, and t must lie within tolerance of now, either way (MusubiTolerance when
// tolerance is 0). It returns the time the request was signed. Schemes other than v1 are
// ignored, as Stripe's are, so a later one can be added beside it; the old "sha256=HEX"
// without a time is refused.
func VerifyMusubi(secret string, body []byte, header string, now time.Time, tolerance time.Duration) (time.Time, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return time.Time{}, ErrMissing
	}
	malformed := fmt.Errorf("%w (expected t=UNIX-SECONDS,v1=HEX)", ErrMismatch)
	var t string
	var v1 []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok || k == "t" && t != "":
			return time.Time{}, malformed
		case k == "sha256":
			return time.Time{}, fmt.Errorf("%w (sha256=HEX is the old form, signed without a time; expected t=UNIX-SECONDS,v1=HEX)", ErrMismatch)
		case k == "t":
			t = v
		case k == "v1":
			v1 = append(v1, strings.ToLower(v))
		}
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil || sec <= 0 || len(v1) == 0 {
		return time.Time{}, malformed
	}
	want := []byte(musubiMAC(secret, t, body))
	matched := false
	for _, got := range v1 {
		matched = hmac.Equal([]byte(got), want) || matched // every one compared: constant time
	}
	if !matched {
		return time.Time{}, ErrMismatch
	}
	at := time.Unix(sec, 0)
	if tolerance <= 0 {
		tolerance = MusubiTolerance
	}
	switch age := now.Sub(at); {
	case age > tolerance:
		return at, fmt.Errorf("%w: signed %s ago, more than the %s allowed", ErrStale, age.Round(time.Second), tolerance)
	case -age > tolerance:
		return at, fmt.Errorf("%w: signed %s ahead of this clock, more than the %s allowed; is a clock wrong?", ErrStale, (-age).Round(time.Second), tolerance)
	}
	return at, nil
}

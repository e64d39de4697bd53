// Package signature checks and makes the HMAC signatures that webhook senders put on their
// requests. The engine uses it to verify inbound provider webhooks; providers and their contract
// servers use it to sign. One implementation per scheme, compared in constant time.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Header names the schemes use.
const (
	LINEHeader    = "X-Line-Signature"
	ShopifyHeader = "X-Shopify-Hmac-Sha256"
	SquareHeader  = "X-Square-Hmacsha256-Signature"
	// MusubiHeader signs payloads Musubi's webhook provider posts: "sha256=" + hex HMAC of the body.
	MusubiHeader = "X-Musubi-Signature"
)

// ErrMissing is returned when a request carries no signature at all.
var ErrMissing = errors.New("the request carries no signature")

// ErrMismatch is returned when a signature does not match the body.
var ErrMismatch = errors.New("the signature does not match the body")

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

// SignMusubi signs a payload Musubi posts: "sha256=" followed by the hex HMAC-SHA256 of the body.
func SignMusubi(secret string, body []byte) string {
	return "sha256=" + fmt.Sprintf("%x", mac([]byte(secret), body))
}

// VerifyMusubi checks an X-Musubi-Signature header.
func VerifyMusubi(secret string, body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissing
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w (expected sha256=HEX)", ErrMismatch)
	}
	if !hmac.Equal([]byte(strings.ToLower(hexSig)), []byte(fmt.Sprintf("%x", mac([]byte(secret), body)))) {
		return ErrMismatch
	}
	return nil
}

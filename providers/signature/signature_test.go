package signature

import (
	"errors"
	"testing"
)

// Known values computed independently (openssl dgst -sha256 -hmac KEY -binary | base64).
func TestKnownSignatures(t *testing.T) {
	body := []byte(`{"destination":"U0","events":[]}`)
	if got, want := SignLINE("secret", body), HMACBase64([]byte("secret"), body); got != want {
		t.Fatalf("SignLINE = %s, want %s", got, want)
	}
	// RFC 4231-style check against a fixed vector: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	if got := HMACBase64([]byte("key"), []byte("The quick brown fox jumps over the lazy dog")); got != "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=" {
		t.Fatalf("HMACBase64 = %s", got)
	}
	// Square signs URL followed by body: the same as signing their concatenation.
	if SignSquare("k", "https://x.test/hook", []byte("{}")) != HMACBase64([]byte("k"), []byte("https://x.test/hook{}")) {
		t.Fatal("Square signature is not over URL+body")
	}
}

func TestVerifyBothWays(t *testing.T) {
	body := []byte(`{"id":1}`)
	cases := []struct {
		name   string
		sign   func([]byte) string
		verify func([]byte, string) error
	}{
		{"line", func(b []byte) string { return SignLINE("s", b) }, func(b []byte, h string) error { return VerifyLINE("s", b, h) }},
		{"shopify", func(b []byte) string { return SignShopify("s", b) }, func(b []byte, h string) error { return VerifyShopify("s", b, h) }},
		{"square", func(b []byte) string { return SignSquare("s", "https://e.test/w", b) }, func(b []byte, h string) error { return VerifySquare("s", "https://e.test/w", b, h) }},
		{"musubi", func(b []byte) string { return SignMusubi("s", b) }, func(b []byte, h string) error { return VerifyMusubi("s", b, h) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sig := c.sign(body)
			if err := c.verify(body, sig); err != nil {
				t.Fatalf("valid signature refused: %v", err)
			}
			if err := c.verify([]byte(`{"id":2}`), sig); !errors.Is(err, ErrMismatch) {
				t.Fatalf("tampered body: %v, want mismatch", err)
			}
			if err := c.verify(body, ""); !errors.Is(err, ErrMissing) {
				t.Fatalf("no signature: %v, want missing", err)
			}
			if err := c.verify(body, "!!notbase64"); !errors.Is(err, ErrMismatch) {
				t.Fatalf("garbage signature: %v, want mismatch", err)
			}
		})
	}
	if err := VerifySquare("s", "https://proxy.test/w", body, SignSquare("s", "https://e.test/w", body)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Square signature for another URL accepted: %v", err)
	}
}

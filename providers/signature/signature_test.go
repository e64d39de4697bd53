package signature

import (
	"errors"
	"strings"
	"testing"
	"time"
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
		{"musubi", func(b []byte) string { return SignMusubi("s", signedAt, b) }, func(b []byte, h string) error {
			_, err := VerifyMusubi("s", b, h, signedAt, 0)
			return err
		}},
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

var signedAt = time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)

// Musubi's signature covers its time and the body: "t=T,v1=hex HMAC of T.BODY". Known value:
// printf '1803891600.{"id":1}' | openssl dgst -sha256 -hmac s
func TestMusubiSignature(t *testing.T) {
	body := []byte(`{"id":1}`)
	sig := SignMusubi("s", signedAt, body)
	if want := "t=1803891600,v1=c6f85df30ea6e01816750f8512b71f4d30e5c3abebe68ce8a0c4369aa4989d17"; sig != want {
		t.Fatalf("SignMusubi = %s, want %s", sig, want)
	}
	v1 := strings.TrimPrefix(sig, "t=1803891600,")
	for name, c := range map[string]struct {
		header string
		now    time.Time
		tol    time.Duration
		want   error
	}{
		"valid":                 {sig, signedAt, 0, nil},
		"4m59s later":           {sig, signedAt.Add(4*time.Minute + 59*time.Second), 0, nil},
		"5m01s later":           {sig, signedAt.Add(5*time.Minute + time.Second), 0, ErrStale},
		"5m01s early":           {sig, signedAt.Add(-5*time.Minute - time.Second), 0, ErrStale},
		"within a longer limit": {sig, signedAt.Add(time.Hour), 2 * time.Hour, nil},
		"beyond a shorter one":  {sig, signedAt.Add(31 * time.Second), 30 * time.Second, ErrStale},
		"another time":          {"t=1803891601," + v1, signedAt, 0, ErrMismatch},
		"an upper-case key":     {"t=1803891600,V1=" + strings.ToUpper(strings.TrimPrefix(v1, "v1=")), signedAt, 0, ErrMismatch},
		"upper-case digits":     {"t=1803891600,v1=" + strings.ToUpper(strings.TrimPrefix(v1, "v1=")), signedAt, 0, nil},
		"a second v1":           {sig + ",v1=00ff", signedAt, 0, nil},
		"a later scheme":        {sig + ",v2=abc", signedAt, 0, nil},
		"spaces":                {"t=1803891600, " + v1, signedAt, 0, nil},
		"no time":               {v1, signedAt, 0, ErrMismatch},
		"two times":             {sig + ",t=1803891600", signedAt, 0, ErrMismatch},
		"no v1":                 {"t=1803891600", signedAt, 0, ErrMismatch},
		"the old form":          {"sha256=" + musubiMAC("s", "", body), signedAt, 0, ErrMismatch},
		"a time in words":       {"t=now," + v1, signedAt, 0, ErrMismatch},
		"none":                  {" ", signedAt, 0, ErrMissing},
	} {
		at, err := VerifyMusubi("s", body, c.header, c.now, c.tol)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if err == nil && !at.Equal(signedAt) {
			t.Errorf("%s: signed at %v, want %v", name, at, signedAt)
		}
	}
	_, err := VerifyMusubi("s", body, sig, signedAt.Add(7*time.Minute), 0)
	if err == nil || !strings.Contains(err.Error(), "signed 7m0s ago, more than the 5m0s allowed") {
		t.Errorf("a stale signature: %v", err)
	}
}

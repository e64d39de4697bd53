package providers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// NewKey returns a random 128-bit key in hex: a code pool's seed, a create's idempotency key.
func NewKey() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	return hex.EncodeToString(b)
}

// GenerateCodes returns the first count codes of a pool. The codes depend only on the
// pattern, charset and seed, so every channel of a campaign receives the same codes, and
// growing a pool from 500 to 1,000 keeps the first 500. Each '#' of the pattern becomes one
// character of charset drawn from HMAC-SHA256(seed, n); duplicates are skipped.
func GenerateCodes(pattern, charset, seed string, count int) []string {
	if count <= 0 || charset == "" || !strings.Contains(pattern, "#") {
		return nil
	}
	mac := hmac.New(sha256.New, []byte(seed))
	codes := make([]string, 0, count)
	seen := make(map[string]struct{}, count)
	var ctr [8]byte
	var sum []byte
	buf := []byte(pattern)
	for n := uint64(0); len(codes) < count; n++ {
		binary.BigEndian.PutUint64(ctr[:], n)
		mac.Reset()
		mac.Write(ctr[:])
		sum = mac.Sum(sum[:0])
		// Draw characters from the 256-bit digest, 16 bits at a time; the slight modulo bias
		// over charsets of a few dozen characters is below 0.1%.
		j := 0
		for i := range buf {
			if pattern[i] != '#' {
				continue
			}
			if j+2 > len(sum) {
				mac.Reset()
				mac.Write(sum)
				sum = mac.Sum(sum[:0])
				j = 0
			}
			v := binary.BigEndian.Uint16(sum[j:])
			j += 2
			buf[i] = charset[int(v)%len(charset)]
		}
		code := string(buf)
		if _, dup := seen[code]; dup {
			continue
		}
		seen[code] = struct{}{}
		codes = append(codes, code)
	}
	return codes
}

package engine

import (
	"strings"
	"testing"
)

// Keys are kept in the outbox and by providers: they must never change from one version to
// the next, or a retry after an upgrade would send again.
func TestIdempotencyKeysStayTheSame(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"trg_001", "0", "pos:p1", "c_abc"}, "mk_bc020a91aa65660588b60f73df59a38d"},
		{[]string{"code", "spring", strings.Repeat("x", 300)}, "mk_0139dcfb9d63dac66c0b8e4a17aff0af"},
		{nil, "mk_e3b0c44298fc1c149afbf4c8996fb924"},
	} {
		if got := idempotencyKey(c.parts...); got != c.want {
			t.Errorf("idempotencyKey(%q) = %s, want %s", c.parts, got, c.want)
		}
	}
}

package plugin

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/providers"
)

// BenchmarkRoundTrip compares one provider call made in-process with the same call made to
// the plugin process over gRPC, on the example loyalty provider. validate does no I/O, so
// its difference is the protocol's whole cost; read and create add the provider's own file
// work (create replays one idempotency key, so the file keeps its size).
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	setups := []struct {
		name string
		open func(b *testing.B) providers.Provider
	}{
		{"in-process", func(b *testing.B) providers.Provider { return &loyalty.Provider{} }},
		{"grpc", func(b *testing.B) providers.Provider { return start(b, Options{}) }},
	}
	for _, s := range setups {
		p := s.open(b)
		configure(b, p, map[string]any{"path": filepath.Join(b.TempDir(), "loyalty.json")})
		attrs := loyaltytest.CouponAttrs()
		created := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: attrs, IdempotencyKey: "bench"})
		if err := created.Diagnostics.Err(); err != nil {
			b.Fatal(err)
		}
		b.Run("validate/"+s.name, func(b *testing.B) {
			for b.Loop() {
				if r := p.Validate(ctx, providers.ValidateRequest{Kind: providers.KindCoupon, Attributes: attrs}); r.Diagnostics.HasErrors() {
					b.Fatal(r.Diagnostics.Err())
				}
			}
		})
		b.Run("read/"+s.name, func(b *testing.B) {
			for b.Loop() {
				if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: created.ID}); !r.Found {
					b.Fatal("not found")
				}
			}
		})
		b.Run("create/"+s.name, func(b *testing.B) {
			for b.Loop() {
				r := p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: attrs, IdempotencyKey: "bench"})
				if r.ID != created.ID {
					b.Fatal(r.Diagnostics.Err())
				}
			}
		})
	}
}

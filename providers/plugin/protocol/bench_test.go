package protocol

import (
	"context"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// echo answers every call at once, so a benchmark measures only the protocol.
type echo struct{ providers.Provider }

func (echo) Read(_ context.Context, req providers.ReadRequest) providers.ReadResponse {
	return providers.ReadResponse{Found: true, ID: req.ID, Attributes: req.Prior}
}

// BenchmarkWire is one Read carrying a coupon's attributes each way: encoding, decoding
// and gRPC over loopback TCP, in one process (no plugin process, no TLS).
func BenchmarkWire(b *testing.B) {
	attrs := providers.Attrs{"title": "Spring 10% off", "discount_type": "percent", "percent": 10.0, "currency": "JPY",
		"min_total": int64(3000), "per_customer": int64(1), "starts_at": "2027-03-01T00:00:00+09:00",
		"ends_at": "2027-03-31T23:59:59+09:00", "timezone": "Asia/Tokyo", "combines_with": []string{"order"}}
	req := providers.ReadRequest{Kind: providers.KindCoupon, ID: "cpn_1", Prior: attrs}
	b.Run("encode+decode", func(b *testing.B) {
		for b.Loop() {
			m, err := encodeReadRequest(req)
			if err != nil {
				b.Fatal(err)
			}
			_ = decodeReadRequest(m)
		}
	})
	b.Run("grpc", func(b *testing.B) {
		p := connect(b, echo{})
		ctx := context.Background()
		for b.Loop() {
			if r := p.Read(ctx, req); !r.Found {
				b.Fatal(r.Diagnostics.Err())
			}
		}
	})
}

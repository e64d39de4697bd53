package line

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/musubi-hq/musubi/providers"
)

// BenchmarkSend is one push round trip against the contract server: checks, retry key,
// request, the server's validation and bookkeeping, and the answer.
func BenchmarkSend(b *testing.B) {
	srv, p, _ := contract(b)
	srv.LiftRateLimits()
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := p.Send(ctx, providers.SendRequest{To: user(i % 1000), Text: "あと200円で10%オフになります。", IdempotencyKey: strconv.Itoa(i)})
		if r.Diagnostics.HasErrors() {
			b.Fatal(r.Diagnostics.Err())
		}
	}
}

// BenchmarkSendDuplicate is a repeated push: LINE's 409 read as a duplicate.
func BenchmarkSendDuplicate(b *testing.B) {
	srv, p, _ := contract(b)
	srv.LiftRateLimits()
	ctx := context.Background()
	req := providers.SendRequest{To: user(1), Text: "hello", IdempotencyKey: "same"}
	p.Send(ctx, req)
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Send(ctx, req); !r.Duplicate {
			b.Fatal("not a duplicate")
		}
	}
}

// BenchmarkReceiveWebhook verifies and reads a call of three events.
func BenchmarkReceiveWebhook(b *testing.B) {
	p := receiver(b, vectorSecret)
	req := providers.WebhookRequest{Header: http.Header{"X-Line-Signature": {vectorSignature}}, Body: []byte(vectorBody)}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(vectorBody)))
	for b.Loop() {
		if r := p.ReceiveWebhook(ctx, req); len(r.Events) != 2 {
			b.Fatal(r.Diagnostics.Err())
		}
	}
}

// BenchmarkReadAudience is one refresh read of an audience group.
func BenchmarkReadAudience(b *testing.B) {
	srv, p, _ := contract(b)
	srv.LiftRateLimits()
	ctx := context.Background()
	c := p.Create(ctx, providers.CreateRequest{Kind: providers.KindAudience, IdempotencyKey: "k",
		Attributes: providers.Attrs{"segment": "loyal_store", "description": "Store regulars"}})
	b.ReportAllocs()
	for b.Loop() {
		if r := p.Read(ctx, providers.ReadRequest{Kind: providers.KindAudience, ID: c.ID}); !r.Found {
			b.Fatal(r.Diagnostics.Err())
		}
	}
}

package email

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkSMTPSend delivers through a real SMTP server in the process: STARTTLS, AUTH
// PLAIN, the ledger claim and record, MIME encoding of Japanese text.
func BenchmarkSMTPSend(b *testing.B) {
	r := startRelay(b, relayOptions{})
	p := smtpProvider(b, r, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if res := p.Send(ctx, spring("bench-"+strconv.Itoa(i))); res.Diagnostics.HasErrors() {
			b.Fatal(res.Diagnostics.Err())
		}
	}
}

// BenchmarkSendGridSend sends through the SendGrid contract server.
func BenchmarkSendGridSend(b *testing.B) {
	srv := newSendGrid(b)
	p, _ := sendgridProvider(b, srv, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if res := p.Send(ctx, spring("bench-"+strconv.Itoa(i))); res.Diagnostics.HasErrors() {
			b.Fatal(res.Diagnostics.Err())
		}
	}
}

// BenchmarkSendDuplicate is a retry of a key already sent: one ledger transaction.
func BenchmarkSendDuplicate(b *testing.B) {
	srv := newSendGrid(b)
	p, _ := sendgridProvider(b, srv, nil)
	ctx := context.Background()
	send(b, p, spring("sent"))
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Send(ctx, spring("sent")); !res.Duplicate {
			b.Fatal("not a duplicate")
		}
	}
}

// BenchmarkSMTPMessage builds the MIME message of a Japanese email.
func BenchmarkSMTPMessage(b *testing.B) {
	r := startRelay(b, relayOptions{})
	p := smtpProvider(b, r, nil)
	o, err := p.outgoing(spring("k"))
	if err != nil {
		b.Fatal(err)
	}
	tr := p.tr.(*smtpTransport)
	b.ReportAllocs()
	for b.Loop() {
		m, err := tr.message(o)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

package meta

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAddMembers uploads a million members, an email address and a phone number each,
// to an audience of the contract server: normalising, hashing, sorting, a hundred batches of
// 10,000 rows in one session, and the server's checks and bookkeeping. Its memory counts
// both sides, and the copy of every request the server keeps for tests.
func BenchmarkAddMembers(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	p, srv := configure(b, nil)
	id := newAudience(b, p)
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = member(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		up, err := p.AddMembers(ctx, id, fmt.Sprint("sync-", i), ms)
		if err != nil || up.Rows != n {
			b.Fatal(up, err)
		}
	}
	b.ReportMetric(float64(n*i)/b.Elapsed().Seconds(), "rows/s")
	if got := len(srv.Members(id)); got != 2*n {
		b.Fatalf("the audience holds %d hashes, want %d", got, 2*n)
	}
}

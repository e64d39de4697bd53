package smaregi

import (
	"fmt"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
)

// seeded is a fixture whose contract holds n coupons made by Musubi, keyed k0…k(n-1).
func seeded(b *testing.B, n int) (*fixture, []string) {
	f := newFixture(b, quiet, nil)
	ids := make([]string, n)
	a := percentCoupon()
	planned := f.p.Plan(ctx, providers.PlanRequest{Kind: providers.KindCoupon, Proposed: a}).Planned
	for i := range ids {
		c := f.p.toCoupon(planned, keyHash(fmt.Sprint("k", i)))
		got, err := f.srv.AddCoupon(smaregitest.Coupon{CouponName: c.CouponName, SerialNumber: c.SerialNumber, Summary: c.Summary,
			AwardType: c.AwardType, AwardValue: c.AwardValue, ApplyConditionDivision: c.ApplyConditionDivision,
			MinTargetPrice: c.MinTargetPrice, StartDate: c.StartDate, EndDate: c.EndDate})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = got.CouponID
	}
	return f, ids
}

// A refresh of 250 coupons in a contract of 5,000: one pass over the coupon list.
func BenchmarkReadBatch250Of5000(b *testing.B) {
	f, ids := seeded(b, 5000)
	reqs := make([]providers.ReadRequest, 250)
	for i := range reqs {
		reqs[i] = providers.ReadRequest{Kind: providers.KindCoupon, ID: ids[i*20]}
	}
	b.ResetTimer()
	for b.Loop() {
		for _, r := range f.p.ReadBatch(ctx, reqs) {
			if !r.Found {
				b.Fatal("not found")
			}
		}
	}
}

// A read of one coupon by ID.
func BenchmarkRead(b *testing.B) {
	f, ids := seeded(b, 100)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if r := f.p.Read(ctx, providers.ReadRequest{Kind: providers.KindCoupon, ID: ids[i%len(ids)]}); !r.Found {
			b.Fatal("not found")
		}
	}
}

// A create in a contract of 1,000 coupons: the look-up pass, then the POST.
func BenchmarkCreateAmong1000(b *testing.B) {
	f, _ := seeded(b, 1000)
	a := f.p.Plan(ctx, providers.PlanRequest{Kind: providers.KindCoupon, Proposed: percentCoupon()}).Planned
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := f.p.Create(ctx, providers.CreateRequest{Kind: providers.KindCoupon, Attributes: a, IdempotencyKey: fmt.Sprint("new", i)})
		if r.Diagnostics.HasErrors() {
			b.Fatal(r.Diagnostics.Err())
		}
		b.StopTimer()
		f.srv.Remove(r.ID) // keep the contract at 1,000
		b.StartTimer()
	}
}

// Converting a coupon to attributes, done for every coupon a refresh reads.
func BenchmarkFromCoupon(b *testing.B) {
	p := &Provider{}
	p.zone, p.zoneName = mustZone(b, DefaultTimezone), DefaultTimezone
	c := p.toCoupon(percentCoupon(), keyHash("k"))
	c.CouponID = "1"
	for b.Loop() {
		if a := p.fromCoupon(&c); a.Float("percent") != 10 {
			b.Fatal(a)
		}
	}
}

func mustZone(b *testing.B, name string) *time.Location {
	z, err := providers.Location(name)
	if err != nil {
		b.Fatal(err)
	}
	return z
}

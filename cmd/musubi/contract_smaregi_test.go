package main

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
	"github.com/rogpeppe/go-internal/testscript"
)

// smaregiServers holds each script's Smaregi contract server.
var smaregiServers sync.Map // *testscript.TestScript → *smaregitest.Server

// contract smaregi start                      start the server; export SMAREGI_* for the configuration
// contract smaregi list                       print the contract's coupons, or "no coupons"
// contract smaregi add SERIAL NAME            register a coupon in the Smaregi admin (10% off)
// contract smaregi set ID|SERIAL FIELD VALUE  change a coupon field, as in the Smaregi admin
// contract smaregi remove ID|SERIAL           delete a coupon behind Musubi's back
// contract smaregi fail OP STATUS [TIMES [RETRY_AFTER]]
//
//	fail the next TIMES calls of OP (default 1); a 429
//	or 503 asks to wait RETRY_AFTER seconds (default 1)
//
// contract smaregi lose OP                    do the next OP, then drop the connection
// contract smaregi expire-tokens              expire every issued access token
// contract smaregi calls OP                   print how many OP calls the server received
func init() {
	contractServers["smaregi"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: contract smaregi start|list|add|set|remove|fail|lose|expire-tokens|calls ...")
		}
		if args[0] == "start" {
			srv := smaregitest.New(smaregitest.Options{})
			ts.Defer(srv.Close)
			ts.Defer(func() { smaregiServers.Delete(ts) })
			smaregiServers.Store(ts, srv)
			for k, v := range map[string]string{
				"SMAREGI_API_URL": srv.URL, "SMAREGI_ID_URL": srv.URL, "SMAREGI_CONTRACT_ID": srv.ContractID(),
				"SMAREGI_CLIENT_ID": srv.ClientID(), "SMAREGI_CLIENT_SECRET": srv.ClientSecret(),
			} {
				ts.Setenv(k, v)
			}
			return
		}
		v, ok := smaregiServers.Load(ts)
		if !ok {
			ts.Fatalf("run contract smaregi start first")
		}
		srv := v.(*smaregitest.Server)
		want := func(n int, usage string) {
			if len(args) != n {
				ts.Fatalf("usage: contract smaregi %s", usage)
			}
		}
		switch args[0] {
		case "list":
			cs := srv.Coupons()
			if len(cs) == 0 {
				fmt.Fprintln(ts.Stdout(), "no coupons")
			}
			for _, c := range cs {
				fmt.Fprintf(ts.Stdout(), "couponId=%s serialNumber=%s couponName=%q awardType=%s awardValue=%s minTargetPrice=%s startDate=%s endDate=%s summary=%s\n",
					c.CouponID, c.SerialNumber, c.CouponName, c.AwardType, c.AwardValue, c.MinTargetPrice, c.StartDate, c.EndDate, c.Summary)
			}
		case "add":
			want(3, "add SERIAL NAME")
			_, err := srv.AddCoupon(smaregitest.Coupon{SerialNumber: args[1], CouponName: args[2], AwardType: "2",
				AwardValue: "10", ApplyConditionDivision: "0"})
			ts.Check(err)
		case "set":
			want(4, "set ID|SERIAL FIELD VALUE")
			ts.Check(srv.SetField(args[1], args[2], args[3]))
		case "remove":
			want(2, "remove ID|SERIAL")
			ts.Check(srv.Remove(args[1]))
		case "fail":
			if len(args) < 3 || len(args) > 5 {
				ts.Fatalf("usage: contract smaregi fail OP STATUS [TIMES [RETRY_AFTER]]")
			}
			n := []int{0, 1, 1} // status, times, seconds
			for i, a := range args[2:] {
				v, err := strconv.Atoi(a)
				ts.Check(err)
				n[i] = v
			}
			ts.Check(srv.FailRetryAfter(args[1], n[0], n[1], time.Duration(n[2])*time.Second))
		case "lose":
			want(2, "lose OP")
			ts.Check(srv.Lose(args[1]))
		case "expire-tokens":
			srv.ExpireTokens()
		case "calls":
			want(2, "calls OP")
			fmt.Fprintln(ts.Stdout(), srv.Calls(args[1]))
		default:
			ts.Fatalf("unknown subcommand %q of contract smaregi", args[0])
		}
	}
}

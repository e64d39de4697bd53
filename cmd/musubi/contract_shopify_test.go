package main

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/shopify/shopifytest"
	"github.com/rogpeppe/go-internal/testscript"
)

// shopifyServers holds each script's Shopify contract server.
var shopifyServers sync.Map // *testscript.TestScript → *shopifytest.Server

// contract shopify start                  start the server; export SHOPIFY_API_URL, SHOPIFY_SHOP,
//
//	SHOPIFY_TOKEN and SHOPIFY_CLIENT_SECRET
//
// contract shopify list                   print every object the server holds, or "no objects"
// contract shopify set KIND ATTR VALUE    change ATTR of every KIND (coupon, code_pool, audience,
//
//	subscription) as in the Shopify admin
//
// contract shopify remove KIND            delete every KIND behind Musubi's back
// contract shopify fail OP STATUS [TIMES [RETRY_AFTER]]
//
//	fail the next TIMES calls of OP (default 1); 429s ask
//	to wait RETRY_AFTER seconds (default 2.0)
//
// contract shopify lose OP [TIMES]        do the next TIMES calls of OP, then lose the answer
// contract shopify refuse OP FIELD CODE MESSAGE
//
//	answer the next mutation of OP with a userError (HTTP 200)
//	on FIELD (dotted), and do nothing
//
// contract shopify throttled              print how many requests were refused as THROTTLED
// contract shopify drain [AVAILABLE]      leave AVAILABLE points (default 0; below 0, a debt) in the bucket
// contract shopify calls OP               print how many OP calls the server received
func init() {
	contractServers["shopify"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: contract shopify start|list|set|remove|fail|lose|refuse|drain|throttled|calls ...")
		}
		if args[0] == "start" {
			srv := shopifytest.New()
			ts.Defer(srv.Close)
			ts.Defer(func() { shopifyServers.Delete(ts) })
			shopifyServers.Store(ts, srv)
			ts.Setenv("SHOPIFY_API_URL", srv.URL)
			ts.Setenv("SHOPIFY_SHOP", srv.Shop)
			ts.Setenv("SHOPIFY_TOKEN", srv.Token)
			ts.Setenv("SHOPIFY_CLIENT_SECRET", srv.Secret)
			return
		}
		v, ok := shopifyServers.Load(ts)
		if !ok {
			ts.Fatalf("run contract shopify start first")
		}
		srv := v.(*shopifytest.Server)
		want := func(min, max int, usage string) {
			if len(args) < min || len(args) > max {
				ts.Fatalf("usage: contract shopify %s", usage)
			}
		}
		num := func(i, dflt int) int {
			if len(args) <= i {
				return dflt
			}
			n, err := strconv.Atoi(args[i])
			ts.Check(err)
			return n
		}
		switch args[0] {
		case "list":
			objs := srv.Objects()
			if len(objs) == 0 {
				fmt.Fprintln(ts.Stdout(), "no objects")
			}
			for _, o := range objs {
				fmt.Fprintln(ts.Stdout(), o)
			}
		case "set":
			want(4, 4, "set KIND ATTR VALUE")
			ids := srv.IDs(providers.Kind(args[1]))
			if len(ids) == 0 {
				ts.Fatalf("the server holds no %s", args[1])
			}
			for _, id := range ids {
				ts.Check(srv.Tamper(providers.Kind(args[1]), id, args[2], args[3]))
			}
		case "remove":
			want(2, 2, "remove KIND")
			for _, id := range srv.IDs(providers.Kind(args[1])) {
				ts.Check(srv.Remove(providers.Kind(args[1]), id))
			}
		case "fail":
			want(3, 5, "fail OP STATUS [TIMES [RETRY_AFTER]]")
			if len(args) == 5 {
				f, err := strconv.ParseFloat(args[4], 64)
				ts.Check(err)
				srv.SetRetryAfter(f)
			}
			ts.Check(srv.Fail(args[1], num(2, 0), false, num(3, 1)))
		case "lose":
			want(2, 3, "lose OP [TIMES]")
			ts.Check(srv.Fail(args[1], 0, true, num(2, 1)))
		case "refuse":
			want(5, 5, "refuse OP FIELD CODE MESSAGE")
			ts.Check(srv.Refuse(args[1], args[2], args[3], args[4], 1))
		case "throttled":
			want(1, 1, "throttled")
			fmt.Fprintln(ts.Stdout(), srv.Throttled())
		case "drain":
			want(1, 2, "drain [AVAILABLE]")
			srv.SetBucket(shopifytest.DefaultBucketSize, float64(num(1, 0)), shopifytest.DefaultRestoreRate)
		case "calls":
			want(2, 2, "calls OP")
			fmt.Fprintln(ts.Stdout(), srv.Calls(args[1]))
		default:
			ts.Fatalf("unknown subcommand %q of contract shopify", args[0])
		}
	}
}

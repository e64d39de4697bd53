package main

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/square"
	"github.com/musubi-hq/musubi/providers/square/squaretest"
	"github.com/rogpeppe/go-internal/testscript"
)

// squareServers holds each script's Square contract server.
var squareServers sync.Map // *testscript.TestScript → *squaretest.Server

// contract square start                   start the server; export SQUARE_API_URL and SQUARE_TOKEN
// contract square list                    print every object the server holds, or "no objects"
// contract square set KIND ATTR VALUE     change ATTR of every KIND (coupon, audience, subscription)
//
//	as in Square's dashboard
//
// contract square remove KIND             delete every KIND behind Musubi's back
// contract square fail OP STATUS [TIMES [RETRY_AFTER]]
//
//	fail the next TIMES calls of OP (default 1); 429s ask to
//	wait RETRY_AFTER seconds (default 1)
//
// contract square lose OP [TIMES]         do the next TIMES calls of OP, then drop the connection
//
//	(default: as many as the client tries)
//
// contract square calls OP                print how many OP calls the server received
func init() {
	contractServers["square"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: contract square start|list|set|remove|fail|lose|calls ...")
		}
		if args[0] == "start" {
			srv := squaretest.New()
			ts.Defer(srv.Close)
			ts.Defer(func() { squareServers.Delete(ts) })
			squareServers.Store(ts, srv)
			ts.Setenv("SQUARE_API_URL", srv.URL)
			ts.Setenv("SQUARE_TOKEN", srv.Token)
			return
		}
		v, ok := squareServers.Load(ts)
		if !ok {
			ts.Fatalf("run contract square start first")
		}
		srv := v.(*squaretest.Server)
		want := func(min, max int, usage string) {
			if len(args) < min || len(args) > max {
				ts.Fatalf("usage: contract square %s", usage)
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
			srv.SetRetryAfter(num(4, 1))
			ts.Check(srv.Fail(args[1], num(2, 0), false, num(3, 1)))
		case "lose":
			want(2, 3, "lose OP [TIMES]")
			ts.Check(srv.Fail(args[1], 0, true, num(2, square.DefaultMaxAttempts)))
		case "calls":
			want(2, 2, "calls OP")
			fmt.Fprintln(ts.Stdout(), srv.Calls(args[1]))
		default:
			ts.Fatalf("unknown subcommand %q of contract square", args[0])
		}
	}
}

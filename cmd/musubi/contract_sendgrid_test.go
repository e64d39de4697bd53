package main

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/musubi-hq/musubi/providers/email/sendgridtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// sendgridServers holds each script's SendGrid contract server.
var sendgridServers sync.Map // *testscript.TestScript → *sendgridtest.Server

// contract sendgrid start                  start the server; export SENDGRID_URL and SENDGRID_API_KEY
// contract sendgrid lists                  print the Marketing lists, or "no lists"
// contract sendgrid rename NAME NEW        rename a list, as in SendGrid's contact screens
// contract sendgrid remove NAME            delete a list behind Musubi's back
// contract sendgrid sent                   print how many messages were accepted
// contract sendgrid fail OP STATUS [TIMES] fail the next TIMES calls of OP (send, create, read, update, delete)
func init() {
	contractServers["sendgrid"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: contract sendgrid start|lists|rename|remove|sent|fail ...")
		}
		if args[0] == "start" {
			const key = "SG.contract-test-key.3b9f0c"
			srv := sendgridtest.NewServer(key)
			ts.Defer(srv.Close)
			ts.Defer(func() { sendgridServers.Delete(ts) })
			sendgridServers.Store(ts, srv)
			ts.Setenv("SENDGRID_URL", srv.URL)
			ts.Setenv("SENDGRID_API_KEY", key)
			return
		}
		v, ok := sendgridServers.Load(ts)
		if !ok {
			ts.Fatalf("run contract sendgrid start first")
		}
		srv := v.(*sendgridtest.Server)
		byName := func(name string) string {
			for _, l := range srv.Lists() {
				if l.Name == name {
					return l.ID
				}
			}
			ts.Fatalf("no list named %q", name)
			return ""
		}
		switch args[0] {
		case "lists":
			ls := srv.Lists()
			if len(ls) == 0 {
				fmt.Fprintln(ts.Stdout(), "no lists")
			}
			for _, l := range ls {
				fmt.Fprintf(ts.Stdout(), "list %q\n", l.Name)
			}
		case "rename":
			if len(args) != 3 {
				ts.Fatalf("usage: contract sendgrid rename NAME NEW")
			}
			srv.RenameList(byName(args[1]), args[2])
		case "remove":
			if len(args) != 2 {
				ts.Fatalf("usage: contract sendgrid remove NAME")
			}
			srv.DeleteList(byName(args[1]))
		case "sent":
			fmt.Fprintln(ts.Stdout(), len(srv.Sent()))
		case "fail":
			if len(args) < 3 || len(args) > 4 {
				ts.Fatalf("usage: contract sendgrid fail OP STATUS [TIMES]")
			}
			knownOp(ts, "sendgrid", args[1], sendgridtest.Ops)
			n := []int{0, 1}
			for i, a := range args[2:] {
				v, err := strconv.Atoi(a)
				ts.Check(err)
				n[i] = v
			}
			srv.Fail(args[1], n[0], n[1])
		default:
			ts.Fatalf("unknown subcommand %q of contract sendgrid", args[0])
		}
	}
}

package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/musubi-hq/musubi/providers/line/linetest"
	"github.com/rogpeppe/go-internal/testscript"
)

// lineServers holds each script's LINE contract server.
var lineServers sync.Map // *testscript.TestScript -> *linetest.Server

func init() { contractServers["line"] = contractLINE }

// knownOp stops the script when op is not one a contract server injects faults into: a
// misspelt op would otherwise inject nothing, and the script would test nothing.
func knownOp(ts *testscript.TestScript, server, op string, ops []string) {
	if !slices.Contains(ops, op) {
		ts.Fatalf("contract %s: unknown op %q; ops: %s", server, op, strings.Join(ops, ", "))
	}
}

// contractLINE drives the LINE contract server of a script:
//
//	contract line start                      start it; export LINE_API_URL, LINE_TOKEN, LINE_SECRET
//	contract line audiences                  list the audience groups: ID, status, members, name
//	contract line rename-audience OLD NEW    rename the group whose name starts with OLD, as in LINE's console
//	contract line endpoint                   print the channel's webhook URL
//	contract line set-endpoint URL           change the webhook URL, as in the LINE Developers console
//	contract line fail OP STATUS             the next call of OP (create, read, update, delete, send, validate) fails
//	contract line lose OP                    the next call of OP is done but its answer is lost
func contractLINE(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: contract line start|audiences|rename-audience OLD NEW|endpoint|set-endpoint URL|fail OP STATUS|lose OP")
	}
	if args[0] == "start" {
		srv := linetest.NewServer()
		lineServers.Store(ts, srv)
		ts.Defer(func() {
			srv.Close()
			lineServers.Delete(ts)
		})
		ts.Setenv("LINE_API_URL", srv.URL)
		ts.Setenv("LINE_TOKEN", srv.Token)
		ts.Setenv("LINE_SECRET", srv.Secret)
		return
	}
	v, ok := lineServers.Load(ts)
	if !ok {
		ts.Fatalf("contract line %s: no server; run contract line start first", args[0])
	}
	srv := v.(*linetest.Server)
	want := func(n int, usage string) {
		if len(args) != n+1 {
			ts.Fatalf("usage: contract line %s %s", args[0], usage)
		}
	}
	switch args[0] {
	case "audiences":
		want(0, "")
		groups := srv.Audiences()
		if len(groups) == 0 {
			fmt.Fprintln(ts.Stdout(), "no audience groups")
		}
		for _, a := range groups {
			fmt.Fprintf(ts.Stdout(), "%d %s %d %s\n", a.ID, a.Status, len(a.UserIDs), a.Name)
		}
	case "rename-audience":
		want(2, "OLD NEW")
		for _, a := range srv.Audiences() {
			if rest, ok := strings.CutPrefix(a.Name, args[1]); ok {
				ts.Check(srv.RenameAudience(a.ID, args[2]+rest))
				return
			}
		}
		ts.Fatalf("no audience group's name starts with %q", args[1])
	case "endpoint":
		want(0, "")
		if ep := srv.WebhookEndpoint(); ep != "" {
			fmt.Fprintln(ts.Stdout(), ep)
		} else {
			fmt.Fprintln(ts.Stdout(), "no webhook endpoint")
		}
	case "set-endpoint":
		want(1, "URL")
		srv.SetWebhookEndpoint(args[1])
	case "fail":
		want(2, "OP STATUS")
		knownOp(ts, "line", args[1], linetest.Ops)
		status, err := strconv.Atoi(args[2])
		ts.Check(err)
		if status < 400 || status > 599 {
			ts.Fatalf("contract line fail: status %d: want a 4xx or 5xx", status)
		}
		srv.Fail(args[1], status, false)
	case "lose":
		want(1, "OP")
		knownOp(ts, "line", args[1], linetest.Ops)
		srv.Fail(args[1], 0, true)
	default:
		ts.Fatalf("contract line: unknown command %q", args[0])
	}
}

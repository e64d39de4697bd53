package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/providers"
	"github.com/rogpeppe/go-internal/testscript"
)

// loyaltyPlugin returns the example plugin built for a protocol version ("" for the SDK's).
func loyaltyPlugin(ts *testscript.TestScript, protocol string) string {
	path, err := loyaltytest.Binary(protocol)
	ts.Check(err)
	return path
}

// contract plugin build PATH [PROTOCOL]   put the example plugin (examples/plugin, a loyalty
//
//	app) at PATH, built for PROTOCOL (default: this musubi's)
//
// contract plugin tamper PATH             change the plugin binary at PATH, as a swapped file would
// contract plugin list [FILE]             print the loyalty app's objects (default loyalty.json)
// contract plugin set KIND ATTR VALUE     change ATTR of every KIND in loyalty.json, as an edit in
//
//	the app's admin would
//
// The plugin itself fails on demand with LOYALTY_FAULT=OP:N:exit|hang (see package loyalty).
func init() {
	contractServers["plugin"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) == 0 {
			ts.Fatalf("usage: contract plugin build|tamper|list|set ...")
		}
		switch {
		case args[0] == "build" && (len(args) == 2 || len(args) == 3):
			protocol := ""
			if len(args) == 3 {
				protocol = args[2]
			}
			b, err := os.ReadFile(loyaltyPlugin(ts, protocol))
			ts.Check(err)
			dst := ts.MkAbs(args[1])
			ts.Check(os.MkdirAll(filepath.Dir(dst), 0o755))
			ts.Check(os.WriteFile(dst, b, 0o755))
		case args[0] == "tamper" && len(args) == 2:
			f, err := os.OpenFile(ts.MkAbs(args[1]), os.O_APPEND|os.O_WRONLY, 0)
			ts.Check(err)
			_, err = f.Write([]byte("\x00tampered"))
			ts.Check(err)
			ts.Check(f.Close())
		case args[0] == "list" && len(args) <= 2:
			file := "loyalty.json"
			if len(args) == 2 {
				file = args[1]
			}
			objs, err := loyalty.OpenStore(ts.MkAbs(file)).Objects()
			ts.Check(err)
			if len(objs) == 0 {
				fmt.Fprintln(ts.Stdout(), "no objects")
			}
			for _, o := range objs {
				fmt.Fprintf(ts.Stdout(), "%s %s %s %s\n", o.ID, o.Kind, o.Program, loyaltyAttrs(o.Attributes))
			}
		case args[0] == "set" && len(args) == 4:
			kind := providers.Kind(args[1])
			ks, err := providers.SchemaOf(kind)
			ts.Check(err)
			as, ok := ks.Attribute(args[2])
			if !ok {
				ts.Fatalf("%s has no attribute %s", kind, args[2])
			}
			var value any = args[3]
			switch as.Type {
			case providers.Int:
				value, err = strconv.ParseInt(args[3], 10, 64)
			case providers.Float:
				value, err = strconv.ParseFloat(args[3], 64)
			}
			ts.Check(err)
			store := loyalty.OpenStore(ts.MkAbs("loyalty.json"))
			objs, err := store.Objects()
			ts.Check(err)
			n := 0
			for _, o := range objs {
				if o.Kind == kind {
					ts.Check(store.SetAttribute(o.ID, args[2], value))
					n++
				}
			}
			if n == 0 {
				ts.Fatalf("the loyalty app holds no %s", kind)
			}
		default:
			ts.Fatalf("usage: contract plugin build PATH [PROTOCOL] | tamper PATH | list [FILE] | set KIND ATTR VALUE")
		}
	}
}

// loyaltyAttrs prints attributes sorted by name, as NAME=VALUE.
func loyaltyAttrs(a providers.Attrs) string {
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%v", n, a[n])
	}
	return strings.Join(parts, " ")
}

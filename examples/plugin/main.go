// Command musubi-provider-loyalty is an example provider plugin: a loyalty app whose members
// get coupons and single-use codes (see package loyalty). Build it with
//
//	go build -o .musubi/plugins/musubi-provider-loyalty ./examples/plugin
//
// and use it from a configuration with provider "loyalty" "app" { source = "loyalty" }.
package main

import (
	"fmt"
	"os"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty"
	"github.com/musubi-hq/musubi/providers"
	"github.com/musubi-hq/musubi/providers/plugin/sdk"
)

func main() {
	crash, err := loyalty.ParseCrash(os.Getenv("LOYALTY_FAULT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sdk.Serve(sdk.Options{
		Name:    loyalty.Name,
		Version: loyalty.Version,
		New:     func() providers.Provider { return &loyalty.Provider{Crash: crash} },
	})
}

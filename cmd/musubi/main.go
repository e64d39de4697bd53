// Command musubi is marketing-as-code for retailers that sell online and in stores: it loads
// a customer programme written in HCL with CEL conditions, plans the change against the live
// EC, POS and messaging systems, applies it, and serves the same rules on live events.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Command musubi is marketing-as-code for retailers that sell online and in stores: it loads
// a customer programme written in HCL with CEL conditions, plans the change against the live
// EC, POS and messaging systems, applies it, and serves the same rules on live events.
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

func main() {
	os.Exit(profiled(func() int { return Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr) }))
}

// profiled runs the command with a CPU profile written to MUSUBI_CPUPROFILE and a heap
// profile to MUSUBI_MEMPROFILE, when they are set: a hidden aid for measuring the CLI as a
// whole process.
func profiled(run func() int) int {
	if path := os.Getenv("MUSUBI_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	code := run()
	if path := os.Getenv("MUSUBI_MEMPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			runtime.GC()
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	return code
}

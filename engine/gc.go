package engine

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's target (Go's GOGC) in a process serving the
// engine. The engine keeps every active customer's profile in memory, so each collection
// marks a large heap, and one that grows as customers come: at Go's default of 100, marking
// was an eighth of the CPU over 400,000 events. At 200 the heap may grow to three times the
// live data between collections instead of twice, and an event costs about 7% less CPU
// (BenchmarkIngest -benchtime 250x: 100–104 → 93–96 µs). GOMEMLIMIT caps the memory that takes.
const DefaultGCPercent = 200

// ServeGC sets the collector's target for a serving engine: percent when above 0, else what
// GOGC in the environment says, else DefaultGCPercent. It returns the target in force, -1 for
// collection turned off.
func ServeGC(percent int) int {
	switch {
	case percent > 0:
	case os.Getenv("GOGC") != "":
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	default:
		percent = DefaultGCPercent
	}
	debug.SetGCPercent(percent)
	return percent
}

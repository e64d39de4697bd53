package main

import (
	"io"
	"os"
	"runtime/pprof"
	"testing"
)

func TestZZProf(t *testing.T) {
	dir := os.Getenv("PROF_DIR")
	if dir == "" {
		t.Skip()
	}
	f, _ := os.Create("/tmp/cpu.prof")
	pprof.StartCPUProfile(f)
	Main([]string{"-chdir=" + dir, "plan"}, os.Stdin, io.Discard, os.Stderr)
	pprof.StopCPUProfile()
}

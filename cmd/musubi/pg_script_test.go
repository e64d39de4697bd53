package main

import (
	"fmt"
	"syscall"

	"github.com/musubi-hq/musubi/providers/pgtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCondition answers the scripts' own conditions: pg, PostgreSQL is installed.
func scriptCondition(cond string) (bool, error) {
	if cond != "pg" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	return pgtest.Available(), nil
}

// signal NAME STOP|CONT pauses or resumes a spawned process, as a stalled machine would.
func signalCmd(ts *testscript.TestScript, neg bool, args []string) {
	sigs := map[string]syscall.Signal{"STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT}
	if neg || len(args) != 2 || sigs[args[1]] == 0 {
		ts.Fatalf("usage: signal NAME STOP|CONT")
	}
	ts.Check(spawnedByName(ts, args[0]).cmd.Process.Signal(sigs[args[1]]))
}

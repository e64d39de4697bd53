package main

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/musubi-hq/musubi/providers/pgtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// pgdsn VAR sets VAR to the URL of a new, empty database on the tests' PostgreSQL. A script
// using it starts with "[!pg] skip": the condition pg holds when PostgreSQL is installed.
func pgDSN(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgdsn VAR")
	}
	ts.Setenv(args[0], pgtest.DSN(scriptTB{ts: ts}))
}

// scriptTB is the little of testing.TB pgtest.DSN uses, for a script.
type scriptTB struct {
	testing.TB
	ts *testscript.TestScript
}

func (t scriptTB) Helper()                        {}
func (t scriptTB) Skip(args ...any)               { t.ts.Fatalf("%s", fmt.Sprint(args...)) }
func (t scriptTB) Fatalf(format string, a ...any) { t.ts.Fatalf(format, a...) }

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

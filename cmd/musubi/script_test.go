package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var updateScripts = flag.Bool("update", false, "rewrite the expected output in testdata/script")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"musubi": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI end to end: each testdata/script/*.txtar file is a scenario with
// the files it needs inline.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *updateScripts,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// example NAME copies examples/NAME into the current directory.
			"example": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: example NAME")
				}
				ts.Check(copyDir(filepath.Join("..", "..", "examples", args[0]), ts.MkAbs(".")))
			},
			// contract NAME ARGS... drives the local contract server of a real API (see contractServers).
			"contract": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) == 0 {
					ts.Fatalf("usage: contract NAME ARGS...")
				}
				run, ok := contractServers[args[0]]
				if !ok {
					ts.Fatalf("no contract server %q", args[0])
				}
				run(ts, neg, args[1:])
			},
			"spawn":      spawn,
			"kill9":      kill9,
			"lockid":     lockID,
			"waitline":   waitLine,
			"serverurl":  serverURL,
			"eventually": eventually,
			// replace FILE OLD NEW replaces every OLD in FILE with NEW.
			"replace": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: replace FILE OLD NEW")
				}
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				if !strings.Contains(string(b), args[1]) {
					ts.Fatalf("%s does not contain %q", args[0], args[1])
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.ReplaceAll(string(b), args[1], args[2])), 0o644))
			},
		},
	})
}

// contractServers drive the local contract servers that stand in for real APIs (Shopify,
// Square, LINE...) in scripts: `contract NAME start` starts one for the script and exports its
// URL; other arguments tamper with it or inject faults. Each provider's test file in this
// package registers its own from init.
var contractServers = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// spawned are the processes started by spawn, by script and name.
var spawned sync.Map

type spawnedProc struct {
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
	mu             *sync.Mutex
	done           chan struct{}
}

// spawn NAME REGEXP PROGRAM ARGS... starts a program in the background and returns once a
// line of its stderr matches REGEXP: a process caught in the middle of its work, for kill9.
func spawn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: spawn NAME REGEXP PROGRAM ARGS...")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	prog := args[2]
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, prog)); err == nil {
			prog = filepath.Join(dir, prog)
			break
		}
	}
	cmd := exec.Command(prog, args[3:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "PATH="+ts.Getenv("PATH"), "HOME="+ts.Getenv("HOME"), "NO_COLOR=1")
	p := &spawnedProc{cmd: cmd, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stdout = lockedWriter{p.mu, p.stdout}
	errPipe, err := cmd.StderrPipe()
	ts.Check(err)
	ts.Check(cmd.Start())
	matched := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(errPipe)
		seen := false
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !seen && re.MatchString(sc.Text()) {
				seen = true
				matched <- true
			}
		}
		if !seen {
			matched <- false
		}
		cmd.Wait()
		close(p.done)
	}()
	ts.Defer(func() { cmd.Process.Kill(); <-p.done })
	spawned.Store(ts.MkAbs(".")+"\x00"+args[0], p)
	select {
	case ok := <-matched:
		if !ok {
			<-p.done
			ts.Fatalf("%s exited without printing a line matching %q\nstdout:\n%s\nstderr:\n%s", args[0], args[1], p.stdout, p.stderr)
		}
	case <-time.After(60 * time.Second):
		ts.Fatalf("%s printed no line matching %q within a minute\nstderr:\n%s", args[0], args[1], p.stderr)
	}
}

// kill9 NAME kills a spawned process with SIGKILL, as an OOM killer or a cancelled CI job
// would, and makes its output the output the next stdout and stderr commands check.
func kill9(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: kill9 NAME")
	}
	v, ok := spawned.LoadAndDelete(ts.MkAbs(".") + "\x00" + args[0])
	if !ok {
		ts.Fatalf("no process %s was spawned", args[0])
	}
	p := v.(*spawnedProc)
	ts.Check(p.cmd.Process.Kill())
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	ts.Stdout().Write(p.stdout.Bytes())
	ts.Stderr().Write(p.stderr.Bytes())
}

// lockid sets $LOCK_ID to the ID in the state's lock file, for force-unlock.
func lockID(ts *testscript.TestScript, neg bool, args []string) {
	b, err := os.ReadFile(ts.MkAbs("musubi.state.json.lock"))
	ts.Check(err)
	var info struct {
		ID string `json:"id"`
	}
	ts.Check(json.Unmarshal(b, &info))
	ts.Setenv("LOCK_ID", info.ID)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// waitline NAME REGEXP waits until a line of a spawned process's stderr matches REGEXP.
func waitLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitline NAME REGEXP")
	}
	p := spawnedByName(ts, args[0])
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		out := p.stderr.String()
		p.mu.Unlock()
		for _, line := range strings.Split(out, "\n") {
			if re.MatchString(line) {
				return
			}
		}
		select {
		case <-p.done:
			ts.Fatalf("%s exited without printing a line matching %q\nstderr:\n%s", args[0], args[1], out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	ts.Fatalf("%s printed no line matching %q within a minute", args[0], args[1])
}

func spawnedByName(ts *testscript.TestScript, name string) *spawnedProc {
	v, ok := spawned.Load(ts.MkAbs(".") + "\x00" + name)
	if !ok {
		ts.Fatalf("no process %s was spawned", name)
	}
	return v.(*spawnedProc)
}

var urlRE = regexp.MustCompile(`http://[0-9.:\[\]a-z]+`)

// serverurl NAME sets $SERVER (and MUSUBI_SERVER) to the first URL a spawned server printed.
func serverURL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: serverurl NAME")
	}
	p := spawnedByName(ts, args[0])
	p.mu.Lock()
	u := urlRE.FindString(p.stderr.String())
	p.mu.Unlock()
	if u == "" {
		ts.Fatalf("%s printed no URL", args[0])
	}
	ts.Setenv("SERVER", u)
	ts.Setenv("MUSUBI_SERVER", u)
}

// eventually REGEXP PROGRAM ARGS... runs a program until its stdout matches REGEXP (within
// 30 s), for work a server finishes in the background. The last run's output is kept.
func eventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: eventually REGEXP PROGRAM ARGS...")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ts.Exec(args[1], args[2:]...)
		out := ts.ReadFile("stdout")
		if err == nil && re.MatchString(out) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s never printed a match for %q; last output:\n%s", strings.Join(args[1:], " "), args[0], out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

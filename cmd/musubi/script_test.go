package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
	"github.com/musubi-hq/musubi/providers/pgtest"
	"github.com/musubi-hq/musubi/providers/signature"
	"github.com/musubi-hq/musubi/providers/smaregi/smaregitest"
	"github.com/rogpeppe/go-internal/testscript"
)

var updateScripts = flag.Bool("update", false, "rewrite the expected output in testdata/script")

func TestMain(m *testing.M) {
	// The commands the tests run keep no CEL cache in the user's cache directory.
	os.Setenv("MUSUBI_CACHE_DIR", "off")
	testscript.Main(stopPG{loyaltytest.M{Tests: m}}, map[string]func(){
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
		Condition:     scriptCondition,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			env.Values[scriptT{}] = env.T()
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
			"spawn":          spawn,
			"kill9":          kill9,
			"terminate":      terminate,
			"http":           httpCmd,
			"waithttp":       waitHTTP,
			"linesign":       lineSign,
			"redact":         redact,
			"setvar":         setVar,
			"lockid":         lockID,
			"waitline":       waitLine,
			"serverurl":      serverURL,
			"eventually":     eventually,
			"secrets-absent": secretsAbsent,
			"pgdsn":          pgDSN,
			"signal":         signalCmd,
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

// stopPG stops the test PostgreSQL (pgdsn) once the tests have run.
type stopPG struct{ m interface{ Run() int } }

func (s stopPG) Run() int {
	defer pgtest.Stop()
	return s.m.Run()
}

// pgDSN VAR sets VAR to the connection string of a new, empty PostgreSQL database; the
// script is skipped where PostgreSQL is not installed.
func pgDSN(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgdsn VAR")
	}
	ts.Setenv(args[0], pgtest.DSN(scriptTB{ts: ts}))
}

// scriptT keys the script's testscript.T in its values, for pgdsn to skip the script.
type scriptT struct{}

// scriptTB is the little of testing.TB that pgtest.DSN uses, for a script.
type scriptTB struct {
	testing.TB
	ts *testscript.TestScript
}

func (t scriptTB) Helper()                           {}
func (t scriptTB) Skip(args ...any)                  { t.ts.Value(scriptT{}).(testscript.T).Skip(args...) }
func (t scriptTB) Fatalf(format string, args ...any) { t.ts.Fatalf(format, args...) }

// contractServers drive the local contract servers that stand in for real APIs (Shopify,
// Square, LINE...) in scripts: `contract NAME start` starts one for the script and exports its
// URL; other arguments tamper with it or inject faults. contract_test.go registers the
// vendors' servers, plugin_script_test.go the plugin.
var contractServers = map[string]func(ts *testscript.TestScript, neg bool, args []string){}

// copyDir copies an example's files, leaving out what running it made (its state, the
// sandbox and the engine store): a user who tried the example first gets the same tests.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if name := d.Name(); name == ".musubi" || strings.HasPrefix(name, "musubi.state.json") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
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

// spawn NAME REGEXP [VAR=VALUE...] PROGRAM ARGS... starts a program in the background and
// returns once a line of its stderr matches REGEXP: a process caught in the middle of its work
// (for kill9), or a server that says it is listening. VAR=VALUE arguments add to the
// program's environment, which is otherwise the test's, not the script's.
func spawn(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: spawn NAME REGEXP [VAR=VALUE...] PROGRAM ARGS...")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	env := append(os.Environ(), "PATH="+ts.Getenv("PATH"), "HOME="+ts.Getenv("HOME"), "NO_COLOR=1")
	rest := args[2:]
	for len(rest) > 0 && strings.Contains(rest[0], "=") {
		env = append(env, rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		ts.Fatalf("usage: spawn NAME REGEXP [VAR=VALUE...] PROGRAM ARGS...")
	}
	prog := rest[0]
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, prog)); err == nil {
			prog = filepath.Join(dir, prog)
			break
		}
	}
	cmd := exec.Command(prog, rest[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = env
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

// terminate NAME stops a spawned process as a service manager would, with SIGTERM, waits for it
// to exit (it must exit 0, or with ! fail) and makes its output the output the next stdout
// and stderr commands check.
func terminate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: terminate NAME")
	}
	v, ok := spawned.LoadAndDelete(ts.MkAbs(".") + "\x00" + args[0])
	if !ok {
		ts.Fatalf("no process %s was spawned", args[0])
	}
	p := v.(*spawnedProc)
	ts.Check(p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		ts.Fatalf("%s did not exit within 30 s of SIGTERM", args[0])
	}
	p.mu.Lock()
	ts.Stdout().Write(p.stdout.Bytes())
	ts.Stderr().Write(p.stderr.Bytes())
	p.mu.Unlock()
	code := p.cmd.ProcessState.ExitCode()
	if code != 0 && !neg {
		ts.Fatalf("%s exited with status %d after SIGTERM", args[0], code)
	}
	if code == 0 && neg {
		ts.Fatalf("%s exited with status 0 after SIGTERM", args[0])
	}
}

// http [-H 'NAME: VALUE']... METHOD URL [FILE] makes one HTTP request, with FILE as a JSON
// body, and prints "HTTP STATUS" and the response body to stdout. It succeeds when the status
// is below 400; with ! it must be 400 or above.
func httpCmd(ts *testscript.TestScript, neg bool, args []string) {
	var headers [][2]string
	for len(args) >= 2 && args[0] == "-H" {
		k, v, ok := strings.Cut(args[1], ":")
		if !ok {
			ts.Fatalf("http: -H wants 'NAME: VALUE', not %q", args[1])
		}
		headers = append(headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		args = args[2:]
	}
	if len(args) != 2 && len(args) != 3 {
		ts.Fatalf("usage: http [-H 'NAME: VALUE']... METHOD URL [FILE]")
	}
	var body io.Reader
	if len(args) == 3 {
		body = strings.NewReader(ts.ReadFile(args[2]))
	}
	req, err := http.NewRequest(args[0], args[1], body)
	ts.Check(err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "HTTP %d\n%s", resp.StatusCode, b)
	if failed := resp.StatusCode >= 400; failed != neg {
		ts.Fatalf("%s %s: HTTP %d: %s", args[0], args[1], resp.StatusCode, b)
	}
}

// waithttp URL waits until a GET of URL answers 200 (within 30 s): a server that has started.
func waitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within 30 s (last error: %v)", args[0], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// linesign SECRET FILE sets $LINE_SIGNATURE to the x-line-signature LINE would send with FILE
// as the body, signed with the channel secret.
func lineSign(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: linesign SECRET FILE")
	}
	ts.Setenv("LINE_SIGNATURE", signature.SignLINE(args[0], []byte(ts.ReadFile(args[1]))))
}

// redact FILE REGEXP REPLACEMENT rewrites every match of REGEXP in FILE, so output holding
// values that change on every run (a fresh code seed's bundle hash) can be compared to a
// golden file.
func redact(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: redact FILE REGEXP REPLACEMENT")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	b, err := os.ReadFile(path)
	ts.Check(err)
	if !re.Match(b) {
		ts.Fatalf("%s has no match for %q", args[0], args[1])
	}
	ts.Check(os.WriteFile(path, re.ReplaceAll(b, []byte(args[2])), 0o644))
}

// setvar NAME REGEXP sets $NAME to the first group of REGEXP's first match in the last
// command's stdout: an ID a command printed, for the next commands.
func setVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setvar NAME REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("stdout has no match for %q with a group", args[1])
	}
	ts.Setenv(args[0], m[1])
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

// serverurl NAME sets $SERVER (and MUSUBI_SERVER) to the first URL a spawned server printed,
// and $SERVER_ADDR to its HOST:PORT.
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
	ts.Setenv("SERVER_ADDR", strings.TrimPrefix(u, "http://"))
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

// secretEnv names the variables through which contract servers hand a script its credentials.
var secretEnv = []string{
	"LINE_TOKEN", "LINE_SECRET", "SENDGRID_API_KEY", "SQUARE_TOKEN",
	"SMAREGI_CLIENT_SECRET", "SHOPIFY_TOKEN", "SHOPIFY_CLIENT_SECRET",
}

// secretsAbsent FILE... checks that each FILE exists and holds none of the credentials the
// script's contract servers handed out: the values of secretEnv that are set, and the access
// tokens the Smaregi server issued along with the Basic header of its client credentials.
// A gzip file (a saved plan) is checked as it is and uncompressed. It names every secret
// found and where, and fails when there is no secret to look for, so it cannot pass by
// checking nothing.
func secretsAbsent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: secrets-absent FILE...")
	}
	secrets := map[string]string{} // name → value
	for _, name := range secretEnv {
		if v := ts.Getenv(name); v != "" {
			secrets[name] = v
		}
	}
	if srv, ok := startedFake[*smaregitest.Server](ts, "smaregi"); ok {
		secrets["the Smaregi client credentials' Basic header"] = strings.TrimPrefix(srv.BasicAuth(), "Basic ")
		for i, tok := range srv.IssuedTokens() {
			secrets[fmt.Sprintf("Smaregi access token %d", i+1)] = tok
		}
	}
	if len(secrets) == 0 {
		ts.Fatalf("secrets-absent: no secret to look for; start a contract server first")
	}
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	var found []string
	for _, file := range args {
		b, err := os.ReadFile(ts.MkAbs(file))
		if err != nil {
			found = append(found, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		texts := map[string][]byte{file: b}
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			plain, err := io.ReadAll(zr)
			if err != nil {
				found = append(found, fmt.Sprintf("%s: uncompressing: %v", file, err))
				continue
			}
			texts[file+" (uncompressed)"] = plain
		}
		for where, text := range texts {
			for _, name := range names {
				if i := bytes.Index(text, []byte(secrets[name])); i >= 0 {
					line := 1 + bytes.Count(text[:i], []byte("\n"))
					found = append(found, fmt.Sprintf("%s appears in %s, line %d", name, where, line))
				}
			}
		}
	}
	if len(found) > 0 {
		sort.Strings(found)
		ts.Fatalf("secrets-absent:\n\t%s", strings.Join(found, "\n\t"))
	}
	ts.Logf("none of %d secrets (%s) in %d files", len(names), strings.Join(names, ", "), len(args))
}

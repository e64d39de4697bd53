// Package pgtest gives tests a real PostgreSQL: a throwaway server of the test process, started
// on first use from the machine's PostgreSQL binaries (initdb into a temporary directory, a
// private port on loopback), and a fresh database for each caller. Without the binaries the
// test is skipped with the reason; .ci/run installs them from Debian's packages, so CI always
// runs these tests.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is the test process's PostgreSQL, started once.
var server struct {
	once sync.Once
	dir  string
	port int
	cmd  *exec.Cmd
	err  error
	skip string
	n    atomic.Int64
}

// DSN returns the connection string of a new, empty database on the test process's
// PostgreSQL, starting the server on first use; it skips the test when PostgreSQL is not
// installed, and fails it when the server does not start.
func DSN(t testing.TB) string {
	t.Helper()
	server.once.Do(start)
	if server.skip != "" {
		t.Skip(server.skip)
	}
	if server.err != nil {
		t.Fatalf("starting PostgreSQL: %v", server.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), server.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn("postgres"))
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return dsn(name)
}

// Available says whether the tests' PostgreSQL runs, starting it on first use: false when
// PostgreSQL is not installed or does not start.
func Available() bool {
	server.once.Do(start)
	return server.skip == "" && server.err == nil
}

func dsn(db string) string {
	return fmt.Sprintf("postgres://musubi@127.0.0.1:%d/%s?sslmode=disable", server.port, db)
}

// Main runs a package's tests and then stops the server they started, removing its files:
// call it from TestMain. Without it the server still dies with the test process.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the server, if one runs, and removes its files.
func Stop() {
	if server.cmd != nil && server.cmd.Process != nil {
		server.cmd.Process.Signal(syscall.SIGINT) // a fast shutdown
		done := make(chan struct{})
		go func() { server.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			server.cmd.Process.Kill()
		}
	}
	if server.dir != "" {
		os.RemoveAll(server.dir)
	}
}

// binDir finds the PostgreSQL server binaries: on PATH, else where Debian installs them
// (/usr/lib/postgresql/VERSION/bin, the newest).
func binDir() (string, bool) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], true
		}
	}
	return "", false
}

// nobody is who the server runs as when the tests run as root: PostgreSQL refuses root.
const nobody = 65534

func start() {
	bin, ok := binDir()
	if !ok {
		server.skip = "PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin): " +
			"install Debian's postgresql package to run this test, as .ci/run does"
		return
	}
	dir, err := os.MkdirTemp("", "musubi-pg-")
	if err != nil {
		server.err = err
		return
	}
	server.dir = dir
	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			server.err = err
			return
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if asRoot {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
		}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "musubi", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		server.err = fmt.Errorf("initdb: %v\n%s", err, out)
		return
	}
	port, err := freePort()
	if err != nil {
		server.err = err
		return
	}
	server.port = port
	cmd := run("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		server.err = err
		return
	}
	server.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, dsn("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) || (cmd.ProcessState != nil && cmd.ProcessState.Exited()) {
			server.err = errors.Join(err, fmt.Errorf("the server said:\n%s", log.String()))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

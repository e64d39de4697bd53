package loyaltytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// binaries caches the example plugin per protocol version for one test process: go build
// links it once, tests copy or run it.
var binaries struct {
	sync.Mutex
	dir    string
	builds map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the example plugin (examples/plugin) built for a protocol version, "" for
// the SDK's own. The first call for a version builds it; RemoveBinaries deletes them all.
func Binary(protocol string) (string, error) {
	binaries.Lock()
	if binaries.dir == "" {
		dir, err := os.MkdirTemp("", "musubi-plugin")
		if err != nil {
			binaries.Unlock()
			return "", err
		}
		binaries.dir, binaries.builds = dir, map[string]*build{}
	}
	b := binaries.builds[protocol]
	if b == nil {
		b = &build{path: filepath.Join(binaries.dir, "protocol"+protocol, "musubi-provider-loyalty")}
		binaries.builds[protocol] = b
	}
	binaries.Unlock()
	b.once.Do(func() {
		args := []string{"build", "-o", b.path}
		if protocol != "" {
			args = append(args, "-ldflags", "-X github.com/musubi-hq/musubi/providers/plugin/sdk.protocolVersion="+protocol)
		}
		if out, err := exec.Command("go", append(args, "github.com/musubi-hq/musubi/examples/plugin")...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building the example plugin: %v\n%s", err, out)
		}
	})
	return b.path, b.err
}

// RemoveBinaries deletes what Binary built; a test binary's TestMain calls it after the tests.
func RemoveBinaries() {
	binaries.Lock()
	defer binaries.Unlock()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
		binaries.dir, binaries.builds = "", nil
	}
}

// M runs a test binary's tests, then RemoveBinaries: for testscript.Main, which exits itself.
type M struct{ Tests interface{ Run() int } }

// Run runs the tests and removes the binaries.
func (m M) Run() int {
	defer RemoveBinaries()
	return m.Tests.Run()
}

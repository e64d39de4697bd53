package plugin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds the example plugin, built once per test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "musubi-plugin-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds sync.Map // protocol override → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// examplePlugin returns the example plugin (examples/plugin), built with the given protocol
// version override ("" for the SDK's own).
func examplePlugin(t testing.TB, protocol string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(protocol, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, "protocol"+protocol, "musubi-provider-loyalty")
		args := []string{"build", "-o", b.path}
		if protocol != "" {
			args = append(args, "-ldflags", "-X github.com/musubi-hq/musubi/providers/plugin/sdk.protocolVersion="+protocol)
		}
		cmd := exec.Command("go", append(args, "github.com/musubi-hq/musubi/examples/plugin")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building the example plugin: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

package plugin

import (
	"os"
	"testing"

	"github.com/musubi-hq/musubi/examples/plugin/loyalty/loyaltytest"
)

func TestMain(m *testing.M) { os.Exit(loyaltytest.M{Tests: m}.Run()) }

// examplePlugin returns the example plugin (examples/plugin), built with the given protocol
// version override ("" for the SDK's own).
func examplePlugin(t testing.TB, protocol string) string {
	t.Helper()
	path, err := loyaltytest.Binary(protocol)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

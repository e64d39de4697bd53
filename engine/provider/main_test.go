package provider

import (
	"os"
	"testing"

	"github.com/musubi-hq/musubi/providers/pgtest"
)

// TestMain stops the tests' PostgreSQL when they are done.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

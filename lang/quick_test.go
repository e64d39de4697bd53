package lang

import (
	"os"
	"testing"
)

func TestQuickstartTmp(t *testing.T) {
	cfg, diags := LoadDir(os.Getenv("DIR"), LoadOptions{})
	WriteDiagnostics(os.Stderr, cfg.Files, diags, false)
}

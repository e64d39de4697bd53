package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// The log file holds what providers answered, which can name a customer: only its owner
// reads it.
func TestLogFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "musubi.log")
	t.Setenv("MUSUBI_LOG", "info")
	t.Setenv("MUSUBI_LOG_FILE", path)
	prev := slog.Default()
	defer slog.SetDefault(prev)
	if err := setupLogging(io.Discard); err != nil {
		t.Fatal(err)
	}
	slog.Info("hello")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("the log file is %o, want 600", mode)
	}
}

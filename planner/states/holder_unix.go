//go:build unix

package states

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processRunning reports whether a process with this ID exists: signal 0 checks without
// sending anything, and a process of another user answers EPERM.
func processRunning(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// processCommand is a process's command line, where /proc tells it.
func processCommand(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

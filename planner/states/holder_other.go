//go:build !unix

package states

// Without a way to ask, a holder is never known to be running.
func processRunning(int) bool   { return false }
func processCommand(int) string { return "" }

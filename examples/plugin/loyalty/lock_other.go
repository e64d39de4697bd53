//go:build !unix

package loyalty

// lockFile orders writers within one process only: where flock is missing, run one plugin
// process per loyalty file.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }

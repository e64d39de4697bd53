package states

// AbandonLocalLock makes a local lock's holder vanish without unlocking, as a killed process
// does: its flock goes, its lock file stays.
func AbandonLocalLock(u Unlocker) { u.(*localLock).f.Close() }

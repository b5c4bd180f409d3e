package db

import "github.com/repops/repops/internal/fsutil"

// SyncDir fsyncs a directory so that a rename in it survives a crash
// (fsutil.SyncDir).
func SyncDir(dir string) error { return fsutil.SyncDir(dir) }

// Package replicate is repops' side of continuous protection with
// Litestream: it writes Litestream's config from repops' config, finds the
// Litestream process and binary, reads its metrics and replicas, restores
// a point in time through 'litestream restore' into scratch, and verifies
// replicas.
//
// Litestream always runs as its own process, never inside repops:
// Litestream v0.5 opens the database through modernc.org/sqlite, and two
// SQLite libraries in one process on the same file lose each other's
// POSIX locks (SQLite's "How To Corrupt", 2.3). repops only runs the
// litestream binary and reads what it publishes.
package replicate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Version is the Litestream release repops is built and tested with; the
// Makefile builds it into bin/ from the Go module at this version.
const Version = "v0.5.18"

// Module is the Go package of Litestream's command.
const Module = "github.com/benbjohnson/litestream/cmd/litestream"

// InstallHint says how to get the litestream binary.
var InstallHint = fmt.Sprintf("build it with 'make litestream' (into bin/), or on a server: go install %s@%s (then put it on PATH or set REPOPS_LITESTREAM)", Module, Version)

// ErrNoBinary is returned, wrapped, when no litestream binary is found.
var ErrNoBinary = errors.New("litestream is not installed")

// Binary is the litestream binary to run: $REPOPS_LITESTREAM, else
// litestream beside the repops binary (bin/ in a checkout), else on PATH.
func Binary() (string, error) {
	if p := os.Getenv("REPOPS_LITESTREAM"); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("%w: REPOPS_LITESTREAM=%s is not a file: %s", ErrNoBinary, p, InstallHint)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "litestream")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("litestream"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s", ErrNoBinary, InstallHint)
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
)

// TestNumericFlagsRefused: a negative, zero where it means nothing, or
// overflowing number or duration given to archive, optimize, diagnose or
// journal is a usage error (64) in one line naming the flag, found before
// anything is opened: the database (its bytes and mtime, and its WAL) is
// as it was and no state (journal, lock, snapshot) is left behind. Without
// the checks, archive --batch-rows -1 --yes would archive with the default
// batch, and optimize analyze --analysis-limit -2 would analyze.
func TestNumericFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"archive", "--batch-rows", "-1", "--yes"}, "--batch-rows"},
		{[]string{"archive", "--batch-time", "-1s", "--yes"}, "--batch-time"},
		{[]string{"archive", "--batch-pause", "-5ms", "--yes"}, "--batch-pause"},
		{[]string{"archive", "--batch-time", "9999999999999h", "--yes"}, "--batch-time"},
		{[]string{"archive", "--older-than", "99999999999999999y", "--yes"}, "--older-than"},
		{[]string{"archive", "--older-than", "-99999999999999999y", "--yes"}, "--older-than"},
		{[]string{"archive", "--older-than", "300y", "--yes"}, "--older-than"},
		{[]string{"archive", "--older-than", "999999999999999999999d", "--yes"}, "--older-than"},
		{[]string{"archive", "--older-than", "9999999999999999mo", "--yes"}, "--older-than"},
		{[]string{"archive", "--older-than", "-30d", "--yes"}, "--older-than"},
		{[]string{"archive", "--messages-older-than", "99999999999999999w", "--yes"}, "--messages-older-than"},
		{[]string{"archive", "--batch-rows", "99999999999999999999", "--yes"}, "--batch-rows"},
		{[]string{"diagnose", "threads", "--limit", "-1"}, "--limit"},
		{[]string{"diagnose", "threads", "--limit", "0"}, "--limit"},
		{[]string{"diagnose", "counts", "--limit", "-5"}, "--limit"},
		{[]string{"diagnose", "threads", "--limit", "99999999999999999999"}, "--limit"},
		{[]string{"optimize", "analyze", "--analysis-limit", "-2", "--yes"}, "--analysis-limit"},
		{[]string{"optimize", "analyze", "--analysis-limit", "99999999999", "--yes"}, "--analysis-limit"},
		{[]string{"optimize", "incremental-vacuum", "--step-pages", "-1", "--yes"}, "--step-pages"},
		{[]string{"optimize", "incremental-vacuum", "--step-pages", "9999999999", "--yes"}, "--step-pages"},
		{[]string{"optimize", "incremental-vacuum", "--max-pages", "-1", "--yes"}, "--max-pages"},
		{[]string{"optimize", "incremental-vacuum", "--max-pages", "99999999999", "--yes"}, "--max-pages"},
		{[]string{"journal", "--since", "-24h"}, "--since"},
		{[]string{"journal", "--since", "99999999999999h"}, "--since"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			path := maintDB(t)
			stateDir := filepath.Join(os.Getenv("XDG_STATE_HOME"), "repops")
			before := testsupport.SnapshotFiles(t, path)
			stdout, stderr, code := runRepopsIn(t, "", append([]string{"--db", path}, tc.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, exitUsage, stdout, stderr)
			}
			if msg := strings.TrimSpace(stderr); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.flag) {
				t.Fatalf("stderr %q: want one line naming %s", stderr, tc.flag)
			}
			if stdout != "" {
				t.Fatalf("stdout %q: a refused command prints no plan", stdout)
			}
			before.AssertUnchanged(t, path)
			if _, err := os.Stat(stateDir); err == nil {
				t.Fatalf("a refused command left the state dir %s: %v", stateDir, testsupport.DirNames(t, stateDir))
			}
			if n := testsupport.CountRows(t, path, "appeals"); n != 300 {
				t.Fatalf("%d live appeals, want all 300", n)
			}
		})
	}
}

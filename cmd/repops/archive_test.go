package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// maintDB creates a migrated database with old settled appeals (with
// messages) and recent ones, in an isolated environment.
func maintDB(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"DATABASE_PATH", "ENVIRONMENT", "REPOPS_CONFIG"} {
		t.Setenv(v, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, ".state"))
	path := filepath.Join(t.TempDir(), "architect.db")
	w := testsupport.OpenMigrated(t, path)
	defer w.Close()
	_, err := w.Exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300)
		INSERT INTO appeals (id, user_id, reason, status, created_at, updated_at, resolved_at)
		SELECT x, 'u' || (x % 7), 'r', CASE WHEN x % 3 = 0 THEN 'pending' ELSE 'approved' END,
		  datetime('now', CASE WHEN x <= 200 THEN '-500 days' ELSE '-2 days' END),
		  datetime('now', '-2 days'), NULL FROM c;
		INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at)
		SELECT id, 'user', 'hello', created_at FROM appeals;`)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMaintenanceCommands(t *testing.T) {
	path := maintDB(t)
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		contains string
		appeals  int // live appeals after
	}{
		{"archive dry run", "", []string{"archive", "--dry-run"}, 0, "would move", 300},
		{"archive cancelled", "no\n", []string{"archive"}, exitFailure, "cancelled", 300},
		{"archive cutoff in the future", "", []string{"archive", "--older-than", "2099-01-01"}, exitUsage, "not in the past", 300},
		{"archive unparsable cutoff", "", []string{"archive", "--older-than", "last year"}, exitUsage, "bad archive cutoff", 300},
		{"archive table not in the schema", "", []string{"archive", "--table", "users", "--yes"}, exitUsage, "not in the database's schema", 300},
		{"archive read-only mode", "", []string{"--read-only", "archive", "--yes"}, exitFailure, "read-only mode", 300},
		{"archive", "architect.db\n", []string{"archive"}, 0, "verified", 166},
		{"archive again: nothing", "", []string{"archive", "--yes"}, 0, "nothing to archive", 166},
		{"optimize estimate", "", []string{"optimize", "vacuum", "--estimate"}, 0, "write lock", 166},
		{"optimize bad target", "", []string{"optimize", "reindex", "--target", "nosuch", "--yes"}, exitUsage, "not in the database's schema", 166},
		{"optimize unknown", "", []string{"optimize", "defrag"}, exitUsage, "unknown optimisation", 166},
		{"optimize vacuum cancelled", "\n", []string{"optimize", "vacuum"}, exitFailure, "cancelled", 166},
		{"optimize analyze", "", []string{"optimize", "analyze"}, 0, "analyze done", 166},
		{"indexes explain", "", []string{"indexes", "--explain"}, 0, "ok   thread", 166},
		{"indexes create unknown", "", []string{"indexes", "--create", "idx_x", "--yes"}, exitUsage, "not a known index", 166},
		{"diagnose counts", "", []string{"diagnose", "counts"}, 0, "appeals_archive", 166},
		{"diagnose threads", "", []string{"diagnose", "threads", "--limit", "2"}, 0, "appeal_id", 166},
		{"growth snapshot", "", []string{"growth", "--snapshot"}, 0, "1 snapshots", 166},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runRepopsIn(t, tc.stdin, append([]string{"--db", path}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.contains) {
				t.Fatalf("exit %d (want %d), output:\n%s\n%s\nwant %q", code, tc.code, out, errOut, tc.contains)
			}
			if n := testsupport.CountRows(t, path, "appeals"); n != tc.appeals {
				t.Fatalf("%d live appeals, want %d", n, tc.appeals)
			}
		})
	}
}

// TestMaintenanceCancelJournaled: an operator's refusal of a typed
// confirmation is in the journal, as restore's is, under the procedure's
// own action name.
func TestMaintenanceCancelJournaled(t *testing.T) {
	path := maintDB(t)
	for _, args := range [][]string{{"archive"}, {"optimize", "vacuum"}} {
		if _, _, code := runRepopsIn(t, "no\n", append([]string{"--db", path}, args...)...); code != exitFailure {
			t.Fatalf("%v: exit %d, want %d", args, code, exitFailure)
		}
	}
	j, err := ops.OpenJournal(filepath.Join(os.Getenv("XDG_STATE_HOME"), "repops"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entries, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"archive", "optimize.vacuum"} {
		if !hasEntry(entries, action, ops.OutcomeCancelled) {
			t.Errorf("no %s cancelled entry in %+v", action, entries)
		}
	}
}

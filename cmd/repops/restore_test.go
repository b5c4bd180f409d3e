package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestLatestIsThisDatabasesBackup: in a backup dir shared with another
// database, 'restore --latest' and 'drill' take the newest backup of the
// database itself, never the other's even when it is newer; with none
// of its own they refuse (restore 1, drill 2, journaled) and name the
// other's.
func TestLatestIsThisDatabasesBackup(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	backupDir := filepath.Join(filepath.Dir(dbPath), "backups")
	other := filepath.Join(filepath.Dir(dbPath), "other.db")
	ctx := context.Background()
	testsupport.CreateMigrated(t, other)
	backup := func(path string, at time.Time) string {
		t.Helper()
		res, err := ops.Backup(ctx, ops.BackupOptions{DBPath: path, Dir: backupDir, Now: func() time.Time { return at }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Base(res.Path)
	}
	now := time.Now()

	t.Run("only another database's backup", func(t *testing.T) {
		otherName := backup(other, now.Add(-time.Minute))
		_, stderr, code := runRecovery(t, cfg, "", "restore", "--latest", "--yes")
		if code != exitFailure || !strings.Contains(stderr, "no backup of architect.db") || !strings.Contains(stderr, otherName) {
			t.Fatalf("restore --latest: exit %d, %q", code, stderr)
		}
		stdout, _, code := runRecovery(t, cfg, "", "drill")
		if code != exitCritical || !strings.HasPrefix(stdout, "DR drill FAILED: no backup of architect.db") {
			t.Fatalf("drill: exit %d, %q", code, stdout)
		}
		if !hasEntry(recoveryJournal(t, stateDir), "drill", ops.OutcomeFailed) {
			t.Error("the failed drill is not in the journal")
		}
	})

	own := backup(dbPath, now.Add(-2*time.Minute))
	backup(other, now) // newer, and not architect.db's

	t.Run("drill", func(t *testing.T) {
		stdout, stderr, code := runRecovery(t, cfg, "", "drill")
		if code != 0 || !strings.Contains(stdout, "Backup: `"+own+"`") {
			t.Fatalf("drill: exit %d\n%s\n%s", code, stdout, stderr)
		}
	})
	t.Run("restore --latest", func(t *testing.T) {
		stdout, stderr, code := runRecovery(t, cfg, "", "restore", "--latest", "--yes")
		if code != 0 || !strings.Contains(stdout, "from "+filepath.Join(backupDir, own)) {
			t.Fatalf("restore: exit %d\n%s\n%s", code, stdout, stderr)
		}
	})
}

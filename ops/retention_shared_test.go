package ops

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/state"
)

// TestRetentionOnlyThisDatabase: in a backup dir shared by two databases,
// the retention of one never removes the other's backups, nor the
// pre-restore safety copies, whatever keep_last and keep_within say.
func TestRetentionOnlyThisDatabase(t *testing.T) {
	dir := t.TempDir()
	a := newRecoveryDB(t, filepath.Join(dir), 3)
	bDir := filepath.Join(dir, "b")
	if err := os.Mkdir(bDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b := newRecoveryDB(t, bDir, 3)
	bNamed := filepath.Join(bDir, "b.db")
	if err := os.Rename(b, bNamed); err != nil {
		t.Fatal(err)
	}
	backupDir := filepath.Join(dir, "backups")
	base := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	backup := func(path string, at time.Time) *BackupResult {
		t.Helper()
		res, err := Backup(context.Background(), BackupOptions{DBPath: path, Dir: backupDir, KeepLast: 1,
			Now: func() time.Time { return at }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	bRes := backup(bNamed, base)
	safety := filepath.Join(backupDir, "architect.db.pre-restore-"+base.Format(state.BackupTimeLayout))
	if err := os.WriteFile(safety, []byte("old database"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := backup(a, base.Add(time.Minute))
	if len(first.Removed) != 0 {
		t.Fatalf("the first backup of architect.db removed %v", first.Removed)
	}
	second := backup(a, base.Add(2*time.Minute))
	if len(second.Removed) != 1 || second.Removed[0] != filepath.Base(first.Path) {
		t.Fatalf("the second backup of architect.db removed %v, want only %s", second.Removed, filepath.Base(first.Path))
	}
	for _, p := range []string{bRes.Path, ManifestPath(bRes.Path), safety, second.Path} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s is gone: %v", filepath.Base(p), err)
		}
	}

	t.Run("latest is this database's", func(t *testing.T) {
		backup(bNamed, base.Add(time.Hour)) // newer, of b.db
		got, err := ResolveBackup(backupDir, a, "latest")
		if err != nil || got != second.Path {
			t.Fatalf("latest of architect.db: %s, %v; want %s", got, err, second.Path)
		}
		if got, err := ResolveBackup(backupDir, a, ""); err != nil || got != second.Path {
			t.Fatalf("\"\" of architect.db: %s, %v", got, err)
		}
		if _, err := ResolveBackup(backupDir, filepath.Join(dir, "c.db"), "latest"); err == nil {
			t.Fatal("a database with no backup of its own got another's")
		}
	})
}

package ops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
)

// TestBackupTempFilesAreNotPredictable: a symlink planted in a shared
// backup dir under the temp name a manifest used to be written through
// is never followed: its target is left as it was.
func TestBackupTempFilesAreNotPredictable(t *testing.T) {
	dir := t.TempDir()
	path := newRecoveryDB(t, dir, 20)
	o := backupOpts(t, path)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := PrepareBackupDir(o.Dir); err != nil {
		t.Fatal(err)
	}
	// The names the old code used, for the next few seconds' backups.
	start := time.Now().UTC()
	for i := 0; i < 4; i++ {
		stem := "architect_" + start.Add(time.Duration(i)*time.Second).Format("20060102T150405Z")
		for _, planted := range []string{"." + stem + ".json.tmp", "." + stem + ".db.tmp"} {
			if err := os.Symlink(victim, filepath.Join(o.Dir, planted)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
}

// TestBackupRemovesLeftoversOfKilledRuns: a temp file of a process that
// is gone is removed by the next backup; one of a live process is kept.
func TestBackupRemovesLeftoversOfKilledRuns(t *testing.T) {
	dir := t.TempDir()
	path := newRecoveryDB(t, dir, 20)
	o := backupOpts(t, path)
	if err := PrepareBackupDir(o.Dir); err != nil {
		t.Fatal(err)
	}
	dead := testsupport.DeadPID(t)
	stale := filepath.Join(o.Dir, fmt.Sprintf(".architect_20260101T000000Z.db.%d-abc.tmp", dead))
	live := filepath.Join(o.Dir, fmt.Sprintf(".architect_20260101T000000Z.db.%d-abc.tmp", os.Getpid()))
	foreign := filepath.Join(o.Dir, ".something.tmp")
	for _, p := range []string{stale, stale + "-journal", live, foreign} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stale, stale + "-journal"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s of a dead process is still there", filepath.Base(p))
		}
	}
	for _, p := range []string{live, foreign} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(p), err)
		}
	}
}

// TestTwoBackupsInOneSecond: a second backup in the same second (repops
// backup && repops migrate apply) succeeds too.
func TestTwoBackupsInOneSecond(t *testing.T) {
	dir := t.TempDir()
	path := newRecoveryDB(t, dir, 20)
	o := backupOpts(t, path)
	o.Now = nil // the real clock
	a, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatalf("the second backup in a row: %v", err)
	}
	if a.Path == b.Path {
		t.Fatalf("both backups are %s", a.Path)
	}
}

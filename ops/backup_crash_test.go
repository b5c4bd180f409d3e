package ops

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/state"
)

// TestHelperCrash is not a test: it is a repops process that runs a
// backup or a restore and kills itself with SIGKILL after the named step,
// run when REPOPS_TEST_CRASH is set.
func TestHelperCrash(t *testing.T) {
	what := os.Getenv("REPOPS_TEST_CRASH")
	if what == "" {
		return
	}
	at := os.Getenv("REPOPS_TEST_CRASH_AT")
	path, dir := os.Getenv("REPOPS_TEST_DB"), os.Getenv("REPOPS_TEST_DIR")
	die := func(step string) {
		if step == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	ctx := context.Background()
	var err error
	switch what {
	case "backup":
		_, err = Backup(ctx, BackupOptions{DBPath: path, Dir: dir, StateDir: filepath.Join(dir, "..", "state"), afterStep: die}, nil)
	case "restore-offline", "restore-online":
		mode := strings.TrimPrefix(what, "restore-")
		_, err = Restore(ctx, RestoreOptions{DBPath: path, Backup: os.Getenv("REPOPS_TEST_BACKUP"), Mode: mode,
			StateDir: filepath.Join(dir, "..", "state"), afterStep: die}, nil)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runCrashHelper(t *testing.T, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper was not killed: %v\n%s", err, out)
	}
}

func TestBackupCrashSafety(t *testing.T) {
	for _, at := range []string{"copied", "checked", "manifest", "renamed"} {
		t.Run("kill -9 after "+at, func(t *testing.T) {
			dir := t.TempDir()
			path := newRecoveryDB(t, dir, 100)
			before := appealIDs(t, path)
			bdir := filepath.Join(dir, "backups")
			runCrashHelper(t, "REPOPS_TEST_CRASH=backup", "REPOPS_TEST_CRASH_AT="+at, "REPOPS_TEST_DB="+path, "REPOPS_TEST_DIR="+bdir)
			mustIntegrity(t, path)
			if got := appealIDs(t, path); len(got) != len(before) {
				t.Fatalf("live database lost rows: %d of %d", len(got), len(before))
			}
			list, _ := ListBackups(bdir, time.Now())
			for _, b := range list {
				// Whatever is listed is whole and verifies.
				if v, err := VerifyBackup(context.Background(), b.Path); err != nil || !v.OK() {
					t.Fatalf("listed backup %s is partial: %v %v", b.Name, err, v.Problems)
				}
			}
			if (at == "renamed") != (len(list) == 1) {
				t.Fatalf("after a kill at %s, %d backups listed", at, len(list))
			}
			// The stale lock is detected and the next backup succeeds.
			res, err := Backup(context.Background(), BackupOptions{DBPath: path, Dir: bdir, StateDir: filepath.Join(dir, "state"),
				Now: func() time.Time { return time.Now().Add(2 * time.Second) }}, nil)
			if err != nil {
				t.Fatalf("backup after a crash: %v", err)
			}
			if tmps, _ := filepath.Glob(filepath.Join(bdir, ".*.tmp")); len(tmps) > 0 && at != "renamed" {
				t.Logf("leftover temp files (ignored by the listing): %v", tmps)
			}
			_ = res
		})
	}
}

func TestRestoreCrashSafety(t *testing.T) {
	for _, c := range []struct{ mode, at string }{
		{"offline", "safety-copy"}, {"offline", "temp-written"}, {"offline", "checkpointed"},
		{"offline", "companions-removed"}, {"offline", "renamed"},
		{"online", "safety-copy"}, {"online", "restored"},
	} {
		t.Run(c.mode+" kill -9 after "+c.at, func(t *testing.T) {
			dir := t.TempDir()
			path := newRecoveryDB(t, dir, 100)
			bdir := filepath.Join(dir, "backups")
			b, err := Backup(context.Background(), BackupOptions{DBPath: path, Dir: bdir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Rows after the backup, committed into the WAL.
			w, _ := db.OpenWrite(context.Background(), path, db.Options{})
			for i := 0; i < 10; i++ {
				w.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('late','x','pending',datetime('now'),datetime('now'))`)
			}
			w.Close()
			old := appealIDs(t, path)
			runCrashHelper(t, "REPOPS_TEST_CRASH=restore-"+c.mode, "REPOPS_TEST_CRASH_AT="+c.at, "REPOPS_TEST_DB="+path,
				"REPOPS_TEST_DIR="+bdir, "REPOPS_TEST_BACKUP="+b.Path)
			mustIntegrity(t, path)
			got := appealIDs(t, path)
			// Either the old database whole, or the backup whole.
			if len(got) != len(old) && len(got) != 100 {
				t.Fatalf("after a kill at %s: %d appeals, want %d (old) or 100 (backup)", c.at, len(got), len(old))
			}
			if len(got) == len(old) {
				for id := range old {
					if !got[id] {
						t.Fatalf("committed row %d lost", id)
					}
				}
			}
			if l, _ := state.ListBackups(bdir); len(l) != 1 {
				t.Fatalf("backups listed: %+v", l)
			}
		})
	}
}

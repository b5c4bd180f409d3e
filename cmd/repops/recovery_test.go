package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/state"
)

// recoveryEnv is an isolated environment with a migrated database of 40
// appeals and a config naming it and a state dir. It returns the config
// path, the database and the state dir.
func recoveryEnv(t *testing.T) (cfg, dbPath, stateDir string) {
	t.Helper()
	work := migTestEnv(t)
	dbPath = filepath.Join(work, "architect.db")
	stateDir = filepath.Join(work, "state")
	w := testsupport.OpenMigrated(t, dbPath)
	defer w.Close()
	if _, err := w.Exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40)
		INSERT INTO appeals (user_id, reason, status, created_at, updated_at)
		SELECT 'u' || x, 'r', 'pending', datetime('now', '-1 hour'), datetime('now', '-1 hour') FROM c`); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(work, "repops.yml")
	body := "database:\n  path: " + dbPath + "\nmonitoring:\n  metrics_enabled: false\nconsole:\n  state_dir: " + stateDir + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, dbPath, stateDir
}

func recoveryJournal(t *testing.T, stateDir string) []ops.Entry {
	t.Helper()
	j, err := ops.OpenJournal(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	e, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func hasEntry(entries []ops.Entry, action, outcome string) bool {
	for _, e := range entries {
		if e.Action == action && e.Outcome == outcome {
			return true
		}
	}
	return false
}

// TestRecoveryCommands drives backup, backups, check, drill, restore and
// journal through the root command: exit codes, the lock and --force,
// the typed confirmation, and a backup that fails verification.
func TestRecoveryCommands(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	backupDir := filepath.Join(filepath.Dir(dbPath), "backups")
	var name string

	t.Run("backup refused while another operator holds the lock", func(t *testing.T) {
		held, err := ops.AcquireLock(stateDir, ops.Actor{User: "alice"}, "restore of architect.db")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		_, stderr, code := runRecovery(t, cfg, "", "backup")
		if code != exitFailure || !strings.Contains(stderr, "locked by alice") || !strings.Contains(stderr, "--force") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if list, _ := state.ListBackups(backupDir); len(list) != 0 {
			t.Fatalf("a refused backup left %v", list)
		}
		stdout, stderr, code := runRecovery(t, cfg, "", "backup", "--force")
		if code != 0 || !strings.Contains(stderr, "breaking the lock") || !strings.Contains(stdout, "backup ") {
			t.Fatalf("backup --force: exit %d\n%s\n%s", code, stdout, stderr)
		}
		entries := recoveryJournal(t, stateDir)
		if !hasEntry(entries, "lock.break", ops.OutcomeOK) || !hasEntry(entries, "backup", ops.OutcomeOK) {
			t.Fatalf("journal: %+v", entries)
		}
		list, _ := state.ListBackups(backupDir)
		if len(list) != 1 {
			t.Fatalf("backups: %v", list)
		}
		name = list[0].Name
	})
	if name == "" {
		t.Fatal("no backup to go on with")
	}

	t.Run("backups lists and verifies", func(t *testing.T) {
		stdout, _, code := runRecovery(t, cfg, "", "backups")
		if code != 0 || !strings.Contains(stdout, name) || !strings.Contains(stdout, "ok") {
			t.Fatalf("exit %d\n%s", code, stdout)
		}
		if _, stderr, code := runRecovery(t, cfg, "", "backups", "verify", name); code != 0 {
			t.Fatalf("verify: exit %d %s", code, stderr)
		}
		if _, _, code := runRecovery(t, cfg, "", "backups", "verify", "../"+name); code != exitUsage {
			t.Fatalf("verify ../NAME: exit %d, want %d", code, exitUsage)
		}
	})

	t.Run("check", func(t *testing.T) {
		if stdout, _, code := runRecovery(t, cfg, "", "check"); code != exitOK || !strings.HasPrefix(stdout, "OK") {
			t.Fatalf("exit %d %s", code, stdout)
		}
		stdout, _, code := runRecovery(t, cfg, "", "--db", filepath.Join(t.TempDir(), "missing.db"), "check")
		if code != exitUnknown || !strings.HasPrefix(stdout, "UNKNOWN") {
			t.Fatalf("missing database: exit %d %s", code, stdout)
		}
	})

	t.Run("drill", func(t *testing.T) {
		stdout, stderr, code := runRecovery(t, cfg, "", "drill")
		if code != 0 || !strings.Contains(stdout, "report: ") {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	})

	t.Run("restore cancelled by a wrong name changes nothing", func(t *testing.T) {
		before := testsupport.SnapshotFiles(t, dbPath)
		_, stderr, code := runRecovery(t, cfg, "architect\n", "restore", name)
		if code != exitFailure || !strings.Contains(stderr, "cancelled") {
			t.Fatalf("exit %d %s", code, stderr)
		}
		before.AssertUnchanged(t, dbPath)
		if m, _ := filepath.Glob(filepath.Join(backupDir, "*.pre-restore-*")); len(m) != 0 {
			t.Fatalf("a cancelled restore made a safety copy: %v", m)
		}
		if !hasEntry(recoveryJournal(t, stateDir), "restore", ops.OutcomeCancelled) {
			t.Fatal("the cancellation is not journaled")
		}
	})

	t.Run("restore usage errors", func(t *testing.T) {
		for _, args := range [][]string{{"restore"}, {"restore", "--latest", name}, {"restore", "../x", "--yes"}, {"restore", "--latest", "--online", "--offline"}} {
			if _, stderr, code := runRecovery(t, cfg, "", args...); code != exitUsage {
				t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
			}
		}
	})

	t.Run("restore of a backup that fails verification", func(t *testing.T) {
		// The manifest's checksum no longer matches: verification fails,
		// the data itself is sound.
		mp := ops.ManifestPath(filepath.Join(backupDir, name))
		m, err := ops.ReadManifest(filepath.Join(backupDir, name))
		if err != nil {
			t.Fatal(err)
		}
		m.SHA256 = strings.Repeat("0", 64)
		b, _ := json.Marshal(m)
		if err := os.WriteFile(mp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := testsupport.SnapshotFiles(t, dbPath)
		// --force breaks locks only: it does not accept a failing backup.
		_, stderr, code := runRecovery(t, cfg, "", "restore", name, "--yes", "--force")
		if code != exitFailure || !strings.Contains(stderr, "fails verification") || !strings.Contains(stderr, "--accept-failed-verification") {
			t.Fatalf("exit %d %s", code, stderr)
		}
		before.AssertUnchanged(t, dbPath)
		stdout, stderr, code := runRecovery(t, cfg, "", "restore", name, "--yes", "--accept-failed-verification")
		if code != 0 || !strings.Contains(stdout, "restore (offline)") {
			t.Fatalf("--accept-failed-verification: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if n := testsupport.CountRows(t, dbPath, "appeals"); n != 40 {
			t.Fatalf("restored database has %d appeals, want 40", n)
		}
	})

	t.Run("restore with the typed name, then journal", func(t *testing.T) {
		stdout, stderr, code := runRecovery(t, cfg, "architect.db\n", "restore", "--latest", "--accept-failed-verification")
		if code != 0 || !strings.Contains(stdout, "rows newer than the backup were lost") {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
		stdout, _, code = runRecovery(t, cfg, "", "journal", "--format", "json")
		if code != 0 {
			t.Fatalf("journal: exit %d", code)
		}
		for _, want := range []string{`"lock.break"`, `"backup"`, `"restore"`, `"drill"`, `"cancelled"`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("journal JSON lacks %s", want)
			}
		}
		if stdout, _, code := runRecovery(t, cfg, "", "journal", "--since", "1h"); code != 0 || !strings.Contains(stdout, "restore") {
			t.Fatalf("journal md: exit %d\n%s", code, stdout)
		}
		if _, _, code := runRecovery(t, cfg, "", "journal", "--since", "yesterday-ish"); code != exitUsage {
			t.Fatalf("journal bad --since: exit %d", code)
		}
	})

	t.Run("optimize --force breaks the lock too", func(t *testing.T) {
		held, err := ops.AcquireLock(stateDir, ops.Actor{User: "bob"}, "archive of architect.db")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		if _, stderr, code := runRecovery(t, cfg, "", "optimize", "analyze"); code == 0 || !strings.Contains(stderr, "locked by bob") {
			t.Fatalf("optimize while locked: exit %d %s", code, stderr)
		}
		before := len(recoveryJournal(t, stateDir))
		if stdout, stderr, code := runRecovery(t, cfg, "", "optimize", "analyze", "--force"); code != 0 {
			t.Fatalf("optimize --force: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if !hasEntry(recoveryJournal(t, stateDir)[before:], "lock.break", ops.OutcomeOK) {
			t.Fatal("the broken lock is not journaled")
		}
	})
}

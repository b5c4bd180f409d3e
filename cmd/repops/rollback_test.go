package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestRollBackAMigration: the backup 'migrate apply' takes is at the
// older schema; it verifies (with a note, not a failure), restores
// without --accept-failed-verification, and the drill passes on it.
func TestRollBackAMigration(t *testing.T) {
	cfg, dbPath, _ := recoveryEnv(t)
	testsupport.ExecSQL(t, dbPath, "DROP TABLE appeal_negotiation_messages_archive", "DROP TABLE appeals_archive",
		"DELETE FROM goose_db_version WHERE version_id = 3", "DELETE FROM repops_migrations WHERE version = 3")
	if out, errOut, code := runRecovery(t, cfg, "", "migrate", "apply"); code != 0 {
		t.Fatalf("migrate apply: exit %d\n%s\n%s", code, out, errOut)
	}
	list, err := ops.ListBackups(filepath.Join(filepath.Dir(dbPath), "backups"), time.Now())
	if err != nil || len(list) != 1 || list[0].Manifest == nil || list[0].Manifest.SchemaVersion != 2 {
		t.Fatalf("apply's backup: %+v %v", list, err)
	}
	name := list[0].Name
	const note = "schema version 2, older than this repops's 3: restoring it then needs 'repops migrate apply'"

	out, errOut, code := runRecovery(t, cfg, "", "backups", "verify", name)
	if code != 0 || !strings.Contains(out, note) {
		t.Fatalf("backups verify: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := runRecovery(t, cfg, "", "drill", "--scratch", t.TempDir()); code != 0 || !strings.Contains(out, note) {
		t.Fatalf("drill: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runRecovery(t, cfg, "", "restore", name, "--yes")
	if code != 0 || !strings.Contains(out+errOut, note) {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	r, err := db.OpenRead(t.Context(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := db.SchemaVersion(t.Context(), r); err != nil || v != 2 {
		t.Fatalf("after the restore: version %d %v, want 2", v, err)
	}
}

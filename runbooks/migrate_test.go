package runbooks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/ops"
)

// TestMigrateActionBacksUpFirst: the runbooks' migrate action is 'repops
// migrate apply' (ops.Migrate): under the procedure lock it takes the
// backup 'repops backup' takes, of the database before the migration,
// then applies the pending migration; the journal has the backup inside
// the migrate entries, and the migrate's end names the backup.
func TestMigrateActionBacksUpFirst(t *testing.T) {
	cfg := demoDB(t)
	// Migration 3 undone, as a database one release behind has it.
	for _, q := range []string{"DROP TABLE appeal_negotiation_messages_archive", "DROP TABLE appeals_archive",
		"DELETE FROM goose_db_version WHERE version_id = 3", "DELETE FROM repops_migrations WHERE version = 3"} {
		execSQL(t, cfg, q)
	}
	env := newEnv(cfg)
	res, err := env.Act(context.Background(), "migrate", nil, nil)
	if err != nil {
		t.Fatalf("migrate: %v\n%+v", err, res)
	}
	if res.Figures["applied"] != 1 || res.Figures["schema_version"] != float64(db.LatestVersion()) || !strings.Contains(res.Message, "backup ") {
		t.Errorf("result: %+v", res)
	}

	list, err := ops.ListBackups(cfg.BackupDir(), time.Now())
	if err != nil || len(list) != 1 {
		t.Fatalf("backups: %+v %v", list, err)
	}
	b := list[0]
	if b.State != ops.BackupOK || b.Manifest == nil || b.Manifest.SchemaVersion != 2 {
		t.Fatalf("the backup is not a verified backup of the database before the migration: %+v", b)
	}
	if len(res.Details) == 0 || res.Details[0] != "backup "+b.Path {
		t.Errorf("details: %q", res.Details)
	}

	var order []string
	var end ops.Entry
	for _, e := range journal(t, cfg) {
		order = append(order, e.Action+" "+e.Outcome)
		if e.Action == "migrate" && e.Outcome == ops.OutcomeOK {
			end = e
		}
	}
	if strings.Join(order, ", ") != "migrate started, backup started, backup ok, migrate ok" {
		t.Errorf("journal: %s", strings.Join(order, ", "))
	}
	if end.Params["backup"] != b.Path || end.Params["pending"] != "00003_archive_tables.sql" || end.Figures["applied"] != 1 {
		t.Errorf("migrate's end entry: %+v", end)
	}
	if filepath.Dir(b.Path) != cfg.BackupDir() {
		t.Errorf("backup in %s, want the config's backup dir %s", b.Path, cfg.BackupDir())
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/sim"
	"github.com/repops/repops/state"
)

// migTestEnv isolates a test from the machine's configuration and
// environment (DATABASE_PATH and friends) and runs it in an empty dir.
func migTestEnv(t *testing.T) string {
	t.Helper()
	for _, v := range []string{"DATABASE_PATH", "ENVIRONMENT", "LOG_LEVEL", "REPOPS_CONFIG", "MAX_DB_CONNECTIONS"} {
		t.Setenv(v, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, ".state"))
	work := t.TempDir()
	t.Chdir(work)
	return work
}

var migNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func migDemoFile(t *testing.T, dir string, appeals int) string {
	t.Helper()
	path := filepath.Join(dir, "architect.db")
	if _, err := sim.GenerateDemo(context.Background(), path, sim.DemoOptions{Appeals: appeals, Seed: 9, Now: migNow}, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrateApplyCreateThenValidate(t *testing.T) {
	dir := migTestEnv(t)
	path := filepath.Join(dir, "new.db")
	_, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply")
	if code == 0 || !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("apply without --create on a missing file: code %d, %v", code, err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("apply without --create created the file")
	}
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply", "--create")
	if code != 0 {
		t.Fatalf("apply --create: %d %v\n%s", code, err, out)
	}
	for _, m := range db.Migrations() {
		if !strings.Contains(out, "applied "+m.Name) {
			t.Errorf("apply did not print %s:\n%s", m.Name, out)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "backups")); len(entries) != 0 {
		t.Errorf("a new database was backed up: %v", entries)
	}
	out, _, code, err = runRepopsCmd(t, "--db", path, "migrate", "validate")
	if code != 0 || strings.TrimSpace(out) != "schema valid (version 3, 5 tables, 8 indexes)" {
		t.Fatalf("validate: %d %v %q", code, err, out)
	}
	out, _, code, _ = runRepopsCmd(t, "--db", path, "migrate", "apply")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("second apply: %d %q", code, out)
	}
}

func TestMigrateApplyBacksUpFirst(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 300)
	// Take migration 3 back out, as if this database predated it.
	testsupport.ExecSQL(t, path, "DROP TABLE appeal_negotiation_messages_archive", "DROP TABLE appeals_archive",
		"DELETE FROM goose_db_version WHERE version_id = 3", "DELETE FROM repops_migrations WHERE version = 3")
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "status")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "00003 00003_archive_tables.sql pending -") || !strings.Contains(out, "2 applied, 1 pending") {
		t.Fatalf("status: %d %v\n%s", code, err, out)
	}
	out, _, code, err = runRepopsCmd(t, "--db", path, "migrate", "apply")
	if code != 0 || !strings.Contains(out, "applied 00003_archive_tables.sql") || strings.Contains(out, "applied 00001") {
		t.Fatalf("apply: %d %v\n%s", code, err, out)
	}
	backups, err := state.ListBackups(filepath.Join(dir, "backups"))
	if err != nil || len(backups) != 1 || !strings.Contains(out, "backup: "+backups[0].Path) {
		t.Fatalf("backups %v %v\n%s", backups, err, out)
	}
	// The backup is the database before the migration.
	r, err := db.OpenRead(context.Background(), backups[0].Path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := db.SchemaVersion(context.Background(), r)
	var appeals int
	r.QueryRow("SELECT count(*) FROM appeals").Scan(&appeals)
	r.Close()
	if v != 2 || appeals != 300 {
		t.Errorf("backup at version %d with %d appeals, want 2 and 300", v, appeals)
	}
	if out, _, code, _ := runRepopsCmd(t, "--db", path, "migrate", "validate"); code != 0 {
		t.Errorf("validate after apply: %s", out)
	}
}

func TestMigrateValidateNamesProblems(t *testing.T) {
	tests := []struct {
		name  string
		stmts []string
		want  string
	}{
		{"dropped index", []string{"DROP INDEX idx_messages_appeal_created"},
			"missing-index: critical index (operations guide) idx_messages_appeal_created on appeal_negotiation_messages(appeal_id, created_at) is missing"},
		{"the guide's duplicate index", []string{"CREATE INDEX idx_messages_appeal_timestamps ON appeal_negotiation_messages(appeal_id, created_at)"},
			"duplicate-index: idx_messages_appeal_timestamps duplicates idx_messages_appeal_created (appeal_negotiation_messages(appeal_id, created_at)): drop idx_messages_appeal_timestamps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := migTestEnv(t)
			path := filepath.Join(dir, "architect.db")
			if _, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply", "--create"); code != 0 {
				t.Fatal(err)
			}
			testsupport.ExecSQL(t, path, tt.stmts...)
			out, stderr, code, _ := runRepopsCmd(t, "--db", path, "migrate", "validate")
			if code != 1 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, tt.want) {
				t.Errorf("code %d\nstdout %q\nwant   %q\nstderr %q", code, out, tt.want, stderr)
			}
		})
	}
}

// migBadDB makes one kind of bad database file in dir and returns its path.
type migBadDB struct {
	name string
	make func(t *testing.T, dir string) string
	kind error // the FileError kind, nil when the command reports problems instead
}

func migBadDatabases() []migBadDB {
	return []migBadDB{
		{"missing file", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope.db") }, db.ErrNotFound},
		{"zero-byte file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "empty.db")
			os.WriteFile(p, nil, 0o644)
			return p
		}, db.ErrEmpty},
		{"text file named .db", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "notes.db")
			os.WriteFile(p, []byte("appeal_id,status\n1,pending\n"), 0o644)
			return p
		}, db.ErrNotSQLite},
		{"directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "dir.db")
			os.Mkdir(p, 0o755)
			return p
		}, db.ErrIsDirectory},
		{"truncated database", func(t *testing.T, dir string) string {
			p := migDemoFile(t, dir, 400)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()/2)
			return p
		}, db.ErrCorrupt},
	}
}

func TestMigrateBadFiles(t *testing.T) {
	for _, bad := range migBadDatabases() {
		for _, args := range [][]string{{"migrate", "validate"}, {"migrate", "status"}, {"migrate", "stats"}, {"migrate", "report"}, {"migrate", "apply"}, {"migrate", "backup"}, {"demo", "--summary"}} {
			if bad.name == "missing file" && args[0] == "demo" {
				continue // the demo creates its database
			}
			t.Run(bad.name+"/"+strings.Join(args, " "), func(t *testing.T) {
				dir := migTestEnv(t)
				path := bad.make(t, dir)
				before := testsupport.SnapshotFiles(t, path)
				_, _, code, err := runRepopsCmd(t, append([]string{"--db", path}, args...)...)
				if code == 0 || err == nil {
					t.Fatalf("exit %d, err %v; want a failure", code, err)
				}
				msg := err.Error()
				if bad.kind != nil && args[0] == "migrate" && !errors.Is(err, bad.kind) {
					t.Errorf("err %q, want %v", msg, bad.kind)
				}
				if strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
					t.Errorf("not one line naming the file: %q", msg)
				}
				before.AssertUnchanged(t, path)
				if entries, _ := os.ReadDir(filepath.Join(dir, "backups")); len(entries) != 0 {
					t.Errorf("backup dir has %v", entries)
				}
			})
		}
	}
}

func TestMigrateCorruptedPage(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 2000)
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pageno int64
	err = r.QueryRow(`SELECT pageno FROM dbstat WHERE name = 'appeal_negotiation_messages' AND pagetype = 'leaf'
		ORDER BY pageno LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'appeal_negotiation_messages' AND pagetype = 'leaf')`).Scan(&pageno)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 96), (pageno-1)*4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("corrupted page %d", pageno)
	before := testsupport.SnapshotFiles(t, path)

	out, _, code, _ := runRepopsCmd(t, "--db", path, "migrate", "validate")
	if code != 1 || !strings.HasPrefix(out, "corrupt: quick_check on "+path+": ") || strings.Count(out, "\n") != 1 {
		t.Errorf("validate: exit %d, %q", code, out)
	}
	// dbstat skips a page it cannot decode: stats still answers (sizes
	// are approximate then; validate is what finds corruption).
	runRepopsCmd(t, "--db", path, "migrate", "stats")
	before.AssertUnchanged(t, path)
}

func TestMigrateSchemaProblems(t *testing.T) {
	tests := []struct {
		name  string
		stmts []string
		args  []string
		line  string // a line of stdout
		kind  error  // or the error
	}{
		{"missing table/validate", []string{"DROP TABLE ml_predictions"}, []string{"migrate", "validate"},
			"missing-table: table ml_predictions is missing (created by 00001_core_tables.sql): restore from a backup, or recreate it from that migration", nil},
		{"missing table/demo summary", []string{"DROP TABLE ml_predictions"}, []string{"demo", "--summary"},
			"missing-table: table ml_predictions is missing (created by 00001_core_tables.sql): restore from a backup, or recreate it from that migration", nil},
		{"newer version/validate", []string{"INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')"}, []string{"migrate", "validate"},
			"unknown-version: version 99 is applied but unknown to this repops (it knows up to 3): use the repops that matches the service's version", nil},
		{"newer version/status", []string{"INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')"}, []string{"migrate", "status"},
			"", db.ErrSchemaTooNew},
		{"newer version/apply", []string{"INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')"}, []string{"migrate", "apply"},
			"", db.ErrSchemaTooNew},
		{"newer version/demo summary", []string{"INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')"}, []string{"demo", "--summary"},
			"", db.ErrSchemaTooNew},
		{"read-only file/apply", []string{"DELETE FROM goose_db_version WHERE version_id = 3"}, []string{"migrate", "apply"}, "", db.ErrReadOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := migTestEnv(t)
			path := migDemoFile(t, dir, 200)
			testsupport.ExecSQL(t, path, tt.stmts...)
			if strings.HasPrefix(tt.name, "read-only") {
				os.Chmod(path, 0o444) // refused even as root
			}
			before := testsupport.SnapshotFiles(t, path)
			out, _, code, err := runRepopsCmd(t, append([]string{"--db", path}, tt.args...)...)
			if code == 0 {
				t.Fatalf("exit 0\n%s", out)
			}
			if tt.kind != nil && (!errors.Is(err, tt.kind) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), path)) {
				t.Errorf("err %v, want a one-line %v naming the file", err, tt.kind)
			}
			if tt.line != "" && !strings.Contains(out, tt.line+"\n") {
				t.Errorf("stdout lacks %q:\n%s", tt.line, out)
			}
			before.AssertUnchanged(t, path)
			if entries, _ := os.ReadDir(filepath.Join(dir, "backups")); len(entries) != 0 {
				t.Errorf("backup taken: %v", entries)
			}
		})
	}
}

func TestMigrateStats(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 500)
	// A table big by its rowid bounds, small in fact, gets an estimate.
	testsupport.ExecSQL(t, path, "INSERT INTO appeals_archive VALUES (1, 'u', 'r', 'approved', '2025-01-01 00:00:00', '2025-01-01 00:00:00', NULL, '2026-01-01 00:00:00'), (5000000, 'u', 'r', 'approved', '2025-01-01 00:00:00', '2025-01-01 00:00:00', NULL, '2026-01-01 00:00:00')")
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "stats")
	if code != 0 {
		t.Fatalf("stats: %v", err)
	}
	for _, want := range []string{"NAME", "appeal_negotiation_messages", "  idx_messages_appeal_created", "~5,000,000", "~ estimated row count", "page size 4096"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	out, _, code, _ = runRepopsCmd(t, "--db", path, "migrate", "stats", "--exact", "--json")
	var js migrateSizesJSON
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil {
		t.Fatalf("stats --json: %d\n%s", code, out)
	}
	for _, o := range js.Objects {
		if o.Estimated || o.Bytes <= 0 {
			t.Errorf("--exact: %+v", o)
		}
		if o.Name == "appeals" && o.Rows != 500 {
			t.Errorf("appeals rows %d", o.Rows)
		}
	}
}

func TestMigrateReportAndBackup(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 300)
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "report")
	if code != 0 {
		t.Fatal(err)
	}
	for _, want := range []string{"# Schema report: architect.db", "## Migrations", "| 3 | 00003_archive_tables.sql | applied |", "## Schema", "CREATE INDEX idx_appeals_user_status", "## Table sizes", "| appeals | table | appeals | 300 |", "## Validation", "Schema valid (version 3, 5 tables, 8 indexes)."} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	before := testsupport.SnapshotFiles(t, path)
	out, _, code, err = runRepopsCmd(t, "--db", path, "migrate", "backup", "--backup-dir", filepath.Join(dir, "bk"))
	if code != 0 || !strings.HasPrefix(out, "backup: "+filepath.Join(dir, "bk", "architect_")) {
		t.Fatalf("backup: %d %v %q", code, err, out)
	}
	before.AssertUnchanged(t, path)
	if list, _ := state.ListBackups(filepath.Join(dir, "bk")); len(list) != 1 {
		t.Errorf("backups: %v", list)
	}
}

func TestMigrateList(t *testing.T) {
	migTestEnv(t)
	out, _, code, _ := runRepopsCmd(t, "migrate", "list")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "00002 00002_critical_indexes.sql 23ee") {
		t.Errorf("list: %d\n%s", code, out)
	}
}

// TestMigrateBackupsAreFullBackups: the backups that 'migrate backup' and
// 'migrate apply' take carry a manifest and verify, so that the newest
// one, which they usually are, serves 'restore --latest' and 'drill'
// (a bare copy was listed as no-manifest and made both fail); apply is
// journaled with its backup.
func TestMigrateBackupsAreFullBackups(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 200)
	bk := filepath.Join(dir, "backups")
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "backup")
	if code != 0 || !strings.Contains(out, "manifest architect_") {
		t.Fatalf("migrate backup: exit %d %v\n%s", code, err, out)
	}
	if out, errOut, code, err := runRepopsCmd(t, "--db", path, "drill"); code != 0 {
		t.Errorf("drill of the newest backup, migrate backup's: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	time.Sleep(1100 * time.Millisecond) // backup names have one-second resolution
	testsupport.ExecSQL(t, path, "DROP TABLE appeal_negotiation_messages_archive", "DROP TABLE appeals_archive",
		"DELETE FROM goose_db_version WHERE version_id = 3", "DELETE FROM repops_migrations WHERE version = 3")
	if out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply"); code != 0 {
		t.Fatalf("migrate apply: exit %d %v\n%s", code, err, out)
	}
	list, err := ops.ListBackups(bk, time.Now())
	if err != nil || len(list) != 2 {
		t.Fatalf("backups %v %v", list, err)
	}
	for _, b := range list {
		if b.State != ops.BackupOK {
			t.Errorf("%s: state %s (%s), want %s", b.Name, b.State, b.Detail, ops.BackupOK)
		}
		if m, err := ops.ReadManifest(b.Path); err != nil || m.QuickCheck != "ok" {
			t.Errorf("manifest of %s: %v %+v", b.Name, err, m)
		}
	}
	if v := list[0].Manifest; v == nil || v.SchemaVersion != 2 {
		t.Errorf("apply's backup is not of the database before the migration: %+v", v)
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
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Action+" "+e.Outcome] = true
	}
	for _, want := range []string{"backup ok", "migrate started", "migrate ok"} {
		if !seen[want] {
			t.Errorf("journal lacks %q: %v", want, seen)
		}
	}
}

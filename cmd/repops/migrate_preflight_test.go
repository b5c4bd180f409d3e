package main

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// migForeignFile is another application's SQLite file in rollback mode,
// as the sqlite3 shell makes it.
func migForeignFile(t *testing.T, dir string, stmts ...string) string {
	t.Helper()
	path := filepath.Join(dir, "other.db")
	d, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, s := range stmts {
		if _, err := d.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return path
}

// TestMigrateApplyRefusesForeignFiles: 'migrate apply' (with or without
// --create) leaves a file that is not the reputation database byte for
// byte as it was, creates no -wal or -shm beside it, and says why in one
// line naming the file; the refusal is journaled.
func TestMigrateApplyRefusesForeignFiles(t *testing.T) {
	goose := `CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')))`
	tests := []struct {
		name  string
		stmts []string
		kind  error
	}{
		{"a table t(x), no goose table", []string{`CREATE TABLE t(x)`, `INSERT INTO t VALUES (1), (2)`}, db.ErrNotReputation},
		{"another application's goose database", []string{goose, `INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1), (2, 1)`,
			`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)`}, db.ErrNotReputation},
	}
	for _, tt := range tests {
		for _, create := range []bool{false, true} {
			name := tt.name
			if create {
				name += "/--create"
			}
			t.Run(name, func(t *testing.T) {
				dir := migTestEnv(t)
				path := migForeignFile(t, dir, tt.stmts...)
				before := testsupport.SnapshotFiles(t, path)
				st, _ := os.Stat(path)
				args := []string{"--db", path, "migrate", "apply"}
				if create {
					args = append(args, "--create")
				}
				out, _, code, err := runRepopsCmd(t, args...)
				if code == 0 || !errors.Is(err, tt.kind) {
					t.Fatalf("exit %d, err %v, want %v\n%s", code, err, tt.kind, out)
				}
				if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "nothing was written") {
					t.Errorf("not one line naming the file: %q", msg)
				}
				before.AssertUnchanged(t, path)
				if now, _ := os.Stat(path); !now.ModTime().Equal(st.ModTime()) {
					t.Errorf("mtime changed: %s -> %s", st.ModTime(), now.ModTime())
				}
				for _, s := range []string{"-wal", "-shm", "-journal"} {
					if _, err := os.Stat(path + s); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("%s%s was created", path, s)
					}
				}
				if entries, _ := os.ReadDir(filepath.Join(dir, "backups")); len(entries) != 0 {
					t.Errorf("backup taken: %v", entries)
				}
				assertRefusalJournaled(t, "migrate")
			})
		}
	}
}

// assertRefusalJournaled checks the journal of the test's state dir for
// the pre-flight's refusal of action.
func assertRefusalJournaled(t *testing.T, action string) {
	t.Helper()
	j, err := ops.OpenJournal(filepath.Join(os.Getenv("XDG_STATE_HOME"), "repops"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entries, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == action && e.Outcome == ops.OutcomeFailed && strings.Contains(e.Message, "refused by the pre-flight") {
			return
		}
	}
	t.Errorf("no refusal of %s in the journal: %+v", action, entries)
}

// TestMigrateApplyNoTablesNeedsCreate: an SQLite file with no table is
// made the reputation database with --create only.
func TestMigrateApplyNoTablesNeedsCreate(t *testing.T) {
	dir := migTestEnv(t)
	path := migForeignFile(t, dir, "PRAGMA user_version = 7")
	before := testsupport.SnapshotFiles(t, path)
	_, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply")
	if code == 0 || !errors.Is(err, db.ErrNoSchema) || !strings.Contains(err.Error(), "--create") {
		t.Fatalf("without --create: exit %d, %v", code, err)
	}
	before.AssertUnchanged(t, path)
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply", "--create")
	if code != 0 {
		t.Fatalf("with --create: exit %d, %v\n%s", code, err, out)
	}
	out, _, code, _ = runRepopsCmd(t, "--db", path, "migrate", "validate")
	if code != 0 || !strings.HasPrefix(out, "schema valid") {
		t.Fatalf("validate: %d %q", code, out)
	}
}

// TestMigrateApplyRefusesDamagedFile: a damaged database is not migrated
// (nor "up to date"): the pre-flight's quick_check refuses it, pointing at
// the database-corruption runbook, and nothing changes.
func TestMigrateApplyRefusesDamagedFile(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 2000)
	r, err := db.OpenRead(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pageno int64
	err = r.QueryRow(`SELECT pageno FROM dbstat WHERE name = 'idx_appeals_user_status' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1`).Scan(&pageno)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", 96)), (pageno-1)*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := testsupport.SnapshotFiles(t, path)
	out, _, code, err := runRepopsCmd(t, "--db", path, "migrate", "apply")
	if code == 0 || !errors.Is(err, db.ErrCorrupt) || !strings.Contains(err.Error(), "repops runbook show database-corruption") {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	before.AssertUnchanged(t, path)
	if entries, _ := os.ReadDir(filepath.Join(dir, "backups")); len(entries) != 0 {
		t.Errorf("backup taken: %v", entries)
	}
	assertRefusalJournaled(t, "migrate")
}

// TestOptimizeEstimateStatesPreflight: the cost lines say which
// pre-flight runs before the write.
func TestOptimizeEstimateStatesPreflight(t *testing.T) {
	dir := migTestEnv(t)
	path := migDemoFile(t, dir, 100)
	for op, want := range map[string]string{"checkpoint": "pre-flight schema version only", "analyze": "pre-flight schema version, then PRAGMA quick_check"} {
		out, _, code, err := runRepopsCmd(t, "--db", path, "optimize", op, "--estimate")
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("optimize %s --estimate: exit %d, %v\n%s", op, code, err, out)
		}
	}
}

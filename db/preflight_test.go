package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// foreignDB is an SQLite file of another application, in rollback-journal
// mode (as the sqlite3 shell makes one): a table t(x), no goose table.
func foreignDB(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	d, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(stmts) == 0 {
		stmts = []string{"CREATE TABLE t(x)", "INSERT INTO t VALUES (1), (2)"}
	}
	for _, s := range stmts {
		if _, err := d.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return path
}

// futureDB is a migrated database with a goose version above the newest
// this binary carries.
func futureDB(t *testing.T) string {
	t.Helper()
	path := newMigratedDB(t)
	execOn(t, path, fmt.Sprintf("INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (%d, 1, '2026-01-01 00:00:00')", LatestVersion()+1))
	return path
}

// noCompanions asserts that no -wal or -shm exists beside path.
func noCompanions(t *testing.T, path string) {
	t.Helper()
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + s); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s%s was created", path, s)
		}
	}
}

func TestPreflight(t *testing.T) {
	ctx := context.Background()
	goose := "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')))"
	tests := []struct {
		name       string
		make       func(t *testing.T) string
		quick      error // PreflightQuickCheck's kind, nil: passes
		schema     error // PreflightSchema's
		rollback   bool  // the file is in rollback mode: no -wal or -shm may appear
		wantInText string
	}{
		{"migrated", newMigratedDB, nil, nil, false, ""},
		{"demo", func(t *testing.T) string { return newFilledDB(t, 200) }, nil, nil, false, ""},
		{"corrupt page", corruptedDemoDB, ErrCorrupt, nil, false, "repops runbook show database-corruption"},
		{"truncated", truncatedDB, ErrCorrupt, ErrCorrupt, false, "repops runbook show database-corruption"},
		{"future schema", futureDB, ErrSchemaTooNew, ErrSchemaTooNew, false, fmt.Sprintf("version %d", LatestVersion()+1)},
		{"foreign file", func(t *testing.T) string { return foreignDB(t) }, ErrNotReputation, ErrNotReputation, true, "it has tables (t) and no goose_db_version table"},
		{"foreign goose database", func(t *testing.T) string {
			return foreignDB(t, goose, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (1, 1), (2, 1)", "CREATE TABLE users(id, name)")
		}, ErrNotReputation, ErrNotReputation, true, "none of the tables they create"},
		{"foreign goose database with timestamp versions", func(t *testing.T) string {
			return foreignDB(t, goose, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1), (20240101120000, 1)", "CREATE TABLE users(id, name)")
		}, ErrNotReputation, ErrNotReputation, true, "is not the reputation database"},
		{"empty goose table beside other tables", func(t *testing.T) string {
			return foreignDB(t, goose, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1)", "CREATE TABLE users(id, name)")
		}, ErrNotReputation, ErrNotReputation, true, "an empty goose_db_version table"},
		{"no tables", func(t *testing.T) string { return foreignDB(t, "PRAGMA user_version = 1") }, ErrNoSchema, ErrNoSchema, true, "migrate apply --create"},
		{"a table missing", func(t *testing.T) string {
			p := newMigratedDB(t)
			execOn(t, p, "DROP TABLE ml_predictions")
			return p
		}, ErrSchemaInvalid, ErrSchemaInvalid, false, "tables missing: ml_predictions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.make(t)
			before := snapshotFiles(t, path)
			for _, lv := range []struct {
				level PreflightLevel
				want  error
			}{{PreflightQuickCheck, tt.quick}, {PreflightSchema, tt.schema}} {
				err := PreflightFile(ctx, path, Options{}, lv.level)
				if lv.want == nil {
					if err != nil {
						t.Fatalf("level %d: %v", lv.level, err)
					}
					continue
				}
				var fe *FileError
				if !errors.Is(err, lv.want) || !errors.As(err, &fe) {
					t.Fatalf("level %d: err = %v, want a *FileError of %v", lv.level, err, lv.want)
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") || !strings.Contains(msg, path) || fe.Hint == "" {
					t.Errorf("level %d: not one line naming the file and what to do: %q", lv.level, msg)
				}
				if !strings.Contains(msg, tt.wantInText) {
					t.Errorf("level %d: %q lacks %q", lv.level, msg, tt.wantInText)
				}
				if IsCorrupt(err) != errors.Is(err, ErrCorrupt) {
					t.Errorf("level %d: IsCorrupt(%v) = %v", lv.level, err, IsCorrupt(err))
				}
			}
			before.assertUnchanged(t, path)
			if tt.rollback {
				noCompanions(t, path)
			}
		})
	}
}

// TestPreflightMigrate: a missing or empty file is left to OpenWrite; a
// file with no table passes only with create; a foreign file never.
func TestPreflightMigrate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{false, true} {
		for _, p := range []string{filepath.Join(dir, "missing.db"), empty} {
			if err := PreflightMigrate(ctx, p, Options{}, create); err != nil {
				t.Errorf("create=%v %s: %v", create, filepath.Base(p), err)
			}
		}
		noTables := foreignDB(t, "PRAGMA user_version = 1")
		err := PreflightMigrate(ctx, noTables, Options{}, create)
		if create != (err == nil) || (!create && !errors.Is(err, ErrNoSchema)) {
			t.Errorf("create=%v, a file with no table: %v", create, err)
		}
		foreign := foreignDB(t)
		if err := PreflightMigrate(ctx, foreign, Options{}, create); !errors.Is(err, ErrNotReputation) {
			t.Errorf("create=%v, a foreign file: %v", create, err)
		}
		noCompanions(t, foreign)
	}
	// A database that lacks the newest migration passes: that is what
	// migrate apply is for.
	older := newMigratedDB(t)
	execOn(t, older, "DROP TABLE appeal_negotiation_messages_archive", "DROP TABLE appeals_archive",
		fmt.Sprintf("DELETE FROM goose_db_version WHERE version_id = %d", LatestVersion()))
	if err := PreflightMigrate(ctx, older, Options{}, false); err != nil {
		t.Errorf("a database one migration behind: %v", err)
	}
}

// TestMigrateRefusesForeignFile: Migrate itself, on a foreign file already
// open for writing, creates nothing in it.
func TestMigrateRefusesForeignFile(t *testing.T) {
	ctx := context.Background()
	path := foreignDB(t)
	w, err := OpenWrite(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	applied, err := Migrate(ctx, w, path)
	if !errors.Is(err, ErrNotReputation) || len(applied) != 0 {
		t.Fatalf("Migrate: %v, %d applied", err, len(applied))
	}
	names, err := TableNames(ctx, w)
	if err != nil || strings.Join(names, ",") != "t" {
		t.Fatalf("tables after the refusal: %v %v", names, err)
	}
}

func TestIsCorruptAndStopOnCorrupt(t *testing.T) {
	path := "/srv/architect.db"
	tests := []struct {
		err     error
		corrupt bool
		kind    error
	}{
		{nil, false, nil},
		{errors.New("database is locked"), false, nil},
		{fileError(path, ErrLocked, "busy"), false, nil},
		{sqlite3.Error{Code: sqlite3.ErrCorrupt}, true, ErrCorrupt},
		{fmt.Errorf("archive: copy appeals: %w", sqlite3.Error{Code: sqlite3.ErrCorrupt}), true, ErrCorrupt},
		{sqlite3.Error{Code: sqlite3.ErrNotADB}, true, ErrNotSQLite},
		{errors.New("database disk image is malformed"), true, ErrCorrupt},
		{fmt.Errorf("archive: delete archived appeals: %w", Classify(path, errors.New("database disk image is malformed"))), true, ErrCorrupt},
	}
	for _, tt := range tests {
		if got := IsCorrupt(tt.err); got != tt.corrupt {
			t.Errorf("IsCorrupt(%v) = %v", tt.err, got)
		}
		stop := StopOnCorrupt(path, tt.err)
		if !tt.corrupt {
			if stop != tt.err {
				t.Errorf("StopOnCorrupt(%v) changed it: %v", tt.err, stop)
			}
			continue
		}
		msg := stop.Error()
		if !errors.Is(stop, tt.kind) || strings.Contains(msg, "\n") || !strings.Contains(msg, path) ||
			!strings.Contains(msg, "repops runbook show database-corruption") {
			t.Errorf("StopOnCorrupt(%v) = %q", tt.err, msg)
		}
		if strings.HasPrefix(tt.err.Error(), "archive: ") && !strings.Contains(msg, "(archive: ") {
			t.Errorf("StopOnCorrupt(%v) lost where it was seen: %q", tt.err, msg)
		}
		if again := StopOnCorrupt(path, stop); again != stop {
			t.Errorf("StopOnCorrupt is not idempotent: %q", again)
		}
	}
}

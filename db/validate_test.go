package db

import (
	"context"
	"strings"
	"testing"
)

func validateFile(t *testing.T, path string) *ValidationReport {
	t.Helper()
	ctx := context.Background()
	r, err := OpenRead(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := Validate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestValidateMigratedSchemaIsValid(t *testing.T) {
	path := newMigratedDB(t)
	rep := validateFile(t, path)
	if !rep.OK() {
		t.Fatalf("fresh schema has problems: %v", rep.Problems)
	}
	if rep.Version != LatestVersion() || rep.Tables != 5 || rep.Indexes != 8 {
		t.Errorf("report = version %d, %d tables, %d indexes; want %d, 5, 8", rep.Version, rep.Tables, rep.Indexes, LatestVersion())
	}
}

func TestValidateFindsProblems(t *testing.T) {
	archiveWithIntStatus := `CREATE TABLE appeals_archive (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, reason TEXT NOT NULL,
		status INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolved_at TEXT, archived_at TEXT NOT NULL)`
	tests := []struct {
		name   string
		stmts  []string
		kind   string
		object string
		text   string // in the message
	}{
		{"dropped critical index", []string{"DROP INDEX idx_appeals_user_status"},
			ProblemMissingIndex, "idx_appeals_user_status", "critical index (operations guide) idx_appeals_user_status on appeals(user_id, status) is missing: recreate it with CREATE INDEX idx_appeals_user_status ON appeals(user_id, status)"},
		{"dropped other index", []string{"DROP INDEX idx_predictions_created"},
			ProblemMissingIndex, "idx_predictions_created", "index idx_predictions_created on ml_predictions(created_at) is missing"},
		{"the guide's duplicate index", []string{"CREATE INDEX idx_messages_appeal_timestamps ON appeal_negotiation_messages(appeal_id, created_at)"},
			ProblemDuplicateIndex, "idx_messages_appeal_timestamps", "idx_messages_appeal_timestamps duplicates idx_messages_appeal_created (appeal_negotiation_messages(appeal_id, created_at)): drop idx_messages_appeal_timestamps"},
		{"index with other columns", []string{"DROP INDEX idx_appeals_created", "CREATE INDEX idx_appeals_created ON appeals(updated_at)"},
			ProblemWrongIndex, "idx_appeals_created", "is on appeals(updated_at), expected appeals(created_at)"},
		{"missing table", []string{"DROP TABLE ml_predictions"},
			ProblemMissingTable, "ml_predictions", "table ml_predictions is missing (created by 00001_core_tables.sql)"},
		{"missing column", []string{"ALTER TABLE appeals_archive DROP COLUMN resolved_at"},
			ProblemMissingColumn, "appeals_archive.resolved_at", "column appeals_archive.resolved_at is missing"},
		{"wrong type", []string{"DROP TABLE appeals_archive", archiveWithIntStatus},
			ProblemWrongType, "appeals_archive.status", `column appeals_archive.status is declared "INTEGER", expected "TEXT"`},
		{"checksum drift", []string{"UPDATE repops_migrations SET sha256 = 'abcdef0123456789' WHERE version = 2"},
			ProblemChecksumDrift, "00002_critical_indexes.sql", "migration 00002_critical_indexes.sql was applied with other SQL than this repops carries (sha256 abcdef012345 recorded"},
		{"unknown version", []string{"INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')"},
			ProblemUnknownVersion, "99", "version 99 is applied but unknown to this repops (it knows up to 3)"},
		{"pending migration", []string{"DROP INDEX idx_messages_archive_appeal", "DROP TABLE appeals_archive", "DROP TABLE appeal_negotiation_messages_archive", "DELETE FROM goose_db_version WHERE version_id = 3"},
			ProblemPendingMigration, "00003_archive_tables.sql", "migration 00003_archive_tables.sql is not applied: run 'repops migrate apply'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newMigratedDB(t)
			execOn(t, path, tt.stmts...)
			rep := validateFile(t, path)
			if len(rep.Problems) != 1 {
				t.Fatalf("want exactly one problem, got %d: %v", len(rep.Problems), rep.Problems)
			}
			p := rep.Problems[0]
			if p.Kind != tt.kind || p.Object != tt.object || !strings.Contains(p.Message, tt.text) {
				t.Errorf("got %+v\nwant kind %s, object %s, message containing %q", p, tt.kind, tt.object, tt.text)
			}
			if strings.Contains(p.String(), "\n") {
				t.Errorf("problem is not one line: %q", p.String())
			}
		})
	}
}

func TestQuickCheck(t *testing.T) {
	ctx := context.Background()
	t.Run("sound database", func(t *testing.T) {
		path := newFilledDB(t, 300)
		r, err := OpenRead(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		probs, err := QuickCheck(ctx, r, 0)
		if err != nil || probs != nil {
			t.Fatalf("QuickCheck = %v, %v; want nothing", probs, err)
		}
	})
	t.Run("corrupted page", func(t *testing.T) {
		path := corruptedDemoDB(t)
		r, err := OpenRead(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		probs, err := QuickCheck(ctx, r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) == 0 {
			t.Fatal("QuickCheck found nothing on a corrupted page")
		}
		t.Logf("found: %v", probs)
	})
}

package ops

import (
	"context"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
)

// atVersion2 takes a migrated database back to version 2, as it was
// before migration 3 (the archive tables).
var atVersion2 = []string{
	"DROP TABLE appeal_negotiation_messages_archive", "DROP TABLE appeals_archive",
	"DELETE FROM goose_db_version WHERE version_id = 3", "DELETE FROM repops_migrations WHERE version = 3",
}

// TestVerifyOlderSchema: a backup taken before a migration is at an older
// version of the migrations, not damaged: verification and the drill pass
// it with a note saying 'repops migrate apply' follows its restore; one
// that lacks an object of an applied migration, has a gap or a version
// this repops does not know still fails.
func TestVerifyOlderSchema(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stmts   []string
		ok      bool
		contain string // in the note when ok, in the problems otherwise
	}{
		{name: "version 2 of 3 passes with a note", stmts: atVersion2, ok: true,
			contain: "schema version 2, older than this repops's 3: restoring it then needs 'repops migrate apply'"},
		{name: "version 2 missing a critical index fails", stmts: append([]string{"DROP INDEX idx_predictions_type_user"}, atVersion2...),
			contain: "idx_predictions_type_user"},
		{name: "a gap in the versions fails", stmts: []string{"DELETE FROM goose_db_version WHERE version_id = 2", "DELETE FROM repops_migrations WHERE version = 2"},
			contain: "pending-migration"},
		{name: "an unknown newer version fails", stmts: []string{"INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (99, 1, '2026-01-01 00:00:00')"},
			contain: "schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newRecoveryDB(t, t.TempDir(), 5)
			testsupport.ExecSQL(t, path, tc.stmts...)
			o := backupOpts(t, path)
			res, err := Backup(context.Background(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, err := VerifyBackup(context.Background(), res.Path)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK() != tc.ok {
				t.Fatalf("verify: ok %v, want %v: problems %q notes %q", v.OK(), tc.ok, v.Problems, v.Notes)
			}
			got := strings.Join(v.Problems, "\n")
			if tc.ok {
				got = strings.Join(v.Notes, "\n")
			}
			if !strings.Contains(got, tc.contain) {
				t.Fatalf("want %q in %q", tc.contain, got)
			}
			d, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, Actor: testActor()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d.OK != tc.ok {
				t.Fatalf("drill: ok %v, want %v: %q", d.OK, tc.ok, d.Problems)
			}
			if tc.ok && !strings.Contains(DrillMarkdown(d), "older than this repops's 3") {
				t.Fatalf("the drill report does not say the schema is older:\n%s", DrillMarkdown(d))
			}
		})
	}
}

package ops

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
)

// TestJournalUpgradeTakesWarning: a journal created before the "warning"
// outcome existed (its CHECK lists the old outcomes) takes a warning entry
// once reopened, keeps its entries, and stays append-only.
func TestJournalUpgradeTakesWarning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	ctx := context.Background()
	w, err := db.OpenWrite(ctx, path, db.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	// The schema as it was before the warning outcome, the alert states
	// and the command column.
	oldSchema := outcomeCheck.ReplaceAllString(journalSchema, "outcome IN ('started','ok','failed','cancelled','skipped','note')")
	oldSchema = strings.Replace(oldSchema, ",\n\tcommand TEXT NOT NULL DEFAULT ''", "", 1)
	if oldSchema == journalSchema || strings.Contains(oldSchema, "command") {
		t.Fatal("the schema does not list 'warning' or has no command column")
	}
	if _, err := w.ExecContext(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO entries (time, user, host, action, outcome) VALUES ('2026-01-01T00:00:00.000000000Z', 'u', 'h', 'backup', 'warning')`); err == nil {
		t.Fatal("the old schema took a warning: the test does not test the upgrade")
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO entries (time, user, host, action, outcome) VALUES ('2026-01-01T00:00:00.000000000Z', 'u', 'h', 'backup', 'ok')`); err != nil {
		t.Fatal(err)
	}
	w.Close()

	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(Entry{Actor: testActor(), Action: "drill", Time: time.Now(), Outcome: OutcomeWarning, Message: "objective missed"}); err != nil {
		t.Fatalf("append a warning to an upgraded journal: %v", err)
	}
	if _, err := j.Append(Entry{Actor: testActor(), Action: "alert", Target: "AppealErrorRateHigh", Outcome: OutcomeFiring,
		Command: "repops status"}); err != nil {
		t.Fatalf("append an alert transition with a command to an upgraded journal: %v", err)
	}
	entries, err := j.Entries(time.Time{})
	if err != nil || len(entries) != 3 || entries[0].Outcome != OutcomeOK || entries[1].Outcome != OutcomeWarning ||
		entries[2].Outcome != OutcomeFiring || entries[2].Command != "repops status" || entries[0].Command != "" {
		t.Fatalf("entries %+v, %v", entries, err)
	}
	if _, err := j.db.ExecContext(ctx, `DELETE FROM entries`); err == nil {
		t.Error("the upgraded journal is no longer append-only")
	}
	if _, err := j.db.ExecContext(ctx, `INSERT INTO entries (time, user, host, action, outcome) VALUES ('x', 'u', 'h', 'a', 'bogus')`); err == nil {
		t.Error("the upgraded journal takes any outcome")
	}
	var check string
	if err := j.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check after the upgrade: %q, %v", check, err)
	}
}

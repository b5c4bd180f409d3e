package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
)

// TestIncidentReportNeverReplacesADatabase: -o naming the live database
// (or its -wal) is refused even with --force, and the file is unchanged.
func TestIncidentReportNeverReplacesADatabase(t *testing.T) {
	dbPath := testsupport.MigratedDB(t)
	before := testsupport.SnapshotFiles(t, dbPath)
	for _, target := range []string{dbPath, dbPath + "-wal"} {
		if _, err := os.Stat(target); err != nil {
			if err := os.WriteFile(target, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(target)
		}
		err := reportTargetOK(target, true)
		if err == nil || !strings.Contains(err.Error(), "never replaces") {
			t.Fatalf("-o %s --force: %v, want a refusal", filepath.Base(target), err)
		}
	}
	before.AssertUnchanged(t, dbPath)
	other := filepath.Join(t.TempDir(), "report.md")
	if err := reportTargetOK(other, false); err != nil {
		t.Fatalf("a new file: %v", err)
	}
	if err := writeReportFile(other, []byte("# Incident\n")); err != nil {
		t.Fatal(err)
	}
	if err := reportTargetOK(other, false); err == nil {
		t.Fatal("an existing report without --force: no refusal")
	}
	if err := reportTargetOK(other, true); err != nil {
		t.Fatalf("an existing report with --force: %v", err)
	}
}

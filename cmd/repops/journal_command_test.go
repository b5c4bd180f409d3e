package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestProcedureJournalsItsCommandLine: a procedure run from a shell
// records the command line that ran it on its start and end entries (the
// journal says how to run it again); a read-only command records none.
func TestProcedureJournalsItsCommandLine(t *testing.T) {
	dir := t.TempDir()
	dbPath := testsupport.MigratedDB(t)
	cfg := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("console:\n  state_dir: %s\n  backup:\n    dir: %s\n", filepath.Join(dir, "state"), filepath.Join(dir, "backups"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runRepopsIn(t, "", "--config", cfg, "--db", dbPath, "backup"); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	j, err := ops.OpenJournal(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entries, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := ops.ShellCommand("repops", "backup", "--config", cfg, "--db", dbPath)
	n := 0
	for _, e := range entries {
		if e.Action == "backup" {
			n++
			if e.Command != want {
				t.Errorf("%s entry: command %q, want %q", e.Outcome, e.Command, want)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d backup entries, want a start and an end: %+v", n, entries)
	}
}

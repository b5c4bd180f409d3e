package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestReadOnlyEstimateWritesNothingBesideTheDatabase: in read-only mode
// the cost estimate's write sample is taken in SQLite's temp dir, never
// in the database's directory.
func TestReadOnlyEstimateWritesNothingBesideTheDatabase(t *testing.T) {
	cfg, dbPath, _ := recoveryEnv(t)
	stdout, stderr, code := runRecovery(t, cfg, "", "--read-only", "optimize", "vacuum", "--estimate", "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var c struct {
		Measured struct {
			WriteDir string `json:"write_dir"`
		} `json:"measured"`
	}
	if err := json.Unmarshal([]byte(stdout), &c); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if c.Measured.WriteDir == "" || c.Measured.WriteDir == filepath.Dir(dbPath) {
		t.Fatalf("the read-only estimate wrote its sample in %q (the database is in %s)", c.Measured.WriteDir, filepath.Dir(dbPath))
	}
}

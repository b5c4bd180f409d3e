package main

import (
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
)

// TestMigrationChecksumLostInACrash: a crash between a migration's commit
// and the recording of its checksum (each is its own transaction) leaves
// an applied migration with no checksum. 'migrate validate' reports it,
// and the next 'migrate apply' records it, with nothing else to do.
func TestMigrationChecksumLostInACrash(t *testing.T) {
	cfg, dbPath, _ := recoveryEnv(t)
	testsupport.ExecSQL(t, dbPath, `DELETE FROM repops_migrations WHERE version = (SELECT max(version) FROM repops_migrations)`)

	stdout, stderr, code := runRecovery(t, cfg, "", "migrate", "validate")
	if code == 0 || !strings.Contains(stdout+stderr, "checksum") {
		t.Fatalf("validate with a checksum missing: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	stdout, stderr, code = runRecovery(t, cfg, "", "migrate", "apply")
	if code != 0 {
		t.Fatalf("migrate apply: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	stdout, stderr, code = runRecovery(t, cfg, "", "migrate", "validate")
	if code != 0 {
		t.Fatalf("validate after the repair: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

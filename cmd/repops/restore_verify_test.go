package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestRestoreVerifiesBeforeAsking: the backup is verified and the result
// shown (checksum, integrity, schema, rows, age) before the typed name is
// asked for; a failing backup is refused before any question, unless
// --accept-failed-verification, and the database is left as it was.
func TestRestoreVerifiesBeforeAsking(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	res, err := ops.Backup(context.Background(), ops.BackupOptions{DBPath: dbPath, Dir: filepath.Join(filepath.Dir(dbPath), "backups")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(res.Path)
	run := func(stdin string, args ...string) (string, int) {
		var both bytes.Buffer // stdout and stderr as a terminal shows them
		root := newRootCmd(strings.NewReader(stdin), &both, &both)
		root.SetArgs(append([]string{"--config", cfg}, args...))
		err := root.ExecuteContext(context.Background())
		if err != nil {
			both.WriteString(err.Error())
		}
		return both.String(), exitCode(err)
	}
	const question = "Type the database's name"

	t.Run("a sound backup: the verification, then the question", func(t *testing.T) {
		out, code := run("no\n", "restore", name)
		if code != exitFailure || !strings.Contains(out, "restore cancelled") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		q := strings.Index(out, question)
		for _, want := range []string{"checksum", "integrity", "schema", "rows", "old", "verification: OK"} {
			if i := strings.Index(out, want); i < 0 || i > q {
				t.Errorf("%q is not shown before the question:\n%s", want, out)
			}
		}
	})

	m, err := ops.ReadManifest(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	m.SHA256 = strings.Repeat("0", 64)
	b, _ := json.Marshal(m)
	if err := os.WriteFile(ops.ManifestPath(res.Path), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("a failing backup is refused before any question", func(t *testing.T) {
		before := testsupport.SnapshotFiles(t, dbPath)
		out, code := run("architect.db\n", "restore", name)
		if code != exitFailure || strings.Contains(out, question) || !strings.Contains(out, "fails verification") || !strings.Contains(out, "checksum") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		before.AssertUnchanged(t, dbPath)
		if !hasEntry(recoveryJournal(t, stateDir), "restore", ops.OutcomeFailed) {
			t.Error("the refusal is not in the journal")
		}
	})
	t.Run("--accept-failed-verification asks, then restores", func(t *testing.T) {
		out, code := run("architect.db\n", "restore", name, "--accept-failed-verification")
		if code != 0 || !strings.Contains(out, question) || !strings.Contains(out, "verification: FAILED") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
}

package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/ops"
)

// TestBackupWithDamagedJournal: a truncated journal or one of random bytes
// does not stop 'repops backup': it exits 0, the damaged journal is set
// aside (renamed, byte for byte), one line on stderr names both files, the
// new journal's first entry records it and the backup follows; the live
// database is not touched.
func TestBackupWithDamagedJournal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 3000); err != nil {
				t.Fatal(err)
			}
		}},
		{"random bytes", func(t *testing.T, path string) {
			b := make([]byte, 32<<10)
			_, _ = rand.Read(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dbPath, stateDir := recoveryEnv(t)
			j, err := ops.OpenJournal(stateDir)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 40; i++ {
				if _, err := j.Append(ops.Entry{Action: "check", Outcome: ops.OutcomeOK, Message: strings.Repeat("x", 200)}); err != nil {
					t.Fatal(err)
				}
			}
			j.Close()
			journal := filepath.Join(stateDir, ops.JournalFile)
			tc.damage(t, journal)
			damaged, err := os.ReadFile(journal)
			if err != nil {
				t.Fatal(err)
			}
			live := testsupport.SnapshotFiles(t, dbPath)

			var stdout, stderr string
			var code int
			notice := testsupport.CaptureStderr(t, func() {
				stdout, stderr, code = runRecovery(t, cfg, "", "backup")
			})
			if code != 0 || !strings.Contains(stdout, "backup ") {
				t.Fatalf("backup with a %s journal: exit %d\n%s\n%s", tc.name, code, stdout, stderr)
			}
			live.AssertUnchanged(t, dbPath)

			var asides []string
			for _, n := range testsupport.DirNames(t, stateDir) {
				if strings.HasPrefix(n, ops.JournalFile+".damaged-") {
					asides = append(asides, filepath.Join(stateDir, n))
				}
			}
			if len(asides) != 1 {
				t.Fatalf("state dir %v: want one set-aside journal", testsupport.DirNames(t, stateDir))
			}
			if kept, err := os.ReadFile(asides[0]); err != nil || !bytes.Equal(kept, damaged) {
				t.Fatalf("the set-aside file is not the damaged journal (%v)", err)
			}
			if lines := strings.Split(strings.TrimRight(notice, "\n"), "\n"); len(lines) != 1 ||
				!strings.HasPrefix(notice, "repops: the ops journal "+journal+" ") || !strings.Contains(notice, asides[0]) {
				t.Fatalf("stderr %q: want one line naming %s and %s", notice, journal, asides[0])
			}

			entries := recoveryJournal(t, stateDir)
			if len(entries) < 3 || entries[0].Action != "journal.set-aside" || entries[0].Params["set_aside_as"] != asides[0] ||
				entries[0].Params["reason"] == "" || !hasEntry(entries, "backup", ops.OutcomeOK) {
				t.Fatalf("new journal: %+v", entries)
			}
		})
	}
}

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/ops"
)

// TestDrillObjectives: 'repops drill' exits with the rehearsed scenario's
// verdict: a backup 2 h old restores and verifies but misses Database
// Corruption's RPO of 5 min (WARNING, exit 1, saying so), meets nothing
// less than Data Loss's 1 h either; a backup of 30 m meets Data Loss (0);
// an unknown scenario is a usage error.
func TestDrillObjectives(t *testing.T) {
	cfg, dbPath, _ := recoveryEnv(t)
	backupDir := filepath.Join(filepath.Dir(dbPath), "backups")
	backup := func(age time.Duration) {
		t.Helper()
		if _, err := ops.Backup(context.Background(), ops.BackupOptions{DBPath: dbPath, Dir: backupDir,
			Now: func() time.Time { return time.Now().Add(-age) }}, nil); err != nil {
			t.Fatal(err)
		}
	}
	backup(2 * time.Hour)
	for _, tc := range []struct {
		name string
		args []string
		code int
		last string
	}{
		{"default scenario, RPO missed", nil, exitWarning, "DR drill WARNING (Database Corruption): objective missed: RPO 5 min, the backup was 2 h old"},
		{"data loss, RPO missed", []string{"--scenario", "data-loss"}, exitWarning, "DR drill WARNING (Data Loss): objective missed: RPO 1 h, the backup was 2 h old"},
		{"unknown scenario", []string{"--scenario", "meteor"}, exitUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runRecovery(t, cfg, "", append([]string{"drill"}, tc.args...)...)
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if code != tc.code || (tc.last != "" && lines[len(lines)-1] != tc.last) {
				t.Fatalf("exit %d (want %d)\n%s\n%s", code, tc.code, out, errOut)
			}
			if tc.code == exitWarning && !strings.Contains(out, "(for information)") {
				t.Fatalf("the other scenarios are not shown for information:\n%s", out)
			}
			if tc.code == exitWarning {
				// The journal says WARNING too, not ok.
				_, _, stateDir := cfgDirs(t, cfg)
				if es := recoveryJournal(t, stateDir); len(es) == 0 || es[len(es)-1].Action != "drill" || es[len(es)-1].Outcome != ops.OutcomeWarning {
					t.Fatalf("the drill's journal entry: %+v, want outcome %q", es[len(es)-1], ops.OutcomeWarning)
				}
			}
		})
	}
	backup(30 * time.Minute)
	out, errOut, code := runRecovery(t, cfg, "", "drill", "--scenario", "Data Loss")
	if code != 0 || !strings.Contains(out, "DR drill OK (Data Loss)") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// cfgDirs is the database and state dir a recoveryEnv config names.
func cfgDirs(t *testing.T, cfg string) (string, string, string) {
	t.Helper()
	dir := filepath.Dir(cfg)
	return cfg, filepath.Join(dir, "architect.db"), filepath.Join(dir, "state")
}

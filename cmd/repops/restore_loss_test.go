package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/ops"
)

// TestRestoreReportsTheLoss: 'repops restore' shows, per table, the rows
// of the replaced database beyond the backup, the newest of them (id and
// created_at) and the data-loss window (newest lost minus newest kept),
// measured between the safety copy and the backup; the journal has the
// same figures.
func TestRestoreReportsTheLoss(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	ctx := context.Background()
	backupDir := filepath.Join(filepath.Dir(dbPath), "backups")
	if _, err := ops.Backup(ctx, ops.BackupOptions{DBPath: dbPath, Dir: backupDir}, nil); err != nil {
		t.Fatal(err)
	}
	w, err := db.OpenWrite(ctx, dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var kept string
	if err := w.QueryRow(`SELECT max(created_at) FROM appeals`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	newest := db.FormatTime(db.ParseTime(kept).Add(90 * time.Second))
	for _, at := range []string{db.FormatTime(db.ParseTime(kept).Add(30 * time.Second)), newest, db.FormatTime(db.ParseTime(kept).Add(60 * time.Second))} {
		if _, err := w.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('late', 'r', 'pending', ?, ?)`, at, at); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	stdout, stderr, code := runRecovery(t, cfg, "", "restore", "--latest", "--yes", "--offline")
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var line string
	for _, l := range strings.Split(stdout, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "appeals" {
			line = l
		}
	}
	// 43 before, 40 in the backup, 3 lost; the newest is #42 (created
	// 90 s after the newest kept), though #43 has the largest id.
	if f := strings.Fields(line); len(f) < 7 || f[1] != "43" || f[2] != "40" || f[3] != "3" || f[4] != "#42" ||
		!strings.Contains(line, newest+", 1m30s") {
		t.Fatalf("appeals line %q; want 43 before, 40 in the backup, 3 lost, newest #42 %s, 1m30s\n%s", line, newest, stdout)
	}
	if !strings.Contains(stdout, "3 rows newer than the backup were lost (kept in the safety copy); data-loss window 1m30s") {
		t.Fatalf("no loss summary:\n%s", stdout)
	}
	entries := recoveryJournal(t, stateDir)
	last := entries[len(entries)-1]
	want := map[string]float64{"lost_rows": 3, "appeals_lost_rows": 3, "appeals_newest_lost_id": 42,
		"appeals_newest_lost_unix": float64(db.ParseTime(newest).Unix()), "appeals_lost_window_seconds": 90, "lost_window_seconds": 90,
		"appeal_negotiation_messages_lost_rows": 0}
	for k, v := range want {
		if got, ok := last.Figures[k]; !ok || got != v {
			t.Errorf("journal figure %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if t.Failed() {
		t.Log(fmt.Sprint(last.Figures))
	}
}

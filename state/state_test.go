package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBackupCatalogue(t *testing.T) {
	dir := t.TempDir()
	t1 := time.Date(2026, 11, 29, 4, 45, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	for _, name := range []string{
		BackupFileName("architect.db", t1),
		BackupFileName("architect.db", t2),
		BackupFileName("other.db", t2),
		".architect_20261129T044500Z.db.tmp", // being written: never listed
		"notes.txt",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := BackupFileName("architect.db", t1); got != "architect_20261129T044500Z.db" {
		t.Errorf("BackupFileName = %s", got)
	}
	own, others, err := ListBackupsOf(dir, "/srv/data/architect.db")
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 2 || !own[0].Time.Equal(t2) || !own[1].Time.Equal(t1) || len(others) != 1 || others[0].Name != "other_20261129T054500Z.db" {
		t.Errorf("own %+v, others %+v: want architect's two, newest first, and other's one", own, others)
	}
	if list, err := ListBackups(filepath.Join(dir, "missing")); err != nil || list != nil {
		t.Errorf("missing dir: %v, %v; want none and no error", list, err)
	}
}

func TestLastRecords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, ok, err := ReadLastCheck(dir); ok || err != nil {
		t.Fatalf("no record yet: ok %v, err %v", ok, err)
	}
	now := time.Date(2026, 11, 29, 4, 45, 0, 0, time.UTC)
	if err := WriteLastCheck(dir, CheckRecord{Time: now, Database: "/srv/architect.db", Mode: "quick", OK: true}); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := ReadLastCheck(dir)
	if err != nil || !ok || !rec.Time.Equal(now) || !rec.IsOf("/srv/../srv/architect.db") || rec.IsOf("/srv/other.db") {
		t.Errorf("ReadLastCheck = %+v, %v, %v", rec, ok, err)
	}
	if err := WriteLastDrill(dir, DrillRecord{Time: now, Backup: "b.db", OK: true, RTO: time.Minute}); err != nil {
		t.Fatal(err)
	}
	d, ok, err := ReadLastDrill(dir)
	if err != nil || !ok || d.RTO != time.Minute || d.IsOf("/srv/architect.db") {
		t.Errorf("ReadLastDrill = %+v, %v, %v (a record naming no database is of none)", d, ok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "last_check.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadLastCheck(dir); err == nil {
		t.Error("a damaged record read without error")
	}
}

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
	if err := os.WriteFile(CheckRecordPath(dir, "/srv/architect.db"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadCheckOf(dir, "/srv/architect.db"); err == nil {
		t.Error("a damaged record read without error")
	}
}

// TestRecordsPerDatabase: the check and drill records are kept per
// database: recording another database's (a copy checked with --db)
// leaves this one's as it was; an old-format record (the single
// last_check.json) of the same path still counts, and a newer keyed
// record wins over it; a damaged record of another database does not
// hide this one's; a second name of the same file (a symlink, a hard
// link) reads the same record.
func TestRecordsPerDatabase(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	live := filepath.Join(dir, "architect.db")
	other := filepath.Join(dir, "copy", "architect.db") // the same file name
	for _, p := range []string{live, other} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)

	// Old format: one file, of whichever database was checked last.
	if err := writeJSONAtomic(filepath.Join(stateDir, lastCheckFile), CheckRecord{Time: t0, Database: live, Mode: "quick", OK: true}); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := ReadCheckOf(stateDir, live); err != nil || !ok || !r.Time.Equal(t0) {
		t.Fatalf("old-format record of the same path: %+v, %v, %v", r, ok, err)
	}
	if _, ok, _ := ReadCheckOf(stateDir, other); ok {
		t.Fatal("the old-format record of another path counted")
	}

	if err := WriteLastCheck(stateDir, CheckRecord{Time: t0.Add(time.Hour), Database: live, Mode: "full", OK: true}); err != nil {
		t.Fatal(err)
	}
	if err := WriteLastCheck(stateDir, CheckRecord{Time: t0.Add(2 * time.Hour), Database: other, Mode: "quick", OK: false}); err != nil {
		t.Fatal(err)
	}
	if err := WriteLastDrill(stateDir, DrillRecord{Time: t0, Database: live, OK: true, Verdict: "WARNING"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteLastDrill(stateDir, DrillRecord{Time: t0.Add(time.Hour), Database: other, OK: false}); err != nil {
		t.Fatal(err)
	}
	r, ok, err := ReadCheckOf(stateDir, live)
	if err != nil || !ok || !r.Time.Equal(t0.Add(time.Hour)) || r.Mode != "full" || !r.OK || r.File == nil {
		t.Fatalf("live check: %+v, %v, %v; want its own, newest, with the file's identity", r, ok, err)
	}
	if r, ok, _ := ReadCheckOf(stateDir, other); !ok || r.OK || !r.Time.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("copy's check: %+v", r)
	}
	if d, ok, _ := ReadDrillOf(stateDir, live); !ok || d.DrillVerdict() != "WARNING" {
		t.Fatalf("live drill: %+v, %v", d, ok)
	}
	if d, ok, _ := ReadDrillOf(stateDir, other); !ok || d.DrillVerdict() != "CRITICAL" {
		t.Fatalf("copy's drill: %+v, %v (a record without a verdict: OK false is CRITICAL)", d, ok)
	}
	if r, ok, _ := ReadLastCheck(stateDir); !ok || !r.IsOf(other) {
		t.Errorf("ReadLastCheck = %+v: want the newest record of any database", r)
	}

	// A damaged record of another database hides nothing.
	if err := os.WriteFile(CheckRecordPath(stateDir, other), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := ReadCheckOf(stateDir, live); err != nil || !ok || r.Mode != "full" {
		t.Errorf("with another's record damaged: %+v, %v, %v", r, ok, err)
	}
	if _, _, err := ReadCheckOf(stateDir, other); err == nil {
		t.Error("the copy's damaged record read without error")
	}

	// Other names of the live file.
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(live, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.db")
	if err := os.Link(live, hard); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, hard} {
		if r, ok, err := ReadCheckOf(stateDir, p); err != nil || !ok || r.Mode != "full" {
			t.Errorf("read through %s: %+v, %v, %v", p, r, ok, err)
		}
	}
	if RecordKey(link) != RecordKey(live) {
		t.Errorf("a symlink keys another record: %s, %s", RecordKey(link), RecordKey(live))
	}
}

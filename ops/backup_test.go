package ops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/db"
	"github.com/repops/repops/state"
)

func backupOpts(t *testing.T, dbPath string) BackupOptions {
	return BackupOptions{DBPath: dbPath, Dir: filepath.Join(filepath.Dir(dbPath), "backups"),
		StateDir: filepath.Join(filepath.Dir(dbPath), "state"), Actor: testActor()}
}

func TestBackupWhileWriting(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 200)
	w := startWriterProc(t, path)
	w.WaitFor(t, 50)
	before := w.Committed()
	o := backupOpts(t, path)
	res, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, 20)
	ids, failures := w.Stop(t)
	if len(failures) > 0 {
		t.Fatalf("the writer had %d failed writes during the backup: %v", len(failures), failures[:1])
	}
	got := appealIDs(t, res.Path)
	for _, id := range before {
		if !got[id] {
			t.Fatalf("row %d, committed before the backup started, is not in the backup", id)
		}
	}
	// A snapshot: the backup's rows are exactly a prefix of the ids.
	var maxID int64
	for id := range got {
		maxID = max(maxID, id)
	}
	for id := int64(1); id <= maxID; id++ {
		if !got[id] {
			t.Fatalf("the backup has row %d but not row %d: not a snapshot", maxID, id)
		}
	}
	if maxID >= ids[len(ids)-1] {
		t.Logf("note: the writer committed nothing after the snapshot (max %d)", maxID)
	}
	if res.Method != MethodWALCopy || res.Manifest.Method != MethodWALCopy {
		t.Fatalf("method %s (%s): the WAL-aware copy was not used", res.Method, res.Fallback)
	}
	if res.Manifest.Tables["appeals"].Rows != int64(len(got)) || res.Manifest.QuickCheck != "ok" || res.Manifest.SchemaVersion != db.LatestVersion() {
		t.Fatalf("manifest: %+v", res.Manifest)
	}
	for p, want := range map[string]os.FileMode{res.Path: 0o600, o.Dir: 0o700} {
		if st, _ := os.Stat(p); st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	v, err := VerifyBackup(context.Background(), res.Path)
	if err != nil || !v.OK() {
		t.Fatalf("verify: %v %v", err, v.Problems)
	}
	list, _ := ListBackups(o.Dir, time.Now())
	if len(list) != 1 || list[0].State != BackupOK {
		t.Fatalf("list: %+v", list)
	}
	entries := journalEntries(t, o.StateDir)
	if len(entries) != 2 || entries[1].Action != "backup" || entries[1].Outcome != OutcomeOK || entries[1].Figures["bytes"] == 0 {
		t.Fatalf("journal: %+v", entries)
	}
	if _, held, _ := ReadLock(o.StateDir); held {
		t.Fatal("lock left behind")
	}
}

func journalEntries(t *testing.T, stateDir string) []Entry {
	t.Helper()
	j, err := OpenJournal(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	e, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestBackupRetention(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 5)
	o := backupOpts(t, path)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		ts := base.Add(time.Duration(i) * 24 * time.Hour)
		o.Now = func() time.Time { return ts }
		o.KeepLast, o.KeepWithin = 2, 36*time.Hour
		res, err := Backup(context.Background(), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 4 && len(res.Removed) != 1 {
			t.Fatalf("removed %v", res.Removed)
		}
	}
	list, _ := state.ListBackups(o.Dir)
	if len(list) != 2 {
		t.Fatalf("kept %d backups, want 2 (last 2; 36h covers them)", len(list))
	}
	for _, b := range list {
		if _, err := ReadManifest(b.Path); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(o.Dir, "*.json")); len(m) != 2 {
		t.Fatalf("manifests of removed backups left: %v", m)
	}
}

func TestRestoreOnlineWhileWriting(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 200)
	o := backupOpts(t, path)
	w := startWriterProc(t, path)
	w.WaitFor(t, 20)
	b, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, 30) // rows that the restore will roll back
	res, err := Restore(context.Background(), RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreAuto,
		StateDir: o.StateDir, Actor: testActor()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != RestoreOnline {
		t.Fatalf("auto mode chose %s with a writer running", res.Mode)
	}
	afterRestore := len(w.Committed())
	w.WaitFor(t, 30)
	ids, failures := w.Stop(t)
	if len(failures) > 0 {
		t.Fatalf("%d failed writes during the online restore: %v", len(failures), failures[0])
	}
	mustIntegrity(t, path)
	live := appealIDs(t, path)
	backupIDs := appealIDs(t, b.Path)
	for id := range backupIDs {
		if !live[id] {
			t.Fatalf("row %d of the backup is missing after the restore", id)
		}
	}
	// Every row committed after the restore returned is there. (The writer
	// reuses rolled-back ids, so compare the later commits only.)
	for _, id := range ids[afterRestore:] {
		if !live[id] {
			t.Fatalf("row %d, committed after the restore, is missing", id)
		}
	}
	if res.LostRows < 30 || res.SafetyCopy == "" || len(res.QuickCheck) > 0 {
		t.Fatalf("lost %d rows (want >= 30), safety %q, quick_check %v", res.LostRows, res.SafetyCopy, res.QuickCheck)
	}
	if l, _ := state.ListBackups(o.Dir); len(l) != 1 {
		t.Fatalf("the safety copy is listed as a backup: %+v", l)
	}
	var mode string
	r, _ := db.OpenRead(context.Background(), path, db.Options{})
	r.QueryRow("PRAGMA journal_mode").Scan(&mode)
	r.Close()
	if mode != "wal" {
		t.Fatalf("journal_mode after online restore: %s", mode)
	}
}

func TestRestoreOffline(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 50)
	o := backupOpts(t, path)
	b, err := Backup(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rows after the backup, left in the WAL.
	wdb, _ := db.OpenWrite(context.Background(), path, db.Options{})
	for i := 0; i < 7; i++ {
		wdb.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('late','x','pending',datetime('now'),datetime('now'))`)
	}
	wdb.Close()
	t.Run("refused while another process has it open", func(t *testing.T) {
		w := startWriterProc(t, path)
		w.WaitFor(t, 1)
		_, err := Restore(context.Background(), RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline, StateDir: o.StateDir}, nil)
		w.Stop(t)
		if err == nil || !strings.Contains(err.Error(), "--online") {
			t.Fatalf("offline restore under a running writer: %v", err)
		}
	})
	before := appealIDs(t, path)
	res, err := Restore(context.Background(), RestoreOptions{DBPath: path, Backup: b.Path, Mode: RestoreOffline, StateDir: o.StateDir, Actor: testActor()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustIntegrity(t, path)
	if got := appealIDs(t, path); len(got) != 50 {
		t.Fatalf("%d appeals after restore, want 50", len(got))
	}
	if res.LostRows != int64(len(before)-50) {
		t.Fatalf("lost %d rows, want %d: %+v", res.LostRows, len(before)-50, res.Lost)
	}
	if got := appealIDs(t, res.SafetyCopy); len(got) != len(before) {
		t.Fatalf("safety copy has %d appeals, want %d", len(got), len(before))
	}
	entries := journalEntries(t, o.StateDir)
	last := entries[len(entries)-1]
	if last.Action != "restore" || last.Outcome != OutcomeOK || last.Figures["lost_rows"] != float64(res.LostRows) {
		t.Fatalf("journal: %+v", last)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		setup  func(t *testing.T, path string)
		status int
		want   string
	}{
		{"sound", func(t *testing.T, path string) {}, CheckOK, ""},
		{"foreign key", func(t *testing.T, path string) {
			w, _ := db.OpenWrite(ctx, path, db.Options{})
			defer w.Close()
			c, _ := w.Conn(ctx)
			defer c.Close()
			c.ExecContext(ctx, "PRAGMA foreign_keys = OFF")
			if _, err := c.ExecContext(ctx, `INSERT INTO appeal_negotiation_messages (appeal_id, sender, body, created_at) VALUES (99999, 'user', 'x', datetime('now'))`); err != nil {
				t.Fatal(err)
			}
		}, CheckWarning, "foreign key"},
		{"missing index", func(t *testing.T, path string) {
			w, _ := db.OpenWrite(ctx, path, db.Options{})
			defer w.Close()
			if _, err := w.Exec(`DROP INDEX idx_appeals_user_status`); err != nil {
				t.Fatal(err)
			}
		}, CheckWarning, "idx_appeals_user_status"},
		{"corrupt", func(t *testing.T, path string) { corruptTablePages(t, path) }, CheckCritical, "corrupt"},
		{"not sqlite", func(t *testing.T, path string) {
			os.Remove(path + "-wal")
			os.Remove(path + "-shm")
			os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600)
		}, CheckCritical, "not an SQLite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := newRecoveryDB(t, dir, 300)
			c.setup(t, path)
			res, err := Check(ctx, CheckOptions{DBPath: path, Full: true, StateDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.status || !strings.Contains(strings.Join(res.Problems(), "\n"), c.want) {
				t.Fatalf("status %s, problems %v", StatusName(res.Status), res.Problems())
			}
			rec, ok, _ := state.ReadLastCheck(dir)
			if !ok || rec.OK != (c.status == CheckOK) || rec.Mode != "full" {
				t.Fatalf("last check record: %+v", rec)
			}
		})
	}
	t.Run("missing file is unknown", func(t *testing.T) {
		res, err := Check(ctx, CheckOptions{DBPath: filepath.Join(t.TempDir(), "nope.db")})
		if err == nil || res.Status != CheckUnknown {
			t.Fatalf("%v %+v", err, res)
		}
	})
}

// corruptTablePages checkpoints the database and overwrites pages in the
// middle of the file with garbage.
func corruptTablePages(t *testing.T, path string) {
	t.Helper()
	w, _ := db.OpenWrite(context.Background(), path, db.Options{})
	w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	w.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
	for off := int64(4096 * 3); off < st.Size()-4096; off += 4096 * 2 {
		f.WriteAt(garbage, off)
	}
}

func TestDrillWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := newRecoveryDB(t, dir, 100)
	o := backupOpts(t, path)
	w := startWriterProc(t, path)
	w.WaitFor(t, 10)
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, Actor: testActor()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WaitFor(t, 10)
	_, failures := w.Stop(t)
	if len(failures) > 0 {
		t.Fatalf("failed writes during the drill: %v", failures)
	}
	if !res.OK || res.RTO <= 0 || res.Tables["appeals"] < 100 {
		t.Fatalf("drill: %+v", res)
	}
	for _, a := range res.Against {
		if a.Scenario == ScenarioCorruption && (!a.RTOMet || !a.RPOMet) {
			t.Fatalf("a fresh backup restored in %s misses the corruption objective: %+v", res.RTO, a)
		}
		if a.Scenario == ScenarioPartial && a.RPOMet {
			t.Fatal("a backup cannot meet a real-time RPO")
		}
	}
	md, err := os.ReadFile(res.ReportMD)
	if err != nil || !strings.Contains(string(md), "PASSED") || !strings.Contains(string(md), "Database Corruption") {
		t.Fatalf("report: %v\n%s", err, md)
	}
	if _, err := os.Stat(res.ReportJSON); err != nil {
		t.Fatal(err)
	}
	rec, ok, _ := state.ReadLastDrill(o.StateDir)
	if !ok || !rec.OK || rec.RTOLimit != 30*time.Minute || !rec.IsOf(path) {
		t.Fatalf("last drill: %+v", rec)
	}
	if left, err := os.ReadDir(res.Scratch); err != nil || len(left) != 0 {
		t.Fatalf("scratch copies left behind in %s: %v %v", res.Scratch, left, err)
	}
	mustIntegrity(t, path)
}

func TestObjectivesAreTheGuides(t *testing.T) {
	want := map[string][2]time.Duration{
		ScenarioCorruption: {30 * time.Minute, 5 * time.Minute},
		ScenarioDataLoss:   {time.Hour, time.Hour},
		ScenarioComplete:   {4 * time.Hour, time.Hour},
		ScenarioPartial:    {15 * time.Minute, 0},
	}
	for _, o := range Objectives() {
		if w := want[o.Scenario]; w[0] != o.RTO || w[1] != o.RPO {
			t.Errorf("%s: %s/%s", o.Scenario, o.RTO, o.RPO)
		}
	}
}

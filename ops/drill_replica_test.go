package ops

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/internal/fsutil"
)

// fakeReplica "restores" a replica by copying a backup (the replica's
// state when it was taken) and its manifest into <state dir>/scratch, as
// replicate.RestoreTo leaves its restore. The real Litestream is
// cmd/repops' TestDrillFromReplica.
type fakeReplica struct {
	backup  string
	txTime  time.Time
	removed []string
}

func (f *fakeReplica) Ready() error { return nil }

func (f *fakeReplica) RestoreNewest(_ context.Context, _, _, stateDir string) (*ReplicaRestore, error) {
	dir := DrillScratchDir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := fsutil.TempName(filepath.Join(dir, "replica_architect.db"))
	if _, err := copyFileSync(f.backup, p); err != nil {
		return nil, err
	}
	if _, err := copyFileSync(ManifestPath(f.backup), ManifestPath(p)); err != nil {
		return nil, err
	}
	return &ReplicaRestore{Path: p, TXID: "00000000000000a1", TXIDTime: f.txTime, Newest: f.txTime}, nil
}

func (f *fakeReplica) Remove(path string) {
	f.removed = append(f.removed, path)
	removeDBFiles(path)
	_ = os.Remove(ManifestPath(path))
}

func insertAppeals(t *testing.T, path string, n int, created time.Time) {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ts := created.UTC().Format("2006-01-02 15:04:05.000")
	for i := 0; i < n; i++ {
		if _, err := d.Exec(`INSERT INTO appeals (user_id, reason, status, created_at, updated_at) VALUES ('hb', 'r', 'pending', ?, ?)`, ts, ts); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDrillSource: auto is the backup without replication (saying why),
// the replica with it; --source replica without replication is an error;
// a named backup under auto is that backup.
func TestDrillSource(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "litestream.yml")
	if err := os.WriteFile(conf, []byte("dbs: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeReplica{}
	for _, c := range []struct {
		o       DrillOptions
		src     string
		note    string
		wantErr string
	}{
		{DrillOptions{}, DrillSourceBackup, "replication is not configured", ""},
		{DrillOptions{Source: "replica"}, "", "", "replication is not configured"},
		{DrillOptions{Source: "tape"}, "", "", `source "tape"`},
		{DrillOptions{LitestreamConfig: filepath.Join(dir, "none.yml"), Replica: f}, DrillSourceBackup, "none.yml", ""},
		{DrillOptions{LitestreamConfig: conf, Replica: f}, DrillSourceReplica, "replication is configured", ""},
		{DrillOptions{LitestreamConfig: conf, Replica: f, Source: "backup"}, DrillSourceBackup, "", ""},
		{DrillOptions{LitestreamConfig: conf, Replica: f, Backup: "x.db"}, DrillSourceBackup, "", ""},
		{DrillOptions{LitestreamConfig: conf, Replica: f, Backup: "x.db", Source: "replica"}, "", "", "choose one"},
	} {
		src, note, err := DrillSourceFor(c.o)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: err %v, want %q", c.o, err, c.wantErr)
			}
			continue
		}
		if err != nil || src != c.src || !strings.Contains(note, c.note) {
			t.Errorf("%+v: %q %q %v, want %q with %q", c.o, src, note, err, c.src, c.note)
		}
	}
}

// TestDrillReplicaHeartbeat: a replica drill's RPO is the heartbeat's:
// the newest row committed before the drill against the newest row
// restored, and the rows missing counted; 0 when the restore holds every
// row. Judged against the rehearsed scenario: 90 s meets Database
// Corruption's 5 min, misses a tiny objective and real-time (WARNING).
func TestDrillReplicaHeartbeat(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 5)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	insertAppeals(t, path, 3, base)
	o := backupOpts(t, path)
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(o.Dir, "*.db"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	conf := filepath.Join(o.StateDir, "litestream.yml")
	if err := os.WriteFile(conf, []byte("dbs: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeReplica{backup: backups[0], txTime: base.Add(time.Second)}
	drill := func(scenario string, objectives []Objective) *DrillResult {
		t.Helper()
		res, err := Drill(context.Background(), DrillOptions{DBPath: path, StateDir: o.StateDir, Actor: testActor(), LitestreamConfig: conf,
			Replica: f, Scenario: scenario, Objectives: objectives}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Source != DrillSourceReplica || res.ReplicaTXID != "00000000000000a1" || res.Heartbeat == nil || res.RPOBy != "heartbeat" || !res.OK {
			t.Fatalf("not a verified replica drill with a heartbeat: %+v %+v", res, res.Heartbeat)
		}
		return res
	}

	// Everything replicated: RPO 0, real-time met.
	res := drill("partial-failure", nil)
	if res.RPO != 0 || res.Heartbeat.Missing != 0 || res.Verdict != "OK" {
		t.Fatalf("nothing lost: RPO %s, %d missing, %s %v", res.RPO, res.Heartbeat.Missing, res.Verdict, res.Missed)
	}
	md, err := os.ReadFile(res.ReportMD)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Source: the replica (Litestream)", "Restored position: txid 00000000000000a1", "Heartbeat: read", "Measured RPO (heartbeat): 0s"} {
		if !strings.Contains(string(md), want) {
			t.Fatalf("the report does not say %q:\n%s", want, md)
		}
	}

	// Rows committed after the replica's state: 4 of them, the newest
	// 90 s after the newest replicated.
	insertAppeals(t, path, 3, base.Add(30*time.Second))
	insertAppeals(t, path, 1, base.Add(90*time.Second))
	res = drill("", nil)
	if res.RPO != 90*time.Second || res.Heartbeat.Missing != 4 || res.Verdict != "OK" {
		t.Fatalf("RPO %s (want 1m30s), %d missing (want 4), %s %v", res.RPO, res.Heartbeat.Missing, res.Verdict, res.Missed)
	}
	for _, tb := range res.Heartbeat.Tables {
		if want := map[string]int64{"appeals": 4}[tb.Table]; tb.Missing != want {
			t.Fatalf("%s: %d missing, want %d", tb.Table, tb.Missing, want)
		}
	}
	res = drill("partial-failure", nil)
	if res.Verdict != "WARNING" || len(res.Missed) != 1 ||
		res.Missed[0] != "objective missed: RPO real-time (counted as 1s), the replica restore lost 1m30s of commits (4 rows committed before the drill missing)" {
		t.Fatalf("real-time: %s %q", res.Verdict, res.Missed)
	}
	tiny := []Objective{{Scenario: ScenarioCorruption, RTO: time.Hour, RPO: time.Minute}}
	res = drill("", tiny)
	if res.Verdict != "WARNING" || len(res.Missed) != 1 || !strings.HasPrefix(res.Missed[0], "objective missed: RPO 1 min, the replica restore lost 1m30s") {
		t.Fatalf("RPO 1 min: %s %q", res.Verdict, res.Missed)
	}
	if ents, _ := os.ReadDir(DrillScratchDir(o.StateDir)); len(ents) != 0 || len(f.removed) != 4 {
		t.Fatalf("scratch left %d files, %d restores removed", len(ents), len(f.removed))
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/repops/repops/internal/testsupport"
	"github.com/repops/repops/metrics"
	"github.com/repops/repops/state"
)

// TestCheckRecordsPerDatabase: 'repops check --db copy.db' records the
// copy's check beside the live database's, never in its place: the live
// record is unchanged, and the console's source (metrics.DatabaseSource)
// of the live database still reports the live check. A copy's drill
// likewise leaves the live database's drill record alone.
func TestCheckRecordsPerDatabase(t *testing.T) {
	cfg, dbPath, stateDir := recoveryEnv(t)
	if _, errOut, code := runRecovery(t, cfg, "", "check"); code != 0 {
		t.Fatalf("check of the live database: exit %d\n%s", code, errOut)
	}
	live, ok, err := state.ReadCheckOf(stateDir, dbPath)
	if err != nil || !ok || !live.OK {
		t.Fatalf("live check record: %+v, %v, %v", live, ok, err)
	}
	if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: live.Time, Database: dbPath, OK: true, Verdict: "OK"}); err != nil {
		t.Fatal(err)
	}

	// A damaged copy: its check is CRITICAL, and must stay its own.
	copyPath := filepath.Join(filepath.Dir(dbPath), "other.db")
	testsupport.ExecSQL(t, dbPath, "VACUUM INTO '"+copyPath+"'")
	time.Sleep(10 * time.Millisecond) // the copy's record is strictly newer
	if out, errOut, code := runRecovery(t, cfg, "", "check", "--db", copyPath); code != 0 {
		t.Fatalf("check --db copy: exit %d\n%s\n%s", code, out, errOut)
	}
	if err := state.WriteLastDrill(stateDir, state.DrillRecord{Time: time.Now().UTC(), Database: copyPath, OK: false, Verdict: "CRITICAL"}); err != nil {
		t.Fatal(err)
	}

	got, ok, err := state.ReadCheckOf(stateDir, dbPath)
	if err != nil || !ok || !got.Time.Equal(live.Time) || !got.IsOf(dbPath) {
		t.Fatalf("the live record changed: %+v (was %+v), %v, %v", got, live, ok, err)
	}
	if c, ok, _ := state.ReadCheckOf(stateDir, copyPath); !ok || !c.IsOf(copyPath) || c.IsOf(dbPath) {
		t.Fatalf("the copy's record: %+v, %v", c, ok)
	}
	if d, ok, _ := state.ReadDrillOf(stateDir, dbPath); !ok || d.DrillVerdict() != "OK" {
		t.Fatalf("the live drill record: %+v, %v", d, ok)
	}

	src := metrics.NewDatabaseSource(metrics.DatabaseOptions{Path: dbPath, StateDir: stateDir, BackupDir: filepath.Join(filepath.Dir(dbPath), "backups"), NoSizes: true})
	defer src.Close()
	res, err := src.Collect(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Panels[metrics.PanelIntegrityOK]; !v.OK || v.V != 1 {
		t.Errorf("integrity panel %+v: the live database's check is not reported", v)
	}
	if v := res.Panels[metrics.PanelIntegrityAge]; !v.OK || v.V > 1 {
		t.Errorf("integrity age %+v: want the live check's, minutes old", v)
	}
	if v := res.Panels[metrics.PanelDrillAge]; !v.OK || v.V > 1 {
		t.Errorf("drill age %+v: want the live drill's", v)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "last_check.json")); err == nil {
		t.Error("the old single record file is still written")
	}
}

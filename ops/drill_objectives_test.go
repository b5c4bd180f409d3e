package ops

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDrillScenarioObjectives: a drill rehearses one scenario of the
// guide's table (default Database Corruption): a backup that restores
// and verifies passes (OK), and the scenario's RTO and RPO decide whether
// the objectives were met; a miss is said in words. The other rows are
// reported for information only.
func TestDrillScenarioObjectives(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 5)
	o := backupOpts(t, path)
	o.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		scenario string
		scenOut  string
		met      bool
		missed   string
	}{
		{name: "default: corruption, RPO 5 min", scenario: "", scenOut: ScenarioCorruption,
			missed: "objective missed: RPO 5 min, the backup was 2 h old"},
		{name: "complete failure, RPO 1 h", scenario: "complete-failure", scenOut: ScenarioComplete,
			missed: "objective missed: RPO 1 h, the backup was 2 h old"},
		{name: "partial failure: a backup is never real-time", scenario: "partial failure", scenOut: ScenarioPartial,
			missed: "objective missed: RPO real-time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir,
				Scenario: tc.scenario, Actor: testActor()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK || res.Scenario != tc.scenOut || res.ObjectivesMet != tc.met {
				t.Fatalf("ok %v scenario %q met %v: %+v", res.OK, res.Scenario, res.ObjectivesMet, res)
			}
			if got := strings.Join(res.Missed, "; "); !strings.Contains(got, tc.missed) {
				t.Fatalf("missed %q, want %q", got, tc.missed)
			}
			md := DrillMarkdown(res)
			if !strings.Contains(md, "WARNING") || !strings.Contains(md, tc.missed) || !strings.Contains(md, "for information") {
				t.Fatalf("report:\n%s", md)
			}
		})
	}
	t.Run("data loss, RPO 1 h, met by a backup of 30 m", func(t *testing.T) {
		o.Now = func() time.Time { return time.Now().Add(-30 * time.Minute) }
		if _, err := Backup(context.Background(), o, nil); err != nil {
			t.Fatal(err)
		}
		res, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, Scenario: ScenarioDataLoss}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK || !res.ObjectivesMet || len(res.Missed) != 0 || !strings.Contains(DrillMarkdown(res), "PASSED") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("a scenario not in the table", func(t *testing.T) {
		if _, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, Scenario: "meteor"}, nil); err == nil ||
			!strings.Contains(err.Error(), "Database Corruption") {
			t.Fatalf("err %v, want the table's scenarios named", err)
		}
	})
}

package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/state"
)

// TestDrillMissedObjectiveIsWarning: a drill that restores and verifies a
// backup too old for the rehearsed scenario's RPO is a WARNING everywhere
// it is told: the journal's end entry (outcome "warning", not "ok", with
// the miss in its message), the journal's Markdown and JSON exports, the
// drill report (Markdown and JSON) and the last-drill record.
func TestDrillMissedObjectiveIsWarning(t *testing.T) {
	path := newRecoveryDB(t, t.TempDir(), 5)
	o := backupOpts(t, path)
	o.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	if _, err := Backup(context.Background(), o, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Drill(context.Background(), DrillOptions{DBPath: path, BackupDir: o.Dir, StateDir: o.StateDir, Actor: testActor()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.ObjectivesMet || res.Verdict != "WARNING" {
		t.Fatalf("ok %v met %v verdict %q", res.OK, res.ObjectivesMet, res.Verdict)
	}

	j, err := OpenJournal(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	entries, err := j.Entries(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var end *Entry
	for i := range entries {
		if entries[i].Action == "drill" && entries[i].Outcome != OutcomeStarted {
			end = &entries[i]
		}
	}
	if end == nil || end.Outcome != OutcomeWarning || !strings.Contains(end.Message, "objective missed: RPO 5 min") {
		t.Fatalf("the drill's end entry: %+v, want outcome %q with the miss", end, OutcomeWarning)
	}
	var md, js bytes.Buffer
	if err := ExportMarkdown(&md, []Entry{*end}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| warning |") {
		t.Errorf("Markdown export does not show the warning:\n%s", md.String())
	}
	if err := ExportJSON(&js, []Entry{*end}); err != nil {
		t.Fatal(err)
	}
	var back []Entry
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back) != 1 || back[0].Outcome != "warning" {
		t.Errorf("JSON export: %v, %s", err, js.String())
	}

	report, err := os.ReadFile(res.ReportJSON)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Verdict string   `json:"verdict"`
		Missed  []string `json:"objectives_missed"`
	}
	if err := json.Unmarshal(report, &rep); err != nil || rep.Verdict != "WARNING" || len(rep.Missed) == 0 {
		t.Errorf("JSON report: verdict %q missed %v (%v)", rep.Verdict, rep.Missed, err)
	}
	if mdRep, _ := os.ReadFile(res.ReportMD); !strings.Contains(string(mdRep), "WARNING") {
		t.Errorf("Markdown report does not say WARNING:\n%s", mdRep)
	}
	rec, ok, err := state.ReadDrillOf(o.StateDir, path)
	if err != nil || !ok || rec.DrillVerdict() != "WARNING" || len(rec.Missed) == 0 {
		t.Errorf("drill record %+v, %v, %v: want WARNING with the miss", rec, ok, err)
	}
}

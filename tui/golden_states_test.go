package tui

import (
	"context"
	"errors"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/metrics"
	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
	"github.com/repops/repops/state"
)

// The states the golden screens show (golden_test.go): the dashboard in
// each overall state, a run at each kind of step, each detail view. All
// of them are built from fakes with the fixed clock (fake_test.go).

// stateSnapshot is testSnapshot with its rules set so that the overall
// state is want: every rule OK and every source up, then the one rule
// that makes the state.
func stateSnapshot(want metrics.State) metrics.Snapshot {
	s := testSnapshot()
	if want == metrics.StateCritical {
		// testSnapshot: critical, with a warning and an unknown beside it.
		return s
	}
	for i := range s.Sources {
		s.Sources[i].Up, s.Sources[i].Err, s.Sources[i].LastOK = true, "", fixedNow
	}
	for i := range s.Panels {
		p := &s.Panels[i]
		p.State = metrics.StateOK
		if p.Name == metrics.PanelMLLatencyP99 && want != metrics.StateUnknown {
			p.Value, p.Recent, p.Source = metrics.Known(85), history(85, 60), "service"
		}
		if p.Name == metrics.PanelAppealErrorRate {
			p.Value, p.Recent = metrics.Known(0.4), history(0.4, 60)
		}
	}
	for i := range s.Alerts {
		a := &s.Alerts[i]
		a.State, a.Since, a.ActiveSince, a.Reason, a.History = metrics.StateOK, fixedNow.Add(-time.Hour), time.Time{}, "", nil
		if p, ok := s.Panel(a.Rule.Panel); ok {
			a.Value = p.Value
		}
		if p, ok := s.Panel(a.Rule.TargetOn()); ok {
			a.TargetValue = p.Value
		}
	}
	setPanel := func(name string, st metrics.State, v metrics.Value) {
		for i := range s.Panels {
			if s.Panels[i].Name == name {
				s.Panels[i].State, s.Panels[i].Value = st, v
				if v.OK {
					s.Panels[i].Recent = history(v.V, 60)
				} else {
					s.Panels[i].Recent = nil
				}
			}
		}
	}
	for i := range s.Alerts {
		a := &s.Alerts[i]
		switch {
		case want == metrics.StateWarning && a.Rule.Name == "negotiation_duration":
			a.State, a.Since, a.Reason = metrics.StateWarning, fixedNow.Add(-20*time.Minute), "80 h > target 72 h"
			a.TargetValue = metrics.Known(80)
		case want == metrics.StatePending && a.Rule.Name == "appeal_error_rate":
			a.State, a.Since, a.ActiveSince = metrics.StatePending, fixedNow.Add(-2*time.Minute), fixedNow.Add(-2*time.Minute)
			a.Reason, a.Value = "6.1 % > 5 % for 2m of 5m", metrics.Known(6.1)
			a.History = []metrics.Transition{{Time: fixedNow.Add(-2 * time.Minute), From: metrics.StateOK, To: metrics.StatePending, Value: metrics.Known(6.1)}}
			setPanel(metrics.PanelAppealErrorRate, metrics.StatePending, metrics.Known(6.1))
		case want == metrics.StateUnknown && a.Rule.Name == "ml_prediction_latency":
			a.State, a.Reason = metrics.StateUnknown, "service: series reputation_ml_prediction_seconds missing"
			setPanel(metrics.PanelMLLatencyP99, metrics.StateUnknown, metrics.Unknown("service: series reputation_ml_prediction_seconds missing"))
		}
	}
	return s
}

// goldenRunbooks is a RunbookService whose runs finish each step with
// results (by step name); the step named fail fails with failRes and
// fails the run, as the engine does for a step without on_failure.
func goldenRunbooks(results map[string]runbooks.StepResult, fail string, failRes runbooks.StepResult) fakeRunbooks {
	cat, err := runbooks.Builtin()
	if err != nil {
		panic(err)
	}
	vars := runbooks.VarsFromConfig(testConfig(""))
	return fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
		// The engine fills the placeholders ({{db.name}}) for a run.
		r := newFakeRun(rb.Expand(vars), nil)
		inner, innerState, innerCur := r.do, r.state, r.current
		failed := -1
		r.do = func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
			cur, _ := innerCur()
			if cur.Step.Name == fail && fail != "" {
				failed = cur.Index
				res := failRes
				res.Index, res.Step, res.Kind, res.Outcome = cur.Index, cur.Step.Name, cur.Step.Kind, runbooks.Failed
				res.Started, res.Ended, res.Next, res.Status = fixedNow, fixedNow.Add(2*time.Second), -1, runbooks.RunFailed
				return res, nil
			}
			res, err := inner(ctx, in, p)
			if want, ok := results[cur.Step.Name]; ok && err == nil {
				res.Message, res.Figures, res.Details = want.Message, want.Figures, want.Details
				if want.Outcome != "" {
					res.Outcome = want.Outcome
				}
			}
			return res, err
		}
		r.state = func() runbooks.RunState {
			st := innerState()
			if failed >= 0 {
				st.Steps = append([]runbooks.StepRecord(nil), st.Steps...)
				st.Steps[failed].Outcome = runbooks.Failed
				st.Status, st.Note, st.EndedAt = runbooks.RunFailed, "step \""+fail+"\" failed", fixedNow.Add(2*time.Second)
			}
			return st
		}
		r.current = func() (runbooks.Current, bool) {
			if failed >= 0 {
				return runbooks.Current{}, false
			}
			return innerCur()
		}
		return r, nil
	}}
}

// verifyFailed is the result of a backup whose verification fails.
var verifyFailed = runbooks.StepResult{
	Message: "backup /var/backups/gaia/architect-20261129T020000Z.db: integrity check found 3 problems",
	Figures: map[string]float64{"problems": 3, "seconds": 1.9},
	Details: []string{"*** in database main ***", "Page 4127: btree page has 2 bytes of free space, 5 expected", "row 88213 missing from index idx_appeals_created"},
	Err:     errors.New("verify_backup: integrity_check: 3 problems"),
}

// runConsole is the console at w x h on the run screen of runbook id
// (goldenRunbooks' runs), its steps done until the current one is named
// until ("" for the first).
func runConsole(t *testing.T, w, h int, id, until string, svc fakeRunbooks) Model {
	t.Helper()
	m := loaded(t, func(o *Options) {
		o.Runbooks = svc
		// No backup: a step that takes one runs as the runbook says
		// (the chooser has its own screen), whatever the host holds.
		o.Config.Console.Backup.Dir = t.TempDir()
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = runTo(t, m, id)
	for n := 0; until != "" && m.runbooks.curOK && m.runbooks.cur.Step.Name != until; n++ {
		if n > 20 {
			t.Fatalf("step %q never comes", until)
		}
		m = doCurrent(t, m)
	}
	if until != "" && (!m.runbooks.curOK || m.runbooks.cur.Step.Name != until) {
		t.Fatalf("the run is %s, not at step %q", m.runbooks.state.Status, until)
	}
	return m
}

// goldenBuilds are the screens reached by Update alone: a run at each
// kind of step and each detail view, at w x h.
var goldenBuilds = []struct {
	name  string
	build func(t *testing.T, w, h int) Model
}{
	// A manual step: instructions only, x marks it done.
	{"run_manual", func(t *testing.T, w, h int) Model {
		return runConsole(t, w, h, "restore-from-backup", "", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
	}},
	// An action step before it runs, the manual step before it done.
	{"run_action", func(t *testing.T, w, h int) Model {
		return runConsole(t, w, h, "restore-from-backup", "List backups", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
	}},
	// A destructive step's typed confirmation, half typed.
	{"run_confirm", func(t *testing.T, w, h int) Model {
		m := runConsole(t, w, h, "restore-from-backup", "Restore the database", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
		m, _ = step(t, m, press("x"))
		return typeText(t, m, "archi")
	}},
	// A step that takes a backup: the backups offered before it runs.
	{"run_choose_backup", func(t *testing.T, w, h int) Model {
		m := runConsole(t, w, h, "restore-from-backup", "Restore the database", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
		m, _ = step(t, m, envelope{to: viewRunbooks, msg: backupsMsg{list: goldenBackups(), dir: "/var/backups/gaia"}})
		m, _ = step(t, m, press("x"))
		if m.runbooks.mode != rbChoose {
			t.Fatalf("mode %v, want the backups offered", m.runbooks.mode)
		}
		return m
	}},
	// The destructive step running, with its progress. Its Cmd is never
	// executed: the progress is given to Update as the step would send it.
	{"run_progress", func(t *testing.T, w, h int) Model {
		m := runConsole(t, w, h, "restore-from-backup", "Restore the database", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
		m, _ = step(t, m, press("x"))
		m = typeText(t, m, "architect.db")
		m, _ = step(t, m, press("enter"))
		if !m.runbooks.running {
			t.Fatal("the step is not running")
		}
		t.Cleanup(func() {
			if m.runbooks.cancel != nil {
				m.runbooks.cancel()
			}
		})
		ev := ops.ProgressEvent{Phase: "copy", Done: 5120, Total: 22632, Unit: "pages", Message: "copying the backup into place"}
		m, _ = step(t, m, envelope{to: viewRunbooks, msg: stepEventMsg{ch: make(chan tea.Msg, 1), progress: &ev}})
		return m
	}},
	// The destructive step finished: its result compact, under the next
	// step.
	{"run_result", func(t *testing.T, w, h int) Model {
		return runConsole(t, w, h, "restore-from-backup", "Integrity check", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
	}},
	// A step's full output (enter on its result).
	{"run_result_details", func(t *testing.T, w, h int) Model {
		m := runConsole(t, w, h, "dr-drill", "Restore into a scratch database and measure", goldenRunbooks(drillResults, "", runbooks.StepResult{}))
		m, _ = step(t, m, press("enter"))
		if !m.runbooks.details {
			t.Fatal("enter did not show the full output")
		}
		return m
	}},
	// A failed step: the run failed with it.
	{"run_failed", func(t *testing.T, w, h int) Model {
		m := runConsole(t, w, h, "restore-from-backup", "Verify the backup to restore", goldenRunbooks(restoreResults, "Verify the backup to restore", verifyFailed))
		m = doCurrent(t, m)
		if m.runbooks.state.Status != runbooks.RunFailed {
			t.Fatalf("the run is %s, want failed", m.runbooks.state.Status)
		}
		return m
	}},
	// A metric check before it runs.
	{"run_check_metric", func(t *testing.T, w, h int) Model {
		return runConsole(t, w, h, "high-cpu-usage", "Processing latency now", goldenRunbooks(nil, "", runbooks.StepResult{}))
	}},
	// A query check before it runs.
	{"run_check_query", func(t *testing.T, w, h int) Model {
		return runConsole(t, w, h, "appeal-submission-failing", "", goldenRunbooks(nil, "", runbooks.StepResult{}))
	}},
	// q with the run at its destructive step: the question.
	{"run_quit", func(t *testing.T, w, h int) Model {
		m := runConsole(t, w, h, "restore-from-backup", "Restore the database", goldenRunbooks(restoreResults, "", runbooks.StepResult{}))
		m, _ = step(t, m, press("q"))
		if !m.quitAsk {
			t.Fatal("q did not ask")
		}
		return m
	}},
	// A journal entry whose fields the list cuts, in full.
	{"journal_detail", func(t *testing.T, w, h int) Model {
		m := loaded(t, func(o *Options) { o.Journal = &fakeJournal{entries: goldenJournal()} })
		m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
		m, cmd := step(t, m, press("l"))
		m = drain(t, m, cmd)
		m, _ = step(t, m, press("enter"))
		if m.journal.detail == nil {
			t.Fatal("enter did not open the entry")
		}
		return m
	}},
	// A backup's manifest (:backups, enter), the backups given to the
	// view as its Cmd reads them.
	{"backup_manifest", func(t *testing.T, w, h int) Model {
		m := loaded(t, nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, "backups")
		m, _ = step(t, m, press("enter"))
		m, _ = step(t, m, envelope{to: viewRunbooks, msg: backupsMsg{list: goldenBackups(), dir: "/var/backups/gaia"}})
		m, _ = step(t, m, press("enter"))
		if m.runbooks.mode != rbManifest {
			t.Fatalf("mode %v, want the manifest", m.runbooks.mode)
		}
		return m
	}},
	// The last DR drill's report (:drill), as its Cmd reads it.
	{"drill_report", func(t *testing.T, w, h int) Model {
		m := loaded(t, nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, "drill")
		m, _ = step(t, m, press("enter"))
		rec := state.DrillRecord{Time: fixedNow.Add(-40 * 24 * time.Hour), Database: "/var/lib/gaia/architect.db", Backup: "architect-20261020T020000Z.db",
			OK: true, Verdict: "WARNING", Missed: []string{"RPO 26h0m0s > 5m0s (Database Corruption)"},
			RTO: 4200 * time.Millisecond, RPO: 26 * time.Hour, RTOLimit: 30 * time.Minute, RPOLimit: 5 * time.Minute,
			ReportPath: "/var/lib/repops/drills/drill-20261020T030000Z.md"}
		report := "# DR drill 2026-10-20T03:00:00Z\n\nScenario: Database Corruption (RTO 30m, RPO 5m)\n\n" +
			"- backup: architect-20261020T020000Z.db (26h0m0s old)\n- restored into a scratch database in 4.2s\n" +
			"- integrity check: ok\n- appeals: 1000000 rows, newest 2026-10-19\n\n## Objectives\n\n" +
			"- RTO 4.2s of 30m: met\n- RPO 26h0m0s of 5m: MISSED (take backups more often, or replicate)\n"
		m, _ = step(t, m, envelope{to: viewRunbooks, msg: drillReportMsg{rec: &rec, report: report, path: rec.ReportPath}})
		if m.runbooks.mode != rbDrill {
			t.Fatalf("mode %v, want the drill report", m.runbooks.mode)
		}
		return m
	}},
	// The firing alert, in full.
	{"alert_detail", func(t *testing.T, w, h int) Model {
		m := loaded(t, nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
		m, _ = step(t, m, press("a"))
		m, _ = step(t, m, press("enter"))
		if !m.alerts.detail {
			t.Fatal("enter did not open the alert")
		}
		return m
	}},
}

// goldenBackups are two verified backups of the database, as
// ops.ListBackups reads them, newest first.
func goldenBackups() []ops.BackupEntry {
	var out []ops.BackupEntry
	for i, name := range []string{"architect-20261129T020000Z.db", "architect-20261128T020000Z.db"} {
		at := fixedNow.Add(-time.Hour - time.Duration(i)*24*time.Hour)
		size := int64(92_692_480 - i*315_392)
		out = append(out, ops.BackupEntry{
			BackupFile: state.BackupFile{Name: name, Path: "/var/backups/gaia/" + name, Time: at, Size: size},
			Age:        fixedNow.Sub(at),
			State:      ops.BackupOK,
			Manifest: &ops.Manifest{ManifestVersion: 2, Name: name, Source: "/var/lib/gaia/architect.db", Created: at,
				Size: size, PageSize: 4096, PageCount: size / 4096,
				SHA256:        "9f2c4e8a1b7d3f60c5e9a2b4d8f1c3e7a6b0d2f4e8c1a3b5d7f9e0c2a4b6d8f0",
				SchemaVersion: 3, QuickCheck: "ok", Method: ops.MethodWALCopy, DurationSeconds: 3.8,
				Actor: ops.Actor{User: "oncall", Host: "db1", SSHClient: "10.1.2.3 52344 22", Session: "pts/3"},
				Tables: map[string]ops.TableFigures{
					"appeals":                     {Rows: 1_000_000, MaxRowID: 1_000_412, NewestCreatedAt: "2026-11-29 01:59:58"},
					"appeal_negotiation_messages": {Rows: 2_800_000, MaxRowID: 2_800_977, NewestCreatedAt: "2026-11-29 01:59:59"},
					"ml_predictions":              {Rows: 52_000, MaxRowID: 52_000},
				}},
		})
	}
	return out
}

// goldenJournal is a journal whose newest entry is a failed restore step
// with every field set, longer than a row.
func goldenJournal() []ops.Entry {
	entries := journalEntries(10)
	e := &entries[9]
	e.Actor = ops.Actor{User: "oncall", Host: "db1.example.internal", SSHClient: "10.1.2.3 52344 22", Session: "pts/3"}
	e.Action, e.Outcome = "runbook.step", ops.OutcomeFailed
	e.Step, e.Runbook = "Verify the backup to restore", "restore-from-backup"
	e.RunID = "restore-from-backup-20261129T025800Z-ab12"
	e.Target = "/var/backups/gaia/architect-20261129T020000Z.db"
	e.Message = verifyFailed.Message + ": " + verifyFailed.Err.Error()
	e.Params = map[string]any{"backup": "architect-20261129T020000Z.db", "kind": "action"}
	e.Figures = map[string]float64{"problems": 3, "seconds": 1.9}
	return entries
}

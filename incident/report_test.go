package incident

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/ops"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

var (
	alice     = ops.Actor{User: "alice", Host: "ops1", SSHClient: "10.0.0.7:52111", Session: "s1"}
	collector = ops.Actor{User: "repops", Host: "db1", Session: "collector-1"}
)

// at is the time s seconds after t0.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// journal numbers the entries as the journal would.
func journal(es ...ops.Entry) []ops.Entry {
	for i := range es {
		es[i].Seq = int64(i + 1)
	}
	return es
}

func alert(s float64, outcome string, value float64, extra map[string]float64) ops.Entry {
	f := map[string]float64{"value": value, "threshold": 5}
	for k, v := range extra {
		f[k] = v
	}
	return ops.Entry{Time: at(s), Actor: collector, Action: ActionAlert, Target: "AppealErrorRateHigh", Outcome: outcome,
		Figures: f, Params: map[string]any{"rule": "appeal_error_rate", "title": "Appeal error rate", "unit": "%", "compare": "above"},
		Message: "reason words"}
}

// incidentEntries is an error spike: the alert warns at +0, is pending at
// +2 and fires at +12; the operator starts an incident at +15, a runbook
// at +20 whose mitigating backup step runs from +21 to +25; the alert is
// resolved at +60 and the incident ends at +70.
func incidentEntries() []ops.Entry {
	step := func(s float64, outcome, word string, params map[string]any) ops.Entry {
		p := map[string]any{"outcome": word, "kind": "action", "step_index": 2, "action": "backup", "dir": "/srv/secret-backups"}
		for k, v := range params {
			p[k] = v
		}
		return ops.Entry{Time: at(s), Actor: alice, Action: "runbook.step", Target: "/srv/architect.db", Outcome: outcome,
			Runbook: "appeal-submission-failing", RunID: "r1", Step: "Take a backup", Params: p,
			Command: "repops backup --db /srv/architect.db"}
	}
	return journal(
		ops.Entry{Time: at(-30), Actor: collector, Action: ActionAlert, Target: "AppealErrorRateHigh", Outcome: ops.OutcomeResolved,
			Figures: map[string]float64{"value": 0.5}, Params: map[string]any{"from": "unknown"}},
		alert(0, ops.OutcomeWarning, 2.5, nil),
		alert(2, ops.OutcomePending, 6.1, nil),
		alert(12, ops.OutcomeFiring, 24.8, nil),
		ops.Entry{Time: at(15), Actor: alice, Action: ActionStart, Target: "inc-20260304-1000", Message: "Appeals failing", Outcome: ops.OutcomeNote},
		ops.Entry{Time: at(20), Actor: alice, Action: "runbook.start", Target: "/srv/architect.db", Runbook: "appeal-submission-failing", RunID: "r1",
			Outcome: ops.OutcomeStarted, Params: map[string]any{"outcome": "started"}},
		step(21, ops.OutcomeStarted, "started", nil),
		ops.Entry{Time: at(21.5), Actor: alice, Action: "backup", Target: "/srv/architect.db", Outcome: ops.OutcomeStarted, Params: map[string]any{"dir": "/srv/secret-backups"}},
		ops.Entry{Time: at(24.5), Actor: alice, Action: "backup", Target: "/srv/architect.db", Outcome: ops.OutcomeOK, Params: map[string]any{"dir": "/srv/secret-backups"},
			Figures: map[string]float64{"duration_seconds": 3}},
		step(25, ops.OutcomeOK, "done", map[string]any{"mitigates": true}),
		alert(60, ops.OutcomeResolved, 0.8, map[string]float64{"worst": 31.2}),
		ops.Entry{Time: at(70), Actor: alice, Action: ActionEnd, Target: "inc-20260304-1000", Message: "a bad deploy, rolled back", Outcome: ops.OutcomeNote},
	)
}

func mustFind(t *testing.T, es []ops.Entry) Window {
	t.Helper()
	w, err := Find(es, "", at(100))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wantSeconds(t *testing.T, name string, got *int64, want int64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: none, want %d s", name, want)
		return
	}
	if *got != want {
		t.Errorf("%s: %d s, want %d s", name, *got, want)
	}
}

func TestBuildResponseTimes(t *testing.T) {
	es := incidentEntries()
	r := Build(es, mustFind(t, es), at(100))
	if !r.AlertStart.Equal(at(0)) || r.AlertStartFrom != "alert" {
		t.Errorf("alert start %s (%s), want %s: the incident was started after the alert, and the window opens at the alert", r.AlertStart, r.AlertStartFrom, at(0))
	}
	wantSeconds(t, "TTD", r.TTD, 12)
	wantSeconds(t, "TTA", r.TTA, 20)
	wantSeconds(t, "TTM", r.TTM, 25)
	wantSeconds(t, "TTR", r.TTR, 60)
	if r.Summary != "a bad deploy, rolled back" {
		t.Errorf("summary %q, want the incident end's", r.Summary)
	}
	if len(r.Impact) != 1 || r.Impact[0].BeyondSeconds != 58 || r.Impact[0].Worst == nil || *r.Impact[0].Worst != 31.2 || r.Impact[0].WorstState != ops.OutcomeFiring {
		t.Errorf("impact %+v, want beyond 58 s, worst 31.2 firing", r.Impact)
	}
}

func TestBuildOneRowPerStepWithTheProcedureFolded(t *testing.T) {
	es := incidentEntries()
	r := Build(es, mustFind(t, es), at(100))
	var steps, procs int
	for _, row := range r.Timeline {
		switch row.Source {
		case SourceStep:
			steps++
			if row.Outcome != "done" || row.Finished == nil || !row.Finished.Equal(at(25)) || !row.Time.Equal(at(21)) || len(row.Seqs) != 4 {
				t.Errorf("step row %+v: want done, from +21 to +25, built from 4 entries", row)
			}
			if row.Command != "repops backup --db /srv/architect.db" {
				t.Errorf("step row command %q", row.Command)
			}
		case SourceProc:
			procs++
		}
	}
	if steps != 1 || procs != 0 {
		t.Errorf("%d step rows and %d procedure rows, want 1 and 0 (the backup folded into its step):\n%+v", steps, procs, r.Timeline)
	}
	// Every entry of the window is in exactly one row.
	seen := map[int64]bool{}
	for _, row := range r.Timeline {
		for _, s := range row.Seqs {
			if seen[s] {
				t.Errorf("entry %d in two rows", s)
			}
			seen[s] = true
		}
	}
	if len(seen) != len(es)-1 { // the resolved before the window is not in it
		t.Errorf("%d entries in rows, want %d", len(seen), len(es)-1)
	}
}

func TestBuildOutcomeIsTheTruth(t *testing.T) {
	es := journal(
		alert(0, ops.OutcomePending, 6, nil),
		ops.Entry{Time: at(5), Actor: alice, Action: "runbook.step", Outcome: ops.OutcomeStarted, Runbook: "dr-drill", RunID: "r2", Step: "Drill",
			Params: map[string]any{"outcome": "started"}},
		ops.Entry{Time: at(6), Actor: alice, Action: "drill", Target: "/srv/architect.db", Outcome: ops.OutcomeStarted},
		ops.Entry{Time: at(9), Actor: alice, Action: "drill", Target: "/srv/architect.db", Outcome: ops.OutcomeWarning, Message: "RPO missed: 2h > 1h"},
		ops.Entry{Time: at(10), Actor: alice, Action: "runbook.step", Outcome: ops.OutcomeOK, Runbook: "dr-drill", RunID: "r2", Step: "Drill",
			Params: map[string]any{"outcome": "done"}},
		ops.Entry{Time: at(11), Actor: alice, Action: "check", Target: "/srv/architect.db", Outcome: ops.OutcomeStarted},
	)
	r := Build(es, Since(at(-1), at(20)), at(20))
	for _, row := range r.Timeline {
		if row.Source == SourceStep && (row.Outcome != ops.OutcomeWarning || !strings.Contains(row.What, "RPO missed")) {
			t.Errorf("drill step row %+v: want warning with the drill's message (a drill that missed its RPO is not ok)", row)
		}
		if row.Source == SourceProc && row.Outcome != "running" {
			t.Errorf("procedure with no end: %+v, want running", row)
		}
	}
	wantSeconds(t, "TTA", r.TTA, 5)
	if r.TTM != nil || r.TTR != nil {
		t.Errorf("TTM %v TTR %v: nothing mitigated, nothing resolved", r.TTM, r.TTR)
	}
	if len(r.Unresolved) != 1 || !r.Impact[0].Ongoing || r.Impact[0].BeyondSeconds != 20 {
		t.Errorf("unresolved %v impact %+v: want the alert still out, beyond for 20 s", r.Unresolved, r.Impact)
	}
}

func TestBuildHidesParameters(t *testing.T) {
	es := incidentEntries()
	r := Build(es, mustFind(t, es), at(100))
	var md, js bytes.Buffer
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Logf("the Markdown:\n%s", md.String())
	}
	for _, row := range r.Timeline {
		b, _ := json.Marshal(row)
		js.Write(b)
	}
	for _, s := range []string{"step_index", "/srv/secret-backups", "kind", "\"dir\""} {
		if strings.Contains(md.String(), s) || strings.Contains(js.String(), s) {
			t.Errorf("the report shows the internal parameter %q", s)
		}
	}
	for _, s := range []string{"| TTD (detect) |", "12s", "| TTR (resolve) |", "1m0s", "Definitions", "10.0.0.7:52111", "```sh\nrepops backup --db /srv/architect.db"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("the Markdown lacks %q:\n%s", s, md.String())
		}
	}
}

func TestBuildMitigations(t *testing.T) {
	base := func(extra ...ops.Entry) []ops.Entry {
		es := []ops.Entry{
			{Time: at(-10), Actor: alice, Action: ActionScenario, Target: "error-spike", Params: map[string]any{"from": "normal"}},
			alert(0, ops.OutcomePending, 6, nil), alert(5, ops.OutcomeFiring, 9, nil),
		}
		return journal(append(es, extra...)...)
	}
	for _, tc := range []struct {
		name string
		es   []ops.Entry
		ttm  int64
		tta  int64
	}{
		{"a note marked mitigated", base(ops.Entry{Time: at(30), Actor: alice, Action: ActionNote, Message: "failed over", Params: map[string]any{"mitigated": true}}), 30, 30},
		{"the demo's switch back to normal", base(ops.Entry{Time: at(8), Actor: alice, Action: ActionNote, Message: "looking"},
			ops.Entry{Time: at(40), Actor: alice, Action: ActionScenario, Target: "normal", Params: map[string]any{"from": "error-spike"}}), 40, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(tc.es, Since(at(-60), at(100)), at(100))
			wantSeconds(t, "TTM", r.TTM, tc.ttm)
			wantSeconds(t, "TTA", r.TTA, tc.tta)
			wantSeconds(t, "TTD", r.TTD, 5)
		})
	}
}

func TestBuildNoAlert(t *testing.T) {
	es := journal(
		ops.Entry{Time: at(0), Actor: alice, Action: ActionStart, Target: "inc-1", Message: "customer report"},
		ops.Entry{Time: at(9), Actor: alice, Action: ActionNote, Target: "inc-1", Message: "checked"},
	)
	r := Build(es, mustFind(t, es), at(30))
	if r.AlertStartFrom != "incident start" || !r.AlertStart.Equal(at(0)) || !r.Open {
		t.Errorf("alert start %s from %s, open %v: want the incident's start, still open", r.AlertStart, r.AlertStartFrom, r.Open)
	}
	wantSeconds(t, "TTA", r.TTA, 9)
	if r.TTD != nil || r.TTR != nil {
		t.Errorf("TTD %v TTR %v without an alert", r.TTD, r.TTR)
	}
}

func TestIncidentsOpenAndFind(t *testing.T) {
	es := journal(
		ops.Entry{Time: at(0), Action: ActionStart, Target: "inc-a", Message: "one"},
		ops.Entry{Time: at(5), Action: ActionEnd, Target: "inc-a"},
		ops.Entry{Time: at(10), Action: ActionStart, Target: "inc-b", Message: "two"},
	)
	if w, ok := OpenIncident(es); !ok || w.ID != "inc-b" {
		t.Errorf("open incident %+v %v, want inc-b", w, ok)
	}
	if w, err := Find(es, "inc-a", at(50)); err != nil || !w.End.Equal(at(5)) || w.Open {
		t.Errorf("find inc-a: %+v %v", w, err)
	}
	if w, err := Find(es, "", at(50)); err != nil || w.ID != "inc-b" || !w.End.Equal(at(50)) {
		t.Errorf("find newest: %+v %v", w, err)
	}
	if _, err := Find(es, "inc-zz", at(50)); err == nil || !strings.Contains(err.Error(), "inc-zz") {
		t.Errorf("find unknown: %v", err)
	}
	if _, err := Find(nil, "", at(50)); err == nil {
		t.Error("find in an empty journal: no error")
	}
	if id := NewID(at(0), func(id string) bool { return id == "inc-20260304-1000" }); id != "inc-20260304-100000" {
		t.Errorf("NewID taken: %s", id)
	}
}

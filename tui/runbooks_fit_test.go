package tui

import (
	"context"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/repops/repops/ops"
	"github.com/repops/repops/runbooks"
)

// The run screen at 80x24 (issue 16): the current step's instructions
// first and on the screen after every step, without a scrolling key; a
// finished step's figures once, with their units; its full output on
// demand; scrolling by pages, clamped.

// diskResult is what the disk-space action prints: a human line, and
// the same figures raw.
var diskResult = runbooks.StepResult{
	Message: "66.8 GiB free of 250.0 GiB on /var/lib/gaia (26.7%)",
	Figures: map[string]float64{"free_bytes": 71730774016, "total_bytes": 268435456000, "free_percent": 26.72},
}

// drillResults are what a DR drill's steps print, as the real actions
// report them (runbooks/opsenv_procs.go), by step name.
var drillResults = map[string]runbooks.StepResult{
	"Announce the drill": diskResult,
	"Verify the latest backup": {
		Message: "backup /var/backups/gaia/architect-20261129T020000Z.db verified: schema version 7",
		Figures: map[string]float64{"schema_version": 7, "problems": 0, "seconds": 0.42, "appeals_rows": 1000000, "negotiations_rows": 52000},
		Details: []string{"backup /var/backups/gaia/architect-20261129T020000Z.db", "appeals: 1000000 rows, newest 2026-11-29", "negotiations: 52000 rows, newest 2026-11-29"},
	},
	"Restore into a scratch database and measure": {
		Message: "drill of architect-20261129T020000Z.db (Database Corruption): objectives met; RTO 4.2s, RPO 58m0s",
		Figures: map[string]float64{"rto_seconds": 4.2, "rpo_seconds": 3480, "ok": 1, "objectives_met": 1, "appeals_rows": 1000000},
		Details: []string{"Database Corruption (rehearsed): RTO 30m met true, RPO 5m met true", "report /var/lib/repops/drills/drill-20261129.md"},
	},
}

// restoreResults are what the restore runbook's steps print.
var restoreResults = map[string]runbooks.StepResult{
	"List backups": {
		Message: "3 backup(s) in /var/backups/gaia; newest architect-20261129T020000Z.db, 58m0s old",
		Figures: map[string]float64{"count": 3, "newest_age_seconds": 3480},
		Details: []string{"2026-11-29T02:00:00Z  88.4 MiB  architect-20261129T020000Z.db", "2026-11-28T02:00:00Z  88.1 MiB  architect-20261128T020000Z.db"},
	},
	"Verify the backup to restore": drillResults["Verify the latest backup"],
	"Stop services":                diskResult,
	"Restore the database": {
		Message: "restored /var/backups/gaia/architect-20261129T020000Z.db (copy) in 4.2s; 12 rows newer than the backup lost (kept in the safety copy /var/lib/gaia/architect.db.pre-restore), data-loss window 58m0s",
		Figures: map[string]float64{"seconds": 4.2, "lost_rows": 12, "lost_window_seconds": 3480, "appeals_rows": 999988, "appeals_lost_rows": 12},
		Details: []string{"mode copy", "safety copy /var/lib/gaia/architect.db.pre-restore", "appeals: 1000000 rows before, 999988 in the backup (12 newer than the backup lost)"},
	},
	"Integrity check": {
		Message: "full check: OK in 3.1s",
		Figures: map[string]float64{"status": 0, "corrupt": 0, "foreign": 0, "schema": 0, "seconds": 3.1},
	},
}

// fitConsole is the console at 80x24 on the run screen of runbook id,
// whose steps the fake engine finishes with results (by step name).
func fitConsole(t *testing.T, id string, results map[string]runbooks.StepResult) Model {
	t.Helper()
	m := loaded(t, func(o *Options) {
		cat, _ := runbooks.Builtin()
		o.Runbooks = fakeRunbooks{cat: cat, start: func(rb *runbooks.Runbook) (RunbookRun, error) {
			r := newFakeRun(rb, nil)
			inner := r.do
			r.do = func(ctx context.Context, in runbooks.StepInput, p ops.Progress) (runbooks.StepResult, error) {
				cur, _ := r.current()
				res, err := inner(ctx, in, p)
				if want, ok := results[cur.Step.Name]; ok && err == nil {
					res.Message, res.Figures, res.Details = want.Message, want.Figures, want.Details
				}
				return res, err
			}
			return r, nil
		}}
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	return runTo(t, m, id)
}

// doCurrent does the current step as the operator would: x, and the
// database's name for a destructive one.
func doCurrent(t *testing.T, m Model) Model {
	t.Helper()
	needs := m.runbooks.cur.NeedsConfirm
	m, cmd := step(t, m, press("x"))
	if needs {
		m = typeText(t, m, "architect.db")
		m, cmd = step(t, m, press("enter"))
	}
	return drain(t, m, cmd)
}

// rightColumn is the run screen's right column, its lines joined with
// single spaces, as one reads it.
func rightColumn(screen string) string {
	var parts []string
	for _, l := range strings.Split(screen, "\n") {
		if _, r, ok := strings.Cut(l, " │ "); ok {
			parts = append(parts, strings.TrimSpace(r))
		}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// instructionStart is how the step's instructions begin, as the screen
// shows them (Markdown's backticks rendered away), or what the step does
// when it has no text.
func instructionStart(cur runbooks.Current) string {
	text := strings.ReplaceAll(strings.TrimSpace(cur.Step.Text), "`", "")
	if text == "" {
		if cur.Step.Action != "" {
			return "action: " + cur.Step.Action
		}
		return "Step"
	}
	words := strings.Fields(text)
	return strings.Join(words[:min(5, len(words))], " ")
}

func TestRunFitsAt80x24(t *testing.T) {
	for _, tc := range []struct {
		id      string
		results map[string]runbooks.StepResult
	}{
		{"dr-drill", drillResults},
		{"restore-from-backup", restoreResults},
	} {
		t.Run(tc.id, func(t *testing.T) {
			m := fitConsole(t, tc.id, tc.results)
			for n := 0; m.runbooks.curOK; n++ {
				if n > 20 {
					t.Fatal("the run does not end")
				}
				cur := m.runbooks.cur
				out := plain(m)
				if lines := strings.Split(out, "\n"); len(lines) != 24 {
					t.Fatalf("the screen has %d lines, want 24", len(lines))
				}
				right := rightColumn(out)
				title := "Step " + itoa(cur.Index+1) + " of " + itoa(cur.Total)
				if !strings.Contains(right, title) {
					t.Fatalf("step %d: %q is not on the screen:\n%s", cur.Index+1, title, out)
				}
				if want := instructionStart(cur); !strings.Contains(right, want) {
					t.Fatalf("step %d (%s): its instructions (%q) are not on the screen without scrolling:\n%s", cur.Index+1, cur.Step.Name, want, out)
				}
				if off := m.runbooks.scroll.Offset(); off != 0 {
					t.Fatalf("step %d: the screen is scrolled (%d) after the last step", cur.Index+1, off)
				}
				m = doCurrent(t, m)
				if m.runbooks.last == nil || m.runbooks.last.Step != cur.Step.Name {
					t.Fatalf("step %q did not finish: last %+v, flash %q", cur.Step.Name, m.runbooks.last, m.flash)
				}
				res, ok := tc.results[cur.Step.Name]
				if !ok {
					continue
				}
				out = plain(m)
				for name, v := range res.Figures {
					if strings.Contains(out, name+" ") && strings.Contains(name, "_") {
						t.Errorf("step %q: the raw figure %s is on the screen:\n%s", cur.Step.Name, name, out)
					}
					if raw := fmtNum(v); len(raw) > 6 && strings.Contains(out, raw) {
						t.Errorf("step %q: the raw value %s of %s is on the screen:\n%s", cur.Step.Name, raw, name, out)
					}
				}
			}
			if m.runbooks.state.Status != runbooks.RunFinished {
				t.Fatalf("the run is %s, want finished", m.runbooks.state.Status)
			}
		})
	}
}

func itoa(n int) string { return fmtNum(float64(n)) }

func TestRunResultFiguresOnce(t *testing.T) {
	m := fitConsole(t, "dr-drill", drillResults)
	m = doCurrent(t, m) // "Announce the drill": the disk's figures
	out := plain(m)
	for _, once := range []string{"66.8 GiB", "250.0 GiB", "26.7%"} {
		if n := strings.Count(out, once); n != 1 {
			t.Errorf("%q is %d times on the screen, want once:\n%s", once, n, out)
		}
	}
	for _, raw := range []string{"free_bytes", "71730774016", "268435456000"} {
		if strings.Contains(out, raw) {
			t.Errorf("the raw %q is on the screen:\n%s", raw, out)
		}
	}

	// The next one: figures that the message does not say, with units.
	m = doCurrent(t, m) // "Verify the latest backup"
	right := rightColumn(plain(m))
	for _, want := range []string{"schema version 7", "appeals 1,000,000 rows", "enter: the full output (3 details"} {
		if !strings.Contains(right, want) {
			t.Errorf("the summary lacks %q:\n%s", want, plain(m))
		}
	}
	if n := strings.Count(right, "schema version 7"); n != 1 {
		t.Errorf("the schema version is %d times in the summary, want once:\n%s", n, plain(m))
	}
	if strings.Contains(right, "newest 2026-11-29") {
		t.Errorf("the details are in the summary:\n%s", plain(m))
	}
}

func TestRunDetailsOnDemand(t *testing.T) {
	m := fitConsole(t, "dr-drill", drillResults)
	m = doCurrent(t, m)
	m = doCurrent(t, m) // "Verify the latest backup": three details
	m, _ = step(t, m, press("enter"))
	if !m.runbooks.details {
		t.Fatal("enter on a finished step did not show its full output")
	}
	out := plain(m)
	for _, want := range []string{"negotiations: 52000 rows, newest 2026-11-29", "full output (enter: summary)"} {
		if !strings.Contains(rightColumn(out), want) {
			t.Errorf("the full output lacks %q:\n%s", want, out)
		}
	}
	m, _ = step(t, m, press("enter"))
	if m.runbooks.details || m.runbooks.scroll.Offset() != 0 {
		t.Fatalf("enter again: details %v scroll %d, want the summary at the top", m.runbooks.details, m.runbooks.scroll.Offset())
	}
	if out := plain(m); strings.Contains(out, "newest 2026-11-29") || !strings.Contains(rightColumn(out), instructionStart(m.runbooks.cur)) {
		t.Errorf("back to the summary, the screen:\n%s", out)
	}
}

func TestRunScrollsByPages(t *testing.T) {
	// A restore whose full output is three screens long.
	results := map[string]runbooks.StepResult{}
	for k, v := range restoreResults {
		results[k] = v
	}
	long := results["Restore the database"]
	long.Details = nil
	for i := 0; i < 50; i++ {
		long.Details = append(long.Details, "table_"+itoa(i)+": 1000 rows before, 1000 in the backup")
	}
	results["Restore the database"] = long
	m := fitConsole(t, "restore-from-backup", results)
	for m.runbooks.curOK && m.runbooks.cur.Step.Name != "Integrity check" {
		m = doCurrent(t, m)
	}
	// The restore's full output below the next step's text: more than a
	// screen at 80x24.
	m, _ = step(t, m, press("enter"))
	lines, room, _ := m.runbooks.runPane()
	// The marker takes the pane's last row: a page is the rows above it.
	page, last := room-1, len(lines)-(room-1)
	if last < 2*page {
		t.Fatalf("the pane has %d lines in %d rows: the test needs more", len(lines), room)
	}
	off := func() int { return m.runbooks.scroll.Offset() }
	m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyHome})
	if off() != 0 {
		t.Fatalf("home: scroll %d", off())
	}
	m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyPgDown})
	if off() != page {
		t.Fatalf("pgdn moved %d lines, want a page (%d)", off(), page)
	}
	if out := plain(m); !strings.Contains(out, "more") || !strings.Contains(out, "lines "+itoa(page+1)+"–") {
		t.Errorf("no position marker after pgdn:\n%s", out)
	}
	for i := 0; i < last+20; i++ {
		m, _ = step(t, m, press("j"))
	}
	if off() != last {
		t.Fatalf("j past the end: scroll %d, want it clamped at %d", off(), last)
	}
	m, _ = step(t, m, press("k"))
	if off() != last-1 {
		t.Fatalf("k after the end: scroll %d, want %d (one line back at once)", off(), last-1)
	}
	for i := 0; i < last/page+1; i++ {
		m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyPgUp})
	}
	if off() != 0 {
		t.Fatalf("pgup to the top: scroll %d", off())
	}
	m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyEnd})
	if out := plain(m); off() != last || !strings.Contains(out, "· end") {
		t.Fatalf("end: scroll %d of %d:\n%s", off(), last, out)
	}
}

func TestRunbookPageFillsPlaceholders(t *testing.T) {
	m := loaded(t, nil)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, cmd := step(t, m, switchViewMsg{to: viewRunbooks, runbook: "restore-from-backup"})
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbRead {
		t.Fatalf("mode %v, want the runbook's page", m.runbooks.mode)
	}
	out := plain(m)
	if strings.Contains(out, "{{") {
		t.Errorf("a placeholder is not filled in:\n%s", out)
	}
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "Replaces /var/lib/gaia/architect.db with") {
		t.Errorf("{{db.path}} is not the database's path:\n%s", out)
	}
}

package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/ops"
)

// squeeze is s without any white space, to compare wrapped text with
// the text it wraps.
func squeeze(s string) string { return strings.Join(strings.Fields(s), "") }

// checkScreen fails when a line of out is wider than w or out is not h
// lines.
func checkScreen(t *testing.T, out string, w, h int) {
	t.Helper()
	lines := strings.Split(out, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if cw := ansi.StringWidth(l); cw > w {
			t.Errorf("line %d is %d cells wide: %q", i+1, cw, l)
		}
	}
}

// TestJournalEntryDetail: at 80x24, enter on a journal row whose fields
// the list cuts shows the whole entry, every field, nothing cut; esc
// (or enter) goes back to the list.
func TestJournalEntryDetail(t *testing.T) {
	entries := journalEntries(10)
	long := entries[9]
	long.Actor = ops.Actor{User: "an-operator-with-a-very-long-name", Host: "db1.example.internal", SSHClient: "10.1.2.3 52344 22", Session: "pts/3"}
	long.Action, long.Outcome = "runbook.step", ops.OutcomeFailed
	long.Step, long.Runbook = "Restore the newest verified backup into place", "restore-from-backup"
	long.RunID = "restore-from-backup-20261129T025800Z-ab12"
	long.Target = "/var/lib/gaia/backups/" + strings.Repeat("very-long-directory-name/", 4) + "architect-20261129.db.zst"
	long.Message = strings.Repeat("the checksum of the backup did not match its manifest; ", 4) + "the end of the message."
	long.Params = map[string]any{"backup": "architect-20261129.db.zst", "verify": true}
	long.Figures = map[string]float64{"free_bytes": 71730774016, "seconds": 12.5}
	entries[9] = long

	m := loaded(t, func(o *Options) { o.Journal = &fakeJournal{entries: entries} })
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, cmd := step(t, m, press("l"))
	m = drain(t, m, cmd)
	list := plain(m)
	if strings.Contains(squeeze(list), squeeze(long.Message)) {
		t.Fatalf("the list shows the whole message already; the test proves nothing:\n%s", list)
	}
	if l := lineWith(list, "▸"); !strings.Contains(l, "Restore the newest") {
		t.Fatalf("the newest entry is not selected: %q\n%s", l, list)
	}

	m, _ = step(t, m, press("enter"))
	out := plain(m)
	checkScreen(t, out, 80, 24)
	if !strings.Contains(out, "Journal › entry 10") {
		t.Fatalf("enter did not open the entry:\n%s", out)
	}
	all := squeeze(out)
	for name, want := range map[string]string{
		"time":    "2026-11-29 03:00:00",
		"who":     "an-operator-with-a-very-long-name@db1.example.internal",
		"ssh":     long.Actor.SSHClient,
		"session": long.Actor.Session,
		"action":  long.Action,
		"runbook": long.Runbook,
		"step":    long.Step,
		"run id":  long.RunID,
		"outcome": long.Outcome,
		"target":  long.Target,
		"message": long.Message,
		"params":  "backup=architect-20261129.db.zst · verify=true",
		"figures": "free_bytes 71730774016 · seconds 12.5",
	} {
		if !strings.Contains(all, squeeze(want)) {
			t.Errorf("the detail lacks the whole %s %q:\n%s", name, want, out)
		}
	}
	if strings.Contains(out, "…") {
		t.Errorf("something is cut in the detail:\n%s", out)
	}

	// Enter goes back to the list (esc too: below, on the view).
	m, _ = step(t, m, press("enter"))
	if out := plain(m); strings.Contains(out, "› entry") || !strings.Contains(out, "action / step") {
		t.Errorf("enter again did not go back to the list:\n%s", out)
	}
	v := m.journal
	v, _ = v.Update(press("enter"))
	if v.detail == nil || !v.handlesBack() {
		t.Fatalf("no detail (%v), or esc would leave the view", v.detail == nil)
	}
	v, _ = v.Update(press("esc"))
	if v.detail != nil {
		t.Errorf("esc did not close the detail")
	}
}

// TestJournalDetailScrolls: an entry longer than the screen scrolls with
// the shared scroller's keys and says where it is.
func TestJournalDetailScrolls(t *testing.T) {
	e := journalEntries(1)
	e[0].Message = strings.Repeat("a very long message that goes on and on ", 60)
	v := loadedJournal(t, newJournalView(journalCtx(t.TempDir(), 80, 24), &fakeJournal{entries: e}, fixedNow.Add(-24*time.Hour)))
	v, _ = v.Update(press("enter"))
	out := ansi.Strip(v.View())
	if !strings.Contains(out, "↓") || !strings.Contains(out, "more") {
		t.Fatalf("no position marker on a long entry:\n%s", out)
	}
	if n := len(strings.Split(out, "\n")); n > 21 {
		t.Errorf("%d lines, more than the body's 21", n)
	}
	v, _ = v.Update(press("G"))
	if out := ansi.Strip(v.View()); !strings.Contains(out, "· end") {
		t.Errorf("G did not reach the end:\n%s", out)
	}
	v, _ = v.Update(press("g"))
	if out := ansi.Strip(v.View()); !strings.Contains(out, "lines 1–") {
		t.Errorf("g did not go back to the top:\n%s", out)
	}
}

// TestAlertDetail: at 80x24 enter on an alert whose figure the list cuts
// shows the whole rule; o still opens its runbook from there.
func TestAlertDetail(t *testing.T) {
	m := loaded(t, nil)
	m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, _ = step(t, m, press("a"))
	// The unknown rule, third by state: its reason is cut in the list.
	m, _ = step(t, m, press("j"))
	m, _ = step(t, m, press("j"))
	list := plain(m)
	reason := "service: series reputation_ml_prediction_seconds missing"
	if l := lineWith(list, "▸"); !strings.Contains(l, "ML prediction latency") || strings.Contains(l, reason) {
		t.Fatalf("selected row %q, want the ML rule with its reason cut", l)
	}
	m, _ = step(t, m, press("enter"))
	out := plain(m)
	checkScreen(t, out, 80, 24)
	if !m.alerts.detail || !strings.Contains(out, "Alerts › ML prediction latency p99") || !strings.Contains(squeeze(out), squeeze(reason)) {
		t.Fatalf("the detail lacks the whole reason %q:\n%s", reason, out)
	}
	for _, want := range []string{"ML prediction latency", "ml-prediction-timeouts", "severity"} {
		if !strings.Contains(out, want) {
			t.Errorf("the detail lacks %q:\n%s", want, out)
		}
	}
	_, cmd := step(t, m, press("o"))
	if cmd == nil {
		t.Fatal("o in the detail did nothing")
	}
	if sw, ok := cmd().(switchViewMsg); !ok || sw.runbook != "ml-prediction-timeouts" {
		t.Errorf("o gave %#v", sw)
	}
	m, _ = step(t, m, press("enter"))
	if m.alerts.detail {
		t.Error("enter in the detail did not go back to the list")
	}
}

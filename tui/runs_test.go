package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/repops/repops/runbooks"
)

// :runs (issue 16): the runs in the state dir, unfinished first, opened
// with enter; and the notice of unfinished runs at start.

func TestRunsListsAndOpens(t *testing.T) {
	m, started, resumed, _ := quitConsole(t)
	st := unfinishedRestore(t)
	keepRun(t, m, st)
	done := st
	done.RunID, done.Status, done.Current = "restore-from-backup-20261128T010000Z-ab99", runbooks.RunFinished, 10
	done.UpdatedAt, done.EndedAt = fixedNow.Add(-20*time.Hour), fixedNow.Add(-20*time.Hour)
	for i := range done.Steps {
		done.Steps[i].Outcome = runbooks.Done
	}
	done.Steps[0].Message = "told #incidents"
	keepRun(t, m, done)

	nm, cmd := m.execCommand(parseCommand(":runs"))
	m = drain(t, nm.(Model), cmd)
	if m.focus != viewRunbooks || m.runbooks.mode != rbRuns {
		t.Fatalf("focus %v mode %v: want the runs", m.focus, m.runbooks.mode)
	}
	out := plain(m)
	for _, want := range []string{"Runs", "1 unfinished", st.RunID, done.RunID, "step 3 of 10", "paused", "finished", "oncall@db1", "updated 1.3 h ago"} {
		if !strings.Contains(out, want) {
			t.Errorf(":runs lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if cellWidth(l) > 80 {
			t.Errorf("line wider than 80: %q", l)
		}
	}
	if strings.Index(out, st.RunID) > strings.Index(out, done.RunID) {
		t.Errorf("the unfinished run is not listed first:\n%s", out)
	}

	// The finished run: its results, read-only.
	m, _ = step(t, m, press("j"))
	m, cmd = step(t, m, press("enter"))
	m = drain(t, m, cmd)
	if m.runbooks.mode != rbRunResult || len(*resumed) != 0 {
		t.Fatalf("enter on a finished run: mode %v resumed %v", m.runbooks.mode, *resumed)
	}
	if out := plain(m); !strings.Contains(out, "told #incidents") || !strings.Contains(out, "read-only") {
		t.Fatalf("the finished run's results:\n%s", out)
	}
	m, _ = step(t, m, press("esc"))

	// The unfinished run: resumed.
	m, _ = step(t, m, press("k"))
	m, cmd = step(t, m, press("enter"))
	m = drain(t, m, cmd)
	if len(*resumed) != 1 || (*resumed)[0] != st.RunID || *started != 0 || m.runbooks.mode != rbRun {
		t.Fatalf("enter on the unfinished run: resumed %v started %d mode %v", *resumed, *started, m.runbooks.mode)
	}
}

func TestStartNoticeOfUnfinishedRuns(t *testing.T) {
	m, _, _, _ := quitConsole(t)
	st := unfinishedRestore(t)
	keepRun(t, m, st)
	other := st
	other.RunID, other.RunbookID, other.Status = "backup-20261129T010000Z-ef56", "backup", runbooks.RunFailed
	keepRun(t, m, other)
	m = drain(t, m, m.Init())
	if want := "2 unfinished runs: :runs lists them"; !strings.Contains(plain(m), want) {
		t.Fatalf("no start notice %q:\n%s", want, plain(m))
	}

	// None: no notice.
	m, _, _, _ = quitConsole(t)
	if c := m.runbooks.startNoticeCmd(); c != nil {
		if msg := runWithTimeout(t, c); msg != nil {
			t.Fatalf("a notice with no unfinished run: %#v", msg)
		}
	}
}

package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRunbookListFits80Columns: the list is read on 80-column terminals:
// no line is wider, long titles are cut with …, and every runbook is
// there with its alerts.
func TestRunbookListFits80Columns(t *testing.T) {
	_, cfg, _ := runbookTestEnv(t)
	out, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("%d columns: %q", n, l)
		}
	}
	for _, want := range []string{"complete-system-failure", "Disaster recovery: complete system…", "when: backup_age"} {
		if !strings.Contains(out, want) {
			t.Errorf("the list lacks %q:\n%s", want, out)
		}
	}
}

// TestRunbookResumeUnknownRun: an id that names no run is a mistake on
// the command line (64), as an unknown runbook id is; with no id and no
// run to resume it is 1.
func TestRunbookResumeUnknownRun(t *testing.T) {
	_, cfg, _ := runbookTestEnv(t)
	if _, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "resume", "no-such-run"); code != exitUsage || !strings.Contains(errOut, "no run no-such-run") {
		t.Fatalf("resume no-such-run: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runRepopsIn(t, "", "--config", cfg, "runbook", "resume"); code != exitFailure {
		t.Fatalf("resume with nothing to resume: exit %d, %q", code, errOut)
	}
}

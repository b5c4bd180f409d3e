package tui

import (
	"regexp"
	"strings"
	"testing"
)

// goldenChecks are what a golden screen must show, beyond the size
// checks (checkGolden), by screen name: what the screens once hid or cut.
// Each is given the screen in plain text, its lines and its size.
var goldenChecks = map[string]func(t *testing.T, screen string, lines []string, w, h int){
	// A restore's result: the loss figures always, the message whole
	// (wrapped, never cut).
	"run_result": func(t *testing.T, screen string, lines []string, w, h int) {
		for _, want := range []string{"data loss: 12 rows", "window 58 min", "window 58m0s"} {
			if !strings.Contains(screen, want) {
				t.Errorf("the restore's result lacks %q", want)
			}
		}
		noCutRight(t, lines)
	},
	// The typed confirmation: what is typed in full on its own line,
	// the prompt's keys in the hints bar.
	"run_confirm": func(t *testing.T, screen string, lines []string, w, h int) {
		input := lines[h-2]
		if !strings.Contains(input, "archi") || strings.Contains(input, "…") {
			t.Errorf("the typed text is not whole on the input line: %q", input)
		}
		promptHintsOnly(t, lines[h-1])
	},
	"run_choose_backup": func(t *testing.T, screen string, lines []string, w, h int) {
		if !strings.Contains(screen, "architect-20261129T020000Z.db") && !strings.Contains(screen, "2026-11-29 02:00") {
			t.Error("the backups are not told apart by their time")
		}
		if strings.Contains(screen, "T0200…") {
			t.Error("a backup's name is cut in its time")
		}
		if !strings.Contains(lines[h-1], "esc cancel") {
			t.Errorf("the chooser's hints lack esc cancel: %q", lines[h-1])
		}
	},
	// A running step: its progress on one line, grouped, its message and
	// its time kept; no confirmation asked any more.
	"run_progress": func(t *testing.T, screen string, lines []string, w, h int) {
		if strings.Contains(screen, "destructive: type") {
			t.Error("the running step still asks for its confirmation")
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`copy [█░]+ 5,120/22,632 pages`),
			regexp.MustCompile(`copying the backup into place · \d+:\d\d`),
		} {
			if !want.MatchString(screen) {
				t.Errorf("the progress lacks %s", want)
			}
		}
	},
	"run_failed": func(t *testing.T, screen string, lines []string, w, h int) {
		for _, want := range []string{"Verify the backup to restore", "found 3", "problems", "enter: "} {
			if !strings.Contains(screen, want) {
				t.Errorf("the failed step's result lacks %q", want)
			}
		}
		noCutRight(t, lines)
	},
	// The quit question whole, with its answer.
	"run_quit": func(t *testing.T, screen string, lines []string, w, h int) {
		if q := lines[h-1]; !strings.Contains(q, "y/N") || !strings.Contains(q, "resumable") || strings.Contains(q, "…") {
			t.Errorf("the quit question is cut: %q", q)
		}
	},
	"run_check_metric": func(t *testing.T, screen string, lines []string, w, h int) {
		if !strings.Contains(screen, "check: Appeal processing p95 within") || strings.Contains(screen, "appeal_processing_p95") {
			t.Error("the metric check does not say its panel's title and its condition")
		}
	},
	// The list says how many rules are below it; the preview says what it
	// leaves out; the runbook's key line is whole.
	"alerts": func(t *testing.T, screen string, lines []string, w, h int) {
		if !strings.Contains(screen, "rules 1–") || !strings.Contains(screen, "more") {
			t.Error("the list of rules has no marker for the rules below it")
		}
		if !strings.Contains(screen, "▸ CRITICAL") {
			t.Error("the selected rule is not in view")
		}
		for _, l := range lines {
			if strings.Contains(l, "(o opens it") && !strings.Contains(l, ")") {
				t.Errorf("the runbook line is cut: %q", l)
			}
		}
	},
	"dashboard_unknown": func(t *testing.T, screen string, lines []string, w, h int) {
		if !regexp.MustCompile(`UNKNOWN +ML prediction latency p99 +no data`).MatchString(screen) {
			t.Error("the unknown alert's row does not say why")
		}
	},
	"dashboard_pending": func(t *testing.T, screen string, lines []string, w, h int) {
		if !regexp.MustCompile(`(?m)PENDING +Appeal error rate +6\.1 % > 5 %, critical in [0-9hms]+( |$)`).MatchString(screen) {
			t.Error("the pending alert's row is cut")
		}
	},
	"backup_manifest": escBack,
	"drill_report":    escBack,
}

// checkGoldenScreen runs the screen's goldenChecks, if any.
func checkGoldenScreen(t *testing.T, name, screen string, w, h int) {
	t.Helper()
	if check, ok := goldenChecks[name]; ok {
		lines := strings.Split(screen, "\n")
		if len(lines) != h {
			return // checkGolden has said so
		}
		check(t, screen, lines, w, h)
	}
}

func escBack(t *testing.T, screen string, lines []string, w, h int) {
	if !strings.Contains(lines[h-1], "esc back") {
		t.Errorf("the hints bar lacks esc back: %q", lines[h-1])
	}
}

// promptHintsOnly: while a prompt is open the hints bar says its keys,
// not the step's, which would type into it.
func promptHintsOnly(t *testing.T, bar string) {
	t.Helper()
	if !strings.Contains(bar, "enter confirm") || !strings.Contains(bar, "esc cancel") {
		t.Errorf("the hints bar lacks the prompt's keys: %q", bar)
	}
	for _, stale := range []string{"x run", "s skip", "n add a note", "? help"} {
		if strings.Contains(bar, stale) {
			t.Errorf("the hints bar offers %q while the prompt is open: %q", stale, bar)
		}
	}
}

// noCutRight fails when a line of the run screen's right column is cut
// (ends in "…") rather than wrapped.
func noCutRight(t *testing.T, lines []string) {
	t.Helper()
	for i, l := range lines {
		if _, right, ok := strings.Cut(l, " │ "); ok && strings.HasSuffix(strings.TrimRight(right, " "), "…") {
			t.Errorf("line %d is cut, not wrapped: %q", i+1, l)
		}
	}
}

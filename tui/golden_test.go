package tui

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/repops/repops/metrics"
)

// goldenSizes are the terminal sizes of every golden screen: the
// smallest the console is meant for, the classic terminal, a roomy one.
var goldenSizes = [][2]int{{60, 20}, {80, 24}, {120, 40}}

// TestGoldenScreens compares the console's screens at each of
// goldenSizes, in the ASCII colour profile, with a fixed clock and fake
// data, with testdata/TestGoldenScreens/*.golden. The first screens are
// driven in a virtual terminal (teatest): the dashboard in each overall
// state, the help, the alerts, a run's first step; the others (a run at
// each kind of step, each detail view; golden_states_test.go) are reached
// by Update alone, so that a step can be caught while it runs. Every
// screen is checked first: exactly as many lines as the terminal, none
// wider, and on the dashboard the overall state in the first three
// lines. 'go test ./tui/ -run Golden -update' rewrites them.
func TestGoldenScreens(t *testing.T) {
	screens := []struct {
		name string
		// snap is what every refresh shows (nil: testSnapshot).
		snap func() metrics.Snapshot
		// keys typed once the dashboard shows; wait is then awaited.
		keys string
		wait string
		// state is the overall state the dashboard's head must say.
		state string
	}{
		// testSnapshot: a critical alert, a warning and an unknown.
		{name: "dashboard", state: "CRITICAL"},
		{name: "dashboard_ok", snap: func() metrics.Snapshot { return stateSnapshot(metrics.StateOK) }, state: "OK"},
		{name: "dashboard_warning", snap: func() metrics.Snapshot { return stateSnapshot(metrics.StateWarning) }, state: "WARNING"},
		{name: "dashboard_pending", snap: func() metrics.Snapshot { return stateSnapshot(metrics.StatePending) }, state: "PENDING"},
		{name: "dashboard_unknown", snap: func() metrics.Snapshot { return stateSnapshot(metrics.StateUnknown) }, state: "UNKNOWN"},
		{name: "help", keys: "?", wait: "Help"},
		{name: "runbook_step", keys: ":run database-optimization\r", wait: "Step 1 of"},
		{name: "alerts", keys: "a", wait: "Alerts"},
	}
	for _, sc := range screens {
		for _, size := range goldenSizes {
			w, h := size[0], size[1]
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, w, h), func(t *testing.T) {
				m := newTestModel(t.TempDir(), func(o *Options) {
					if sc.snap != nil {
						snap := sc.snap()
						o.Figures = fakeFigures{cycle: func(context.Context) metrics.Snapshot { return snap }}
					}
				})
				tm := teatest.NewTestModel(t, m,
					teatest.WithInitialTermSize(w, h),
					teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
				// The first refresh is shown: the banner says when.
				waitFor(t, tm, "refreshed")
				if sc.keys != "" {
					for _, r := range sc.keys {
						if r == '\r' {
							tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
							continue
						}
						tm.Send(tea.KeyPressMsg{Code: r, Text: string(r)})
					}
					waitFor(t, tm, sc.wait)
				}
				if err := tm.Quit(); err != nil {
					t.Fatal(err)
				}
				final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
				screen := ansi.Strip(final.View().Content)
				checkGolden(t, screen, w, h)
				checkGoldenScreen(t, sc.name, screen, w, h)
				if sc.state != "" {
					head := strings.Join(strings.SplitN(screen, "\n", 4)[:3], "\n")
					if !strings.Contains(head, " "+sc.state+" ") {
						t.Errorf("the overall state %s is not in the first three lines:\n%s", sc.state, head)
					}
				}
				golden.RequireEqual(t, []byte(screen))
			})
		}
	}
	for _, sc := range goldenBuilds {
		for _, size := range goldenSizes {
			w, h := size[0], size[1]
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, w, h), func(t *testing.T) {
				m := sc.build(t, w, h)
				screen := ansi.Strip(m.View().Content)
				checkGolden(t, screen, w, h)
				checkGoldenScreen(t, sc.name, screen, w, h)
				golden.RequireEqual(t, []byte(screen))
			})
		}
	}
}

// checkGolden fails when screen is not exactly h lines or a line is wider
// than w cells.
func checkGolden(t *testing.T, screen string, w, h int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("screen has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if cw := ansi.StringWidth(l); cw > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, cw, w, l)
		}
	}
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

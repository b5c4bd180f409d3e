package tui

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// TestGoldenScreens drives the console in a virtual terminal at a fixed
// size, in the ASCII colour profile, with a fixed clock and fake data,
// and compares the final screen with testdata/TestGoldenScreens/*.golden.
// 'go test ./tui/ -run Golden -update' rewrites them.
func TestGoldenScreens(t *testing.T) {
	screens := []struct {
		name string
		// keys typed once the dashboard shows; wait is then awaited.
		keys string
		wait string
	}{
		{name: "dashboard", wait: "Key metrics"},
		{name: "help", keys: "?", wait: "Runbooks, journal, demo"},
		{name: "runbook_step", keys: ":run database-optimization\r", wait: "Step 1 of"},
		{name: "alerts", keys: "a", wait: "history:"},
	}
	for _, sc := range screens {
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, size[0], size[1]), func(t *testing.T) {
				m := newTestModel(t.TempDir(), nil)
				tm := teatest.NewTestModel(t, m,
					teatest.WithInitialTermSize(size[0], size[1]),
					teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
				waitFor(t, tm, "Key metrics")
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
				lines := strings.Split(screen, "\n")
				if len(lines) != size[1] {
					t.Errorf("screen has %d lines, want %d", len(lines), size[1])
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > size[0] {
						t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, w, size[0], l)
					}
				}
				golden.RequireEqual(t, []byte(screen))
			})
		}
	}
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

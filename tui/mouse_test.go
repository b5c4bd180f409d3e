package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// screenLine is line y of the screen, without escape sequences.
func screenLine(m Model, y int) string { return strings.Split(plain(m), "\n")[y] }

// column is the cell where s starts in line, -1 when it is not there.
func column(line, s string) int {
	i := strings.Index(line, s)
	if i < 0 {
		return -1
	}
	return ansi.StringWidth(line[:i])
}

func TestClickOnATab(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}, {60, 20}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			m := loaded(t, nil)
			m, _ = step(t, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			row := m.bodyTop()
			bar := screenLine(m, row)
			x := column(bar, "3")
			if x < 0 {
				t.Fatalf("no tab 3 on the tab bar: %q", bar)
			}
			// Each cell of the tab's label answers, its last one too.
			label := "3"
			for _, l := range []string{"3 " + tabTitles[tabNegotiation], "3 " + tabShortTitles[tabNegotiation]} {
				if strings.Contains(bar, l) {
					label = l
					break
				}
			}
			for _, dx := range []int{0, ansi.StringWidth(label) - 1} {
				m.dash.tab = tabOverview
				m2, _ := step(t, m, tea.MouseClickMsg{X: x + dx, Y: row, Button: tea.MouseLeft})
				if m2.dash.tab != tabNegotiation {
					t.Fatalf("a click at column %d of %q left tab %d, want 3", x+dx, bar, m2.dash.tab+1)
				}
				if got := screenLine(m2, row); !strings.Contains(got, "3 Negot") {
					t.Errorf("tab 3 not active after the click: %q", got)
				}
			}
			// A click on the overall state, a right click, a click on
			// another row: no tab changes.
			for _, c := range []tea.MouseClickMsg{
				{X: size[0] - 2, Y: row, Button: tea.MouseLeft},
				{X: x, Y: row, Button: tea.MouseRight},
				{X: x, Y: row + 3, Button: tea.MouseLeft},
				{X: x, Y: 0, Button: tea.MouseLeft},
			} {
				m2, _ := step(t, m, c)
				if m2.dash.tab != tabOverview {
					t.Errorf("%v switched to tab %d", c, m2.dash.tab+1)
				}
			}
		})
	}
}

// TestTabSpans: the columns tabBarLayout gives each tab hold its number
// and name on the bar it draws, at every width and state.
func TestTabSpans(t *testing.T) {
	st := tablesCtx(80, 24).Styles
	for _, w := range []int{30, 40, 60, 80, 120} {
		for _, state := range []string{"", "ok", "critical", "unknown"} {
			for active := range tabCount {
				line, spans := tabBarLayout(st, w, active, state)
				plainLine := []rune(ansi.Strip(line))
				for i, sp := range spans {
					if sp == (tabSpan{}) {
						continue
					}
					if sp.to > w || sp.from >= sp.to {
						t.Errorf("w %d %s: tab %d span %v", w, state, i+1, sp)
						continue
					}
					// The bar is single-width runes but for "│".
					got := strings.TrimSpace(string(plainLine[sp.from:min(sp.to, len(plainLine))]))
					if !strings.HasPrefix(got, fmt.Sprint(i+1)) {
						t.Errorf("w %d %q active %d: tab %d's columns %v hold %q in %q", w, state, active+1, i+1, sp, got, string(plainLine))
					}
					if i == active && w >= 60 && !strings.Contains(got, tabTitles[i]) {
						t.Errorf("w %d: the active tab's columns hold %q", w, got)
					}
				}
				if spans.tabAt(-1) != -1 || spans.tabAt(w+5) != -1 {
					t.Errorf("tabAt outside the bar found a tab")
				}
			}
		}
	}
}

func TestWheel(t *testing.T) {
	t.Run("the wheel scrolls help", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
		m, _ = step(t, m, press("?"))
		before := plain(m)
		if !strings.Contains(before, "lines 1–") {
			t.Fatalf("help fits at 80x24, nothing to scroll:\n%s", before)
		}
		m, _ = step(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
		if m.help.scroll.Offset() != wheelLines || !strings.Contains(plain(m), fmt.Sprintf("lines %d–", wheelLines+1)) {
			t.Fatalf("offset %d after a turn down:\n%s", m.help.scroll.Offset(), plain(m))
		}
		m, _ = step(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelUp})
		if m.help.scroll.Offset() != 0 || plain(m) != before {
			t.Fatalf("offset %d after a turn back up", m.help.scroll.Offset())
		}
	})
	t.Run("the wheel moves through a list that does not take it itself", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, press("a"))
		m, _ = step(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
		if m.alerts.selected != wheelLines {
			t.Fatalf("selected %d after a turn down, want %d", m.alerts.selected, wheelLines)
		}
	})
	t.Run("the wheel goes through the dashboard's alerts, then its other figures", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
		m, _ = step(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
		if m.dash.selected != len(m.dash.firing())-1 {
			t.Fatalf("selected %d of %d alerts after a turn down", m.dash.selected, len(m.dash.firing()))
		}
		before := m.dash.figOff
		for range 3 {
			m, _ = step(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
		}
		if m.dash.figOff <= before {
			t.Fatalf("the other figures did not scroll: offset %d", m.dash.figOff)
		}
	})
	t.Run("a drag costs no redraw", func(t *testing.T) {
		m := loaded(t, nil)
		ver := m.ver
		m, cmd := step(t, m, tea.MouseMotionMsg{X: 3, Y: 3, Button: tea.MouseLeft})
		m, _ = step(t, m, tea.MouseReleaseMsg{X: 3, Y: 3, Button: tea.MouseLeft})
		if m.ver != ver || cmd != nil {
			t.Fatal("a mouse motion changed the model")
		}
	})
	t.Run("the wheel scrolls a runbook's page", func(t *testing.T) {
		m := loaded(t, nil)
		m, _ = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 12})
		m, cmd := step(t, m, switchViewMsg{to: viewRunbooks, runbook: "restore-from-backup"})
		m = drain(t, m, cmd)
		m, _ = step(t, m, tea.MouseWheelMsg{Button: tea.MouseWheelDown})
		if m.runbooks.scroll.Offset() != wheelLines {
			t.Fatalf("offset %d after a turn down", m.runbooks.scroll.Offset())
		}
	})
}

func TestMouseReporting(t *testing.T) {
	m := loaded(t, nil)
	if v := m.View(); v.MouseMode != tea.MouseModeCellMotion {
		t.Fatalf("mouse mode %v, want cell motion", v.MouseMode)
	}
	run := func(m Model, line string) Model {
		m, _ = step(t, m, press(":"))
		m = typeText(t, m, line)
		m, _ = step(t, m, press("enter"))
		return m
	}
	m = run(m, "mouse")
	if v := m.View(); v.MouseMode != tea.MouseModeNone || !strings.Contains(m.flash, "mouse off") {
		t.Fatalf(":mouse: mode %v flash %q", v.MouseMode, m.flash)
	}
	m = run(m, "mouse")
	if v := m.View(); v.MouseMode != tea.MouseModeCellMotion || !strings.Contains(m.flash, "shift+drag") {
		t.Fatalf(":mouse again: mode %v flash %q", v.MouseMode, m.flash)
	}
	m = run(m, "mouse off")
	m = run(m, "mouse off")
	if m.View().MouseMode != tea.MouseModeNone {
		t.Fatal(":mouse off twice turned it on")
	}
	m = run(m, "mouse on")
	if m.View().MouseMode != tea.MouseModeCellMotion {
		t.Fatal(":mouse on left it off")
	}
}

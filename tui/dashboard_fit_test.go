package tui

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/repops/repops/metrics"
)

// fitModel is the console at w x h showing snap on the dashboard.
func fitModel(t *testing.T, w, h int, snap metrics.Snapshot) Model {
	t.Helper()
	m := newTestModel(t.TempDir(), func(o *Options) {
		o.Figures = fakeFigures{cycle: func(context.Context) metrics.Snapshot { return snap }}
	})
	m, _ = step(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m, _ = step(t, m, snapshotMsg{gen: 1, snap: snap})
	return m
}

// setPanel sets a panel's value and state, and the state of the rules
// whose alert panel it is.
func setPanel(s *metrics.Snapshot, name string, v float64, st metrics.State) {
	for i := range s.Panels {
		if s.Panels[i].Name == name {
			s.Panels[i].Value, s.Panels[i].State = metrics.Known(v), st
		}
	}
	for i := range s.Alerts {
		if s.Alerts[i].Rule.Panel == name {
			s.Alerts[i].State, s.Alerts[i].Value = st, metrics.Known(v)
		}
	}
}

// poolExhausted is the screen of issue 16: DB connections 5 within its
// target while the pool usage rule fires.
func poolExhausted() metrics.Snapshot {
	s := testSnapshot()
	setPanel(&s, metrics.PanelDBConnections, 5, metrics.StateOK)
	setPanel(&s, metrics.PanelDBConnectionsUsage, 100, metrics.StateCritical)
	return s
}

// manyNotOK has not-OK figures among the other figures: backup, disk,
// WAL, integrity, drill, CPU.
func manyNotOK() metrics.Snapshot {
	s := testSnapshot()
	setPanel(&s, metrics.PanelBackupAge, 3, metrics.StateCritical)
	setPanel(&s, metrics.PanelDiskFree, 15, metrics.StateWarning)
	setPanel(&s, metrics.PanelWALSize, 600, metrics.StatePending)
	setPanel(&s, metrics.PanelDrillAge, 120, metrics.StateWarning)
	setPanel(&s, metrics.PanelServiceCPU, 85, metrics.StateWarning)
	for i := range s.Panels {
		if s.Panels[i].Name == metrics.PanelIntegrityAge {
			s.Panels[i].Value, s.Panels[i].State = metrics.Unknown("database: no check recorded"), metrics.StateUnknown
		}
	}
	return s
}

// dashSections splits a dashboard screen into its sections by their
// "─ Title ───" rules: the title maps to the section's lines, header
// first.
func dashSections(screen string) map[string][]string {
	out := map[string][]string{}
	cur := ""
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "─ ") {
			cur = strings.TrimSpace(strings.SplitN(strings.TrimPrefix(l, "─ "), " ─", 2)[0])
		}
		if cur != "" {
			out[cur] = append(out[cur], l)
		}
	}
	return out
}

var (
	moreRe  = regexp.MustCompile(`\+(\d+) more figures`)
	aboveRe = regexp.MustCompile(`↑(\d+)`)
)

// figuresOnScreen is which panels of snap the key metrics and the other
// figures show, and how many the other figures' header counts as
// hidden (above and below).
func figuresOnScreen(t *testing.T, screen string, snap metrics.Snapshot) (shown map[string]string, hidden int) {
	t.Helper()
	sec := dashSections(screen)
	shown = map[string]string{}
	for _, name := range []string{"Key metrics", "Other figures"} {
		lines := sec[name]
		if len(lines) == 0 {
			continue
		}
		body := strings.Join(lines[1:], "\n")
		for _, p := range snap.Panels {
			if onLine(body, p.Title) {
				if where, twice := shown[p.Name]; twice {
					t.Errorf("%s shown twice: in %s and %s", p.Title, where, name)
				}
				shown[p.Name] = name
			}
		}
		if name == "Other figures" {
			for _, re := range []*regexp.Regexp{moreRe, aboveRe} {
				if m := re.FindStringSubmatch(lines[0]); m != nil {
					n, _ := strconv.Atoi(m[1])
					hidden += n
				}
			}
		}
	}
	return shown, hidden
}

// onLine reports whether title is in body as a cell or row shows it:
// whole, or cut between words with an ellipsis where a compact cell is
// narrower than it.
func onLine(body, title string) bool {
	if strings.Contains(body, " "+title+" ") {
		return true
	}
	for n := cellWidth(title) - 1; n >= 8; n-- {
		if c := cutWords(title, n); strings.HasSuffix(c, "…") && strings.Contains(body, " "+c+" ") {
			return true
		}
	}
	return false
}

// checkFit asserts what a dashboard screen at w x h promises: no line
// wider than the screen, every figure shown or counted, every figure
// that is not OK shown.
func checkFit(t *testing.T, m Model, w, h int, snap metrics.Snapshot) string {
	t.Helper()
	screen := plain(m)
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, lw, w, l)
		}
	}
	body := strings.Split(m.dash.View(), "\n")
	if len(body) > m.ctx.bodyHeight() {
		t.Errorf("the dashboard draws %d lines in a body of %d", len(body), m.ctx.bodyHeight())
	}
	for i, l := range body {
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("dashboard line %d is %d cells wide, more than %d: %q", i+1, lw, w, ansi.Strip(l))
		}
	}
	shown, hidden := figuresOnScreen(t, screen, snap)
	want := visiblePanels(m, snap)
	if got := len(shown) + hidden; got != want {
		t.Errorf("%d figures shown and %d counted hidden, want %d in all\n%s", len(shown), hidden, want, screen)
	}
	// A figure that is not OK is on the screen; when there are more of
	// them than lines, no line goes to a figure that is OK (and whose
	// rule is OK).
	spent := ""
	for n := range shown {
		if p, _ := snap.Panel(n); p.State == metrics.StateOK && !m.dash.needsEye(p) {
			spent = p.Title
		}
	}
	for _, p := range snap.Panels {
		if p.State != metrics.StateOK && shown[p.Name] == "" && spent != "" {
			t.Errorf("%s is %s and not on the screen, while %s is\n%s", p.Title, p.State, spent, screen)
		}
	}
	return screen
}

func TestDashboardFits(t *testing.T) {
	snaps := []struct {
		name string
		snap func() metrics.Snapshot
	}{
		{"test snapshot", testSnapshot},
		{"pool exhausted", poolExhausted},
		{"many not OK", manyNotOK},
	}
	for _, sc := range snaps {
		for _, size := range [][2]int{{80, 24}, {60, 20}, {120, 40}} {
			w, h := size[0], size[1]
			t.Run(fmt.Sprintf("%s at %dx%d", sc.name, w, h), func(t *testing.T) {
				snap := sc.snap()
				m := fitModel(t, w, h, snap)
				checkFit(t, m, w, h, snap)
			})
		}
	}

	t.Run("a figure whose rule fires is in the key metrics", func(t *testing.T) {
		snap := poolExhausted()
		for _, size := range [][2]int{{80, 24}, {60, 20}, {120, 40}} {
			m := fitModel(t, size[0], size[1], snap)
			shown, _ := figuresOnScreen(t, plain(m), snap)
			if shown[metrics.PanelDBConnectionsUsage] != "Key metrics" {
				t.Errorf("at %dx%d DB pool usage (critical) is in %q, want the key metrics\n%s", size[0], size[1], shown[metrics.PanelDBConnectionsUsage], plain(m))
			}
		}
		// Right after DB connections, the key metric of the same rule.
		m := fitModel(t, 80, 24, snap)
		key := dashSections(plain(m))["Key metrics"]
		for i, l := range key {
			if strings.Contains(l, " DB connections ") {
				if i+1 >= len(key) || !strings.Contains(key[i+1], "DB pool usage") || !strings.Contains(key[i+1], "CRITICAL") {
					t.Errorf("DB pool usage is not right after DB connections:\n%s", strings.Join(key, "\n"))
				}
			}
		}
	})

	t.Run("the other figures come not OK first", func(t *testing.T) {
		snap := manyNotOK()
		m := fitModel(t, 80, 24, snap)
		top, others := m.dash.figureGroups()
		seenOK := false
		for _, n := range others {
			p, _ := snap.Panel(n)
			if p.State == metrics.StateOK {
				seenOK = true
			} else if seenOK {
				t.Errorf("%s (%s) comes after an OK figure: %v", n, p.State, others)
			}
		}
		for _, n := range []string{metrics.PanelBackupAge, metrics.PanelDiskFree, metrics.PanelWALSize, metrics.PanelServiceCPU} {
			found := false
			for _, x := range top {
				found = found || x == n
			}
			if !found {
				t.Errorf("%s is not OK and not among the key metrics: %v", n, top)
			}
		}
	})

	t.Run("every figure is reachable by scrolling, and the offset is clamped", func(t *testing.T) {
		for _, size := range [][2]int{{80, 24}, {60, 20}} {
			w, h := size[0], size[1]
			snap := testSnapshot()
			m := fitModel(t, w, h, snap)
			seen := map[string]bool{}
			collect := func() {
				shown, _ := figuresOnScreen(t, plain(m), snap)
				for n := range shown {
					seen[n] = true
				}
			}
			collect()
			if !moreRe.MatchString(plain(m)) {
				t.Fatalf("at %dx%d no \"+N more figures\" marker:\n%s", w, h, plain(m))
			}
			// j goes through the alerts, then scrolls; far past the end.
			for range 60 {
				m, _ = step(t, m, press("j"))
				collect()
			}
			if want := visiblePanels(m, snap); len(seen) != want {
				t.Errorf("at %dx%d %d of %d figures reached by j", w, h, len(seen), want)
			}
			if moreRe.MatchString(plain(m)) {
				t.Errorf("at %dx%d the end still says more figures:\n%s", w, h, plain(m))
			}
			end := plain(m)
			m, _ = step(t, m, press("k"))
			if plain(m) == end {
				t.Errorf("at %dx%d k after the end changed nothing: the offset is not clamped", w, h)
			}
			m, _ = step(t, m, press("g"))
			if m.dash.figOff != 0 || m.dash.selected != 0 {
				t.Errorf("g: offset %d, selected %d; want both 0", m.dash.figOff, m.dash.selected)
			}
			m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyPgDown})
			p := m.dash.plan()
			if want := min(p.figLines, p.total-p.figLines); m.dash.figOff != want {
				t.Errorf("pgdn: offset %d, want a page (%d)", m.dash.figOff, want)
			}
			m, _ = step(t, m, tea.KeyPressMsg{Code: tea.KeyPgUp})
			if m.dash.figOff != 0 {
				t.Errorf("pgup: offset %d, want 0", m.dash.figOff)
			}
			m, _ = step(t, m, press("G"))
			if m.dash.figOff != p.total-p.figLines {
				t.Errorf("G: offset %d, want %d", m.dash.figOff, p.total-p.figLines)
			}
			checkFitScrolled(t, m, w, snap)
		}
	})

	t.Run("j moves through the alerts before it scrolls", func(t *testing.T) {
		m := fitModel(t, 80, 24, testSnapshot())
		m, _ = step(t, m, press("j"))
		if m.dash.selected != 1 || m.dash.figOff != 0 {
			t.Errorf("selected %d, offset %d: want the second alert, no scroll", m.dash.selected, m.dash.figOff)
		}
	})
}

// checkFitScrolled checks a scrolled screen: every figure shown or
// counted, no line too wide.
func checkFitScrolled(t *testing.T, m Model, w int, snap metrics.Snapshot) {
	t.Helper()
	screen := plain(m)
	shown, hidden := figuresOnScreen(t, screen, snap)
	if got := len(shown) + hidden; got != visiblePanels(m, snap) {
		t.Errorf("scrolled: %d shown and %d counted, want %d\n%s", len(shown), hidden, visiblePanels(m, snap), screen)
	}
	for i, l := range strings.Split(screen, "\n") {
		if lw := ansi.StringWidth(l); lw > w {
			t.Errorf("scrolled: line %d is %d cells wide: %q", i+1, lw, l)
		}
	}
}

// visiblePanels is how many of snap's panels the dashboard shows or
// counts: replication's are left out while replication is off (no
// Litestream source), where they would only say no source computes them.
func visiblePanels(m Model, snap metrics.Snapshot) int {
	n := 0
	for _, p := range snap.Panels {
		if !m.dash.hiddenPanel(p.Name) {
			n++
		}
	}
	return n
}

package tui

import (
	"fmt"

	"github.com/repops/repops/internal/humanize"

	tea "charm.land/bubbletea/v2"
	"github.com/repops/repops/metrics"
)

// Clicks on the dashboard's alert rows (rowclick.go): the overview's
// alerts section, laid out by the functions View draws it with.

// lockLines is the lock's line under the tab bar, when a lock is held.
func (v dashboardView) lockLines() []string {
	if v.lock == nil {
		return nil
	}
	return []string{v.lockLine()}
}

// overviewHead is the overview's lines above its alert rows.
func (v dashboardView) overviewHead(p overviewPlan, firing []metrics.AlertStatus) []string {
	right := ""
	if v.spark != nil {
		right = "sparklines: " + humanize.Age(v.sparkCell()) + " a cell"
	}
	out := []string{v.section("Key metrics", right)}
	out = append(out, v.panelRows(p.top, len(p.top))...)
	return append(out, v.section("Alerts", alertCountWords(firing, len(v.snap.Alerts), v.ctx.Width-12)))
}

// alertsShown is how many of n alerts a section of limit lines lists:
// all when they fit, else one line less, for the line that counts the
// rest.
func alertsShown(n, limit int) int {
	if n > limit {
		return max(0, limit-1)
	}
	return n
}

func (v dashboardView) rowAt(y int) int {
	if v.state != stateReady || v.tab != tabOverview {
		return -1
	}
	p := v.plan()
	firing := v.firing()
	// The tab bar, the lock, the overview's head.
	top := 1 + len(v.lockLines()) + len(v.overviewHead(p, firing))
	return windowRow(y, top, 1, 0, alertsShown(len(firing), p.alertRows))
}

func (v dashboardView) selectedRow() int { return v.selected }

// onRowClick selects the alert clicked; open opens its runbook, as enter.
func (v dashboardView) onRowClick(msg rowClickMsg) (dashboardView, tea.Cmd) {
	if msg.row < 0 || msg.row >= len(v.firing()) {
		return v, nil
	}
	v.selected = msg.row
	if msg.open {
		return v, v.openSelected()
	}
	return v, nil
}

// openSelected opens the selected alert's runbook (enter, o, a second
// click).
func (v dashboardView) openSelected() tea.Cmd {
	f := v.firing()
	if len(f) == 0 {
		return flash("no alert is active: nothing to open (r lists every runbook)", false)
	}
	a := f[min(v.selected, len(f)-1)]
	if a.Runbook == "" {
		return flash(fmt.Sprintf("no runbook is linked to %s: r lists every runbook", a.Rule.Title), true)
	}
	id := a.Runbook
	return func() tea.Msg { return switchViewMsg{to: viewRunbooks, runbook: id} }
}

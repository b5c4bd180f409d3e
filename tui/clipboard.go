package tui

import (
	tea "charm.land/bubbletea/v2"
)

// Copying a value to the clipboard. The copy key (y) puts the focused
// value on the terminal's clipboard with an OSC 52 sequence
// (tea.SetClipboard; the program writes ansi.SetSystemClipboard, "ESC ]
// 52 ; c ; <base64> BEL"), which the terminal emulator on the operator's
// desk honours even when the console runs over SSH. Under tmux the
// sequence goes through when tmux has "set -g set-clipboard on".

// copyTarget is a view that knows which of its values the copy key
// copies: what names it for the status line ("run id"), value is the
// text ("" for nothing to copy). A view implements it with
//
//	func (v xView) copyValue() (what, value string)
//
// and the root asks it first; without it the root knows the dashboard's
// database path, the selected alert's runbook and the runbooks view's
// run, page or selected runbook.
type copyTarget interface {
	copyValue() (what, value string)
}

// focusedValue is what the copy key copies in the focused view.
func (m Model) focusedValue() (what, value string) {
	if c, ok := m.focused().(copyTarget); ok {
		if w, v := c.copyValue(); v != "" {
			return w, v
		}
	}
	switch m.focus {
	case viewDashboard:
		p := m.snap.DB.Path
		if p == "" {
			p = m.ctx.Config.Database.Path
		}
		return "database path", p
	case viewAlerts:
		rs := m.alerts.rules()
		if len(rs) == 0 {
			return "", ""
		}
		a := rs[max(0, min(m.alerts.selected, len(rs)-1))]
		if a.Runbook != "" {
			return "runbook id", a.Runbook
		}
		return "rule", a.Rule.Name
	case viewRunbooks:
		v := m.runbooks
		switch {
		case v.mode == rbRun && v.run != nil:
			return "run id", v.run.ID()
		case v.mode == rbRead && v.book != nil:
			return "runbook id", v.book.ID
		case v.mode == rbList:
			if list := v.filtered(); len(list) > 0 {
				return "runbook id", list[max(0, min(v.sel, len(list)-1))].ID
			}
		}
	}
	return "", ""
}

// copyFocused copies the focused value and says so in the status line.
func (m Model) copyFocused() (tea.Model, tea.Cmd) {
	what, value := m.focusedValue()
	if value == "" {
		m.flash, m.flashIsErr = "nothing to copy here: y copies the database path (dashboard), an alert's runbook, a run id", false
		return m, nil
	}
	m.flash, m.flashIsErr = "copied: "+value+" ("+what+")", false
	return m, tea.SetClipboard(value)
}

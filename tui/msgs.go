package tui

import (
	tea "charm.land/bubbletea/v2"
)

// viewID names a view of the console; it addresses envelopes.
type viewID int

const (
	viewDashboard viewID = iota
	viewAlerts
	viewTables
	viewRunbooks
	viewJournal
	viewHelp
)

// envelope carries a message to one view: a Cmd started by a view wraps
// its result so that the root routes the answer back to that view and no
// other (gh-dash's SectionMsg).
type envelope struct {
	to  viewID
	msg tea.Msg
}

// addressed wraps cmd so that its message is delivered to view id.
func addressed(id viewID, cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg {
		msg := cmd()
		if msg == nil {
			return nil
		}
		if b, ok := msg.(tea.BatchMsg); ok {
			out := make(tea.BatchMsg, len(b))
			for i, c := range b {
				out[i] = addressed(id, c)
			}
			return out
		}
		return envelope{to: id, msg: msg}
	}
}

// flashMsg puts a one-line message in the hints bar until the next key.
type flashMsg struct {
	text string
	err  bool
}

// switchViewMsg asks the root to focus a view (sent by a view, for
// example the dashboard opening the runbook of an alert).
type switchViewMsg struct {
	to viewID
	// runbook, when set, is opened in the runbooks view.
	runbook string
	// start also starts it.
	start bool
}

func flash(text string, err bool) tea.Cmd {
	return func() tea.Msg { return flashMsg{text: text, err: err} }
}

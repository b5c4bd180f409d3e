package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// The mouse. The root view asks the terminal for cell-motion reporting
// (Model.View): a click on a tab of the dashboard's tab bar switches to
// it, a click on a list's row selects it and a second click opens it
// (rowclick.go), the wheel scrolls the focused pane. While the terminal reports the
// mouse, a plain drag no longer selects text: shift+drag does in most
// terminals (xterm, GNOME Terminal, Konsole, kitty, WezTerm, Alacritty,
// Windows Terminal; option+drag in iTerm2 and Terminal.app). An operator
// who would rather select with a plain drag types :mouse (or :mouse off)
// and the console stops asking for the mouse until :mouse again.

// wheelTaker is a view that says whether it scrolls on tea.MouseWheelMsg
// itself (with its scroller, scroll.go) in its current state. The root
// sends the wheel of a view that does not as the up and down keys,
// wheelLines at a turn, so that every pane moves with the wheel: the
// dashboard (through the alerts, then the other figures), the alerts'
// list and the runbooks' list today. The help, the tables, the journal
// and the runbooks' page and run get the wheel itself. A view decides for
// itself by adding
//
//	func (v xView) takesWheel() bool { return true }
//
// and handling tea.MouseWheelMsg in its Update (scroller.Update does).
type wheelTaker interface{ takesWheel() bool }

// takesWheel reports whether the focused view handles the wheel itself.
func (m Model) takesWheel() bool {
	if w, ok := m.focused().(wheelTaker); ok {
		return w.takesWheel()
	}
	switch m.focus {
	case viewHelp, viewTables, viewJournal:
		return true
	case viewRunbooks:
		return m.runbooks.mode == rbRead || m.runbooks.mode == rbRun
	}
	return false
}

// onWheel scrolls the focused pane.
func (m Model) onWheel(msg tea.MouseWheelMsg) (tea.Model, tea.Cmd) {
	if m.cmdActive || m.scenarios || m.quitAsk || m.lockAsk != nil {
		return m, nil
	}
	if m.takesWheel() {
		return m.forward(msg)
	}
	if m.capturing() {
		return m, nil
	}
	var (
		press tea.KeyPressMsg
		b     key.Binding
	)
	switch msg.Button {
	case tea.MouseWheelDown:
		press, b = tea.KeyPressMsg{Code: tea.KeyDown}, m.ctx.Keys.Down
	case tea.MouseWheelUp:
		press, b = tea.KeyPressMsg{Code: tea.KeyUp}, m.ctx.Keys.Up
	default:
		return m, nil
	}
	if !key.Matches(press, b) {
		// The arrows were rebound to something else: they are not the
		// view's scroll keys any more.
		return m, nil
	}
	cmds := make([]tea.Cmd, 0, wheelLines)
	for range wheelLines {
		nm, c := m.forward(press)
		m = nm.(Model)
		cmds = append(cmds, c)
	}
	return m, tea.Batch(cmds...)
}

// bodyTop is the screen row of the focused view's first line: the
// banner's lines are above it.
func (m Model) bodyTop() int { return len(m.banner()) }

// dashTabState is the overall state the dashboard's tab bar shows at its
// right (dashboardView.tabsLine): the tabs' columns depend on it.
func dashTabState(v dashboardView) string {
	if v.state != stateReady {
		return ""
	}
	return v.snap.Verdict().String()
}

// dashTabSpans is where each tab of the dashboard's tab bar is drawn.
func (m Model) dashTabSpans() tabSpans {
	_, spans := tabBarLayout(m.ctx.Styles, m.ctx.Width, m.dash.tab, dashTabState(m.dash))
	return spans
}

// onClick answers a click: on a tab of the dashboard's tab bar it
// switches to that tab; in a list (a rowPicker) it selects or opens the
// row clicked (clickRow). A click in the body of another view is sent to
// it as a tea.MouseClickMsg whose Y counts from the body's first line
// (0), so that a list can select the row clicked; a view that does not
// handle it ignores it.
func (m Model) onClick(msg tea.MouseClickMsg) (tea.Model, tea.Cmd) {
	if msg.Button != tea.MouseLeft || m.cmdActive || m.scenarios || m.quitAsk || m.lockAsk != nil {
		return m, nil
	}
	top := m.bodyTop()
	y := msg.Y - top
	if y < 0 || y >= m.ctx.bodyHeight() {
		return m, nil
	}
	if m.focus == viewDashboard && y == 0 {
		if i := m.dashTabSpans().tabAt(msg.X); i >= 0 {
			m.dash.tab = i
		}
		return m, nil
	}
	// A click off a list's rows (the dashboard's sparklines: a moment to
	// go back to) goes to the view as it is.
	if p, ok := m.focused().(rowPicker); ok && p.rowAt(y) >= 0 {
		return m.clickRow(p, y)
	}
	body := msg
	body.Y = y
	return m.forward(body)
}

// setMouse turns mouse reporting on ("on"), off ("off") or over (""):
// the :mouse command.
func (m Model) setMouse(arg string) (tea.Model, tea.Cmd) {
	switch strings.ToLower(strings.TrimSpace(arg)) {
	case "":
		m.mouseOff = !m.mouseOff
	case "on":
		m.mouseOff = false
	case "off":
		m.mouseOff = true
	default:
		m.flash, m.flashIsErr = "mouse "+arg+": say :mouse on, :mouse off, or :mouse to switch", true
		return m, nil
	}
	if m.mouseOff {
		m.flash = "mouse off: a drag selects text in the terminal again (:mouse turns it back on)"
	} else {
		m.flash = "mouse on: click a tab or a row, scroll with the wheel; shift+drag selects text (:mouse turns it off)"
	}
	m.flashIsErr = false
	return m, nil
}
